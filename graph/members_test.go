package graph_test

// The member list of an organization (schema/organization.graphql, Organization.members):
// orders, keyset pagination, page arguments, filters, and the SQL cost of member lists,
// organization lists and the audit log (GUIDE §4, §6). Every answer is checked against
// the rows as stored, read with the system context and sorted here.

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
	"github.com/orgql/orgql/internal/viewer"
)

// --- fixtures ---

func memSys() context.Context { return viewer.System(context.Background()) }

// memSpec is a member to insert directly.
type memSpec struct {
	Name string
	// Email is generated (unique, in the domain bulk.test) when empty.
	Email string
	Role  role.Role
	// JoinedAt is now when zero.
	JoinedAt time.Time
}

// memEmailSeq keeps generated emails unique within the process.
var memEmailSeq atomic.Int64

// memBulkAdd inserts users and their memberships of orgID directly (CreateBulk, in
// chunks), far faster than signing up. It returns the member IDs in spec order.
func memBulkAdd(tb testing.TB, e *testenv.Env, orgID string, specs []memSpec) []string {
	tb.Helper()
	ctx := memSys()
	c := e.App.DB.Client
	var ids []string
	for start := 0; start < len(specs); start += 200 {
		chunk := specs[start:min(start+200, len(specs))]
		ub := make([]*ent.UserCreate, len(chunk))
		for i, s := range chunk {
			email := s.Email
			if email == "" {
				email = fmt.Sprintf("u%06d@bulk.test", memEmailSeq.Add(1))
			}
			ub[i] = c.User.Create().SetName(s.Name).SetEmail(email).SetPasswordHash("x")
		}
		users, err := c.User.CreateBulk(ub...).Save(ctx)
		if err != nil {
			tb.Fatalf("inserting users: %v", err)
		}
		mb := make([]*ent.MemberCreate, len(chunk))
		for i, s := range chunk {
			r := s.Role
			if r == "" {
				r = role.Member
			}
			mb[i] = c.Member.Create().SetOrganizationID(orgID).SetUserID(users[i].ID).SetRole(r)
			if !s.JoinedAt.IsZero() {
				mb[i].SetCreatedAt(s.JoinedAt).SetUpdatedAt(s.JoinedAt)
			}
		}
		members, err := c.Member.CreateBulk(mb...).Save(ctx)
		if err != nil {
			tb.Fatalf("inserting members: %v", err)
		}
		for _, m := range members {
			ids = append(ids, m.ID)
		}
	}
	e.Recount(orgID)
	return ids
}

// memRow is a member as stored.
type memRow struct {
	ID, UserID, Name, Email string
	Role                    role.Role
	JoinedAt                time.Time
}

// memTruth reads every member of orgID with its user, bypassing the API.
func memTruth(tb testing.TB, e *testenv.Env, orgID string) []memRow {
	tb.Helper()
	ms, err := e.App.DB.Client.Member.Query().Where(member.OrganizationID(orgID)).WithUser().All(memSys())
	if err != nil {
		tb.Fatalf("reading members: %v", err)
	}
	out := make([]memRow, len(ms))
	for i, m := range ms {
		out[i] = memRow{ID: m.ID, UserID: m.UserID, Name: m.Edges.User.Name, Email: m.Edges.User.Email, Role: m.Role, JoinedAt: m.CreatedAt}
	}
	return out
}

// memCmp compares two members by an order field, ties broken by member ID, as the
// schema documents: NAME ignores letter case, ROLE ranks OWNER < ADMIN < MEMBER.
func memCmp(field string) func(a, b memRow) int {
	return func(a, b memRow) int {
		var c int
		switch field {
		case "", "JOINED_AT":
			c = a.JoinedAt.Compare(b.JoinedAt)
		case "NAME":
			c = strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
		case "EMAIL":
			c = strings.Compare(a.Email, b.Email)
		case "ROLE":
			if c = b.Role.Rank() - a.Role.Rank(); c == 0 {
				c = a.JoinedAt.Compare(b.JoinedAt)
			}
		default:
			panic(field)
		}
		if c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	}
}

// memSorted returns the IDs of rows in the given order.
func memSorted(rows []memRow, field, direction string) []string {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, memCmp(field))
	if direction == "DESC" {
		slices.Reverse(rows)
	}
	return memIDs(rows)
}

func memIDs(rows []memRow) []string {
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids
}

func memWhere(rows []memRow, keep func(memRow) bool) []memRow {
	var out []memRow
	for _, r := range rows {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// --- queries ---

const memListQuery = `query($slug: String!, $first: Int, $after: Cursor, $last: Int, $before: Cursor, $orderBy: MemberOrder, $filter: MemberFilter) {
  organization(slug: $slug) {
    members(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy, filter: $filter) {
      totalCount
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id role joinedAt user { id name email } } }
    }
  }
}`

type memConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   struct {
			ID, Role, JoinedAt string
			User               struct{ ID, Name, Email string }
		}
	}
}

func (c memConn) ids() []string {
	out := make([]string, len(c.Edges))
	for i, e := range c.Edges {
		out[i] = e.Node.ID
	}
	return out
}

// memArgs are the arguments of one members request; zero values are left out.
type memArgs struct {
	First, Last   *int
	After, Before string
	Field, Dir    string
	Roles         []string
	Search        *string
}

func memInt(n int) *int       { return &n }
func memStr(s string) *string { return &s }

func (a memArgs) vars(slug string) map[string]any {
	v := map[string]any{"slug": slug}
	if a.First != nil {
		v["first"] = *a.First
	}
	if a.Last != nil {
		v["last"] = *a.Last
	}
	if a.After != "" {
		v["after"] = a.After
	}
	if a.Before != "" {
		v["before"] = a.Before
	}
	if a.Field != "" {
		o := map[string]any{"field": a.Field}
		if a.Dir != "" {
			o["direction"] = a.Dir
		}
		v["orderBy"] = o
	}
	if a.Roles != nil || a.Search != nil {
		f := map[string]any{}
		if a.Roles != nil {
			f["roles"] = a.Roles
		}
		if a.Search != nil {
			f["search"] = *a.Search
		}
		v["filter"] = f
	}
	return v
}

