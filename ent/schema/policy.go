package schema

import (
	"context"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/predicate"
	"github.com/orgql/orgql/ent/privacy"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/viewer"
)

// Read policies filter what a query returns to what the viewer may see, so node(id:),
// nodes(ids:), lookups and eager loads cannot reach other tenants' rows: a row the
// viewer may not see does not exist for them. Authorization is decided from the
// membership table in every query, never from a cached active organization.
// Service code that must look further (sign-in, token redemption, the logo
// handler) opts out explicitly with viewer.System.
//
// Writes have no policies here: every write is a service method that checks the
// role matrix (package authz) inside its transaction.

// inOrgsOf matches rows whose column col names one of the organizations of userID.
// It is a correlated EXISTS on the unique index (organization_id, user_id): one
// probe per candidate row, which leaves the planner free to drive the query by the
// index of its order (an IN over the viewer's memberships is turned into a
// semi-join that MariaDB reads first, and then sorts).
func inOrgsOf(col, userID string, roles ...role.Role) func(*entsql.Selector) {
	return func(s *entsql.Selector) {
		pm := entsql.Table(member.Table).As("orgql_pm")
		preds := []*entsql.Predicate{
			entsql.ColumnsEQ(pm.C(member.FieldOrganizationID), s.C(col)),
			entsql.EQ(pm.C(member.FieldUserID), userID),
		}
		if len(roles) > 0 {
			vals := make([]any, len(roles))
			for i, r := range roles {
				vals[i] = string(r)
			}
			preds = append(preds, entsql.In(pm.C(member.FieldRole), vals...))
		}
		s.Where(entsql.Exists(entsql.Select(pm.C(member.FieldOrganizationID)).From(pm).Where(entsql.And(preds...))))
	}
}

// filter returns a query rule that narrows a query with the predicate made for the
// viewer; anonymous viewers see nothing.
func filter[Q interface{ Where(...P) Q }, P ~func(*entsql.Selector)](pred func(viewerID string) P) privacy.QueryRule {
	return privacy.QueryRuleFunc(func(ctx context.Context, q ent.Query) error {
		id := viewer.UserID(ctx)
		if id == "" {
			q.(Q).Where(P(func(s *entsql.Selector) { s.Where(entsql.False()) }))
			return privacy.Allow
		}
		q.(Q).Where(pred(id))
		return privacy.Allow
	})
}

// visibleUsers: the viewer and the members of the viewer's organizations.
func visibleUsers() privacy.QueryRule {
	return filter[*ent.UserQuery](func(id string) predicate.User {
		return user.Or(
			user.ID(id),
			user.HasMembershipsWith(predicate.Member(inOrgsOf(member.FieldOrganizationID, id))),
		)
	})
}

// visibleOrganizations: those the viewer belongs to.
func visibleOrganizations() privacy.QueryRule {
	return filter[*ent.OrganizationQuery](func(id string) predicate.Organization {
		return predicate.Organization(inOrgsOf(organization.FieldID, id))
	})
}

// visibleMembers: the members of the viewer's organizations.
func visibleMembers() privacy.QueryRule {
	return filter[*ent.MemberQuery](func(id string) predicate.Member {
		return predicate.Member(inOrgsOf(member.FieldOrganizationID, id))
	})
}

// visibleInvitations: those of organizations the viewer owns or administers, and
// the pending invitations of the viewer's verified email address (the inbox).
func visibleInvitations() privacy.QueryRule {
	return privacy.InvitationQueryRuleFunc(func(ctx context.Context, q *ent.InvitationQuery) error {
		v := viewer.FromContext(ctx)
		if v == nil || v.User == nil {
			q.Where(predicate.Invitation(func(s *entsql.Selector) { s.Where(entsql.False()) }))
			return privacy.Allow
		}
		admin := predicate.Invitation(inOrgsOf(invitation.FieldOrganizationID, v.User.ID, role.Owner, role.Admin))
		if v.User.EmailVerifiedAt == nil {
			q.Where(admin)
			return privacy.Allow
		}
		q.Where(invitation.Or(admin, invitation.And(
			invitation.Email(v.User.Email),
			invitation.StatusEQ(invitation.StatusPENDING),
		)))
		return privacy.Allow
	})
}

// visibleEvents: the audit log of organizations the viewer owns or administers.
func visibleEvents() privacy.QueryRule {
	return filter[*ent.EventQuery](func(id string) predicate.Event {
		return predicate.Event(inOrgsOf(event.FieldOrganizationID, id, role.Owner, role.Admin))
	})
}

// systemOnly is the policy of tables no client reads (sessions, tokens, the outbox,
// logo bytes): only service code with viewer.System may query them.
func systemOnly() ent.Policy {
	return privacy.Policy{Query: privacy.QueryPolicy{privacy.AlwaysDenyRule()}}
}
