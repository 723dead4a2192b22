package graph_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

// Query-plan tests: every connection, in every order and direction, on its first
// page and after a cursor, must read through an index that serves both its filter
// and its order. Each case runs the request through the HTTP handler, then asks the
// database to EXPLAIN every statement the request sent, and fails on a full scan
// of one of orgql's tables or a sort that no index serves (testenv.PlanProblems).
//
// The fixture is large enough (thousands of rows in the organization and around
// it) that a cost-based planner prefers the index it would use in production; on
// MariaDB the tables are ANALYZEd after seeding, as InnoDB does by itself once a
// tenth of a table has changed.

// planTables are the tables a plan may not scan.
var planTables = []string{"members", "users", "organizations", "invitations", "events", "sessions"}

const (
	planMembers     = 3000
	planInvitations = 1500
	planEvents      = 3000
	planOrgs        = 50
)

type planFixture struct {
	e     *testenv.Env
	owner *testenv.User
	org   *testenv.Org
}

func planSetup(t *testing.T, e *testenv.Env) *planFixture {
	t.Helper()
	owner := e.SignUp("Plan Owner")
	o := e.CreateOrg(owner, "Plan Co", "plan-co")
	names := []string{"Ada", "bob", "Carol", "dave", "Émile", "Zoë"}
	specs := make([]memSpec, planMembers)
	for i := range specs {
		specs[i] = memSpec{
			Name: fmt.Sprintf("%s %05d", names[i%len(names)], (i*7919)%planMembers),
			Role: []role.Role{role.Member, role.Member, role.Admin, role.Member, role.Owner}[i%5],
		}
	}
	memBulkAdd(t, e, o.ID, specs)
	// Other tenants: the organization holds a fifth of the members table.
	for i := range 4 {
		other := e.CreateOrg(owner, fmt.Sprintf("Other %d", i), fmt.Sprintf("other-%d", i))
		memBulkAdd(t, e, other.ID, specs)
	}
	// The owner's organizations for viewer.organizations (and the workload W6).
	for i := range planOrgs - 5 {
		e.CreateOrg(owner, fmt.Sprintf("Team %02d", (i*37)%planOrgs), fmt.Sprintf("team-%02d", i))
	}

	ctx := memSys()
	c := e.App.DB.Client
	now := e.Now()
	statuses := []invitation.Status{invitation.StatusPENDING, invitation.StatusPENDING, invitation.StatusACCEPTED, invitation.StatusREJECTED, invitation.StatusCANCELED}
	for start := 0; start < planInvitations; start += 250 {
		var batch []*ent.InvitationCreate
		for i := start; i < min(start+250, planInvitations); i++ {
			email := fmt.Sprintf("invitee%05d@plan.test", i)
			st := statuses[i%len(statuses)]
			expires := now.Add(72 * time.Hour)
			if i%3 == 0 {
				expires = now.Add(-time.Hour) // EXPIRED when still PENDING
			}
			ic := c.Invitation.Create().SetOrganizationID(o.ID).SetInviterID(owner.ID).SetEmail(email).
				SetRole(role.Member).SetStatus(st).SetTokenHash(fmt.Sprintf("plan-token-%05d", i)).
				SetExpiresAt(expires).SetCreatedAt(now.Add(-time.Duration(i) * time.Minute))
			if st == invitation.StatusPENDING {
				ic.SetPendingEmail(email)
			}
			batch = append(batch, ic)
		}
		if _, err := c.Invitation.CreateBulk(batch...).Save(ctx); err != nil {
			t.Fatalf("inserting invitations: %v", err)
		}
	}
	org, err := c.Organization.Get(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	seq := org.EventSequence
	for start := 0; start < planEvents; start += 250 {
		var batch []*ent.EventCreate
		for range min(250, planEvents-start) {
			seq++
			batch = append(batch, c.Event.Create().SetOrganizationID(o.ID).SetSequence(seq).
				SetType(events.MemberRoleChanged).SetActorID(owner.ID).SetSubjectUserID(owner.ID).
				SetMemberID(o.OwnerMemberID).SetOldRole("MEMBER").SetNewRole("ADMIN"))
		}
		if _, err := c.Event.CreateBulk(batch...).Save(ctx); err != nil {
			t.Fatalf("inserting events: %v", err)
		}
	}
	if err := c.Organization.UpdateOneID(o.ID).SetEventSequence(seq).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	e.Recount(o.ID)
	if e.Kind == "mysql" {
		for _, tb := range planTables {
			if _, err := e.App.DB.SQL.Exec("ANALYZE TABLE " + tb); err != nil {
				t.Fatalf("ANALYZE TABLE %s: %v", tb, err)
			}
		}
	}
	return &planFixture{e: e, owner: owner, org: o}
}

// check runs query as the owner and fails on any statement whose plan scans one
// of planTables or sorts. It returns the response for cursors.
func (f *planFixture) check(t *testing.T, what, query string, vars map[string]any) *testenv.Response {
	t.Helper()
	f.e.SQL.Reset()
	res := f.owner.Do(query, vars).OK(t, nil)
	stmts := f.e.SQL.Recorded()
	if len(stmts) == 0 {
		t.Fatalf("%s: no SQL statements recorded", what)
	}
	for _, st := range stmts {
		bad, err := f.e.PlanProblems(st, planTables)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if len(bad) > 0 {
			plan, _ := f.e.Plan(st)
			t.Errorf("%s: statement\n  %s\nhas a full scan or an unindexed sort: %s\nwhole plan: %s",
				what, st.Query, strings.Join(bad, "; "), strings.Join(plan, "; "))
		}
	}
	return res
}

// pages checks the first page, the page after its end cursor, the last page and
// the page before its start cursor of the connection at path in query, which
// takes $first, $after, $last and $before besides vars.
func (f *planFixture) pages(t *testing.T, what, query, path string, vars map[string]any) {
	t.Helper()
	with := func(extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range vars {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	res := f.check(t, what+", first page", query, with(map[string]any{"first": 100}))
	if end, _ := res.Get(t, path+".pageInfo.endCursor").(string); end != "" {
		f.check(t, what+", after a cursor", query, with(map[string]any{"first": 100, "after": end}))
	}
	res = f.check(t, what+", last page", query, with(map[string]any{"last": 100}))
	if start, _ := res.Get(t, path+".pageInfo.startCursor").(string); start != "" {
		f.check(t, what+", before a cursor", query, with(map[string]any{"last": 100, "before": start}))
	}
}

func TestQueryPlans(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		f := planSetup(t, e)
		slug := f.org.Slug

		t.Run("members", func(t *testing.T) {
			q := `query($slug: String!, $first: Int, $after: Cursor, $last: Int, $before: Cursor, $orderBy: MemberOrder, $filter: MemberFilter) {
  organization(slug: $slug) { members(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy, filter: $filter) {
    totalCount pageInfo { startCursor endCursor } edges { node { id role viewerCanRemove user { id name email } } } } } }`
			filters := []struct {
				name   string
				filter map[string]any
			}{
				{"all", nil},
				{"ADMIN only", map[string]any{"roles": []string{"ADMIN"}}},
				{"OWNER and MEMBER", map[string]any{"roles": []string{"OWNER", "MEMBER"}}},
				{"search", map[string]any{"search": "carol 0"}},
			}
			for _, field := range []string{"JOINED_AT", "NAME", "EMAIL", "ROLE"} {
				for _, dir := range []string{"ASC", "DESC"} {
					for _, fl := range filters {
						vars := map[string]any{"slug": slug, "orderBy": map[string]any{"field": field, "direction": dir}}
						if fl.filter != nil {
							vars["filter"] = fl.filter
						}
						f.pages(t, fmt.Sprintf("members %s %s, %s", field, dir, fl.name), q, "organization.members", vars)
					}
				}
			}
		})

		t.Run("invitations", func(t *testing.T) {
			q := `query($slug: String!, $first: Int, $after: Cursor, $last: Int, $before: Cursor, $status: InvitationStatus) {
  organization(slug: $slug) { invitations(status: $status, first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { startCursor endCursor } edges { node { id status email inviter { id name } } } } } }`
			for _, st := range []any{nil, "PENDING", "EXPIRED", "ACCEPTED", "REJECTED", "CANCELED"} {
				vars := map[string]any{"slug": slug}
				if st != nil {
					vars["status"] = st
				}
				f.pages(t, fmt.Sprintf("invitations status %v", st), q, "organization.invitations", vars)
			}
		})

		t.Run("auditLog", func(t *testing.T) {
			q := `query($slug: String!, $first: Int, $after: Cursor, $last: Int, $before: Cursor) {
  organization(slug: $slug) { auditLog(first: $first, after: $after, last: $last, before: $before) {
    totalCount pageInfo { startCursor endCursor } edges { node { id type actor { id name } member { id role } user { id email } } } } } }`
			f.pages(t, "auditLog", q, "organization.auditLog", map[string]any{"slug": slug})
		})

		t.Run("viewer.organizations", func(t *testing.T) {
			q := `query($first: Int, $after: Cursor, $last: Int, $before: Cursor, $orderBy: OrganizationOrder) {
  viewer { organizations(first: $first, after: $after, last: $last, before: $before, orderBy: $orderBy) {
    totalCount pageInfo { startCursor endCursor } edges { node { id name viewerRole memberCount } } } } }`
			for _, field := range []string{"NAME", "SLUG", "CREATED_AT"} {
				for _, dir := range []string{"ASC", "DESC"} {
					f.pages(t, fmt.Sprintf("viewer.organizations %s %s", field, dir), q, "viewer.organizations",
						map[string]any{"orderBy": map[string]any{"field": field, "direction": dir}})
				}
			}
		})
	}, testenv.WithConfig(func(c *config.Config) { c.MaxOwnedOrganizations = 0 }))
}

// TestPlanProblemsCatchesScans makes sure the plan check can fail: a statement
// that must scan and sort is reported on each database.
func TestPlanProblemsCatchesScans(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Scan")
		o := e.CreateOrg(u, "Scan Co", "scan-co")
		specs := make([]memSpec, 500)
		for i := range specs {
			specs[i].Name = fmt.Sprintf("Scan %03d", i)
		}
		memBulkAdd(t, e, o.ID, specs)
		if e.Kind == "mysql" {
			if _, err := e.App.DB.SQL.Exec("ANALYZE TABLE members"); err != nil {
				t.Fatal(err)
			}
		}
		for _, q := range []string{
			"SELECT id FROM members WHERE updated_at > ?",                          // no index on updated_at
			"SELECT id FROM members WHERE organization_id = ? ORDER BY updated_at", // sorted by hand
		} {
			arg := any(o.ID)
			if strings.Contains(q, "updated_at >") {
				arg = time.Time{}
			}
			bad, err := e.PlanProblems(testenv.Statement{Query: q, Args: []any{arg}}, []string{"members"})
			if err != nil {
				t.Fatal(err)
			}
			if len(bad) == 0 {
				plan, _ := e.Plan(testenv.Statement{Query: q, Args: []any{arg}})
				t.Errorf("%s: no problem reported; plan %v", q, plan)
			}
		}
	})
}
