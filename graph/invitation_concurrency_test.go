package graph_test

// Concurrency invariants of invitations (GUIDE §2): an invitation is accepted at
// most once, at most one PENDING invitation per (organization, email), and an
// accept racing a cancel ends in exactly one of the two. Requests are fired at
// once over real HTTP; refusals must carry a catalog code, never
// INTERNAL_SERVER_ERROR. MariaDB/MySQL runs many trials (ORGQL_TEST_MYSQL_DSN);
// SQLite runs a few.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/testenv"
)

var invcHTTP = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 60 * time.Second}

// invcPost sends one GraphQL request with a Bearer token (none when empty), from
// any goroutine.
func invcPost(url, token, query string, vars map[string]any) (*testenv.Response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	return testenv.Post(invcHTTP, url+"/graphql", token, body)
}

// invcCall is one request of a race.
type invcCall struct {
	token, query string
	vars         map[string]any
}

// invcFire sends all calls at once (released together) and returns the responses
// in call order.
func invcFire(t *testing.T, e *testenv.Env, calls []invcCall) []*testenv.Response {
	t.Helper()
	out := make([]*testenv.Response, len(calls))
	errs := make([]error, len(calls))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = invcPost(e.Server.URL, c.token, c.query, c.vars)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return out
}

// invcWantCoded fails unless res failed with a catalog code other than
// INTERNAL_SERVER_ERROR.
func invcWantCoded(t *testing.T, what string, res *testenv.Response) string {
	t.Helper()
	if len(res.Errors) == 0 {
		t.Errorf("%s: want a refusal, got success: %s", what, res.Raw)
		return ""
	}
	code := res.Errors[0].Code()
	switch code {
	case "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT", "CONFLICT", "RATE_LIMITED", "UNAUTHENTICATED":
	default:
		t.Errorf("%s: refused with %q: %s", what, code, res.Raw)
	}
	return code
}

// invcTrials is how many races to run on a database kind.
func invcTrials(kind string, mysql int) int {
	if kind == "mysql" {
		return mysql
	}
	return 3
}

// invcAcceptRace runs trials races of ten accepts of one invitation by its invitee.
func invcAcceptRace(t *testing.T, e *testenv.Env, trials int) {
	owner := e.SignUp("Race Owner")
	codes := map[string]int{}
	defer func() { t.Logf("%s: refusals of the losing accepts over %d trials: %v", e.Kind, trials, codes) }()
	for trial := range trials {
		f := &invFix{e: e, owner: owner}
		f.org = e.CreateOrg(owner, fmt.Sprintf("Race %d", trial), fmt.Sprintf("race-%d-%d", trial, invSeq()))
		addr := invAddr("racer")
		inv, tok := f.invite(t, owner.Client, addr, "ADMIN")
		u := invSignUpAs(t, e, addr, "Racer")

		calls := make([]invcCall, 10)
		for i := range calls {
			calls[i] = invcCall{token: u.Token, query: invMAccept, vars: map[string]any{"in": map[string]any{"token": tok}}}
		}
		e.SQL.Reset()
		res := invcFire(t, e, calls)
		wins := 0
		for i, r := range res {
			if len(r.Errors) == 0 {
				wins++
				continue
			}
			invcWantCoded(t, fmt.Sprintf("trial %d, accept %d", trial, i), r)
			codes[r.Errors[0].Code()+"/"+r.Errors[0].Reason()]++
		}
		if wins != 1 {
			t.Errorf("trial %d: %d accepts succeeded, want exactly 1", trial, wins)
		}
		n, err := e.App.DB.Client.Member.Query().Where(member.OrganizationID(f.org.ID), member.UserID(u.ID)).Count(invSys())
		if err != nil || n != 1 {
			t.Errorf("trial %d: %d memberships (%v), want 1", trial, n, err)
		}
		if got := invDB(t, e, inv.ID); got.Status != invitation.StatusACCEPTED {
			t.Errorf("trial %d: invitation %s, want ACCEPTED", trial, got.Status)
		}
		var types []string
		for _, ev := range invEventsSince(t, e, f.org.ID, -1) {
			if strings.HasPrefix(ev.Type, "INVITATION_ACCEPTED") || (ev.Type == "MEMBER_JOINED" && invStr(ev.SubjectUserID) == u.ID) {
				types = append(types, ev.Type)
			}
		}
		if len(types) != 2 {
			t.Errorf("trial %d: events %v, want one INVITATION_ACCEPTED and one MEMBER_JOINED", trial, types)
		}
		if t.Failed() {
			t.Logf("trial %d responses:", trial)
			for i, r := range res {
				t.Logf("  %d: %s", i, r.Raw)
			}
			return
		}
	}
}