// memDo runs memListQuery.
func memDo(u *testenv.User, slug string, a memArgs) *testenv.Response {
	return u.Do(memListQuery, a.vars(slug))
}

// memList runs memListQuery and fails the test on any error.
func memList(t testing.TB, u *testenv.User, slug string, a memArgs) memConn {
	t.Helper()
	var data struct{ Organization *struct{ Members memConn } }
	memDo(u, slug, a).OK(t, &data)
	if data.Organization == nil {
		t.Fatalf("organization %q is null for %s", slug, u.Name)
	}
	return data.Organization.Members
}

// memWantIDs compares member ID lists, naming members by their stored name.
func memWantIDs(t testing.TB, what string, got, want []string, rows []memRow) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	names := map[string]string{}
	for _, r := range rows {
		names[r.ID] = fmt.Sprintf("%s(%s %s %s %s)", r.ID[len(r.ID)-6:], r.Name, r.Email, r.Role, r.JoinedAt.Format(time.RFC3339Nano))
	}
	show := func(ids []string) string {
		var b strings.Builder
		for i, id := range ids {
			name, ok := names[id]
			if !ok {
				name = id + " (NOT A MEMBER OF THIS ORGANIZATION)"
			}
			fmt.Fprintf(&b, "\n  %2d %s", i, name)
		}
		return b.String()
	}
	t.Fatalf("%s: got %d members:%s\nwant %d:%s", what, len(got), show(got), len(want), show(want))
}

// memWantError checks that a response is refused with a catalog code (never an
// internal error) and returns its first error.
func memWantError(t testing.TB, res *testenv.Response, code, reason, field string) testenv.Error {
	t.Helper()
	if len(res.Errors) == 0 {
		t.Fatalf("want error %s/%s, got success: %s", code, reason, res.Raw)
	}
	e := res.Errors[0]
	if e.Code() != code || (reason != "" && e.Reason() != reason) || (field != "" && e.Field() != field) {
		t.Fatalf("want error %s/%s field %q, got %s/%s field %q: %s", code, reason, field, e.Code(), e.Reason(), e.Field(), res.Raw)
	}
	return e
}

// memWalk pages through a member list in pages of size, forwards (first/after) or
// backwards (last/before), checks each page and its pageInfo against want (the whole
// list in order) per the Relay connection spec, and returns the members in list order.
func memWalk(t *testing.T, u *testenv.User, slug string, a memArgs, size int, backward bool, want []string, rows []memRow) []string {
	t.Helper()
	n := len(want)
	var visited []string
	cursor := ""
	for page := 0; ; page++ {
		if page > n/size+2 {
			t.Fatalf("pagination does not end after %d pages", page)
		}
		pa := a
		var lo, hi int // the expected page is want[lo:hi]
		if backward {
			pa.Last, pa.Before = memInt(size), cursor
			hi = n - page*size
			lo = max(0, hi-size)
		} else {
			pa.First, pa.After = memInt(size), cursor
			lo = page * size
			hi = min(n, lo+size)
		}
		c := memList(t, u, slug, pa)
		what := fmt.Sprintf("%+v page %d (backward %v)", a, page, backward)
		memWantIDs(t, what, c.ids(), want[lo:hi], rows)
		if c.TotalCount != n {
			t.Errorf("%s: totalCount %d, want %d", what, c.TotalCount, n)
		}
		pi := c.PageInfo
		if len(c.Edges) > 0 {
			if pi.StartCursor == nil || *pi.StartCursor != c.Edges[0].Cursor {
				t.Errorf("%s: startCursor %v, want the first edge's cursor %q", what, pi.StartCursor, c.Edges[0].Cursor)
			}
			if pi.EndCursor == nil || *pi.EndCursor != c.Edges[len(c.Edges)-1].Cursor {
				t.Errorf("%s: endCursor %v, want the last edge's cursor %q", what, pi.EndCursor, c.Edges[len(c.Edges)-1].Cursor)
			}
		}
		if backward {
			// Relay: with last, hasPreviousPage tells whether more edges precede; with
			// no before cursor there is nothing after the page.
			if pi.HasPreviousPage != (lo > 0) {
				t.Errorf("%s: hasPreviousPage %v, want %v", what, pi.HasPreviousPage, lo > 0)
			}
			if page == 0 && pi.HasNextPage {
				t.Errorf("%s: hasNextPage true on the last page without a before cursor", what)
			}
			visited = append(slices.Clone(c.ids()), visited...)
			if !pi.HasPreviousPage {
				break
			}
			if pi.StartCursor == nil {
				t.Fatalf("%s: no startCursor to continue from", what)
			}
			cursor = *pi.StartCursor
		} else {
			if pi.HasNextPage != (hi < n) {
				t.Errorf("%s: hasNextPage %v, want %v", what, pi.HasNextPage, hi < n)
			}
			if page == 0 && pi.HasPreviousPage {
				t.Errorf("%s: hasPreviousPage true on the first page without an after cursor", what)
			}
			visited = append(visited, c.ids()...)
			if !pi.HasNextPage {
				break
			}
			if pi.EndCursor == nil {
				t.Fatalf("%s: no endCursor to continue from", what)
			}
			cursor = *pi.EndCursor
		}
	}
	seen := map[string]bool{}
	for _, id := range visited {
		if seen[id] {
			t.Errorf("%+v: member %s visited twice", a, id)
		}
		seen[id] = true
	}
	memWantIDs(t, fmt.Sprintf("%+v: all pages (backward %v)", a, backward), visited, want, rows)
	return visited
}

