package schema

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"entgo.io/ent"
	entsql "entgo.io/ent/dialect/sql"

	gen "github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/hook"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/viewer"
)

// The sort keys a member row copies from its user and organization (see the
// Member fields) are kept by these hooks, the one place that writes them: a member
// gets them when it is created, and a change of a user's name or email, or of an
// organization's name, rewrites its members' copies in the same transaction.

// NameKey is the sort key of a name: lower-cased with Unicode rules, compared byte
// by byte. Members are ordered by their user's NameKey, organizations by theirs.
func NameKey(name string) string { return strings.ToLower(name) }

// errNeedsTx refuses a change whose copies could not be written atomically with it.
var errNeedsTx = errors.New("a change of a name or email must run in a transaction, so that the members' sort keys change with it")

// Aliases of the user's columns memberSortKeys reads beside the organization's.
const (
	aliasUserName  = "orgql_user_name"
	aliasUserEmail = "orgql_user_email"
)

// memberSortKeys fills a new member's sort keys from its user and organization,
// with one statement, unless its creator set them all (bulk loaders that hold
// both rows already).
func memberSortKeys() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.MemberFunc(func(ctx context.Context, m *gen.MemberMutation) (ent.Value, error) {
			_, n := m.UserNameKey()
			_, e := m.UserEmail()
			_, on := m.OrgNameKey()
			_, os := m.OrgSlug()
			_, oc := m.OrgCreatedAt()
			if n && e && on && os && oc {
				return next.Mutate(ctx, m)
			}
			userID, _ := m.UserID()
			orgID, _ := m.OrganizationID()
			o, err := m.Client().Organization.Query().
				Where(organization.ID(orgID)).
				Select(organization.FieldNameKey, organization.FieldSlug, organization.FieldCreatedAt).
				Modify(func(s *entsql.Selector) {
					u := entsql.Table(user.Table)
					s.Join(u).OnP(entsql.EQ(u.C(user.FieldID), userID))
					s.AppendSelectAs(u.C(user.FieldName), aliasUserName)
					s.AppendSelectAs(u.C(user.FieldEmail), aliasUserEmail)
				}).
				Only(viewer.System(ctx))
			if err != nil {
				return nil, fmt.Errorf("reading the sort keys of a new member: %w", err)
			}
			name, err := stringValue(o, aliasUserName)
			if err != nil {
				return nil, err
			}
			email, err := stringValue(o, aliasUserEmail)
			if err != nil {
				return nil, err
			}
			m.SetUserNameKey(NameKey(name))
			m.SetUserEmail(email)
			m.SetOrgNameKey(o.NameKey)
			m.SetOrgSlug(o.Slug)
			m.SetOrgCreatedAt(o.CreatedAt)
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate)
}

// userSortKeys rewrites the members' copies of a user's name and email.
func userSortKeys() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.UserFunc(func(ctx context.Context, m *gen.UserMutation) (ent.Value, error) {
			name, hasName := m.Name()
			email, hasEmail := m.Email()
			if !hasName && !hasEmail {
				return next.Mutate(ctx, m)
			}
			if _, err := m.Tx(); err != nil {
				return nil, errNeedsTx
			}
			ids, err := m.IDs(viewer.System(ctx))
			if err != nil {
				return nil, err
			}
			v, err := next.Mutate(ctx, m)
			if err != nil || len(ids) == 0 {
				return v, err
			}
			upd := m.Client().Member.Update().Where(member.UserIDIn(ids...))
			if hasName {
				upd.SetUserNameKey(NameKey(name))
			}
			if hasEmail {
				upd.SetUserEmail(email)
			}
			if err := upd.Exec(viewer.System(ctx)); err != nil {
				return nil, fmt.Errorf("updating the members' copy of a user's name or email: %w", err)
			}
			return v, nil
		})
	}, ent.OpUpdate|ent.OpUpdateOne)
}

// organizationSortKeys derives an organization's name_key from its name and, when
// the name changes, rewrites its members' copies: one UPDATE of the organization's
// member rows, in the renaming transaction.
func organizationSortKeys() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return hook.OrganizationFunc(func(ctx context.Context, m *gen.OrganizationMutation) (ent.Value, error) {
			name, ok := m.Name()
			if !ok {
				return next.Mutate(ctx, m)
			}
			key := NameKey(name)
			m.SetNameKey(key)
			if m.Op().Is(ent.OpCreate) {
				return next.Mutate(ctx, m)
			}
			if _, err := m.Tx(); err != nil {
				return nil, errNeedsTx
			}
			ids, err := m.IDs(viewer.System(ctx))
			if err != nil {
				return nil, err
			}
			v, err := next.Mutate(ctx, m)
			if err != nil || len(ids) == 0 {
				return v, err
			}
			if err := m.Client().Member.Update().Where(member.OrganizationIDIn(ids...)).
				SetOrgNameKey(key).Exec(viewer.System(ctx)); err != nil {
				return nil, fmt.Errorf("updating the members' copy of an organization's name: %w", err)
			}
			return v, nil
		})
	}
}

func stringValue(o *gen.Organization, alias string) (string, error) {
	v, err := o.Value(alias)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("column %s: unexpected %T", alias, v)
}
