package org

import (
	"context"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect/sql"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/role"
)

// Page sizes of connections.
const (
	MaxPageSize     = 100
	DefaultPageSize = 20
)

// PageArgs are a Relay connection's arguments.
type PageArgs struct {
	First, Last   *int
	After, Before *ent.Cursor
}

// Limit checks the page arguments and returns the page size and whether the page
// is read backwards (last/before). Without first or last a page has DefaultPageSize.
func (p PageArgs) Limit() (n int, backward bool, err error) {
	switch {
	case p.First != nil && p.Last != nil:
		return 0, false, apperr.Input("first", "PAGE_ARGUMENTS", "pass first or last, not both")
	case p.First != nil:
		n = *p.First
	case p.Last != nil:
		n, backward = *p.Last, true
	default:
		n = DefaultPageSize
	}
	if n < 0 || n > MaxPageSize {
		field := "first"
		if backward {
			field = "last"
		}
		return 0, false, apperr.Input(field, "PAGE_SIZE", fmt.Sprintf("a page has 0 to %d items", MaxPageSize))
	}
	return n, backward, nil
}

// MemberOrderField is what a member list is ordered by.
type MemberOrderField string

// The member orders. Ties are broken by member ID, so every order is total.
const (
	OrderJoinedAt MemberOrderField = "JOINED_AT"
	OrderName     MemberOrderField = "NAME"
	OrderEmail    MemberOrderField = "EMAIL"
	// OrderRole ranks OWNER, ADMIN, MEMBER (ascending), not alphabetically.
	OrderRole MemberOrderField = "ROLE"
)

// MemberQuery selects and orders a page of an organization's members.
type MemberQuery struct {
	Page      PageArgs
	Field     MemberOrderField
	Direction entgql.OrderDirection
	Roles     []role.Role
	// Search matches members whose name or email contains it, ignoring case.
	Search string
	// WantTotal asks for totalCount (one more statement).
	WantTotal bool
}

// sortKey is the SQL expression members are ordered by, for a selector over the
// members table.
func (f MemberOrderField) sortKey(s *sql.Selector) (string, error) {
	userCol := func(col string) string {
		u := sql.Table(user.Table)
		sub := sql.Select(u.C(col)).From(u).Where(sql.ColumnsEQ(u.C(user.FieldID), s.C(member.FieldUserID)))
		q, _ := sub.Query()
		return "(" + q + ")"
	}
	switch f {
	case OrderJoinedAt, "":
		return s.C(member.FieldCreatedAt), nil
	case OrderName:
		return "LOWER(" + userCol(user.FieldName) + ")", nil
	case OrderEmail:
		return userCol(user.FieldEmail), nil
	case OrderRole:
		r := s.C(member.FieldRole)
		return fmt.Sprintf("CASE %s WHEN 'OWNER' THEN 1 WHEN 'ADMIN' THEN 2 ELSE 3 END", r), nil
	}
	return "", apperr.Input("orderBy.field", "INVALID_ORDER", "unknown order field "+string(f))
}

// cursorValue is the sort key of m as the database computes it.
func (f MemberOrderField) cursorValue(m *ent.Member) (any, error) {
	switch f {
	case OrderJoinedAt, "":
		return m.CreatedAt, nil
	case OrderRole:
		return int64(4 - m.Role.Rank()), nil
	}
	v, err := m.Value(sortKeyAlias)
	if err != nil {
		return nil, err
	}
	if b, ok := v.([]byte); ok {
		return string(b), nil
	}
	return v, nil
}

const sortKeyAlias = "orgql_sort_key"

