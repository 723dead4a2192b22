package graph_test

// The last-owner invariant under concurrency (GUIDE §2, §6): "every organization has
// at least one OWNER at every instant, also under concurrent requests". Two owners
// fire conflicting requests at the same moment (goroutines released together); after
// each race the organization still has an owner, every refusal is a catalog error,
// and the audit log holds exactly one event per successful mutation with a gapless
// sequence.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

// Trials per database: every trial runs each of the five races once, each in a fresh
// organization.
const (
	concTrialsMySQL  = 120
	concTrialsSQLite = 16
)

// concHTTP is shared by the racing goroutines (testenv.Client must fail on the
// test's goroutine, so it is not used there).
var concHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 60 * time.Second}

// concOp is one mutation of a race.
type concOp struct {
	desc  string
	as    *testenv.User
	query string
	vars  map[string]any
	// event is the audit event type a success records.
	event string
}

const (
	concUpdateRole = `mutation($in: UpdateMemberRoleInput!) { updateMemberRole(input: $in) { member { id role } } }`
	concRemove     = `mutation($in: RemoveMemberInput!) { removeMember(input: $in) { removedMemberId } }`
	concLeave      = `mutation($in: LeaveOrganizationInput!) { leaveOrganization(input: $in) { removedMemberId } }`
	concTransfer   = `mutation($in: TransferOwnershipInput!) { transferOwnership(input: $in) { newOwner { id role } previousOwner { id role } } }`
)

func concDemote(as *testenv.User, who string, memberID string) concOp {
	return concOp{as.Name + " demotes " + who, as, concUpdateRole,
		map[string]any{"in": map[string]any{"memberId": memberID, "role": "ADMIN"}}, "MEMBER_ROLE_CHANGED"}
}

func concRemoveOp(as *testenv.User, who string, memberID string) concOp {
	return concOp{as.Name + " removes " + who, as, concRemove,
		map[string]any{"in": map[string]any{"memberId": memberID}}, "MEMBER_REMOVED"}
}

func concLeaveOp(as *testenv.User, orgID string) concOp {
	return concOp{as.Name + " leaves", as, concLeave,
		map[string]any{"in": map[string]any{"organizationId": orgID}}, "MEMBER_LEFT"}
}

func concTransferOp(as *testenv.User, who, orgID, memberID string) concOp {
	return concOp{as.Name + " transfers ownership to " + who, as, concTransfer,
		map[string]any{"in": map[string]any{"organizationId": orgID, "memberId": memberID}}, "OWNERSHIP_TRANSFERRED"}
}

// concOrg is one race's organization: owners A and B, admin C.
type concOrg struct {
	org        *testenv.Org
	a, b, c    *testenv.User
	am, bm, cm string // member IDs
}

// concOutcome is what one race produced.
type concOutcome struct {
	ok  [2]bool
	res [2]*testenv.Response
	// final maps user ID to role after the race (absent: not a member).
	final map[string]string
}

// concScenario is one kind of race: its two operations and the outcomes allowed.
type concScenario struct {
	name string
	ops  func(o *concOrg) [2]concOp
	// check returns what is wrong with an outcome ("" if nothing), beyond the checks
	// every race gets.
	check func(o *concOrg, out concOutcome) string
}

func concErr(r *testenv.Response) string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code() + "/" + r.Errors[0].Reason()
}

