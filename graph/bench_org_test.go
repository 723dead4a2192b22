package graph_test

import (
	"fmt"
	"testing"

	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

// Member-list and role-change benchmarks through the real HTTP handler on each
// database of testenv.Kinds. Run:
//
//	go test ./graph -run '^$' -bench 'Members|UpdateMemberRole' -benchmem

// benchOrgMembers is the size of the benchmark organization.
const benchOrgMembers = 1000

// benchOrgSetup starts orgql on kind with an organization of benchOrgMembers members
// (the owner and the rest inserted in bulk) and returns its owner and slug.
func benchOrgSetup(b *testing.B, kind string) (*testenv.Env, *testenv.User, *testenv.Org, []string) {
	b.Helper()
	e := testenv.New(b, kind)
	owner := e.SignUp("Owner")
	o := e.CreateOrg(owner, "Bench Co", "bench-co")
	specs := make([]memSpec, benchOrgMembers-1)
	for i := range specs {
		specs[i] = memSpec{
			Name: fmt.Sprintf("%s Member %04d", []string{"Ada", "bob", "Carol", "dave", "Eve"}[i%5], (i*7919)%benchOrgMembers),
			Role: []role.Role{role.Member, role.Member, role.Member, role.Admin}[i%4],
		}
	}
	ids := memBulkAdd(b, e, o.ID, specs)
	return e, owner, o, ids
}

const benchOrgMembersQuery = `query($slug: String!, $orderBy: MemberOrder) { organization(slug: $slug) {
  members(first: 100, orderBy: $orderBy) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id role joinedAt user { id name email } } } } } }`

func benchOrgMembersPage(b *testing.B, orderBy map[string]any) {
	for _, kind := range testenv.Kinds() {
		b.Run(kind, func(b *testing.B) {
			_, owner, o, _ := benchOrgSetup(b, kind)
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
			if data.Organization.Members.TotalCount != benchOrgMembers || len(data.Organization.Members.Edges) != 100 {
				b.Fatalf("totalCount %d, %d edges; want %d and 100", data.Organization.Members.TotalCount, len(data.Organization.Members.Edges), benchOrgMembers)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				owner.Do(benchOrgMembersQuery, vars).OK(b, nil)
			}
		})
	}
}

// BenchmarkMembersPage reads the first 100 of 1,000 members (default order, by join
// date) with their users and totalCount.
func BenchmarkMembersPage(b *testing.B) { benchOrgMembersPage(b, nil) }

// BenchmarkMembersPageByName is BenchmarkMembersPage ordered by name (a correlated
// subquery on users, lower-cased).
func BenchmarkMembersPageByName(b *testing.B) {
	benchOrgMembersPage(b, map[string]any{"field": "NAME", "direction": "ASC"})
}

// BenchmarkUpdateMemberRole toggles one member between MEMBER and ADMIN as the owner:
// a locked transaction with the role check, the update and its event row.
func BenchmarkUpdateMemberRole(b *testing.B) {
	for _, kind := range testenv.Kinds() {
		b.Run(kind, func(b *testing.B) {
			_, owner, _, ids := benchOrgSetup(b, kind)
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