// --- the list: orders, pagination, arguments, role filter ---

var memWords = []string{"ada", "ann", "anna", "bob", "carol", "dave", "eve", "frank", "grace", "heidi",
	"ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor"}

// memOrderFixture makes an organization of 57 members (the owner and 56 inserted)
// whose join times, names, emails and roles are in unrelated orders, with ties: every
// join time is shared by two members and every name (in some letter case) by several.
func memOrderFixture(t *testing.T, e *testenv.Env) (*testenv.User, *testenv.Org, []memRow) {
	t.Helper()
	owner := e.SignUp("Owner")
	o := e.CreateOrg(owner, "Order Co", "order-co")
	rng := rand.New(rand.NewPCG(7, 11))
	const n = 56
	namePerm, emailPerm, timePerm, rolePerm := rng.Perm(n), rng.Perm(n), rng.Perm(n), rng.Perm(n)
	base := time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)
	specs := make([]memSpec, n)
	for i := range specs {
		w := memWords[namePerm[i]%len(memWords)]
		switch i % 3 {
		case 1:
			w = strings.ToUpper(w[:1]) + w[1:]
		case 2:
			w = strings.ToUpper(w)
		}
		r := role.Member
		switch {
		case rolePerm[i]%9 == 0:
			r = role.Owner
		case rolePerm[i]%3 == 0:
			r = role.Admin
		}
		specs[i] = memSpec{
			Name:     w,
			Email:    fmt.Sprintf("e%03d-%d@order.test", emailPerm[i], memEmailSeq.Add(1)),
			Role:     r,
			JoinedAt: base.Add(time.Duration(timePerm[i]/2) * time.Minute),
		}
	}
	memBulkAdd(t, e, o.ID, specs)
	rows := memTruth(t, e, o.ID)
	if len(rows) != n+1 {
		t.Fatalf("fixture has %d members, want %d", len(rows), n+1)
	}
	return owner, o, rows
}

