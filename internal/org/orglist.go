package org

import (
	"context"
	"slices"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect/sql"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/keyset"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/viewer"
)

// ViewerOrganizations returns a page of the organizations the viewer belongs to,
// with the viewer's role in each. The page is one seek in the members index of
// its order, (user_id, org_name_key | org_slug | org_created_at, organization_id),
// joined to the organizations by primary key; totalCount is the user's counter.
func (s *Service) ViewerOrganizations(ctx context.Context, page PageArgs, order *ent.OrganizationOrder) (*ent.OrganizationConnection, map[string]role.Role, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, nil, nil
	}
	limit, backward, err := page.Limit()
	if err != nil {
		return nil, nil, err
	}
	field, dir := "NAME", entgql.OrderDirectionAsc
	if order != nil {
		if order.Field != nil {
			field = order.Field.String()
		}
		if order.Direction != "" {
			dir = order.Direction
		}
	}
	if dir.Validate() != nil {
		return nil, nil, apperr.Input("orderBy.direction", "INVALID_ORDER", "direction is ASC or DESC")
	}
	keyCol, ok := map[string]string{
		"NAME": member.FieldOrgNameKey, "SLUG": member.FieldOrgSlug, "CREATED_AT": member.FieldOrgCreatedAt,
	}[field]
	if !ok {
		return nil, nil, apperr.Input("orderBy.field", "INVALID_ORDER", "unknown order field "+field)
	}
	desc := (dir == entgql.OrderDirectionDesc) != backward
	cursor, cursorField := page.After, "after"
	if backward {
		cursor, cursorField = page.Before, "before"
	}
	var key any
	if cursor != nil {
		if key, err = orgCursorKey(cursorField, field, cursor); err != nil {
			return nil, nil, err
		}
	}
	conn := &ent.OrganizationConnection{Edges: []*ent.OrganizationEdge{}, TotalCount: v.User.OrganizationCount}
	roles := map[string]role.Role{}
	if limit == 0 {
		more := conn.TotalCount > 0
		conn.PageInfo.HasNextPage, conn.PageInfo.HasPreviousPage = more && !backward, more && backward
		return conn, roles, nil
	}
	// The page is read in a derived table: the viewer's memberships in the order's
	// index, joined to their organizations by primary key, limited. The read policy
	// then applies outside it to at most limit+1 rows, and cannot turn the query
	// around (MariaDB would drive it by the policy's membership lookup and sort).
	vm := sql.Table(member.Table).As("vm")
	o := sql.Table(organization.Table).As("o")
	inner := sql.Select(o.Columns(organization.Columns...)...).
		AppendSelectAs(vm.C(member.FieldRole), viewerRoleAlias).
		From(vm).
		Join(o).On(o.C(organization.FieldID), vm.C(member.FieldOrganizationID)).
		Where(sql.EQ(vm.C(member.FieldUserID), v.User.ID))
	if cursor != nil {
		inner.Where(keyset.Seek(vm.C(keyCol), vm.C(member.FieldOrganizationID), desc, key, cursor.ID))
	}
	keyset.Order(inner, desc, vm.C(keyCol), vm.C(member.FieldOrganizationID))
	inner.Limit(limit + 1)
	nodes, err := s.db.Client.Organization.Query().
		Modify(func(sel *sql.Selector) {
			sel.From(inner.As(organization.Table))
			sel.AppendSelectAs(sql.Table(organization.Table).C(viewerRoleAlias), viewerRoleAlias)
		}).
		All(ctx)
	if err != nil {
		return nil, nil, err
	}
	keyOf := func(o *ent.Organization) any {
		switch field {
		case "NAME":
			return o.NameKey
		case "SLUG":
			return o.Slug
		}
		return o.CreatedAt
	}
	// The outer query returns the rows in no particular order.
	slices.SortFunc(nodes, func(a, b *ent.Organization) int {
		c := compareKeys(memberKey{key: keyOf(a), id: a.ID}, memberKey{key: keyOf(b), id: b.ID})
		if desc {
			return -c
		}
		return c
	})
	nodes, info := keyset.Trim(nodes, limit, backward, cursor != nil)
	conn.PageInfo.HasNextPage, conn.PageInfo.HasPreviousPage = info.HasNextPage, info.HasPreviousPage
	for _, o := range nodes {
		rl, err := viewerRoleOf(o)
		if err != nil {
			return nil, nil, err
		}
		roles[o.ID] = *rl
		conn.Edges = append(conn.Edges, &ent.OrganizationEdge{Node: o, Cursor: ent.Cursor{ID: o.ID, Value: []any{field, keyOf(o)}}})
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, roles, nil
}

// orgCursorKey reads the sort key of a cursor of the viewer's organization list in
// the order field; a cursor of another order or a tampered one is refused.
func orgCursorKey(arg, field string, c *ent.Cursor) (any, error) {
	bad := apperr.Input(arg, "INVALID_CURSOR", "the cursor does not belong to this list and order")
	parts, ok := c.Value.([]any)
	if !ok || len(parts) != 2 || parts[0] != field || c.ID == "" {
		return nil, bad
	}
	switch v := parts[1].(type) {
	case time.Time:
		if field == "CREATED_AT" {
			return v.UTC(), nil
		}
	case string:
		if field != "CREATED_AT" {
			return v, nil
		}
	}
	return nil, bad
}