// Members returns a page of the members of org that the viewer may see (the read
// policy applies), with their users loaded: three statements whatever the page size
// (page, users, and the count when asked for).
func (s *Service) Members(ctx context.Context, org *ent.Organization, mq MemberQuery) (*ent.MemberConnection, error) {
	limit, backward, err := mq.Page.Limit()
	if err != nil {
		return nil, err
	}
	if mq.Direction == "" {
		mq.Direction = entgql.OrderDirectionAsc
	}
	if mq.Direction.Validate() != nil {
		return nil, apperr.Input("orderBy.direction", "INVALID_ORDER", "direction is ASC or DESC")
	}
	if _, err := mq.Field.sortKey(sql.Select().From(sql.Table(member.Table))); err != nil {
		return nil, err
	}
	base := s.db.Client.Member.Query().Where(member.OrganizationID(org.ID))
	if len(mq.Roles) > 0 {
		base.Where(member.RoleIn(mq.Roles...))
	}
	if q := strings.TrimSpace(mq.Search); q != "" {
		base.Where(member.HasUserWith(user.Or(user.NameContainsFold(q), user.EmailContainsFold(q))))
	}

	conn := &ent.MemberConnection{Edges: []*ent.MemberEdge{}}
	if mq.WantTotal {
		if conn.TotalCount, err = base.Clone().Count(ctx); err != nil {
			return nil, err
		}
	}
	if limit == 0 {
		// An empty page still says whether there is anything to page to.
		more := conn.TotalCount > 0
		if !mq.WantTotal {
			if more, err = base.Clone().Exist(ctx); err != nil {
				return nil, err
			}
		}
		conn.PageInfo.HasNextPage = more && !backward
		conn.PageInfo.HasPreviousPage = more && backward
		return conn, nil
	}

	// Reading backwards flips the order in SQL; the page is flipped back below.
	desc := mq.Direction == entgql.OrderDirectionDesc
	if backward {
		desc = !desc
	}
	cursor, cursorField := mq.Page.After, "after"
	if backward {
		cursor, cursorField = mq.Page.Before, "before"
	}
	var cursorErr error
	q := base.Clone().WithUser().Limit(limit + 1).Modify(func(sel *sql.Selector) {
		key, _ := mq.Field.sortKey(sel)
		id := sel.C(member.FieldID)
		sel.AppendSelectExprAs(sql.Raw(key), sortKeyAlias)
		dir := "ASC"
		cmp := ">"
		if desc {
			dir, cmp = "DESC", "<"
		}
		if cursor != nil {
			v, err := mq.Field.cursorArg(cursorField, cursor.Value)
			if err != nil {
				cursorErr = err
				return
			}
			// Parenthesized as a whole: the cursor narrows the organization, filter
			// and read policy conditions, it must never stand beside them.
			sel.Where(sql.ExprP(fmt.Sprintf("((%[1]s %[2]s ?) OR (%[1]s = ? AND %[3]s %[2]s ?))", key, cmp, id), v, v, cursor.ID))
		}
		sel.OrderExpr(sql.Expr(fmt.Sprintf("%s %s, %s %s", sortKeyAlias, dir, id, dir)))
	})
	nodes, err := q.All(ctx)
	if cursorErr != nil {
		return nil, cursorErr
	}
	if err != nil {
		return nil, err
	}
	more := len(nodes) > limit
	if more {
		nodes = nodes[:limit]
	}
	if backward {
		slices.Reverse(nodes)
		conn.PageInfo.HasPreviousPage = more
		conn.PageInfo.HasNextPage = mq.Page.Before != nil
	} else {
		conn.PageInfo.HasNextPage = more
		conn.PageInfo.HasPreviousPage = mq.Page.After != nil
	}
	for _, m := range nodes {
		m.Edges.Organization = org
		v, err := mq.Field.cursorValue(m)
		if err != nil {
			return nil, err
		}
		// The cursor records its order field, so it cannot be used with another.
		conn.Edges = append(conn.Edges, &ent.MemberEdge{Node: m, Cursor: ent.Cursor{ID: m.ID, Value: []any{string(mq.field()), v}}})
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}

// field is the order field, JOINED_AT by default.
func (mq MemberQuery) field() MemberOrderField {
	if mq.Field == "" {
		return OrderJoinedAt
	}
	return mq.Field
}

// cursorArg turns a decoded cursor value back into a query argument of the right
// type; a cursor from another order or a tampered one is refused.
func (f MemberOrderField) cursorArg(field string, raw any) (any, error) {
	bad := apperr.Input(field, "INVALID_CURSOR", "the cursor does not belong to this list and order")
	if f == "" {
		f = OrderJoinedAt
	}
	pair, ok := raw.([]any)
	if !ok || len(pair) != 2 || pair[0] != string(f) {
		return nil, bad
	}
	v := pair[1]
	switch f {
	case OrderJoinedAt, "":
		t, ok := v.(time.Time)
		if !ok {
			return nil, bad
		}
		return t.UTC(), nil
	case OrderRole:
		// msgpack returns the smallest integer type that holds the value.
		rv := reflect.ValueOf(v)
		switch {
		case rv.CanInt():
			return rv.Int(), nil
		case rv.CanUint():
			return int64(rv.Uint()), nil
		}
		return nil, bad
	}
	s, ok := v.(string)
	if !ok {
		return nil, bad
	}
	return s, nil
}

// MemberOrder is the orderBy argument of a member list.
type MemberOrder struct {
	Field     MemberOrderField      `json:"field"`
	Direction entgql.OrderDirection `json:"direction"`
}

// MarshalGQL writes the order field as a GraphQL enum value.
func (f MemberOrderField) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(f))) }

// UnmarshalGQL reads a GraphQL enum value.
func (f *MemberOrderField) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("MemberOrderField must be a string, got %T", v)
	}
	switch MemberOrderField(s) {
	case OrderJoinedAt, OrderName, OrderEmail, OrderRole:
		*f = MemberOrderField(s)
		return nil
	}
	return fmt.Errorf("%q is not a valid MemberOrderField", s)
}

// MemberFilter is the filter argument of a member list.
type MemberFilter struct {
	Roles  []role.Role `json:"roles"`
	Search *string     `json:"search"`
}