func TestMembersList(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner, o, rows := memOrderFixture(t, e)
		n := len(rows)
		fields := []string{"JOINED_AT", "NAME", "EMAIL", "ROLE"}

		t.Run("default order and size", func(t *testing.T) {
			c := memList(t, owner, o.Slug, memArgs{})
			want := memSorted(rows, "JOINED_AT", "ASC")
			memWantIDs(t, "no arguments: JOINED_AT ASC, 20 members", c.ids(), want[:20], rows)
			if c.TotalCount != n {
				t.Errorf("totalCount %d, want %d", c.TotalCount, n)
			}
			if !c.PageInfo.HasNextPage || c.PageInfo.HasPreviousPage {
				t.Errorf("pageInfo %+v, want hasNextPage and no previous page", c.PageInfo)
			}
			// The fields match the stored member.
			byID := map[string]memRow{}
			for _, r := range rows {
				byID[r.ID] = r
			}
			for _, edge := range c.Edges {
				r := byID[edge.Node.ID]
				if edge.Node.Role != string(r.Role) || edge.Node.User.ID != r.UserID || edge.Node.User.Name != r.Name || edge.Node.User.Email != r.Email {
					t.Errorf("member %s is %+v, stored %+v", edge.Node.ID, edge.Node, r)
				}
				if got, err := time.Parse(time.RFC3339Nano, edge.Node.JoinedAt); err != nil || !got.Equal(r.JoinedAt) {
					t.Errorf("member %s joinedAt %q, stored %s (%v)", edge.Node.ID, edge.Node.JoinedAt, r.JoinedAt, err)
				}
			}
		})

		t.Run("orders", func(t *testing.T) {
			for _, f := range fields {
				for _, dir := range []string{"ASC", "DESC", ""} {
					c := memList(t, owner, o.Slug, memArgs{First: memInt(100), Field: f, Dir: dir})
					d := dir
					if d == "" {
						d = "ASC"
					}
					memWantIDs(t, f+" "+dir, c.ids(), memSorted(rows, f, d), rows)
					if c.TotalCount != n || c.PageInfo.HasNextPage || c.PageInfo.HasPreviousPage {
						t.Errorf("%s %s: totalCount %d pageInfo %+v, want %d and one page", f, dir, c.TotalCount, c.PageInfo, n)
					}
				}
			}
		})

		t.Run("forward pagination", func(t *testing.T) {
			for _, f := range fields {
				for _, dir := range []string{"ASC", "DESC"} {
					memWalk(t, owner, o.Slug, memArgs{Field: f, Dir: dir}, 10, false, memSorted(rows, f, dir), rows)
				}
			}
			// Without orderBy: join date.
			memWalk(t, owner, o.Slug, memArgs{}, 10, false, memSorted(rows, "JOINED_AT", "ASC"), rows)
		})

		t.Run("backward pagination", func(t *testing.T) {
			for _, f := range fields {
				for _, dir := range []string{"ASC", "DESC"} {
					memWalk(t, owner, o.Slug, memArgs{Field: f, Dir: dir}, 10, true, memSorted(rows, f, dir), rows)
				}
			}
			memWalk(t, owner, o.Slug, memArgs{}, 10, true, memSorted(rows, "JOINED_AT", "ASC"), rows)
		})

		t.Run("page sizes that divide the list", func(t *testing.T) {
			want := memSorted(rows, "NAME", "ASC")
			memWalk(t, owner, o.Slug, memArgs{Field: "NAME"}, 19, false, want, rows)
			memWalk(t, owner, o.Slug, memArgs{Field: "NAME"}, 19, true, want, rows)
			memWalk(t, owner, o.Slug, memArgs{Field: "ROLE"}, 1, false, memSorted(rows, "ROLE", "ASC"), rows)
			memWalk(t, owner, o.Slug, memArgs{Field: "EMAIL", Dir: "DESC"}, n, false, memSorted(rows, "EMAIL", "DESC"), rows)
		})

		t.Run("cursors in both directions", func(t *testing.T) {
			// A cursor from the middle works both as after and as before.
			want := memSorted(rows, "EMAIL", "ASC")
			c := memList(t, owner, o.Slug, memArgs{First: memInt(25), Field: "EMAIL"})
			mid := c.Edges[24].Cursor
			after := memList(t, owner, o.Slug, memArgs{First: memInt(10), After: mid, Field: "EMAIL"})
			memWantIDs(t, "after member 25", after.ids(), want[25:35], rows)
			before := memList(t, owner, o.Slug, memArgs{Last: memInt(10), Before: mid, Field: "EMAIL"})
			memWantIDs(t, "before member 25", before.ids(), want[14:24], rows)
			if !before.PageInfo.HasPreviousPage {
				t.Errorf("last 10 before member 25: hasPreviousPage false, want true")
			}
		})

		cursorOf := func(t *testing.T, field string) string {
			t.Helper()
			c := memList(t, owner, o.Slug, memArgs{First: memInt(5), Field: field})
			return *c.PageInfo.EndCursor
		}

		t.Run("cursor from another order", func(t *testing.T) {
			for _, tc := range []struct{ from, to string }{
				{"NAME", "ROLE"}, {"ROLE", "NAME"}, {"JOINED_AT", "EMAIL"}, {"ROLE", "JOINED_AT"}, {"EMAIL", "JOINED_AT"},
			} {
				cur := cursorOf(t, tc.from)
				for _, a := range []memArgs{
					{First: memInt(5), After: cur, Field: tc.to},
					{Last: memInt(5), Before: cur, Field: tc.to},
				} {
					res := memDo(owner, o.Slug, a)
					memWantError(t, res, "BAD_USER_INPUT", "INVALID_CURSOR", "")
				}
			}
		})

		t.Run("cursor from another order of the same type", func(t *testing.T) {
			// A NAME cursor holds a string like an EMAIL cursor; the list must still
			// refuse it rather than start at an arbitrary place (memberlist.go:
			// "a cursor from another order or a tampered one is refused").
			cur := cursorOf(t, "NAME")
			memWantError(t, memDo(owner, o.Slug, memArgs{First: memInt(5), After: cur, Field: "EMAIL"}), "BAD_USER_INPUT", "INVALID_CURSOR", "")
		})

		t.Run("invalid before cursor names before", func(t *testing.T) {
			cur := cursorOf(t, "NAME")
			memWantError(t, memDo(owner, o.Slug, memArgs{Last: memInt(5), Before: cur, Field: "ROLE"}), "BAD_USER_INPUT", "INVALID_CURSOR", "before")
		})

		t.Run("garbage cursors", func(t *testing.T) {
			for _, cur := range []string{"garbage!!", "AAAA", "gqFpoA", "////", "eyJpZCI6MX0", strings.Repeat("A", 400)} {
				for _, a := range []memArgs{
					{First: memInt(5), After: cur},
					{Last: memInt(5), Before: cur, Field: "NAME"},
					{First: memInt(5), After: cur, Field: "ROLE"},
				} {
					res := memDo(owner, o.Slug, a)
					if len(res.Errors) == 0 {
						t.Errorf("cursor %q %+v: want an error, got %s", cur, a, res.Raw)
						continue
					}
					if code := res.Errors[0].Code(); code != "BAD_USER_INPUT" {
						t.Errorf("cursor %q %+v: want BAD_USER_INPUT, got %s", cur, a, res.Raw)
					}
				}
			}
		})

		t.Run("page arguments", func(t *testing.T) {
			memWantError(t, memDo(owner, o.Slug, memArgs{First: memInt(101)}), "BAD_USER_INPUT", "PAGE_SIZE", "first")
			memWantError(t, memDo(owner, o.Slug, memArgs{Last: memInt(101)}), "BAD_USER_INPUT", "PAGE_SIZE", "last")
			memWantError(t, memDo(owner, o.Slug, memArgs{First: memInt(-1)}), "BAD_USER_INPUT", "", "first")
			memWantError(t, memDo(owner, o.Slug, memArgs{Last: memInt(-1)}), "BAD_USER_INPUT", "", "last")
			memWantError(t, memDo(owner, o.Slug, memArgs{First: memInt(1), Last: memInt(1)}), "BAD_USER_INPUT", "", "")
			memWantError(t, memDo(owner, o.Slug, memArgs{First: memInt(101), Field: "NAME", Dir: "DESC"}), "BAD_USER_INPUT", "PAGE_SIZE", "first")
			if c := memList(t, owner, o.Slug, memArgs{First: memInt(100)}); len(c.Edges) != n {
				t.Errorf("first: 100 returned %d members, want %d", len(c.Edges), n)
			}
			if c := memList(t, owner, o.Slug, memArgs{Last: memInt(100)}); len(c.Edges) != n {
				t.Errorf("last: 100 returned %d members, want %d", len(c.Edges), n)
			}
		})

		t.Run("first 0", func(t *testing.T) {
			c := memList(t, owner, o.Slug, memArgs{First: memInt(0)})
			if len(c.Edges) != 0 || c.TotalCount != n {
				t.Fatalf("first: 0: %d edges, totalCount %d; want none and %d", len(c.Edges), c.TotalCount, n)
			}
			if c.PageInfo.StartCursor != nil || c.PageInfo.EndCursor != nil {
				t.Errorf("first: 0: cursors %v %v, want null", c.PageInfo.StartCursor, c.PageInfo.EndCursor)
			}
		})

		t.Run("first 0 hasNextPage", func(t *testing.T) {
			// Relay spec, HasNextPage: with first set, true when the edges after the
			// cursor are more than first.
			c := memList(t, owner, o.Slug, memArgs{First: memInt(0)})
			if !c.PageInfo.HasNextPage {
				t.Errorf("first: 0 of %d members: hasNextPage false, want true", n)
			}
		})

		t.Run("role filter", func(t *testing.T) {
			for _, roles := range [][]string{{"ADMIN"}, {"OWNER", "MEMBER"}, {"OWNER"}, {"MEMBER"}, {"OWNER", "ADMIN", "MEMBER"}} {
				sub := memWhere(rows, func(r memRow) bool { return slices.Contains(roles, string(r.Role)) })
				if len(sub) == 0 {
					t.Fatalf("fixture has no member with roles %v", roles)
				}
				c := memList(t, owner, o.Slug, memArgs{First: memInt(100), Roles: roles})
				memWantIDs(t, fmt.Sprintf("roles %v", roles), c.ids(), memSorted(sub, "JOINED_AT", "ASC"), rows)
				if c.TotalCount != len(sub) {
					t.Errorf("roles %v: totalCount %d, want %d", roles, c.TotalCount, len(sub))
				}
				for _, e := range c.Edges {
					if !slices.Contains(roles, e.Node.Role) {
						t.Errorf("roles %v: got a %s", roles, e.Node.Role)
					}
				}
			}
			// Filtered, ordered and paged together.
			sub := memWhere(rows, func(r memRow) bool { return r.Role != role.Admin })
			memWalk(t, owner, o.Slug, memArgs{Field: "NAME", Dir: "DESC", Roles: []string{"OWNER", "MEMBER"}}, 7, false, memSorted(sub, "NAME", "DESC"), rows)
			memWalk(t, owner, o.Slug, memArgs{Field: "ROLE", Roles: []string{"OWNER", "MEMBER"}}, 7, true, memSorted(sub, "ROLE", "ASC"), rows)
		})

		t.Run("invalid role in filter", func(t *testing.T) {
			res := owner.Do(memListQuery, map[string]any{"slug": o.Slug, "filter": map[string]any{"roles": []string{"BOSS"}}})
			if len(res.Errors) == 0 || res.Errors[0].Code() == "INTERNAL_SERVER_ERROR" || res.Errors[0].Code() == "" {
				t.Errorf("roles [BOSS]: want a coded validation error, got %s", res.Raw)
			}
		})

		t.Run("a plain member sees the list", func(t *testing.T) {
			var plain memRow
			for _, r := range rows {
				if r.Role == role.Member {
					plain = r
					break
				}
			}
			// Inserted users have no password: give the member a session through a
			// new account instead.
			u := e.SignUp("Plain")
			e.AddMember(o, u, role.Member)
			c := memList(t, u, o.Slug, memArgs{First: memInt(100)})
			if c.TotalCount != n+1 || !slices.Contains(c.ids(), plain.ID) {
				t.Errorf("a MEMBER sees %d members, want %d", c.TotalCount, n+1)
			}
		})
	})
}