var concScenarios = []concScenario{
	{
		name: "A demotes B while B demotes A",
		ops: func(o *concOrg) [2]concOp {
			return [2]concOp{concDemote(o.a, "B", o.bm), concDemote(o.b, "A", o.am)}
		},
		check: func(o *concOrg, out concOutcome) string {
			if out.ok[0] == out.ok[1] {
				return "want exactly one success"
			}
			loser := out.res[0]
			winnerID, loserID := o.b.ID, o.a.ID
			if out.ok[0] {
				loser = out.res[1]
				winnerID, loserID = o.a.ID, o.b.ID
			}
			// The loser is an ADMIN by then and may not change an owner's role.
			if got := concErr(loser); got != "FORBIDDEN/INSUFFICIENT_ROLE" {
				return "the loser got " + got + ", want FORBIDDEN/INSUFFICIENT_ROLE"
			}
			if out.final[winnerID] != "OWNER" || out.final[loserID] != "ADMIN" || out.final[o.c.ID] != "ADMIN" || len(out.final) != 3 {
				return "want the winner OWNER, the loser and C ADMIN"
			}
			return ""
		},
	},
	{
		name: "A removes B while B removes A",
		ops: func(o *concOrg) [2]concOp {
			return [2]concOp{concRemoveOp(o.a, "B", o.bm), concRemoveOp(o.b, "A", o.am)}
		},
		check: func(o *concOrg, out concOutcome) string {
			if out.ok[0] == out.ok[1] {
				return "want exactly one success"
			}
			loser, winnerID := out.res[0], o.b.ID
			if out.ok[0] {
				loser, winnerID = out.res[1], o.a.ID
			}
			// The loser is no longer a member.
			if got := concErr(loser); got != "NOT_FOUND/" {
				return "the loser got " + got + ", want NOT_FOUND"
			}
			if out.final[winnerID] != "OWNER" || out.final[o.c.ID] != "ADMIN" || len(out.final) != 2 {
				return "want the winner OWNER and C ADMIN, nobody else"
			}
			return ""
		},
	},
	{
		name: "A leaves while B leaves",
		ops: func(o *concOrg) [2]concOp {
			return [2]concOp{concLeaveOp(o.a, o.org.ID), concLeaveOp(o.b, o.org.ID)}
		},
		check: func(o *concOrg, out concOutcome) string {
			if out.ok[0] == out.ok[1] {
				return "want exactly one success"
			}
			loser, stayerID := out.res[0], o.a.ID
			if out.ok[0] {
				loser, stayerID = out.res[1], o.b.ID
			}
			if got := concErr(loser); got != "FORBIDDEN/LAST_OWNER" {
				return "the loser got " + got + ", want FORBIDDEN/LAST_OWNER"
			}
			if out.final[stayerID] != "OWNER" || out.final[o.c.ID] != "ADMIN" || len(out.final) != 2 {
				return "want the last owner to stay with C ADMIN"
			}
			return ""
		},
	},
	{
		name: "A leaves while B demotes A",
		ops: func(o *concOrg) [2]concOp {
			return [2]concOp{concLeaveOp(o.a, o.org.ID), concDemote(o.b, "A", o.am)}
		},
		check: func(o *concOrg, out concOutcome) string {
			// Either order lets A leave: as an owner beside B, or as an admin.
			if !out.ok[0] {
				return "A could not leave"
			}
			if !out.ok[1] {
				if got := concErr(out.res[1]); got != "NOT_FOUND/" {
					return "B's demotion of A (who left) got " + got + ", want success or NOT_FOUND"
				}
			}
			if out.final[o.b.ID] != "OWNER" || out.final[o.c.ID] != "ADMIN" || len(out.final) != 2 {
				return "want B OWNER and C ADMIN, A gone"
			}
			return ""
		},
	},
	{
		name: "A transfers ownership to C while B leaves",
		ops: func(o *concOrg) [2]concOp {
			return [2]concOp{concTransferOp(o.a, "C", o.org.ID, o.cm), concLeaveOp(o.b, o.org.ID)}
		},
		check: func(o *concOrg, out concOutcome) string {
			// Either order works: B leaves beside owner A (or C), A transfers as an owner.
			if !out.ok[0] || !out.ok[1] {
				return "want both to succeed"
			}
			if out.final[o.c.ID] != "OWNER" || out.final[o.a.ID] != "ADMIN" || len(out.final) != 2 {
				return "want C OWNER, A ADMIN, B gone"
			}
			return ""
		},
	},
}

const concStateQuery = `query($slug: String!) { organization(slug: $slug) {
  members(first: 100) { totalCount edges { node { id role user { id } } } }
  auditLog(first: 100) { totalCount edges { node { id type createdAt memberId } } } } }`

type concState struct {
	Organization *struct {
		Members struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ID, Role string
					User     struct{ ID string }
				}
			}
		}
		AuditLog struct {
			TotalCount int
			Edges      []struct {
				Node struct{ ID, Type, CreatedAt, MemberID string }
			}
		}
	}
}

// concEvents reads an organization's events in sequence order, and its counter.
func concEvents(t *testing.T, e *testenv.Env, orgID string) ([]*ent.Event, int64) {
	t.Helper()
	evs, err := e.App.DB.Client.Event.Query().Where(event.OrganizationID(orgID)).Order(ent.Asc(event.FieldSequence)).All(memSys())
	if err != nil {
		t.Fatalf("reading events: %v", err)
	}
	o, err := e.App.DB.Client.Organization.Query().Where(organization.ID(orgID)).Only(memSys())
	if err != nil {
		t.Fatalf("reading organization: %v", err)
	}
	return evs, o.EventSequence
}