func TestInvitationConcurrentAcceptMySQL(t *testing.T) {
	if os.Getenv(testenv.MySQLEnv) == "" {
		t.Skipf("%s is not set", testenv.MySQLEnv)
	}
	e := testenv.New(t, "mysql", invLongSessions, invcManyOrgs)
	invcAcceptRace(t, e, 20)
	if strings.Contains(e.Logs.String(), "INTERNAL") || strings.Contains(e.Logs.String(), "Deadlock") {
		t.Errorf("server log mentions internal errors or deadlocks:\n%s", invcTail(e.Logs.String()))
	}
}

func TestInvitationConcurrentAcceptSQLite(t *testing.T) {
	e := testenv.New(t, "sqlite", invLongSessions, invcManyOrgs)
	invcAcceptRace(t, e, 3)
}

// invcManyOrgs lets one owner create an organization per trial.
var invcManyOrgs = testenv.WithConfig(func(c *config.Config) { c.MaxOwnedOrganizations = 0 })

// invcTail returns the end of a long log.
func invcTail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// TestInvitationConcurrentInvite: two admins invite the same address at once;
// exactly one pending invitation results, the other request is ALREADY_INVITED.
func TestInvitationConcurrentInvite(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		admin2 := e.SignUp("Second Admin")
		e.AddMember(f.org, admin2, role.Admin)
		for trial := range invcTrials(e.Kind, 20) {
			addr := invAddr("contested")
			in := func(r string) map[string]any {
				return map[string]any{"in": map[string]any{"organizationId": f.org.ID, "email": addr, "role": r}}
			}
			res := invcFire(t, e, []invcCall{
				{token: f.admin.Token, query: invMInvite, vars: in("MEMBER")},
				{token: admin2.Token, query: invMInvite, vars: in("ADMIN")},
				{token: f.owner.Token, query: invMInvite, vars: in("MEMBER")},
			})
			wins := 0
			for i, r := range res {
				if len(r.Errors) == 0 {
					wins++
					continue
				}
				if code := invcWantCoded(t, fmt.Sprintf("trial %d, invite %d", trial, i), r); code != "" && (code != "CONFLICT" || r.Errors[0].Reason() != "ALREADY_INVITED") {
					t.Errorf("trial %d, invite %d: want CONFLICT/ALREADY_INVITED: %s", trial, i, r.Raw)
				}
			}
			pending, err := e.App.DB.Client.Invitation.Query().
				Where(invitation.OrganizationID(f.org.ID), invitation.Email(addr), invitation.StatusEQ(invitation.StatusPENDING)).
				Count(invSys())
			if wins != 1 || err != nil || pending != 1 {
				t.Fatalf("trial %d: %d successes, %d pending invitations (%v); want 1 and 1", trial, wins, pending, err)
			}
			if n := len(invMailsTo(t, e, addr)); n != 1 {
				t.Errorf("trial %d: %d invitation emails, want 1", trial, n)
			}
		}
	}, testenv.WithConfig(func(c *config.Config) { c.InvitationsPerHour = 0 }))
}