// TestMembersPagesStayInOrganization pages through one organization's members while
// another organization has members that tie with them on every sort key: the same
// names, join times and roles, and two users who belong to both (the same email).
// Every page must hold only the organization's own members, matching its filter.
func TestMembersPagesStayInOrganization(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		viewerU, other := e.SignUp("Viewer"), e.SignUp("Other")
		x := e.CreateOrg(viewerU, "Mine", "mine-co")
		y := e.CreateOrg(other, "Theirs", "theirs-co")
		base := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
		specs := func() []memSpec {
			var out []memSpec
			for i, r := range []role.Role{role.Owner, role.Admin, role.Admin, role.Member, role.Member, role.Member} {
				out = append(out, memSpec{Name: fmt.Sprintf("Twin %c", 'a'+i), Role: r, JoinedAt: base.Add(time.Duration(i) * time.Minute)})
			}
			return out
		}
		// The other organization's rows are inserted before and after ours, so that
		// their IDs fall on both sides of ours.
		memBulkAdd(t, e, y.ID, specs())
		memBulkAdd(t, e, x.ID, specs())
		memBulkAdd(t, e, y.ID, specs())
		// Two users in both organizations.
		shared := memBulkAdd(t, e, x.ID, []memSpec{{Name: "Shared One", Role: role.Member}, {Name: "Shared Two", Role: role.Admin, JoinedAt: base}})
		for _, id := range shared {
			m, err := e.App.DB.Client.Member.Get(memSys(), id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.App.DB.Client.Member.Create().SetOrganizationID(y.ID).SetUserID(m.UserID).SetRole(m.Role).SetCreatedAt(m.CreatedAt).SetUpdatedAt(m.CreatedAt).Save(memSys()); err != nil {
				t.Fatal(err)
			}
		}
		e.Recount(y.ID)
		rows := memTruth(t, e, x.ID)
		for _, f := range []string{"JOINED_AT", "NAME", "EMAIL", "ROLE"} {
			for _, dir := range []string{"ASC", "DESC"} {
				t.Run(f+" "+dir, func(t *testing.T) {
					want := memSorted(rows, f, dir)
					memWalk(t, viewerU, x.Slug, memArgs{Field: f, Dir: dir}, 1, false, want, rows)
					memWalk(t, viewerU, x.Slug, memArgs{Field: f, Dir: dir}, 2, true, want, rows)
					sub := memWhere(rows, func(r memRow) bool { return r.Role == role.Member })
					memWalk(t, viewerU, x.Slug, memArgs{Field: f, Dir: dir, Roles: []string{"MEMBER"}}, 1, false, memSorted(sub, f, dir), rows)
					q := "twin"
					sub = memWhere(rows, func(r memRow) bool { return strings.HasPrefix(r.Name, "Twin") })
					memWalk(t, viewerU, x.Slug, memArgs{Field: f, Dir: dir, Search: &q}, 2, false, memSorted(sub, f, dir), rows)
				})
			}
		}
	})
}

// --- search and non-ASCII names ---

