package schema

import (
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/predicate"
)

// organizationHasMember matches organizations that userID belongs to.
func organizationHasMember(userID string) predicate.Organization {
	return organization.HasMembersWith(member.UserID(userID))
}