// TestInvitationConcurrentAcceptCancel: accept and cancel race; the end is either
// a member with an ACCEPTED invitation or a CANCELED invitation without member.
func TestInvitationConcurrentAcceptCancel(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		outcomes := map[string]int{}
		for trial := range invcTrials(e.Kind, 20) {
			addr := invAddr("coin")
			inv, tok := f.invite(t, f.admin.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Coin")
			res := invcFire(t, e, []invcCall{
				{token: u.Token, query: invMAccept, vars: map[string]any{"in": map[string]any{"token": tok}}},
				{token: f.owner.Token, query: invMCancel, vars: map[string]any{"in": map[string]any{"invitationId": inv.ID}}},
			})
			accepted, canceled := len(res[0].Errors) == 0, len(res[1].Errors) == 0
			if !accepted {
				invcWantCoded(t, fmt.Sprintf("trial %d accept", trial), res[0])
			}
			if !canceled {
				if code := invcWantCoded(t, fmt.Sprintf("trial %d cancel", trial), res[1]); code != "CONFLICT" {
					t.Errorf("trial %d: a losing cancel should be CONFLICT/INVITATION_NOT_PENDING: %s", trial, res[1].Raw)
				}
			}
			status := invDB(t, e, inv.ID).Status
			got := invMemberRole(t, e, f.org.ID, u.ID)
			switch {
			case accepted && !canceled && status == invitation.StatusACCEPTED && got == "MEMBER":
				outcomes["accepted"]++
			case canceled && !accepted && status == invitation.StatusCANCELED && got == "":
				outcomes["canceled"]++
			default:
				t.Fatalf("trial %d: accept ok %v, cancel ok %v, status %s, member role %q\naccept: %s\ncancel: %s",
					trial, accepted, canceled, status, got, res[0].Raw, res[1].Raw)
			}
		}
		t.Logf("%s outcomes: %v", e.Kind, outcomes)
	})
}

// TestInvitationConcurrentAcceptResend: the invitee accepts with the link while an
// admin resends (rotating the token). Either the accept wins (member, ACCEPTED,
// the resend refused) or the resend wins (the old link refused, the new one works).
func TestInvitationConcurrentAcceptResend(t *testing.T) {
	invEach(t, func(t *testing.T, e *testenv.Env) {
		f := invSetup(t, e)
		outcomes := map[string]int{}
		trials := 10
		if e.Kind == "mysql" {
			trials = 30
		}
		for trial := range trials {
			addr := invAddr("rotate")
			inv, tok := f.invite(t, f.admin.Client, addr, "MEMBER")
			u := invSignUpAs(t, e, addr, "Rotate")
			e.Advance(2 * time.Minute) // past the resend cooldown
			res := invcFire(t, e, []invcCall{
				{token: u.Token, query: invMAccept, vars: map[string]any{"in": map[string]any{"token": tok}}},
				{token: f.owner.Token, query: invMResend, vars: map[string]any{"in": map[string]any{"invitationId": inv.ID, "role": "ADMIN"}}},
			})
			accepted, resent := len(res[0].Errors) == 0, len(res[1].Errors) == 0
			if !accepted {
				invcWantCoded(t, fmt.Sprintf("trial %d accept", trial), res[0])
			}
			if !resent {
				invcWantCoded(t, fmt.Sprintf("trial %d resend", trial), res[1])
			}
			stored := invDB(t, e, inv.ID)
			status := stored.Status
			got := invMemberRole(t, e, f.org.ID, u.ID)
			switch {
			case accepted && !resent && status == invitation.StatusACCEPTED && got == "MEMBER" && stored.Role == role.Member:
				outcomes["accepted"]++
			case resent && !accepted && status == invitation.StatusPENDING && got == "":
				outcomes["resent"]++
				newTok := invToken(t, e, addr)
				if newTok == tok {
					t.Fatalf("trial %d: the resend kept the token", trial)
				}
				var out invAcceptT
				invAcceptTok(u.Client, newTok).OK(t, &out)
				if out.AcceptInvitation.Member.Role != "ADMIN" {
					t.Errorf("trial %d: joined as %s with the resent link, want ADMIN", trial, out.AcceptInvitation.Member.Role)
				}
			default:
				// Both succeeding means the accept used a link the committed resend had
				// already replaced, and the invitee was mailed a new link for an
				// invitation that is no longer pending.
				t.Fatalf("trial %d: accept ok %v, resend ok %v, invitation %s with role %s, member role %q; want exactly one to win\naccept: %s\nresend: %s",
					trial, accepted, resent, status, stored.Role, got, res[0].Raw, res[1].Raw)
			}
		}
		t.Logf("%s outcomes: %v", e.Kind, outcomes)
	})
}
