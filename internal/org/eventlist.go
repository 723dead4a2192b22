package org

import (
	"context"

	"entgo.io/ent/dialect/sql"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/keyset"
)

// AuditLog returns a page of org's events, newest first, through the events'
// read policy. A page is one seek in the unique index (organization_id, sequence);
// totalCount is the organization's event sequence, since events are numbered
// 1, 2, 3... per organization and never deleted while it exists.
func (s *Service) AuditLog(ctx context.Context, org *ent.Organization, page PageArgs) (*ent.OrganizationEventConnection, error) {
	limit, backward, err := page.Limit()
	if err != nil {
		return nil, err
	}
	// Newest first: descending sequence, ascending when read backwards.
	desc := !backward
	cursor, cursorField := page.After, "after"
	if backward {
		cursor, cursorField = page.Before, "before"
	}
	var from int64
	if cursor != nil {
		if from, err = eventCursorSequence(cursorField, cursor); err != nil {
			return nil, err
		}
	}
	conn := &ent.OrganizationEventConnection{Edges: []*ent.OrganizationEventEdge{}, TotalCount: int(org.EventSequence)}
	if limit == 0 {
		more := conn.TotalCount > 0
		conn.PageInfo.HasNextPage, conn.PageInfo.HasPreviousPage = more && !backward, more && backward
		return conn, nil
	}
	nodes, err := s.db.Client.Event.Query().
		Where(event.OrganizationID(org.ID)).
		Modify(func(sel *sql.Selector) {
			if cursor != nil {
				sel.Where(keyset.Seek(sel.C(event.FieldSequence), "", desc, from, nil))
			}
			keyset.Order(sel, desc, sel.C(event.FieldSequence))
			sel.Limit(limit + 1)
		}).
		All(ctx)
	if err != nil {
		return nil, err
	}
	nodes, info := keyset.Trim(nodes, limit, backward, cursor != nil)
	conn.PageInfo.HasNextPage, conn.PageInfo.HasPreviousPage = info.HasNextPage, info.HasPreviousPage
	for _, ev := range nodes {
		conn.Edges = append(conn.Edges, &ent.OrganizationEventEdge{Node: ev, Cursor: ent.Cursor{ID: ev.ID, Value: ev.Sequence}})
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}

// eventCursorSequence reads the sequence number of an audit-log cursor.
func eventCursorSequence(arg string, c *ent.Cursor) (int64, error) {
	n, ok := smallInt(c.Value)
	if !ok || n < 1 || c.ID == "" {
		return 0, apperr.Input(arg, "INVALID_CURSOR", "the cursor does not belong to this list")
	}
	return n, nil
}
