package graph_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/orgql/orgql/internal/testenv"
)

func TestSubscriptionOverHTTPRefused(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Sub")
		o := e.CreateOrg(u, "Sub", "sub-http")
		// Signed in, it is refused before anything runs.
		u.Do(wspOrgEvents, map[string]any{"org": o.ID}).Fails(t, "BAD_REQUEST", "SUBSCRIPTION_OVER_HTTP")
		// Anonymous, not one SQL statement is sent.
		e.SQL.Reset()
		res := e.Client().Do(wspOrgEvents, map[string]any{"org": o.ID})
		res.Fails(t, "BAD_REQUEST", "SUBSCRIPTION_OVER_HTTP")
		if res.Status < 400 {
			t.Errorf("HTTP %d, want a 4xx", res.Status)
		}
		httpWantNoSQL(t, e)
	})
}

// A fragment that spreads the previous one twice doubles the expanded size per
// level: 20 levels are a 1 KB document of a million fields.
func TestFragmentBombRefused(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Bomb")
		bomb := func(levels int) string {
			var b strings.Builder
			fmt.Fprintf(&b, "query { viewer { ...F%d } }\nfragment F0 on User { id }\n", levels)
			for i := 1; i <= levels; i++ {
				fmt.Fprintf(&b, "fragment F%d on User { ...F%d ...F%d }\n", i, i-1, i-1)
			}
			return b.String()
		}
		u.Do(bomb(20), nil).Fails(t, "BAD_REQUEST", "TOO_MANY_SELECTIONS")
		e.SQL.Reset()
		e.Client().Do(bomb(20), nil).Fails(t, "BAD_REQUEST", "TOO_MANY_SELECTIONS")
		httpWantNoSQL(t, e)

		// The same shape, small enough, runs.
		u.Do(bomb(8), nil).OK(t, nil)
	})
}

func TestIdentityMutationsRefusedOverWebsocket(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Ws")
		other := e.SignUp("Other")
		cases := map[string]struct {
			query string
			vars  map[string]any
		}{
			"signIn":               {wspMSignIn, map[string]any{"in": map[string]any{"email": other.Email, "password": other.Password}}},
			"signOut":              {wspMSignOut, nil},
			"signUp":               {`mutation { signUp(input: {email: "new@example.com", password: "correct horse battery staple", name: "N"}) { token } }`, nil},
			"resetPassword":        {wspMReset, map[string]any{"in": map[string]any{"token": "whatever", "newPassword": "another long password"}}},
			"signIn in a fragment": {`mutation { ...F } fragment F on Mutation { ... { signIn(input: {email: "x@example.com", password: "p"}) { token } } }`, nil},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				c := wspOpen(t, e, u.Token)
				c.subscribe("m", tc.query, tc.vars)
				m := c.expect("error", "m")
				var errs []testenv.Error
				if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
					t.Fatalf("error payload %s", m.Payload)
				}
				if errs[0].Code() != "BAD_REQUEST" || errs[0].Reason() != "NOT_OVER_WEBSOCKET" {
					t.Fatalf("got %s/%s, want BAD_REQUEST/NOT_OVER_WEBSOCKET: %s", errs[0].Code(), errs[0].Reason(), m.Payload)
				}
				// The connection is still the same user's.
				c.subscribe("who", wspViewerQ, nil)
				var d struct{ Viewer struct{ ID string } }
				wspDecode(t, c.expect("next", "who"), &d)
				if d.Viewer.ID != u.ID {
					t.Fatalf("after a refused %s the connection is %q, want %s", name, d.Viewer.ID, u.ID)
				}
				c.expect("complete", "who")
			})
		}
		// Nothing was done: the other user's sessions and the new account do not exist.
		e.Client().Do(wspMSignIn, map[string]any{"in": map[string]any{"email": "new@example.com", "password": "correct horse battery staple"}}).
			Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
		u.Do(wspViewerQ, nil).OK(t, nil) // signOut did not end u's session
	})
}

func TestWSOperationsPerConnectionCapped(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Cap")
		o := e.CreateOrg(u, "Cap", "cap-ws")
		vars := map[string]any{"org": o.ID}
		c := wspOpen(t, e, u.Token)
		const max = 100
		for i := range max {
			c.subscribe(fmt.Sprint("s", i), wspOrgEvents, vars)
		}
		wspWaitSubs(t, e, max, -1)
		c.subscribe("over", wspOrgEvents, vars)
		m := c.expect("error", "over")
		var errs []testenv.Error
		if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 || errs[0].Reason() != "TOO_MANY_OPERATIONS" {
			t.Fatalf("operation %d: want TOO_MANY_OPERATIONS, got %s", max+1, m.Payload)
		}
		// The running ones are untouched, and ending one makes room.
		c.complete("s0")
		wspWaitSubs(t, e, max-1, -1)
		c.subscribe("again", wspOrgEvents, vars)
		wspWaitSubs(t, e, max, -1)
		wspRename(t, u, o.ID, "Cap renamed")
		got := map[string]bool{}
		for range max {
			m := c.read(wspWait)
			if m.Type != "next" {
				t.Fatalf("want next, got %s for %q: %s", m.Type, m.ID, m.Payload)
			}
			got[m.ID] = true
		}
		if !got["again"] || got["s0"] || len(got) != max {
			t.Fatalf("events went to %d operations (again=%v, s0=%v), want %d", len(got), got["again"], got["s0"], max)
		}
	})
}
