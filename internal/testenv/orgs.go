package testenv

import (
	"context"

	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/viewer"
)

// Org is an organization made through the API.
type Org struct {
	ID, Slug, Name string
	// OwnerMemberID is the creator's membership.
	OwnerMemberID string
}

// CreateOrg creates an organization through the API as u (who becomes its OWNER).
func (e *Env) CreateOrg(u *User, name, slug string) *Org {
	e.T.Helper()
	res := u.Do(`mutation($in: CreateOrganizationInput!) {
		createOrganization(input: $in) { organization { id slug name } member { id } } }`,
		map[string]any{"in": map[string]any{"name": name, "slug": slug}}).OK(e.T, nil)
	return &Org{
		ID:            res.Str(e.T, "createOrganization.organization.id"),
		Slug:          res.Str(e.T, "createOrganization.organization.slug"),
		Name:          res.Str(e.T, "createOrganization.organization.name"),
		OwnerMemberID: res.Str(e.T, "createOrganization.member.id"),
	}
}

// AddMember makes u a member of o with role r directly in the database (invitations
// are the API's way; tests of other features use this shortcut) and returns the
// member ID.
func (e *Env) AddMember(o *Org, u *User, r role.Role) string {
	e.T.Helper()
	m, err := e.App.DB.Client.Member.Create().
		SetOrganizationID(o.ID).SetUserID(u.ID).SetRole(r).
		Save(viewer.System(context.Background()))
	if err != nil {
		e.T.Fatalf("adding member: %v", err)
	}
	e.Recount(o.ID)
	return m.ID
}

// Recount sets the counters of an organization and its members' users after a test
// inserted members or invitations directly (see database.DB.Recount).
func (e *Env) Recount(orgID string) {
	e.T.Helper()
	if err := e.App.DB.Recount(context.Background(), orgID); err != nil {
		e.T.Fatalf("recounting: %v", err)
	}
}
