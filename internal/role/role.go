// Package role defines the membership roles of an organization.
//
// The role matrix itself (who may do what) lives in package authz; this package only
// names the roles so that the data model, the GraphQL enum and the matrix share one type.
package role

import (
	"fmt"
	"io"
	"strconv"
)

// Role is a member's role in an organization.
type Role string

// The roles, from most to least privileged.
const (
	Owner  Role = "OWNER"
	Admin  Role = "ADMIN"
	Member Role = "MEMBER"
)

// All lists every role, most privileged first.
var All = []Role{Owner, Admin, Member}

// Values lists the enum values for ent.
func (Role) Values() []string {
	return []string{string(Owner), string(Admin), string(Member)}
}

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case Owner, Admin, Member:
		return true
	}
	return false
}

// Rank orders roles: a higher rank is more privileged. Unknown roles rank 0.
func (r Role) Rank() int {
	switch r {
	case Owner:
		return 3
	case Admin:
		return 2
	case Member:
		return 1
	}
	return 0
}

// AtLeast reports whether r is as privileged as min.
func (r Role) AtLeast(min Role) bool { return r.Rank() >= min.Rank() && r.Valid() }

// String returns the role's name.
func (r Role) String() string { return string(r) }

// MarshalGQL writes the role as a GraphQL enum value.
func (r Role) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

// UnmarshalGQL reads a GraphQL enum value.
func (r *Role) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("role must be a string, got %T", v)
	}
	*r = Role(s)
	if !r.Valid() {
		return fmt.Errorf("%q is not a valid MemberRole", s)
	}
	return nil
}