func TestMembersSearch(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		o := e.CreateOrg(owner, "Search Co", "search-co")
		base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
		names := []string{
			"100%_x", "1000x", "10%x", "10_0y", "Ada Lovelace", "ADAM Smith", "Grace Hopper", "adalbert",
			"Linus", "Percy %", "under_score", "Barbara Liskov", "Ken Thompson", "Dennis Ritchie",
		}
		specs := make([]memSpec, len(names))
		for i, name := range names {
			specs[i] = memSpec{Name: name, JoinedAt: base.Add(time.Duration(i) * time.Hour)}
		}
		// Emails that match where names do not.
		specs[8].Email = fmt.Sprintf("ada.fan%d@search.test", memEmailSeq.Add(1))
		specs[11].Email = fmt.Sprintf("bl%d@percent.search.test", memEmailSeq.Add(1))
		memBulkAdd(t, e, o.ID, specs)
		rows := memTruth(t, e, o.ID)

		search := func(t *testing.T, q string, want []memRow) {
			t.Helper()
			c := memList(t, owner, o.Slug, memArgs{First: memInt(100), Search: &q})
			memWantIDs(t, fmt.Sprintf("search %q", q), c.ids(), memSorted(want, "JOINED_AT", "ASC"), rows)
			if c.TotalCount != len(want) {
				t.Errorf("search %q: totalCount %d, want %d", q, c.TotalCount, len(want))
			}
		}
		named := func(ns ...string) []memRow {
			return memWhere(rows, func(r memRow) bool { return slices.Contains(ns, r.Name) })
		}
		contains := func(q string) []memRow {
			q = strings.ToLower(q)
			return memWhere(rows, func(r memRow) bool {
				return strings.Contains(strings.ToLower(r.Name), q) || strings.Contains(strings.ToLower(r.Email), q)
			})
		}

		t.Run("name or email, ignoring case", func(t *testing.T) {
			search(t, "ada", named("Ada Lovelace", "ADAM Smith", "adalbert", "Linus"))
			search(t, "ADA", contains("ada"))
			search(t, "aDaM", named("ADAM Smith"))
			search(t, "hopper", named("Grace Hopper"))
			search(t, "SEARCH.TEST", contains("search.test"))
			search(t, "percent", named("Barbara Liskov"))
			search(t, "@bulk.TEST", contains("@bulk.test"))
			search(t, "nobody-has-this", nil)
			search(t, owner.Email, named("Owner"))
		})

		t.Run("wildcards are literal", func(t *testing.T) {
			search(t, "0%_", named("100%_x"))
			search(t, "%", named("100%_x", "10%x", "Percy %"))
			search(t, "_", named("100%_x", "10_0y", "under_score"))
			search(t, "0_", named("10_0y"))
			search(t, "%x", named("10%x"))
			search(t, "a_a", nil)
			search(t, "\\", nil)
			for _, want := range []int{len(contains("0%_")), len(contains("_"))} {
				if want == len(rows) {
					t.Fatal("fixture: a wildcard search would match everyone anyway")
				}
			}
		})

		t.Run("search with roles, order and pages", func(t *testing.T) {
			q := "a"
			want := memWhere(contains(q), func(r memRow) bool { return r.Role == role.Member })
			memWalk(t, owner, o.Slug, memArgs{Field: "NAME", Roles: []string{"MEMBER"}, Search: &q}, 3, false, memSorted(want, "NAME", "ASC"), rows)
			memWalk(t, owner, o.Slug, memArgs{Field: "EMAIL", Dir: "DESC", Search: &q}, 4, true, memSorted(contains(q), "EMAIL", "DESC"), rows)
		})

		t.Run("blank search matches everyone", func(t *testing.T) {
			search(t, "", rows)
			search(t, "   ", rows)
		})
	})
}

func TestMembersNonASCIINames(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		o := e.CreateOrg(owner, "Intl Co", "intl-co")
		names := []string{"Émile", "Öskar", "émile", "Zoë", "zed", "Ångström", "Łukasz", "李雷", "Ωmega", "ωmega",
			"émilie", "Ελένη", "Straße", "STRASSE", "Ærøskøbing", "Nguyễn", "Çelik", "😀 smile", "ﬁnn", "İstanbul"}
		specs := make([]memSpec, len(names))
		for i, name := range names {
			specs[i] = memSpec{Name: name}
		}
		memBulkAdd(t, e, o.ID, specs)
		rows := memTruth(t, e, o.ID)
		all := memIDs(rows)
		slices.Sort(all)

		t.Run("paging by name visits everyone once", func(t *testing.T) {
			for _, dir := range []string{"ASC", "DESC"} {
				for _, backward := range []bool{false, true} {
					// The expected order is the database's collation; take it from one
					// full page and check that pages of 3 agree with it.
					full := memList(t, owner, o.Slug, memArgs{First: memInt(100), Field: "NAME", Dir: dir})
					got := slices.Clone(full.ids())
					slices.Sort(got)
					if !slices.Equal(got, all) {
						t.Fatalf("NAME %s: one page has %d members, want %d", dir, len(got), len(all))
					}
					memWalk(t, owner, o.Slug, memArgs{Field: "NAME", Dir: dir}, 3, backward, full.ids(), rows)
					// DESC is the reverse of ASC.
					if dir == "DESC" {
						asc := memList(t, owner, o.Slug, memArgs{First: memInt(100), Field: "NAME"}).ids()
						slices.Reverse(asc)
						memWantIDs(t, "NAME DESC vs reversed ASC", full.ids(), asc, rows)
					}
				}
			}
		})

		t.Run("letter case of non-ASCII names is ignored", func(t *testing.T) {
			// NAME orders "ignoring letter case": Émile and émile are equal (tie broken
			// by ID), so nothing sorts between them; likewise Ωmega and ωmega.
			list := memList(t, owner, o.Slug, memArgs{First: memInt(100), Field: "NAME"})
			pos := map[string]int{}
			var order []string
			for i, edge := range list.Edges {
				pos[edge.Node.User.Name] = i
				order = append(order, edge.Node.User.Name)
			}
			for _, pair := range [][2]string{{"Émile", "émile"}, {"Ωmega", "ωmega"}} {
				if d := pos[pair[0]] - pos[pair[1]]; d != 1 && d != -1 {
					t.Errorf("NAME order puts %q at %d and %q at %d, want them adjacent (case ignored): %q", pair[0], pos[pair[0]], pair[1], pos[pair[1]], order)
				}
			}
		})

		t.Run("search ignores the case of non-ASCII letters", func(t *testing.T) {
			for q, want := range map[string][]string{
				"ÉMILE": {"Émile", "émile"},
				"émile": {"Émile", "émile"},
				"ÉMILI": {"émilie"},
				"ΩMEGA": {"Ωmega", "ωmega"},
				"ÖSKAR": {"Öskar"},
			} {
				c := memList(t, owner, o.Slug, memArgs{First: memInt(100), Search: memStr(q)})
				var got []string
				for _, edge := range c.Edges {
					got = append(got, edge.Node.User.Name)
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("search %q found %q, want %q", q, got, want)
				}
			}
		})
	})
}

