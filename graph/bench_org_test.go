package graph_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

// Member-list and role-change benchmarks through the real HTTP handler on each
// database of testenv.Kinds. Run:
//
//	go test ./graph -run '^$' -bench 'Members|UpdateMemberRole' -benchmem

// benchOrgMembers is the size of the benchmark organization.
const benchOrgMembers = 1000

// benchLargeEnv, set to 1, adds the 100,000-member organization to the members
// page benchmarks (seeding it takes a minute or two on MariaDB).
const benchLargeEnv = "ORGQL_BENCH_LARGE"

// benchSizes are the organization sizes of the members page benchmarks.
func benchSizes() []int {
	if os.Getenv(benchLargeEnv) == "1" {
		return []int{benchOrgMembers, 100_000}
	}
	return []int{benchOrgMembers}
}

// benchOrgSetup starts orgql on kind with an organization of n members (the owner
// and the rest inserted in bulk) and returns its owner and slug.
func benchOrgSetup(b *testing.B, kind string, n int) (*testenv.Env, *testenv.User, *testenv.Org, []string) {
	b.Helper()
	e := testenv.New(b, kind)
	owner := e.SignUp("Owner")
	o := e.CreateOrg(owner, "Bench Co", "bench-co")
	specs := make([]memSpec, n-1)
	for i := range specs {
		specs[i] = memSpec{
			Name: fmt.Sprintf("%s Member %06d", []string{"Ada", "bob", "Carol", "dave", "Eve"}[i%5], (i*7919)%n),
			Role: []role.Role{role.Member, role.Member, role.Member, role.Admin}[i%4],
		}
	}
	ids := memBulkAdd(b, e, o.ID, specs)
	if kind == "mysql" {
		// As InnoDB does by itself once a tenth of the table has changed.
		for _, t := range []string{"members", "users"} {
			if _, err := e.App.DB.SQL.Exec("ANALYZE TABLE " + t); err != nil {
				b.Fatal(err)
			}
		}
	}
	return e, owner, o, ids
}

const benchOrgMembersQuery = `query($slug: String!, $orderBy: MemberOrder) { organization(slug: $slug) {
  members(first: 100, orderBy: $orderBy) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id role joinedAt user { id name email } } } } } }`

func benchOrgMembersPage(b *testing.B, orderBy map[string]any) {
	for _, kind := range testenv.Kinds() {
		for _, n := range benchSizes() {
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) { benchOrgMembersPageOf(b, kind, n, orderBy) })
		}
	}
}

// benchOrgMembersPageOf reads the first page of 100 of an organization of n
// members, reporting besides time and allocations the process CPU time per page
// (server and client: both run in the test process) and SQL statements per page.
func benchOrgMembersPageOf(b *testing.B, kind string, n int, orderBy map[string]any) {
	e, owner, o, _ := benchOrgSetup(b, kind, n)
	vars := map[string]any{"slug": o.Slug}
	if orderBy != nil {
		vars["orderBy"] = orderBy
	}
	var data struct {
		Organization struct {
			Members struct {
				TotalCount int
				Edges      []struct{ Cursor string }
			}
		}
	}
	owner.Do(benchOrgMembersQuery, vars).OK(b, &data)
	if data.Organization.Members.TotalCount != n || len(data.Organization.Members.Edges) != 100 {
		b.Fatalf("totalCount %d, %d edges; want %d and 100", data.Organization.Members.TotalCount, len(data.Organization.Members.Edges), n)
	}
	b.ReportAllocs()
	e.SQL.Reset()
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		owner.Do(benchOrgMembersQuery, vars).OK(b, nil)
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(e.SQL.Count())/float64(b.N), "stmts/op")
}

// processCPU is the CPU time the test process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMembersPage reads the first 100 of 1,000 members (and of 100,000 with
// ORGQL_BENCH_LARGE=1; default order, by join date) with their users and totalCount.
func BenchmarkMembersPage(b *testing.B) { benchOrgMembersPage(b, nil) }

// BenchmarkMembersPageByName is BenchmarkMembersPage ordered by name (the copied,
// lower-cased name key).
func BenchmarkMembersPageByName(b *testing.B) {
	benchOrgMembersPage(b, map[string]any{"field": "NAME", "direction": "ASC"})
}

// BenchmarkUpdateMemberRole toggles one member between MEMBER and ADMIN as the owner:
// a locked transaction with the role check, the update and its event row.
func BenchmarkUpdateMemberRole(b *testing.B) {
	for _, kind := range testenv.Kinds() {
		b.Run(kind, func(b *testing.B) {
			_, owner, _, ids := benchOrgSetup(b, kind, benchOrgMembers)
			target := ids[0] // a MEMBER
			next := []string{"ADMIN", "MEMBER"}
			q := `mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id role } } }`
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				owner.Do(q, map[string]any{"in": map[string]any{"memberId": target, "role": next[i%2]}}).OK(b, nil)
				i++
			}
		})
	}
}
