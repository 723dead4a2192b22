package graph

import (
	"context"
	"reflect"
	"sync"

	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/auth"
	"github.com/orgql/orgql/internal/authz"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/viewer"
)

// roles caches, for one operation, the viewer's role in each organization and the
// owner count of organizations asked about: the @hasRole directive, viewerRole,
// viewerCan and the member capability fields of a whole response cost one query
// each instead of one per object. Mutations drop it once their resolver returns,
// so the payload reflects the change. Services never use it: they read the
// membership inside their own transaction.
type roles struct {
	mu sync.Mutex
	// loaded: byOrg holds every membership of the viewer (a missing organization
	// is one the viewer is not a member of). Before that, byOrg holds what queries
	// that read the viewer's membership along with an organization seeded.
	loaded bool
	byOrg  map[string]role.Role
}

// seedRole records the viewer's role in orgID, read in the same statement as the
// organization (see org.Service.BySlug), so that the role costs no query of its
// own. A nil role records nothing.
func seedRole(ctx context.Context, orgID string, rl *role.Role) {
	if rl == nil {
		return
	}
	c := rolesFrom(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byOrg == nil {
		c.byOrg = map[string]role.Role{}
	}
	c.byOrg[orgID] = *rl
}

type rolesKey struct{}

// withOperationState gives an operation its role cache and data loaders.
func (r *Resolver) withOperationState(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	ctx = context.WithValue(ctx, rolesKey{}, &roles{})
	ctx = context.WithValue(ctx, loadersKey{}, &loaderSlot{})
	ctx = context.WithValue(ctx, streamKey{}, &streamHolder{})
	return next(ctx)
}

func rolesFrom(ctx context.Context) *roles {
	if r, ok := ctx.Value(rolesKey{}).(*roles); ok {
		return r
	}
	return &roles{} // outside an operation: no caching
}

// freshPerEvent drops the caches before each event of a subscription: a
// subscription's operation lives for hours, its events must not see stale roles.
func freshPerEvent(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx) // a request refused before it became an operation
	}
	if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		forget(ctx)
		if resp, shared := sharedEvent(ctx, next); shared {
			return resp
		}
	}
	return next(ctx)
}

func forget(ctx context.Context) {
	r := rolesFrom(ctx)
	r.mu.Lock()
	r.loaded, r.byOrg = false, nil
	r.mu.Unlock()
	if s, _ := ctx.Value(loadersKey{}).(*loaderSlot); s != nil {
		s.drop()
	}
}

// forgetAfterMutation drops the role cache and the loaders' caches when a
// mutation's resolver has returned (see aroundField), so its payload shows the
// new state.
func forgetAfterMutation(ctx context.Context) {
	// A subscription's operation lives for hours: what its root resolver cached
	// (the viewer's roles, for @hasRole) is dropped rather than kept idle.
	if fc := graphql.GetFieldContext(ctx); fc != nil && (fc.Object == "Mutation" || fc.Object == "Subscription") {
		forget(ctx)
	}
}