// concRace is one race: its organization, operations and results.
type concRace struct {
	sc     concScenario
	o      *concOrg
	ops    [2]concOp
	bodies [2][]byte
	before int // events before the race
	out    concOutcome
	errs   [2]error
}

// concPrepare makes a fresh organization for a race of sc.
func concPrepare(t *testing.T, e *testenv.Env, sc concScenario, a, b, c *testenv.User, slug string) *concRace {
	t.Helper()
	o := &concOrg{a: a, b: b, c: c}
	o.org = e.CreateOrg(a, "Race", slug)
	o.am = o.org.OwnerMemberID
	o.bm = e.AddMember(o.org, b, role.Owner)
	o.cm = e.AddMember(o.org, c, role.Admin)
	before, _ := concEvents(t, e, o.org.ID)
	r := &concRace{sc: sc, o: o, ops: sc.ops(o), before: len(before)}
	for i, op := range r.ops {
		var err error
		if r.bodies[i], err = json.Marshal(map[string]any{"query": op.query, "variables": op.vars}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// concFire sends the operations of all races at once: every goroutine waits at one
// barrier.
func concFire(t *testing.T, e *testenv.Env, races []*concRace) {
	t.Helper()
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for _, r := range races {
		for i := range r.ops {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ready.Done()
				<-start
				r.out.res[i], r.errs[i] = testenv.Post(concHTTP, e.Server.URL+"/graphql", r.ops[i].as.Token, r.bodies[i])
			}()
		}
	}
	ready.Wait()
	close(start)
	done.Wait()
	for _, r := range races {
		for i, err := range r.errs {
			if err != nil {
				t.Fatalf("%s: %s: %v", r.sc.name, r.ops[i].desc, err)
			}
		}
	}
}

// concCheck checks a race after it ran and returns what is wrong with it.
func concCheck(t *testing.T, e *testenv.Env, r *concRace, stats map[string]int) []string {
	t.Helper()
	sc, o, ops, c := r.sc, r.o, r.ops, r.o.c
	out := &r.out
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	var wantTypes []string
	outcome := make([]string, 2)
	for i, res := range out.res {
		if len(res.Errors) == 0 && res.Status == http.StatusOK && string(res.Data) != "null" {
			out.ok[i] = true
			wantTypes = append(wantTypes, ops[i].event)
			outcome[i] = "ok"
			continue
		}
		outcome[i] = concErr(res)
		if len(res.Errors) == 0 {
			bad("%s: neither data nor errors: HTTP %d %s", ops[i].desc, res.Status, res.Raw)
			continue
		}
		switch code, reason := res.Errors[0].Code(), res.Errors[0].Reason(); {
		case code == "NOT_FOUND":
		case code == "FORBIDDEN" && (reason == "LAST_OWNER" || reason == "INSUFFICIENT_ROLE"):
		default:
			bad("%s: refused with %s/%s, want FORBIDDEN (LAST_OWNER, INSUFFICIENT_ROLE) or NOT_FOUND: HTTP %d %s", ops[i].desc, code, reason, res.Status, res.Raw)
		}
	}
	stats[sc.name+": "+ops[0].desc+" "+outcome[0]+", "+ops[1].desc+" "+outcome[1]]++

	// The state as C (an admin or owner in every outcome) sees it.
	var st concState
	c.Do(concStateQuery, map[string]any{"slug": o.org.Slug}).OK(t, &st)
	if st.Organization == nil {
		return append(problems, "C cannot see the organization any more")
	}
	out.final = map[string]string{}
	owners := 0
	for _, edge := range st.Organization.Members.Edges {
		out.final[edge.Node.User.ID] = edge.Node.Role
		if edge.Node.Role == "OWNER" {
			owners++
		}
	}
	if owners == 0 {
		bad("LAST-OWNER INVARIANT BROKEN: no OWNER left; members %v", out.final)
	}
	if len(problems) == 0 {
		if p := sc.check(o, *out); p != "" {
			bad("%s; members %v", p, out.final)
		}
	}

	// Audit log: one event per success, in one gapless sequence.
	evs, counter := concEvents(t, e, o.org.ID)
	newEvs := evs[min(r.before, len(evs)):]
	var gotTypes []string
	for _, ev := range newEvs {
		gotTypes = append(gotTypes, ev.Type)
	}
	slices.Sort(gotTypes)
	slices.Sort(wantTypes)
	if !slices.Equal(gotTypes, wantTypes) {
		bad("new events %v, want one per success %v", gotTypes, wantTypes)
	}
	for i, ev := range evs {
		if ev.Sequence != int64(i+1) {
			bad("event sequence %v is not 1..%d", concSeqs(evs), len(evs))
			break
		}
	}
	if counter != int64(len(evs)) {
		bad("organization event counter %d, but %d events", counter, len(evs))
	}
	al := st.Organization.AuditLog
	if al.TotalCount != len(evs) || len(al.Edges) != len(evs) {
		bad("auditLog has totalCount %d and %d edges, want %d", al.TotalCount, len(al.Edges), len(evs))
	} else {
		// Newest first: the reverse of the sequence.
		for i, edge := range al.Edges {
			want := evs[len(evs)-1-i]
			if edge.Node.ID != want.ID || edge.Node.Type != want.Type {
				bad("auditLog entry %d is %s %s, want %s %s (sequence %d)", i, edge.Node.Type, edge.Node.ID, want.Type, want.ID, want.Sequence)
				break
			}
			if i > 0 && concTime(edge.Node.CreatedAt).After(concTime(al.Edges[i-1].Node.CreatedAt)) {
				bad("auditLog entry %d (%s) is newer than entry %d (%s)", i, edge.Node.CreatedAt, i-1, al.Edges[i-1].Node.CreatedAt)
			}
		}
	}
	if len(problems) > 0 {
		problems = append(problems, fmt.Sprintf("responses: %s | %s", out.res[0].Raw, out.res[1].Raw))
	}
	return problems
}

func concTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func concSeqs(evs []*ent.Event) []int64 {
	out := make([]int64, len(evs))
	for i, ev := range evs {
		out[i] = ev.Sequence
	}
	return out
}

// TestConcurrentLastOwner races pairs of owners' requests. On MariaDB/MySQL (needs
// ORGQL_TEST_MYSQL_DSN) it runs concTrialsMySQL trials, on SQLite fewer.
func TestConcurrentLastOwner(t *testing.T) {
	for _, kind := range []string{"sqlite", "mysql"} {
		t.Run(kind, func(t *testing.T) {
			trials := concTrialsSQLite
			if kind == "mysql" {
				if os.Getenv(testenv.MySQLEnv) == "" {
					t.Skipf("%s is not set", testenv.MySQLEnv)
				}
				trials = concTrialsMySQL
			}
			e := testenv.New(t, kind, testenv.WithConfig(func(c *config.Config) { c.MaxOwnedOrganizations = 0 }))
			began := time.Now()
			stats := map[string]int{}
			failures := 0
			report := func(trial int, r *concRace, problems []string) {
				t.Helper()
				if len(problems) == 0 {
					return
				}
				failures++
				t.Errorf("trial %d, %s (%s):\n  %s", trial, r.sc.name, r.o.org.Slug, strings.Join(problems, "\n  "))
				if failures >= 15 {
					t.Fatalf("stopping after %d failed races", failures)
				}
			}
			for trial := range trials {
				a, b, c := e.SignUp("A"), e.SignUp("B"), e.SignUp("C")
				// One pair at a time, each in its own organization.
				for i, sc := range concScenarios {
					r := concPrepare(t, e, sc, a, b, c, fmt.Sprintf("race-%d-%d", trial, i))
					concFire(t, e, []*concRace{r})
					report(trial, r, concCheck(t, e, r, stats))
				}
				// Every few trials, all five pairs at once (ten requests by the same
				// three users in five organizations).
				if trial%4 == 0 {
					var races []*concRace
					for i, sc := range concScenarios {
						races = append(races, concPrepare(t, e, sc, a, b, c, fmt.Sprintf("race-%d-all-%d", trial, i)))
					}
					concFire(t, e, races)
					for _, r := range races {
						report(trial, r, concCheck(t, e, r, stats))
					}
				}
			}
			keys := make([]string, 0, len(stats))
			for k := range stats {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var b strings.Builder
			for _, k := range keys {
				fmt.Fprintf(&b, "\n  %4d× %s", stats[k], k)
			}
			t.Logf("%d trials × %d races (+ all at once every 4th trial) on %s in %s; outcomes:%s", trials, len(concScenarios), kind, time.Since(began).Round(time.Millisecond), b.String())
			if strings.Contains(e.Logs.String(), "internal error") {
				t.Errorf("the server logged internal errors:\n%s", concInternalLines(e.Logs.String()))
			}
		})
	}
}

func concInternalLines(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "internal error") {
			out = append(out, line)
			if len(out) == 10 {
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
