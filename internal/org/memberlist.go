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
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/keyset"
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
	// OrderName orders by the name lower-cased, compared code point by code point
	// (the same on both databases).
	OrderName  MemberOrderField = "NAME"
	OrderEmail MemberOrderField = "EMAIL"
	// OrderRole ranks OWNER, ADMIN, MEMBER (ascending), not alphabetically; members
	// of one role by join date.
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
	// WantTotal asks for totalCount: read from the organization's counters, or
	// with a search term counted (one more statement).
	WantTotal bool
}

// keyColumn is the members column a field orders by (within a role, for ROLE).
func (f MemberOrderField) keyColumn() (string, error) {
	switch f {
	case OrderJoinedAt, OrderRole:
		return member.FieldCreatedAt, nil
	case OrderName:
		return member.FieldUserNameKey, nil
	case OrderEmail:
		return member.FieldUserEmail, nil
	}
	return "", apperr.Input("orderBy.field", "INVALID_ORDER", "unknown order field "+string(f))
}

// keyOf is a member's value of the key column.
func (f MemberOrderField) keyOf(m *ent.Member) any {
	switch f {
	case OrderName:
		return m.UserNameKey
	case OrderEmail:
		return m.UserEmail
	}
	return m.CreatedAt
}

// memberKey is a member's position in a list: its segment (the role's rank
// position for ROLE, else 0), its key and its ID.
type memberKey struct {
	segment int
	key     any
	id      string
}

func compareKeys(a, b memberKey) int {
	if c := a.segment - b.segment; c != 0 {
		return c
	}
	var c int
	switch x := a.key.(type) {
	case time.Time:
		c = x.Compare(b.key.(time.Time))
	case string:
		c = strings.Compare(x, b.key.(string))
	}
	if c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

// rolePosition is where a role's segment comes in the ROLE order, ascending.
func rolePosition(r role.Role) int { return 3 - r.Rank() }

// Members returns a page of the members of org, which the caller read through the
// read policy (the page query applies it again). Every page is one index seek:
// without a role filter one range of the index of its order; with a filter of
// several roles, or ordered by ROLE, one range per role in a single UNION ALL
// statement, merged here. Their users load with one more statement, and
// totalCount comes from the organization's counters.
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
	field := mq.field()
	keyCol, err := field.keyColumn()
	if err != nil {
		return nil, err
	}
	roles := filterRoles(mq.Roles)
	search := strings.ToLower(strings.TrimSpace(mq.Search))
	// Reading backwards flips the order in SQL; Trim flips the page back.
	desc := (mq.Direction == entgql.OrderDirectionDesc) != backward
	cursor, cursorField := mq.Page.After, "after"
	if backward {
		cursor, cursorField = mq.Page.Before, "before"
	}
	var from *memberKey
	if cursor != nil {
		if from, err = field.decodeCursor(cursorField, cursor); err != nil {
			return nil, err
		}
	}

	conn := &ent.MemberConnection{Edges: []*ent.MemberEdge{}}
	if mq.WantTotal {
		if conn.TotalCount, err = s.memberTotal(ctx, org, roles, search); err != nil {
			return nil, err
		}
	}
	if limit == 0 {
		// An empty page still says whether there is anything to page to.
		more := conn.TotalCount > 0
		if !mq.WantTotal {
			n, err := s.memberTotal(ctx, org, roles, search)
			if err != nil {
				return nil, err
			}
			more = n > 0
		}
		conn.PageInfo.HasNextPage = more && !backward
		conn.PageInfo.HasPreviousPage = more && backward
		return conn, nil
	}

	// The segments: one per role when the list is ordered by role or filtered to
	// several roles (each has its own index range), else one for the whole list.
	segments := []role.Role{""}
	switch {
	case field == OrderRole:
		segments = roles
		if segments == nil {
			segments = role.All
		}
		if desc {
			segments = slices.Clone(segments)
			slices.Reverse(segments)
		}
	case roles != nil:
		segments = roles
	}
	segmentOf := func(r role.Role) int {
		if field != OrderRole {
			return 0
		}
		return rolePosition(r)
	}
	arms := make([]*sql.Selector, 0, len(segments))
	for _, r := range segments {
		seg := segmentOf(r)
		if from != nil && ((!desc && seg < from.segment) || (desc && seg > from.segment)) {
			continue // wholly before the cursor
		}
		arm := sql.Select(member.Columns...).From(sql.Table(member.Table))
		arm.Where(sql.EQ(arm.C(member.FieldOrganizationID), org.ID))
		if r != "" {
			arm.Where(sql.EQ(arm.C(member.FieldRole), string(r)))
		}
		if search != "" {
			arm.Where(matches(arm, search))
		}
		if from != nil && seg == from.segment {
			arm.Where(keyset.Seek(arm.C(keyCol), arm.C(member.FieldID), desc, from.key, from.id))
		}
		keyset.Order(arm, desc, arm.C(keyCol), arm.C(member.FieldID))
		arms = append(arms, arm.Limit(limit+1))
	}
	var nodes []*ent.Member
	if len(arms) > 0 {
		if nodes, err = s.memberPage(ctx, arms); err != nil {
			return nil, err
		}
	}
	{
		// Each arm holds its first limit+1 rows in the list's order: together
		// they hold the first limit+1 of the list.
		slices.SortFunc(nodes, func(a, b *ent.Member) int {
			c := compareKeys(
				memberKey{segmentOf(a.Role), field.keyOf(a), a.ID},
				memberKey{segmentOf(b.Role), field.keyOf(b), b.ID})
			if desc {
				return -c
			}
			return c
		})
	}
	nodes, info := keyset.Trim(nodes, limit, backward, cursor != nil)
	conn.PageInfo.HasNextPage, conn.PageInfo.HasPreviousPage = info.HasNextPage, info.HasPreviousPage
	for _, m := range nodes {
		m.Edges.Organization = org
		// The cursor records its order field, so it cannot be used with another.
		value := []any{string(field), field.keyOf(m)}
		if field == OrderRole {
			value = []any{string(field), int64(rolePosition(m.Role)), m.CreatedAt}
		}
		conn.Edges = append(conn.Edges, &ent.MemberEdge{Node: m, Cursor: ent.Cursor{ID: m.ID, Value: value}})
	}
	if n := len(conn.Edges); n > 0 {
		conn.PageInfo.StartCursor = &conn.Edges[0].Cursor
		conn.PageInfo.EndCursor = &conn.Edges[n-1].Cursor
	}
	return conn, nil
}