// viewerRole returns the viewer's role in orgID; ok is false for non-members and
// anonymous viewers. All of the viewer's memberships load with one query.
func (r *Resolver) viewerRole(ctx context.Context, orgID string) (role.Role, bool, error) {
	uid := viewer.UserID(ctx)
	if uid == "" {
		return "", false, nil
	}
	c := rolesFrom(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if rl, ok := c.byOrg[orgID]; ok {
		return rl, true, nil
	}
	if !c.loaded {
		ms, err := r.DB.Client.Member.Query().
			Where(member.UserID(uid)).
			Select(member.FieldOrganizationID, member.FieldRole).
			All(viewer.System(ctx))
		if err != nil {
			return "", false, err
		}
		c.byOrg = make(map[string]role.Role, len(ms))
		for _, m := range ms {
			c.byOrg[m.OrganizationID] = m.Role
		}
		c.loaded = true
	}
	rl, ok := c.byOrg[orgID]
	return rl, ok, nil
}

// ownerCount returns how many owners orgID has: the counter of o when the caller
// has the organization (o may be nil), else of a batched load of organizations.
func (r *Resolver) ownerCount(ctx context.Context, orgID string, o *ent.Organization) (int, error) {
	if o != nil && o.ID == orgID {
		return o.OwnerCount, nil
	}
	return r.load(ctx).ownerCount.Load(ctx, orgID)
}

// target describes m for the role matrix, as seen by the viewer.
func (r *Resolver) target(ctx context.Context, m *ent.Member) (actor role.Role, t authz.Target, ok bool, err error) {
	actor, ok, err = r.viewerRole(ctx, m.OrganizationID)
	if err != nil || !ok {
		return "", t, false, err
	}
	owners, err := r.ownerCount(ctx, m.OrganizationID, m.Edges.Organization)
	if err != nil {
		return "", t, false, err
	}
	return actor, authz.Target{Role: m.Role, Self: m.UserID == viewer.UserID(ctx), Owners: owners}, true, nil
}

// hasRole implements the @hasRole directive: see its description in
// schema/organization.graphql.
func (r *Resolver) hasRole(ctx context.Context, obj any, next graphql.Resolver, min role.Role) (any, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	orgID, err := r.organizationOf(ctx, obj)
	if err != nil {
		return nil, err
	}
	got, ok, err := r.viewerRole(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apperr.NotFoundf("no such organization or member")
	}
	if !got.AtLeast(min) {
		return nil, apperr.New(apperr.Forbidden, authz.ReasonInsufficientRole, "this needs the "+string(min)+" role or higher")
	}
	return next(ctx)
}

// organizationOf finds the organization a guarded field is about: its parent
// object's, or for a root field the one its input names.
func (r *Resolver) organizationOf(ctx context.Context, obj any) (string, error) {
	switch o := obj.(type) {
	case *ent.Organization:
		return o.ID, nil
	case *ent.Member:
		return o.OrganizationID, nil
	case *ent.Invitation:
		return o.OrganizationID, nil
	}
	fc := graphql.GetFieldContext(ctx)
	if id, ok := fc.Args["organizationId"].(string); ok {
		return id, nil // a root field with the organization as its argument
	}
	in := reflect.Indirect(reflect.ValueOf(fc.Args["input"]))
	notFound := apperr.NotFoundf("no such organization or member")
	if in.Kind() != reflect.Struct {
		return "", notFound
	}
	if id, ok := stringField(in, "OrganizationID"); ok {
		return id, nil
	}
	sctx := viewer.System(ctx)
	if id, ok := stringField(in, "MemberID"); ok {
		var rows []orgAndRole
		err := r.DB.Client.Member.Query().Where(member.ID(id)).
			Modify(withRoleIn(member.FieldOrganizationID, viewer.UserID(ctx))).Scan(sctx, &rows)
		return seedFrom(ctx, rows, err)
	}
	if id, ok := stringField(in, "InvitationID"); ok {
		var rows []orgAndRole
		err := r.DB.Client.Invitation.Query().Where(invitation.ID(id)).
			Modify(withRoleIn(invitation.FieldOrganizationID, viewer.UserID(ctx))).Scan(sctx, &rows)
		return seedFrom(ctx, rows, err)
	}

	// A guarded field whose input names no organization is a schema bug; the
	// directive-coverage test keeps it from shipping.
	return "", apperr.NotFoundf("no organization in the input")
}

// orgAndRole is a guarded input's organization and the viewer's role in it (nil
// for a non-member).
type orgAndRole struct {
	OrganizationID string  `sql:"organization_id"`
	Role           *string `sql:"orgql_viewer_role"`
}

// withRoleIn selects a row's organization (its column orgCol) and the viewer's
// role there, joined in the same statement: the directive then needs no query of
// the viewer's memberships.
func withRoleIn(orgCol, userID string) func(*sql.Selector) {
	return func(s *sql.Selector) {
		vm := sql.Table(member.Table).As("vm")
		s.LeftJoin(vm).OnP(sql.And(
			sql.ColumnsEQ(vm.C(member.FieldOrganizationID), s.C(orgCol)),
			sql.EQ(vm.C(member.FieldUserID), userID),
		))
		s.Select(sql.As(s.C(orgCol), "organization_id"), sql.As(vm.C(member.FieldRole), "orgql_viewer_role"))
	}
}

// seedFrom returns the organization of the one row read by withRoleIn, recording
// the viewer's role in it for viewerRole.
func seedFrom(ctx context.Context, rows []orgAndRole, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if len(rows) != 1 {
		return "", apperr.NotFoundf("no such organization or member")
	}
	if rows[0].Role != nil {
		rl := role.Role(*rows[0].Role)
		seedRole(ctx, rows[0].OrganizationID, &rl)
	}
	return rows[0].OrganizationID, nil
}

// stringField reads a string (or *string) field of an input struct.
func stringField(v reflect.Value, name string) (string, bool) {
	f := v.FieldByName(name)
	if !f.IsValid() {
		return "", false
	}
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return "", false
		}
		f = f.Elem()
	}
	if f.Kind() != reflect.String {
		return "", false
	}
	return f.String(), true
}
