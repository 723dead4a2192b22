package graph

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/viewer"
)

// loaders batch the per-object lookups of one operation (dataloadgen): a list of N
// organizations or events costs one query per kind of lookup, not N. They read
// with the viewer's context, so the read policies apply.
type loaders struct {
	ownerCount *dataloadgen.Loader[string, int]
	member     *dataloadgen.Loader[string, *ent.Member]
	user       *dataloadgen.Loader[string, *ent.User]
	invitation *dataloadgen.Loader[string, *ent.Invitation]
	// organization loads organizations through the read policy (members only).
	organization *dataloadgen.Loader[string, *ent.Organization]
	// invitedOrganization loads organizations past the read policy, for the name
	// and logo an invitee may see on an invitation they can see.
	invitedOrganization *dataloadgen.Loader[string, *ent.Organization]
	// eventUser loads the actors and subjects of events past the read policy: the
	// audit log names people who have since left, and only those allowed to read
	// the log (or receive the event) get there.
	eventUser *dataloadgen.Loader[string, *ent.User]
}

type loadersKey struct{}

// batchWait is how long a loader waits for sibling lookups. Lists prime their
// loaders with the whole page up front (see prime), so batching never depends on
// this timing; it only gathers lookups from unrelated places of a response.
const batchWait = time.Millisecond

func (r *Resolver) newLoaders() *loaders {
	c := r.DB.Client
	opts := []dataloadgen.Option{dataloadgen.WithWait(batchWait), dataloadgen.WithBatchCapacity(100)}
	return &loaders{
		// Owner counts decide viewerCan.leave and the member capability fields, for
		// objects whose organization was not loaded with them: the organizations'
		// counters, read past the read policy (a count reveals no row) for the
		// viewer's own organizations only, as callers pass those.
		ownerCount: dataloadgen.NewMappedLoader(func(ctx context.Context, orgIDs []string) (map[string]int, error) {
			list, err := c.Organization.Query().Where(organization.IDIn(orgIDs...)).
				Select(organization.FieldID, organization.FieldOwnerCount).All(viewer.System(ctx))
			if err != nil {
				return nil, err
			}
			out := make(map[string]int, len(orgIDs))
			for _, o := range list {
				out[o.ID] = o.OwnerCount
			}
			return out, nil
		}, opts...),
		member: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*ent.Member, error) {
			list, err := c.Member.Query().Where(member.IDIn(ids...)).WithUser().All(ctx)
			return index(list, err, func(m *ent.Member) string { return m.ID }, ids)
		}, opts...),
		user: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*ent.User, error) {
			list, err := c.User.Query().Where(user.IDIn(ids...)).All(ctx)
			return index(list, err, func(u *ent.User) string { return u.ID }, ids)
		}, opts...),
		invitation: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*ent.Invitation, error) {
			list, err := c.Invitation.Query().Where(invitation.IDIn(ids...)).All(ctx)
			return index(list, err, func(i *ent.Invitation) string { return i.ID }, ids)
		}, opts...),
		organization: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*ent.Organization, error) {
			list, err := c.Organization.Query().Where(organization.IDIn(ids...)).All(ctx)
			return index(list, err, func(o *ent.Organization) string { return o.ID }, ids)
		}, opts...),
		invitedOrganization: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*ent.Organization, error) {
			list, err := c.Organization.Query().Where(organization.IDIn(ids...)).
				Select(organization.FieldID, organization.FieldName, organization.FieldLogoHash).
				All(viewer.System(ctx))
			return index(list, err, func(o *ent.Organization) string { return o.ID }, ids)
		}, opts...),
		eventUser: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*ent.User, error) {
			list, err := c.User.Query().Where(user.IDIn(ids...)).All(viewer.System(ctx))
			return index(list, err, func(u *ent.User) string { return u.ID }, ids)
		}, opts...),
	}
}

// index maps loaded rows by ID; IDs not found (or not visible) map to nil.
func index[T any](list []*T, err error, id func(*T) string, want []string) (map[string]*T, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[string]*T, len(want))
	for _, k := range want {
		out[k] = nil
	}
	for _, v := range list {
		out[id(v)] = v
	}
	return out, nil
}

// loaderSlot holds an operation's loaders, made on first use and dropped when a
// mutation or a subscription event makes their contents stale: an idle
// subscription holds none.
type loaderSlot struct {
	mu sync.Mutex
	l  *loaders
}

// drop forgets the loaders and what they cached.
func (s *loaderSlot) drop() {
	s.mu.Lock()
	s.l = nil
	s.mu.Unlock()
}

// load returns the operation's loaders, or fresh ones outside an operation.
func (r *Resolver) load(ctx context.Context) *loaders {
	s, _ := ctx.Value(loadersKey{}).(*loaderSlot)
	if s == nil {
		return r.newLoaders()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.l == nil {
		s.l = r.newLoaders()
	}
	return s.l
}

// prime loads keys into a loader with one batched query, when the query selects
// the field the loader serves, so that a page's per-item lookups then hit the cache.
func prime[V any](ctx context.Context, l *dataloadgen.Loader[string, V], keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := l.LoadAll(ctx, keys)
	return err
}

// primeEvents prepares the per-event lookups of a page of events that the query
// selects.
func (r *Resolver) primeEvents(ctx context.Context, edges []*ent.OrganizationEventEdge) error {
	var users, members []string
	for _, e := range edges {
		if e.Node.ActorID != nil {
			users = append(users, *e.Node.ActorID)
		}
		if e.Node.SubjectUserID != nil {
			users = append(users, *e.Node.SubjectUserID)
		}
		if e.Node.MemberID != nil {
			members = append(members, *e.Node.MemberID)
		}
	}
	l := r.load(ctx)
	if selected(ctx, "edges", "node", "actor") || selected(ctx, "edges", "node", "user") {
		if err := prime(ctx, l.eventUser, slices.Compact(slices.Sorted(slices.Values(users)))); err != nil {
			return err
		}
	}
	if selected(ctx, "edges", "node", "member") {
		return prime(ctx, l.member, slices.Compact(slices.Sorted(slices.Values(members))))
	}
	return nil
}

// primeInvitations prepares the per-invitation lookups of a page of invitations
// that the query selects.
func (r *Resolver) primeInvitations(ctx context.Context, edges []*ent.InvitationEdge) error {
	var users []string
	for _, e := range edges {
		if e.Node.InviterID != nil {
			users = append(users, *e.Node.InviterID)
		}
	}
	users = slices.Compact(slices.Sorted(slices.Values(users)))
	l := r.load(ctx)
	if selected(ctx, "edges", "node", "inviter") {
		if err := prime(ctx, l.user, users); err != nil {
			return err
		}
	}
	if selected(ctx, "edges", "node", "inviterName") {
		return prime(ctx, l.eventUser, users)
	}
	return nil
}