// memberPage reads the rows of the arms (each a complete, ordered and limited
// SELECT on members) with their users, through the read policy: the arms, joined
// by UNION ALL, are the derived table an ent query reads from. The rows come back
// in no particular order.
func (s *Service) memberPage(ctx context.Context, arms []*sql.Selector) ([]*ent.Member, error) {
	var page *sql.Selector
	for i, arm := range arms {
		// Each arm is wrapped: a compound SELECT's members cannot have their own
		// ORDER BY and LIMIT.
		one := sql.Select("*").From(arm.As(fmt.Sprintf("arm%d", i)))
		if page == nil {
			page = one
		} else {
			page.UnionAll(one)
		}
	}
	return s.db.Client.Member.Query().
		WithUser().
		Modify(func(sel *sql.Selector) {
			// Named like the table, so that the conditions ent has already written
			// (the read policy's) apply to the page's rows.
			sel.From(page.As(member.Table))
		}).
		All(ctx)
}

// memberTotal counts the members of org with one of roles (all when nil) that
// match search: from the organization's counters without a search term, else
// with a COUNT of the matches.
func (s *Service) memberTotal(ctx context.Context, org *ent.Organization, roles []role.Role, search string) (int, error) {
	if search == "" {
		if roles == nil {
			return org.MemberCount, nil
		}
		n := 0
		for _, r := range roles {
			switch r {
			case role.Owner:
				n += org.OwnerCount
			case role.Admin:
				n += org.AdminCount
			case role.Member:
				n += org.MemberCount - org.OwnerCount - org.AdminCount
			}
		}
		return n, nil
	}
	q := s.db.Client.Member.Query().Where(member.OrganizationID(org.ID))
	if roles != nil {
		q.Where(member.RoleIn(roles...))
	}
	q.Where(func(sel *sql.Selector) { sel.Where(matches(sel, search)) })
	return q.Count(ctx)
}

// matches selects the members whose name or email contains the lower-cased
// search term, on their copies of both (stored lower-cased).
func matches(s *sql.Selector, search string) *sql.Predicate {
	pattern := "%" + escapeLike(search) + "%"
	like := func(col string) *sql.Predicate {
		return sql.P(func(b *sql.Builder) { b.WriteString(col).WriteString(" LIKE ").Arg(pattern).WriteString(" ESCAPE '!'") })
	}
	// Columns are named now: s may be renamed (aliased) before it is written.
	return sql.Or(like(s.C(member.FieldUserNameKey)), like(s.C(member.FieldUserEmail)))
}

// filterRoles returns the distinct valid roles of a filter, most privileged
// first, or nil when the filter keeps every role (or is empty).
func filterRoles(in []role.Role) []role.Role {
	var out []role.Role
	for _, r := range role.All {
		if slices.Contains(in, r) {
			out = append(out, r)
		}
	}
	if len(out) == len(role.All) || len(out) == 0 {
		return nil
	}
	return out
}

// escapeLike escapes LIKE's wildcards with '!'.
func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

// field is the order field, JOINED_AT by default.
func (mq MemberQuery) field() MemberOrderField {
	if mq.Field == "" {
		return OrderJoinedAt
	}
	return mq.Field
}

// decodeCursor reads a cursor of this order back into a position; a cursor from
// another order or a tampered one is refused.
func (f MemberOrderField) decodeCursor(field string, c *ent.Cursor) (*memberKey, error) {
	bad := apperr.Input(field, "INVALID_CURSOR", "the cursor does not belong to this list and order")
	parts, ok := c.Value.([]any)
	if !ok || len(parts) < 2 || parts[0] != string(f) || c.ID == "" {
		return nil, bad
	}
	k := &memberKey{id: c.ID}
	switch f {
	case OrderJoinedAt:
		t, ok := parts[1].(time.Time)
		if !ok || len(parts) != 2 {
			return nil, bad
		}
		k.key = t.UTC()
	case OrderRole:
		if len(parts) != 3 {
			return nil, bad
		}
		pos, ok := smallInt(parts[1])
		t, tok := parts[2].(time.Time)
		if !ok || !tok || pos < 0 || pos > 2 {
			return nil, bad
		}
		k.segment, k.key = int(pos), t.UTC()
	default:
		v, ok := parts[1].(string)
		if !ok || len(parts) != 2 {
			return nil, bad
		}
		k.key = v
	}
	return k, nil
}

// smallInt reads an integer as msgpack decodes it (the smallest type that holds it).
func smallInt(v any) (int64, bool) {
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanInt():
		return rv.Int(), true
	case rv.CanUint():
		return int64(rv.Uint()), true
	}
	return 0, false
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
