// Package events records changes to organizations. Every change writes one event row
// in the transaction that makes it; the rows are the audit log and the feed that
// realtime subscribers replay and tail.
package events

import (
	"context"
	"fmt"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/viewer"
)

// Event types. They are stored: never rename one.
const (
	OrganizationCreated  = "ORGANIZATION_CREATED"
	OrganizationUpdated  = "ORGANIZATION_UPDATED"
	OrganizationDeleted  = "ORGANIZATION_DELETED"
	MemberJoined         = "MEMBER_JOINED"
	MemberRoleChanged    = "MEMBER_ROLE_CHANGED"
	MemberRemoved        = "MEMBER_REMOVED"
	MemberLeft           = "MEMBER_LEFT"
	OwnershipTransferred = "OWNERSHIP_TRANSFERRED"
	InvitationCreated    = "INVITATION_CREATED"
	InvitationResent     = "INVITATION_RESENT"
	InvitationAccepted   = "INVITATION_ACCEPTED"
	InvitationRejected   = "INVITATION_REJECTED"
	InvitationCanceled   = "INVITATION_CANCELED"
)

// Change describes one change. Empty fields are not recorded.
type Change struct {
	Type          string
	ActorID       string
	SubjectUserID string // the user the change is about (joined, removed, ...)
	MemberID      string
	InvitationID  string
	OldRole       role.Role
	NewRole       role.Role
	Data          map[string]any
}

// Record appends c to the feed of org within tx and returns the stored event. The
// caller must hold the organization's row lock (every membership change takes it
// first), which is what numbers an organization's events in commit order without
// gaps: org.EventSequence is advanced here, in the row and in memory.
func Record(ctx context.Context, tx *ent.Tx, org *ent.Organization, c Change) (*ent.Event, error) {
	ctx = viewer.System(ctx)
	seq := org.EventSequence + 1
	if err := tx.Organization.UpdateOneID(org.ID).SetEventSequence(seq).Exec(ctx); err != nil {
		return nil, fmt.Errorf("advancing event sequence: %w", err)
	}
	org.EventSequence = seq
	q := tx.Event.Create().
		SetOrganizationID(org.ID).
		SetSequence(seq).
		SetType(c.Type).
		SetNillableActorID(nonEmpty(c.ActorID)).
		SetNillableSubjectUserID(nonEmpty(c.SubjectUserID)).
		SetNillableMemberID(nonEmpty(c.MemberID)).
		SetNillableInvitationID(nonEmpty(c.InvitationID)).
		SetNillableOldRole(nonEmpty(string(c.OldRole))).
		SetNillableNewRole(nonEmpty(string(c.NewRole)))
	if c.Data != nil {
		q.SetData(c.Data)
	}
	e, err := q.Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("recording %s event: %w", c.Type, err)
	}
	return e, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
