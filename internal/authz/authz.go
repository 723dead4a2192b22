// Package authz is the role matrix of GUIDE §2 as pure functions: who may do what in
// an organization. The @hasRole directive, the services (inside their transactions)
// and the viewerCan fields all ask here, so each rule exists once.
package authz

import (
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/role"
)

// Reasons of FORBIDDEN refusals.
const (
	ReasonInsufficientRole  = "INSUFFICIENT_ROLE"
	ReasonRoleNotAssignable = "ROLE_NOT_ASSIGNABLE"
	ReasonLastOwner         = "LAST_OWNER"
	ReasonCannotRemoveSelf  = "CANNOT_REMOVE_SELF"
	ReasonTransferToSelf    = "CANNOT_TRANSFER_TO_SELF"
)

// Action is something a member may be allowed to do that depends on their role only.
type Action int

// The actions of the matrix whose answer is the actor's role alone.
const (
	// ViewOrganization: the organization, its members, applications, subscriptions
	// and credentials (secrets masked).
	ViewOrganization Action = iota
	// ViewInvitations and ViewAuditLog: the organization's invitations and audit log.
	ViewInvitations
	ViewAuditLog
	// UpdateSettings: name and logo.
	UpdateSettings
	// InviteMembers: invite (as ADMIN or MEMBER), resend and cancel invitations.
	InviteMembers
	// ManageMembers: change roles between MEMBER and ADMIN, remove MEMBERs and ADMINs.
	ManageMembers
	// ManageOwners: grant OWNER, change an OWNER's role, remove an OWNER.
	ManageOwners
	// ManageApplications: create, modify and delete applications, subscriptions and
	// credentials.
	ManageApplications
	// DeleteOrganization and TransferOwnership.
	DeleteOrganization
	TransferOwnership
)

// minRole is the least role allowed each action.
var minRole = map[Action]role.Role{
	ViewOrganization:   role.Member,
	ViewInvitations:    role.Admin,
	ViewAuditLog:       role.Admin,
	UpdateSettings:     role.Admin,
	InviteMembers:      role.Admin,
	ManageMembers:      role.Admin,
	ManageOwners:       role.Owner,
	ManageApplications: role.Admin,
	DeleteOrganization: role.Owner,
	TransferOwnership:  role.Owner,
}

// MinRole returns the least role allowed to do a.
func MinRole(a Action) role.Role { return minRole[a] }

// Allows reports whether role r may do a.
func Allows(r role.Role, a Action) bool {
	min, ok := minRole[a]
	return ok && r.AtLeast(min)
}

// Require returns nil if r may do a, and FORBIDDEN / INSUFFICIENT_ROLE otherwise.
func Require(r role.Role, a Action) error {
	if Allows(r, a) {
		return nil
	}
	return forbidden(ReasonInsufficientRole, "your role in this organization does not allow this")
}

// Assignable reports whether an actor may give role r to someone (by role change or
// invitation): ADMIN and MEMBER by OWNERs and ADMINs, OWNER by OWNERs only.
func Assignable(actor, r role.Role) bool {
	if !r.Valid() {
		return false
	}
	if r == role.Owner {
		return actor == role.Owner
	}
	return Allows(actor, ManageMembers)
}

// Target describes the member an action is aimed at.
type Target struct {
	Role role.Role
	// Self: the actor is the target.
	Self bool
	// Owners is how many OWNERs the organization has now.
	Owners int
}

// ChangeRole decides whether actor may change the target's role to newRole. Setting
// the role a member already has is allowed (and changes nothing).
func ChangeRole(actor role.Role, t Target, newRole role.Role) error {
	switch {
	case !Allows(actor, ManageMembers):
		return forbidden(ReasonInsufficientRole, "only owners and admins can change roles")
	case !newRole.Valid():
		return forbidden(ReasonRoleNotAssignable, "unknown role")
	case t.Role == newRole:
		return nil
	case newRole == role.Owner && actor != role.Owner:
		return forbidden(ReasonRoleNotAssignable, "only owners can make someone an owner")
	case t.Role == role.Owner && actor != role.Owner:
		return forbidden(ReasonInsufficientRole, "only owners can change an owner's role")
	case t.Role == role.Owner && t.Owners <= 1:
		return forbidden(ReasonLastOwner, "an organization needs at least one owner: make someone else an owner first")
	}
	return nil
}

// Remove decides whether actor may remove the target from the organization.
// Members leave by themselves with Leave, not by removing themselves.
func Remove(actor role.Role, t Target) error {
	switch {
	case !Allows(actor, ManageMembers):
		return forbidden(ReasonInsufficientRole, "only owners and admins can remove members")
	case t.Self:
		return forbidden(ReasonCannotRemoveSelf, "to remove yourself, leave the organization")
	case t.Role == role.Owner && actor != role.Owner:
		return forbidden(ReasonInsufficientRole, "only owners can remove an owner")
	case t.Role == role.Owner && t.Owners <= 1:
		return forbidden(ReasonLastOwner, "an organization needs at least one owner")
	}
	return nil
}

// Leave decides whether a member with role r may leave an organization that has
// owners OWNERs.
func Leave(r role.Role, owners int) error {
	if r == role.Owner && owners <= 1 {
		return forbidden(ReasonLastOwner, "you are the last owner: transfer ownership or delete the organization instead")
	}
	if !r.Valid() {
		return forbidden(ReasonInsufficientRole, "not a member")
	}
	return nil
}

// Transfer decides whether actor may transfer ownership to the target: the target
// becomes an OWNER and the actor an ADMIN.
func Transfer(actor role.Role, t Target) error {
	switch {
	case actor != role.Owner:
		return forbidden(ReasonInsufficientRole, "only owners can transfer ownership")
	case t.Self:
		return forbidden(ReasonTransferToSelf, "choose another member to transfer ownership to")
	}
	return nil
}

// CanChangeRoleOf reports whether actor may change the target's role to at least
// one other role (the viewerCanChangeRole of a member).
func CanChangeRoleOf(actor role.Role, t Target) bool {
	for _, r := range role.All {
		if r != t.Role && ChangeRole(actor, t, r) == nil {
			return true
		}
	}
	return false
}

func forbidden(reason, msg string) error {
	return apperr.New(apperr.Forbidden, reason, msg)
}
