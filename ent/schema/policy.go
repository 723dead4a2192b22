package schema

import (
	"context"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/privacy"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/viewer"
)

// Read policies filter what a query returns to what the viewer may see, so node(id:),
// nodes(ids:), lookups and eager loads cannot reach other tenants' rows: a row the
// viewer may not see does not exist for them. Service code that must look further
// (sign-in, token redemption) opts out explicitly with viewer.System.
//
// Writes have no policies here: every write is a service method that checks the
// role matrix (package authz) inside its transaction.

// visibleUsers: the viewer and the members of the viewer's organizations.
func visibleUsers() privacy.QueryRule {
	return privacy.UserQueryRuleFunc(func(ctx context.Context, q *ent.UserQuery) error {
		id := viewer.UserID(ctx)
		if id == "" {
			q.Where(user.ID("")) // no row has an empty ID: anonymous viewers see none
			return privacy.Allow
		}
		q.Where(user.Or(
			user.ID(id),
			user.HasMembershipsWith(member.HasOrganizationWith(
				organizationHasMember(id),
			)),
		))
		return privacy.Allow
	})
}