// --- SQL cost (N+1) ---

// memStatements runs query as u and returns how many SQL statements it cost.
func memStatements(t *testing.T, e *testenv.Env, u *testenv.User, query string, vars map[string]any, check func(*testenv.Response)) (int, []string) {
	t.Helper()
	e.SQL.Reset()
	res := u.Do(query, vars).OK(t, nil)
	n, log := e.SQL.Count(), e.SQL.Log()
	if check != nil {
		check(res)
	}
	return n, log
}

// memPin checks that every measurement costs exactly want statements.
func memPin(t *testing.T, what string, want int, got map[string]int, logs map[string][]string) {
	t.Helper()
	memPinEach(t, what, func(string) int { return want }, got, logs)
}

// memPinEach is memPin with an expected count per measurement.
func memPinEach(t *testing.T, what string, want func(k string) int, got map[string]int, logs map[string][]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if n, want := got[k], want(k); n != want {
			t.Errorf("%s %s ran %d SQL statements, want %d:\n%s", what, k, n, want, strings.Join(logs[k], "\n"))
		}
	}
}

const memCostQuery = `query($slug: String!, $n: Int!) { organization(slug: $slug) { members(first: $n) { totalCount
  edges { node { id role joinedAt viewerCanChangeRole viewerCanRemove user { id name email } organization { id } } } } } }`

// Pinned statement counts, measured on SQLite and MariaDB. Every authenticated
// request starts with 1 (the session joined to its user; see TestViewerStatementCount).
const (
	// session, organization joined to the viewer's role, members page (keyset on
	// copied sort keys; totalCount comes from the organization's counters), their
	// users (one IN query).
	memMembersStatements = 4
	// session, organizations page joined to the viewer's memberships; totalCount,
	// memberCount and the owner counts behind viewerCan.leave are counters on the
	// rows already read, whatever the number of organizations.
	memOrganizationsStatementsMember = 2
	memOrganizationsStatementsOwner  = 2
	// session, organization joined to the viewer's role, events page (totalCount is
	// the organization's event sequence), their actors and subjects (one batched
	// query), members (one batched query), the members' users (one batched query).
	memAuditLogStatements = 6
)

func TestMembersStatementCount(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		o := e.CreateOrg(owner, "Cost Co", "cost-co")
		specs := make([]memSpec, 119)
		for i := range specs {
			specs[i] = memSpec{Name: fmt.Sprintf("Member %03d", i), Role: []role.Role{role.Owner, role.Admin, role.Member, role.Member}[i%4]}
		}
		memBulkAdd(t, e, o.ID, specs)
		admin := e.SignUp("Admin")
		e.AddMember(o, admin, role.Admin)

		for _, u := range []*testenv.User{owner, admin} {
			got, logs := map[string]int{}, map[string][]string{}
			for _, n := range []int{1, 10, 100} {
				for run := range 2 {
					k := fmt.Sprintf("as %s, first: %d (run %d)", u.Name, n, run)
					got[k], logs[k] = memStatements(t, e, u, memCostQuery, map[string]any{"slug": o.Slug, "n": n}, func(res *testenv.Response) {
						if edges, _ := res.Get(t, "organization.members.edges").([]any); len(edges) != n {
							t.Fatalf("%s: %d edges, want %d", k, len(edges), n)
						}
					})
				}
			}
			memPin(t, "members(first: N) with user, organization and capabilities", memMembersStatements, got, logs)
		}
	})
}

const memOrgsQuery = `query($n: Int!) { viewer { organizations(first: $n) { totalCount
  edges { node { id name viewerRole memberCount viewerCan { leave } } } } } }`

