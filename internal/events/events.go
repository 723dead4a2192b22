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

// Write appends the changes to the feed of org within tx, numbered from
// org.EventSequence+1 in one INSERT, and returns the stored events. The caller must
// hold the organization's row lock (every change takes it first) and store the new
// sequence, org.EventSequence+len(changes), in the organization row in the same
// transaction: that is what numbers an organization's events in commit order
// without gaps. (package org does so in the one UPDATE that also moves the
// organization's counters.)
func Write(ctx context.Context, tx *ent.Tx, org *ent.Organization, changes []Change) ([]*ent.Event, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	ctx = viewer.System(ctx)
	builders := make([]*ent.EventCreate, len(changes))
	for i, c := range changes {
		q := tx.Event.Create().
			SetOrganizationID(org.ID).
			SetSequence(org.EventSequence + int64(i) + 1).
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
		builders[i] = q
	}
	evs, err := tx.Event.CreateBulk(builders...).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("recording %s event: %w", changes[0].Type, err)
	}
	return evs, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
