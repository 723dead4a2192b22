package graph_test

import (
	"testing"

	"github.com/orgql/orgql/internal/testenv"
)

func TestSignUpSignInViewer(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Ada")
		res := u.Do(`{ viewer { id email name emailVerified } }`, nil).OK(t, nil)
		if got := res.Str(t, "viewer.email"); got != u.Email {
			t.Fatalf("viewer.email = %q, want %q", got, u.Email)
		}
		c := e.Client()
		c.Do(`mutation($in: SignInInput!) { signIn(input: $in) { user { id } } }`,
			map[string]any{"in": map[string]any{"email": u.Email, "password": u.Password}}).OK(t, nil)
		e.SQL.Reset()
		res = c.Do(`{ viewer { id } }`, nil).OK(t, nil)
		if res.Str(t, "viewer.id") != u.ID {
			t.Fatalf("cookie session: viewer %s", res.Data)
		}
		t.Logf("viewer statements: %d %v", e.SQL.Count(), e.SQL.Log())
	})
}
