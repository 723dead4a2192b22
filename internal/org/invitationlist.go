package org

import (
	"context"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/keyset"
)

// Invitations returns a page of org's invitations, newest first, optionally only
// those of one status, through the invitations' read policy. A page is one seek
// in (organization_id, created_at, id) or, with a status, (organization_id,
// status, created_at, id); PENDING and EXPIRED both read stored PENDING rows and
// tell them apart by expiry, so a page of either skips the other's rows.
//
// totalCount comes from the organization's per-status counters; for PENDING and
// EXPIRED one more statement counts the unexpired invitations in the index
// (organization_id, status, expires_at), a range of at most MaxPendingInvitations.
func (s *Service) Invitations(ctx context.Context, org *ent.Organization, status *Status, page PageArgs, wantTotal bool) (*ent.InvitationConnection, error) {
	limit, backward, err := page.Limit()
	if err != nil {
		return nil, err
	}
	now := s.now()
	// Newest first: descending, ascending when read backwards.
	desc := !backward
	cursor, cursorField := page.After, "after"
	if backward {
		cursor, cursorField = page.Before, "before"
	}
	var from time.Time
	if cursor != nil {
		t, ok := cursor.Value.(time.Time)
		if !ok || cursor.ID == "" {
			return nil, apperr.Input(cursorField, "INVALID_CURSOR", "the cursor does not belong to this list")
		}
		from = t.UTC()
	}
	conn := &ent.InvitationConnection{Edges: []*ent.InvitationEdge{}}
	if wantTotal || limit == 0 {
		if conn.TotalCount, err = s.invitationTotal(ctx, org, status, now); err != nil {
			return nil, err
		}
	}
	if limit == 0 {
		more := conn.TotalCount > 0
		conn.PageInfo.HasNextPage, conn.PageInfo.HasPreviousPage = more && !backward, more && backward
		return conn, nil
	}
	q := s.db.Client.Invitation.Query().Where(invitation.OrganizationID(org.ID))
	nodes, err := q.Modify(func(sel *sql.Selector) {
		if status != nil {
			sel.Where(pageStatus(sel, *status, now))
		}
		if cursor != nil {
			sel.Where(keyset.Seek(sel.C(invitation.FieldCreatedAt), sel.C(invitation.FieldID), desc, from, cursor.ID))
		}
		keyset.Order(sel, desc, sel.C(invitation.FieldCreatedAt), sel.C(invitation.FieldID))
		sel.Limit(limit + 1)
	}).All(ctx)
	if err != nil {
		return nil, err
	}
	nodes, info := keyset.Trim(nodes, limit, backward, cursor != nil)
	conn.PageInfo.HasNextPage, conn.PageInfo.HasPreviousPage = info.HasNextPage, info.HasPreviousPage
	for _, inv := range nodes {
		conn.Edges = append(conn.Edges, &ent.InvitationEdge{Node: inv, Cursor: ent.Cursor{ID: inv.ID, Value: inv.CreatedAt}})
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}

// pageStatus is StatusPredicate for a page query. The expiry of PENDING and
// EXPIRED is compared as +expires_at: SQLite's documented way to keep a term from
// choosing the index (a no-op elsewhere). Otherwise SQLite reads the range of the
// expiry index (organization_id, status, expires_at) and sorts it, where the page
// must walk (organization_id, status, created_at, id) in order and stop when full.
func pageStatus(sel *sql.Selector, st Status, now time.Time) *sql.Predicate {
	stored := string(st)
	if st == StatusExpired {
		stored = string(StatusPending)
	}
	p := sql.EQ(sel.C(invitation.FieldStatus), stored)
	if st != StatusPending && st != StatusExpired {
		return p
	}
	op := " > "
	if st == StatusExpired {
		op = " <= "
	}
	col := sel.C(invitation.FieldExpiresAt)
	return sql.And(p, sql.P(func(b *sql.Builder) { b.WriteString("+" + col + op).Arg(now) }))
}

// invitationTotal is how many of org's invitations have status (all when nil).
func (s *Service) invitationTotal(ctx context.Context, org *ent.Organization, status *Status, now time.Time) (int, error) {
	if status == nil {
		return org.PendingInvitationCount + org.AcceptedInvitationCount + org.RejectedInvitationCount + org.CanceledInvitationCount, nil
	}
	switch *status {
	case StatusAccepted:
		return org.AcceptedInvitationCount, nil
	case StatusRejected:
		return org.RejectedInvitationCount, nil
	case StatusCanceled:
		return org.CanceledInvitationCount, nil
	}
	// Unexpired invitations are capped (MaxPendingInvitations); expired ones pile
	// up, so they are the difference.
	live, err := s.db.Client.Invitation.Query().
		Where(invitation.OrganizationID(org.ID), StatusPredicate(StatusPending, now)).
		Count(ctx)
	if err != nil {
		return 0, err
	}
	if *status == StatusPending {
		return live, nil
	}
	return org.PendingInvitationCount - live, nil
}