func TestViewerOrganizationsStatementCount(t *testing.T) {
	noLimit := testenv.WithConfig(func(c *config.Config) { c.MaxOwnedOrganizations = 0 })
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		// Owners of 1 and of 20 organizations; members (not owners) of 1 and of 20.
		owner1, owner20 := e.SignUp("Owner One"), e.SignUp("Owner Twenty")
		member1, member20 := e.SignUp("Member One"), e.SignUp("Member Twenty")
		for i := range 20 {
			if i == 0 {
				o := e.CreateOrg(owner1, "Solo", "solo-org")
				e.AddMember(o, member1, role.Member)
				memBulkAdd(t, e, o.ID, []memSpec{{Name: "x"}, {Name: "y", Role: role.Owner}})
			}
			o := e.CreateOrg(owner20, fmt.Sprintf("Org %02d", i), fmt.Sprintf("org-%02d", i))
			r := []role.Role{role.Member, role.Admin}[i%2]
			e.AddMember(o, member20, r)
			if i%3 == 0 {
				memBulkAdd(t, e, o.ID, []memSpec{{Name: "x"}, {Name: "y", Role: role.Owner}})
			}
		}
		got, logs, want := map[string]int{}, map[string][]string{}, map[string]int{}
		for _, tc := range []struct {
			u    *testenv.User
			n    int
			want int
		}{
			{owner1, 1, memOrganizationsStatementsOwner}, {owner20, 20, memOrganizationsStatementsOwner},
			{member1, 1, memOrganizationsStatementsMember}, {member20, 20, memOrganizationsStatementsMember},
		} {
			for run := range 2 {
				k := fmt.Sprintf("%s in %d organizations (run %d)", tc.u.Name, tc.n, run)
				want[k] = tc.want
				got[k], logs[k] = memStatements(t, e, tc.u, memOrgsQuery, map[string]any{"n": 100}, func(res *testenv.Response) {
					if edges, _ := res.Get(t, "viewer.organizations.edges").([]any); len(edges) != tc.n {
						t.Fatalf("%s: %d organizations, want %d", k, len(edges), tc.n)
					}
				})
			}
		}
		memPinEach(t, "viewer.organizations with viewerRole, memberCount and viewerCan", func(k string) int { return want[k] }, got, logs)
	}, noLimit)
}

func TestAuditLogStatementCount(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		small := e.CreateOrg(owner, "Small", "small-log")
		large := e.CreateOrg(owner, "Large", "large-log")
		// Role changes of different members: events with an actor, a member and a user.
		events := func(o *testenv.Org, want int) {
			ids := memBulkAdd(t, e, o.ID, []memSpec{{Name: "A"}, {Name: "B"}, {Name: "C"}, {Name: "D"}, {Name: "E"}, {Name: "F"}, {Name: "G"}})
			roleOf := map[string]string{}
			for i := 0; ; i++ {
				var total struct {
					Organization struct{ AuditLog struct{ TotalCount int } }
				}
				owner.Do(`query($s: String!) { organization(slug: $s) { auditLog { totalCount } } }`, map[string]any{"s": o.Slug}).OK(t, &total)
				if n := total.Organization.AuditLog.TotalCount; n >= want {
					if n != want {
						t.Fatalf("%s has %d events, want %d", o.Slug, n, want)
					}
					return
				}
				id := ids[i%len(ids)]
				next := "ADMIN"
				if roleOf[id] == "ADMIN" {
					next = "MEMBER"
				}
				roleOf[id] = next
				owner.Do(`mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id } } }`,
					map[string]any{"in": map[string]any{"memberId": id, "role": next}}).OK(t, nil)
			}
		}
		events(small, 5)
		events(large, 50)

		for _, tc := range []struct {
			name, query string
		}{
			{"actor, member and user", `query($s: String!) { organization(slug: $s) { auditLog(first: 100) { totalCount
				edges { node { id type createdAt oldRole newRole memberId actor { id name } member { id role } user { id name email } } } } } }`},
		} {
			got, logs := map[string]int{}, map[string][]string{}
			for _, o := range []*testenv.Org{small, large} {
				for run := range 2 {
					k := fmt.Sprintf("%s (run %d)", o.Slug, run)
					got[k], logs[k] = memStatements(t, e, owner, tc.query, map[string]any{"s": o.Slug}, nil)
				}
			}
			memPin(t, "auditLog with "+tc.name, memAuditLogStatements, got, logs)
		}

		t.Run("member with its user", func(t *testing.T) {
			// An audit log row that names the member's account through member.user.
			q := `query($s: String!) { organization(slug: $s) { auditLog(first: 100) {
				edges { node { id actor { id } member { id user { id name } } user { id } } } } } }`
			small5, _ := memStatements(t, e, owner, q, map[string]any{"s": small.Slug}, nil)
			large50, log := memStatements(t, e, owner, q, map[string]any{"s": large.Slug}, nil)
			if small5 != large50 {
				t.Errorf("auditLog with member { user }: %d statements for 5 events, %d for 50 (N+1):\n%s", small5, large50, strings.Join(log, "\n"))
			}
		})
	})
}

// Pinned statement counts of the write workloads (orgql-bench W4, W5), measured
// on SQLite and MariaDB.
const (
	// session; the member's organization joined to the viewer's role (@hasRole);
	// the member's organization (the service, to lock it); the lock; the actor's and
	// the target's memberships (one statement); the member, the organization's
	// counters and sequence, the event.
	memRoleChangeStatements = 8
	// session; the member's organization with the viewer's role (@hasRole); the
	// member's organization; the lock; actor and target; the member's deletion, the
	// counters, the user's organization count, the sessions' active organization,
	// the event.
	memRemoveStatements = 10
)

func TestMemberMutationStatementCount(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Owner")
		o := e.CreateOrg(owner, "Cost Co", "cost-co")
		ids := memBulkAdd(t, e, o.ID, []memSpec{{Name: "Ann"}, {Name: "Ben"}, {Name: "Cid"}})
		got, logs := map[string]int{}, map[string][]string{}
		for i, r := range []string{"ADMIN", "MEMBER", "ADMIN"} {
			k := fmt.Sprintf("to %s (run %d)", r, i)
			got[k], logs[k] = memStatements(t, e, owner, `mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id role } } }`,
				map[string]any{"in": map[string]any{"memberId": ids[0], "role": r}}, nil)
		}
		memPin(t, "updateMemberRole", memRoleChangeStatements, got, logs)

		got, logs = map[string]int{}, map[string][]string{}
		for i, id := range ids[1:] {
			k := fmt.Sprintf("(run %d)", i)
			got[k], logs[k] = memStatements(t, e, owner, `mutation($in: RemoveMemberInput!) { removeMember(input: $in) { removedMemberId } }`,
				map[string]any{"in": map[string]any{"memberId": id}}, nil)
		}
		memPin(t, "removeMember", memRemoveStatements, got, logs)
	})
}
