package graph_test

// Black-box tests of accounts and sessions: sign-up, sign-in, sign-out, session
// expiry, email verification, password reset, rate limits and node lookups, all
// through the real HTTP handler on every database of testenv.Kinds.
//
// Each failing input also checks that nothing changed: no account, session, token
// or email was written, and a token that a refusal must not consume still works.
//
// The tests do not call t.Parallel: starting two Envs at once races in the schema
// migration (ent's Atlas.setupTables mutates the package-level migrate.Tables), which
// database.Migrate does not serialize within a process.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/account"
	"github.com/orgql/orgql/internal/auth"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/testenv"
	"github.com/orgql/orgql/internal/viewer"
)

const (
	acctQViewer       = `{ viewer { id email name emailVerified emailVerifiedAt } }`
	acctMSignUp       = `mutation($in: SignUpInput!) { signUp(input: $in) { token expiresAt user { id email name emailVerified emailVerifiedAt } } }`
	acctMSignIn       = `mutation($in: SignInInput!) { signIn(input: $in) { token expiresAt user { id email } } }`
	acctMSignOut      = `mutation($in: SignOutInput) { signOut(input: $in) { revokedSessions } }`
	acctMRequestVerif = `mutation { requestEmailVerification { user { id email emailVerified } } }`
	acctMVerifyEmail  = `mutation($in: VerifyEmailInput!) { verifyEmail(input: $in) { user { id email emailVerified emailVerifiedAt } } }`
	acctMRequestReset = `mutation($in: RequestPasswordResetInput!) { requestPasswordReset(input: $in) { email } }`
	acctMResetPwd     = `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) { token expiresAt user { id email emailVerified emailVerifiedAt } } }`
	acctQNode         = `query($id: ID!) { node(id: $id) { __typename id ... on User { email } } }`
	acctQNodes        = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on User { email } } }`

	acctGoodPassword  = "correct horse battery staple"
	acctOtherPassword = "another good passphrase"
)

var (
	acctVerifyLink = regexp.MustCompile(`https://portal\.example\.test/verify-email\?token=[A-Za-z0-9_-]{43}(\s|$)`)
	acctResetLink  = regexp.MustCompile(`https://portal\.example\.test/reset-password\?token=[A-Za-z0-9_-]{43}(\s|$)`)
)

// --- operations ---

func acctSignUp(c *testenv.Client, email, password, name string) *testenv.Response {
	return c.Do(acctMSignUp, map[string]any{"in": map[string]any{"email": email, "password": password, "name": name}})
}

func acctSignIn(c *testenv.Client, email, password string) *testenv.Response {
	return c.Do(acctMSignIn, map[string]any{"in": map[string]any{"email": email, "password": password}})
}

func acctSignOut(c *testenv.Client, everywhere bool) *testenv.Response {
	return c.Do(acctMSignOut, map[string]any{"in": map[string]any{"everywhere": everywhere}})
}

func acctVerifyEmail(c *testenv.Client, tok string) *testenv.Response {
	return c.Do(acctMVerifyEmail, map[string]any{"in": map[string]any{"token": tok}})
}

func acctRequestReset(c *testenv.Client, email string) *testenv.Response {
	return c.Do(acctMRequestReset, map[string]any{"in": map[string]any{"email": email}})
}

func acctResetPassword(c *testenv.Client, tok, newPassword string) *testenv.Response {
	return c.Do(acctMResetPwd, map[string]any{"in": map[string]any{"token": tok, "newPassword": newPassword}})
}

// --- assertions ---

// acctViewerID returns the viewer's ID, or "" when viewer is null. Errors fail the test.
func acctViewerID(t testing.TB, c *testenv.Client) string {
	t.Helper()
	var d struct{ Viewer *struct{ ID string } }
	c.Do(acctQViewer, nil).OK(t, &d)
	if d.Viewer == nil {
		return ""
	}
	return d.Viewer.ID
}

// acctWantViewer fails unless c is signed in as userID ("" for anonymous).
func acctWantViewer(t testing.TB, c *testenv.Client, userID, what string) {
	t.Helper()
	if got := acctViewerID(t, c); got != userID {
		if userID == "" {
			t.Fatalf("%s: viewer is %q, want null", what, got)
		}
		t.Fatalf("%s: viewer is %q, want %q", what, got, userID)
	}
}

// acctCanSignIn fails unless email and password sign in (on a fresh client).
func acctCanSignIn(t testing.TB, e *testenv.Env, email, password string) {
	t.Helper()
	acctSignIn(e.Client(), email, password).OK(t, nil)
}

// acctCannotSignIn fails unless email and password are refused as INVALID_CREDENTIALS.
func acctCannotSignIn(t testing.TB, e *testenv.Env, email, password string) {
	t.Helper()
	acctSignIn(e.Client(), email, password).Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
}

// acctFailsOn checks an input error: code, reason and extensions.field.
func acctFailsOn(t testing.TB, res *testenv.Response, code, reason, field string) testenv.Error {
	t.Helper()
	err := res.Fails(t, code, reason)
	if err.Field() != field {
		t.Fatalf("extensions.field = %q, want %q: %s", err.Field(), field, res.Raw)
	}
	return err
}

// acctWantRateLimited checks a RATE_LIMITED error with a positive retryAfter.
func acctWantRateLimited(t testing.TB, res *testenv.Response) {
	t.Helper()
	err := res.Fails(t, "RATE_LIMITED", "TOO_MANY_REQUESTS")
	if ra, ok := err.Extensions["retryAfter"].(float64); !ok || ra <= 0 {
		t.Fatalf("extensions.retryAfter = %v, want a positive number of seconds: %s", err.Extensions["retryAfter"], res.Raw)
	}
}

// acctSessionCookie returns the orgql_session cookie the response sets, or nil.
func acctSessionCookie(res *testenv.Response) *http.Cookie {
	for _, c := range (&http.Response{Header: res.Header}).Cookies() {
		if c.Name == auth.CookieName {
			return c
		}
	}
	return nil
}

// acctWantSessionCookie checks the cookie set with a new session.
func acctWantSessionCookie(t testing.TB, res *testenv.Response, token string, secure bool) {
	t.Helper()
	c := acctSessionCookie(res)
	if c == nil {
		t.Fatalf("no %s cookie set; Set-Cookie: %q", auth.CookieName, res.Header.Values("Set-Cookie"))
	}
	raw := res.Header.Values("Set-Cookie")
	switch {
	case c.Value != token:
		t.Errorf("cookie value %q, want the payload's token %q", c.Value, token)
	case !c.HttpOnly:
		t.Errorf("cookie is not HttpOnly: %q", raw)
	case c.SameSite != http.SameSiteLaxMode:
		t.Errorf("cookie SameSite = %v, want Lax: %q", c.SameSite, raw)
	case c.Path != "/":
		t.Errorf("cookie Path = %q, want /: %q", c.Path, raw)
	case c.Secure != secure:
		t.Errorf("cookie Secure = %v, want %v: %q", c.Secure, secure, raw)
	case c.MaxAge <= 0:
		t.Errorf("cookie Max-Age = %d, want a positive lifetime: %q", c.MaxAge, raw)
	}
}

// acctWantNoSessionCookie checks that a response set no session cookie.
func acctWantNoSessionCookie(t testing.TB, res *testenv.Response) {
	t.Helper()
	if c := acctSessionCookie(res); c != nil {
		t.Fatalf("unexpected session cookie: %q", res.Header.Values("Set-Cookie"))
	}
}

// acctWantClearedCookie checks that a response deletes the session cookie.
func acctWantClearedCookie(t testing.TB, res *testenv.Response) {
	t.Helper()
	c := acctSessionCookie(res)
	if c == nil || c.MaxAge >= 0 || c.Value != "" || !c.HttpOnly || c.Path != "/" {
		t.Fatalf("want the session cookie cleared (empty, Max-Age<0, HttpOnly, Path=/); Set-Cookie: %q", res.Header.Values("Set-Cookie"))
	}
}

// acctWantTimeNear parses an RFC 3339 time and checks it is within a minute of want.
func acctWantTimeNear(t testing.TB, what, got string, want time.Time) {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, got)
	if err != nil {
		t.Fatalf("%s %q: %v", what, got, err)
	}
	if d := ts.Sub(want); d < -time.Minute || d > time.Minute {
		t.Fatalf("%s = %s, want about %s", what, ts, want)
	}
}

// acctRows counts what an operation may write. Failing operations must leave it alone.
type acctRows struct{ Users, Sessions, Tokens, Emails int }

func acctSnapshot(t testing.TB, e *testenv.Env) acctRows {
	t.Helper()
	ctx := viewer.System(context.Background())
	db := e.App.DB.Client
	n := func(k int, err error) int {
		t.Helper()
		if err != nil {
			t.Fatalf("counting rows: %v", err)
		}
		return k
	}
	return acctRows{
		Users:    n(db.User.Query().Count(ctx)),
		Sessions: n(db.Session.Query().Count(ctx)),
		Tokens:   n(db.UserToken.Query().Count(ctx)),
		Emails:   n(db.EmailMessage.Query().Count(ctx)),
	}
}

func acctUnchanged(t testing.TB, e *testenv.Env, before acctRows, what string) {
	t.Helper()
	if after := acctSnapshot(t, e); after != before {
		t.Fatalf("%s changed the database: before %+v, after %+v", what, before, after)
	}
}

// acctWantMails fails unless exactly n emails were sent to addr.
func acctWantMails(t testing.TB, e *testenv.Env, addr string, n int) {
	t.Helper()
	if got := e.Mail.To(addr); len(got) != n {
		t.Fatalf("%d emails to %s, want %d: %+v", len(got), addr, n, got)
	}
}

// acctConcurrently posts the same operation from n anonymous clients at once. It does
// not use testenv.Client, whose failures must happen on the test's goroutine.
func acctConcurrently(t *testing.T, e *testenv.Env, n int, query string, vars map[string]any) []*testenv.Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*testenv.Response, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = testenv.Post(http.DefaultClient, e.Server.URL+"/graphql", "", body)
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// acctExactlyOne checks that one response succeeded and every other failed with
// code/reason.
func acctExactlyOne(t testing.TB, results []*testenv.Response, code, reason string) *testenv.Response {
	t.Helper()
	var winner *testenv.Response
	for _, r := range results {
		if len(r.Errors) == 0 && r.Status == http.StatusOK {
			if winner != nil {
				t.Fatalf("two concurrent requests succeeded:\n%s\n%s", winner.Raw, r.Raw)
			}
			winner = r
			continue
		}
		r.Fails(t, code, reason)
	}
	if winner == nil {
		t.Fatalf("no concurrent request succeeded; first: %s", results[0].Raw)
	}
	return winner
}

// acctFromIP makes a client whose requests appear to come from ip (needs TrustProxy).
func acctFromIP(e *testenv.Env, ip string) *testenv.Client {
	c := e.Client()
	c.Header.Set("X-Forwarded-For", ip)
	return c
}

var acctTrustProxy = testenv.WithConfig(func(c *config.Config) { c.TrustProxy = true })

// --- sign-up ---

func TestSignUp(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			c := e.Client()
			res := acctSignUp(c, "  Ada.Lovelace@Example.COM \t", acctGoodPassword, "Ada Lovelace").OK(t, nil)
			var d struct {
				SignUp struct {
					Token, ExpiresAt string
					User             struct {
						ID, Email, Name string
						EmailVerified   bool
						EmailVerifiedAt *string
					}
				}
			}
			res.OK(t, &d)
			p := d.SignUp
			const email = "ada.lovelace@example.com"
			if p.User.Email != email || p.User.Name != "Ada Lovelace" || p.User.EmailVerified || p.User.EmailVerifiedAt != nil {
				t.Fatalf("user = %+v, want email %s (trimmed, lower-cased), unverified", p.User, email)
			}
			if !strings.HasPrefix(p.User.ID, "usr_") {
				t.Errorf("user id %q: want an opaque usr_ ID", p.User.ID)
			}
			if len(p.Token) != 43 {
				t.Errorf("token %q: want 256 random bits (43 base64url characters)", p.Token)
			}
			acctWantTimeNear(t, "expiresAt", p.ExpiresAt, e.Now().Add(config.Default().SessionMaxAge))
			acctWantSessionCookie(t, res, p.Token, false)

			// The cookie signs in the client that signed up, the token any client.
			acctWantViewer(t, c, p.User.ID, "cookie session after sign-up")
			bearer := e.Client()
			bearer.Token = p.Token
			acctWantViewer(t, bearer, p.User.ID, "Bearer session after sign-up")
			acctCanSignIn(t, e, email, acctGoodPassword)

			// One verification email, to the normalized address, with a portal link.
			acctWantMails(t, e, email, 1)
			m := e.Mail.Last(email)
			if !acctVerifyLink.MatchString(m.Text) {
				t.Fatalf("verification email has no https://portal.example.test/verify-email?token=... link:\n%s", m.Text)
			}
			if tok := e.Mail.Token(email); tok == p.Token {
				t.Fatal("the verification token is the session token")
			}
		})
	})

	t.Run("secure cookie", func(t *testing.T) {
		cases := []struct {
			name       string
			trustProxy bool
			proto      string
			secure     bool
		}{
			{"plain HTTP", false, "", false},
			{"X-Forwarded-Proto ignored without TrustProxy", false, "https", false},
			{"TrustProxy without X-Forwarded-Proto", true, "", false},
			{"TrustProxy and X-Forwarded-Proto https", true, "https", true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				testenv.Each(t, func(t *testing.T, e *testenv.Env) {
					c := e.Client()
					if tc.proto != "" {
						c.Header.Set("X-Forwarded-Proto", tc.proto)
					}
					res := acctSignUp(c, "ada@example.com", acctGoodPassword, "Ada").OK(t, nil)
					acctWantSessionCookie(t, res, res.Str(t, "signUp.token"), tc.secure)
					res = acctSignIn(c, "ada@example.com", acctGoodPassword).OK(t, nil)
					acctWantSessionCookie(t, res, res.Str(t, "signIn.token"), tc.secure)
				}, testenv.WithConfig(func(c *config.Config) { c.TrustProxy = tc.trustProxy }))
			})
		}
	})

	t.Run("invalid email", func(t *testing.T) {
		cases := map[string]string{
			"empty":             "",
			"blank":             "   ",
			"no at":             "no-at",
			"no dot in domain":  "a@b",
			"space":             "a b@example.com",
			"display name":      "Name <a@example.com>",
			"no local part":     "@example.com",
			"two ats":           "a@b@example.com",
			"trailing dot":      "a@example.com.",
			"double dot":        "a@example..com",
			"255 characters":    strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com",
			"65-character user": strings.Repeat("a", 65) + "@example.com",
		}
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			for name, email := range cases {
				t.Run(name, func(t *testing.T) {
					before := acctSnapshot(t, e)
					res := acctSignUp(e.Client(), email, acctGoodPassword, "Ada")
					acctFailsOn(t, res, "BAD_USER_INPUT", "INVALID_EMAIL", "input.email")
					acctWantNoSessionCookie(t, res)
					acctUnchanged(t, e, before, "a refused sign-up")
				})
			}
		})
	})

	t.Run("email of 254 characters is accepted", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			email := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com"
			if len(email) != 254 {
				t.Fatalf("test address has %d characters", len(email))
			}
			acctSignUp(e.Client(), email, acctGoodPassword, "Ada").OK(t, nil)
			acctCanSignIn(t, e, email, acctGoodPassword)
		})
	})

	t.Run("password length", func(t *testing.T) {
		cases := []struct {
			name, password, reason string
		}{
			{"9 characters", "123456789", "PASSWORD_TOO_SHORT"},
			{"9 two-byte characters", strings.Repeat("é", 9), "PASSWORD_TOO_SHORT"},
			{"empty", "", "PASSWORD_TOO_SHORT"},
			{"129 characters", strings.Repeat("p", 129), "PASSWORD_TOO_LONG"},
			{"10 characters", "1234567890", ""},
			{"10 two-byte characters", strings.Repeat("é", 10), ""},
			{"128 characters", strings.Repeat("p", 128), ""},
		}
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					email := fmt.Sprintf("pw%d@example.com", i)
					before := acctSnapshot(t, e)
					res := acctSignUp(e.Client(), email, tc.password, "Ada")
					if tc.reason == "" {
						res.OK(t, nil)
						acctCanSignIn(t, e, email, tc.password)
						return
					}
					acctFailsOn(t, res, "BAD_USER_INPUT", tc.reason, "input.password")
					acctWantNoSessionCookie(t, res)
					acctUnchanged(t, e, before, "a refused sign-up")
					acctWantMails(t, e, email, 0)
					acctCannotSignIn(t, e, email, tc.password)
					// The address is still free.
					acctSignUp(e.Client(), email, acctGoodPassword, "Ada").OK(t, nil)
				})
			}
		})
	})

	t.Run("invalid name", func(t *testing.T) {
		cases := map[string]string{
			"empty":          "",
			"blank":          " \t ",
			"101 characters": strings.Repeat("n", 101),
		}
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			for name, n := range cases {
				t.Run(name, func(t *testing.T) {
					before := acctSnapshot(t, e)
					res := acctSignUp(e.Client(), "ada@example.com", acctGoodPassword, n)
					acctFailsOn(t, res, "BAD_USER_INPUT", "INVALID_NAME", "input.name")
					acctWantNoSessionCookie(t, res)
					acctUnchanged(t, e, before, "a refused sign-up")
					acctWantMails(t, e, "ada@example.com", 0)
				})
			}
			// 100 characters is the longest name; the address was never taken.
			res := acctSignUp(e.Client(), "ada@example.com", acctGoodPassword, strings.Repeat("n", 100)).OK(t, nil)
			if got := res.Str(t, "signUp.user.name"); got != strings.Repeat("n", 100) {
				t.Fatalf("name = %q", got)
			}
		})
	})

	t.Run("name of 100 non-ASCII characters", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			for _, name := range []string{strings.Repeat("é", 100), strings.Repeat("日", 100), "Zoë " + strings.Repeat("ö", 60)} {
				email := fmt.Sprintf("n%d@example.com", len(name))
				res := acctSignUp(e.Client(), email, acctGoodPassword, name).OK(t, nil)
				if got := res.Str(t, "signUp.user.name"); got != name {
					t.Fatalf("name = %q, want %q", got, name)
				}
				acctCanSignIn(t, e, email, acctGoodPassword)
			}
			acctFailsOn(t, acctSignUp(e.Client(), "long@example.com", acctGoodPassword, strings.Repeat("é", 101)), "BAD_USER_INPUT", "INVALID_NAME", "input.name")
		})
	})

	t.Run("addresses that differ only by accents are different accounts", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			acctSignUp(e.Client(), "ada@example.com", acctGoodPassword, "Ada").OK(t, nil)
			res := acctSignUp(e.Client(), "Adá@example.com", acctOtherPassword, "Adá").OK(t, nil)
			if got := res.Str(t, "signUp.user.email"); got != "adá@example.com" {
				t.Fatalf("email = %q, want adá@example.com", got)
			}
			acctCanSignIn(t, e, "ada@example.com", acctGoodPassword)
			acctCanSignIn(t, e, "adá@example.com", acctOtherPassword)
			acctCannotSignIn(t, e, "adá@example.com", acctGoodPassword)
			acctWantMails(t, e, "adá@example.com", 1)
			acctWantMails(t, e, "ada@example.com", 1)
		})
	})

	t.Run("email taken in another letter case", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			acctSignUp(e.Client(), "ada@example.com", acctGoodPassword, "Ada").OK(t, nil)
			before := acctSnapshot(t, e)
			for _, email := range []string{"ada@example.com", "ADA@Example.com", " Ada@EXAMPLE.COM "} {
				res := acctSignUp(e.Client(), email, acctOtherPassword, "Impostor")
				res.Fails(t, "CONFLICT", "EMAIL_TAKEN")
				acctWantNoSessionCookie(t, res)
			}
			acctUnchanged(t, e, before, "a sign-up with a taken address")
			acctWantMails(t, e, "ada@example.com", 1)
			acctCanSignIn(t, e, "ada@example.com", acctGoodPassword)
			acctCannotSignIn(t, e, "ada@example.com", acctOtherPassword)
		})
	})

	t.Run("concurrent sign-ups of one address", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			const n = 10
			results := acctConcurrently(t, e, n, acctMSignUp, map[string]any{"in": map[string]any{
				"email": "Race@Example.com", "password": acctGoodPassword, "name": "Racer",
			}})
			acctExactlyOne(t, results, "CONFLICT", "EMAIL_TAKEN")
			if got := acctSnapshot(t, e); got.Users != 1 || got.Sessions != 1 {
				t.Fatalf("after %d concurrent sign-ups: %+v, want 1 user and 1 session", n, got)
			}
			acctWantMails(t, e, "race@example.com", 1)
			acctCanSignIn(t, e, "race@example.com", acctGoodPassword)
		})
	})
}

// --- sign-in ---

func TestSignIn(t *testing.T) {
	t.Run("any letter case", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			for _, email := range []string{u.Email, strings.ToUpper(u.Email), "  " + strings.ToUpper(u.Email[:1]) + u.Email[1:] + " "} {
				c := e.Client()
				res := acctSignIn(c, email, u.Password).OK(t, nil)
				if got := res.Str(t, "signIn.user.id"); got != u.ID {
					t.Fatalf("signIn(%q) user %s, want %s", email, got, u.ID)
				}
				tok := res.Str(t, "signIn.token")
				acctWantSessionCookie(t, res, tok, false)
				acctWantTimeNear(t, "expiresAt", res.Str(t, "signIn.expiresAt"), e.Now().Add(config.Default().SessionMaxAge))
				acctWantViewer(t, c, u.ID, "cookie session after sign-in")
			}
		})
	})

	t.Run("wrong password and unknown email look alike", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			before := acctSnapshot(t, e)
			wrong := acctSignIn(e.Client(), u.Email, "not the password")
			unknown := acctSignIn(e.Client(), "nobody@example.com", "not the password")
			we := wrong.Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
			ue := unknown.Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
			if we.Message != ue.Message || !reflect.DeepEqual(we.Extensions, ue.Extensions) {
				t.Fatalf("wrong password and unknown email answer differently:\n%s\n%s", wrong.Raw, unknown.Raw)
			}
			if wrong.Status != unknown.Status || string(wrong.Data) != string(unknown.Data) {
				t.Fatalf("wrong password and unknown email answer differently:\n%d %s\n%d %s", wrong.Status, wrong.Raw, unknown.Status, unknown.Raw)
			}
			acctWantNoSessionCookie(t, wrong)
			acctWantNoSessionCookie(t, unknown)
			acctUnchanged(t, e, before, "a refused sign-in")
		})
	})

	t.Run("bearer and cookie sessions", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			cookie := e.Client()
			tok := acctSignIn(cookie, u.Email, u.Password).OK(t, nil).Str(t, "signIn.token")
			acctWantViewer(t, cookie, u.ID, "cookie session")
			bearer := e.Client()
			bearer.Token = tok
			acctWantViewer(t, bearer, u.ID, "Bearer session")
			var d struct{ Viewer struct{ Email string } }
			bearer.Do(acctQViewer, nil).OK(t, &d)
			if d.Viewer.Email != u.Email {
				t.Fatalf("viewer.email = %q, want %q", d.Viewer.Email, u.Email)
			}
			lower := e.Client()
			lower.Header.Set("Authorization", "bearer "+tok)
			acctWantViewer(t, lower, u.ID, "lower-case bearer scheme")
		})
	})

	t.Run("rejected credentials", func(t *testing.T) {
		cases := map[string]string{
			"garbage Bearer":            "Bearer garbage",
			"unknown token":             "Bearer " + strings.Repeat("A", 43),
			"token of another scheme":   "Basic " + strings.Repeat("A", 43),
			"Bearer without any token":  "Bearer ",
			"token with trailing bytes": "Bearer " + strings.Repeat("A", 44),
		}
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			for name, header := range cases {
				t.Run(name, func(t *testing.T) {
					c := e.Client()
					c.Header.Set("Authorization", header)
					res := c.Do(acctQViewer, nil).OK(t, nil)
					if v := res.Get(t, "viewer"); v != nil {
						t.Fatalf("viewer = %v, want null", v)
					}
					c.Do(acctMRequestVerif, nil).Fails(t, "UNAUTHENTICATED", "SESSION_EXPIRED")
				})
			}
		})
	})

	t.Run("no credentials", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			c := e.Client()
			acctWantViewer(t, c, "", "anonymous")
			c.Do(acctMRequestVerif, nil).Fails(t, "UNAUTHENTICATED", "SESSION_REQUIRED")
		})
	})
}

// --- sessions ---

func acctSessionLifetimes(idle, maxAge time.Duration) testenv.Option {
	return testenv.WithConfig(func(c *config.Config) {
		c.SessionIdleTimeout = idle
		c.SessionMaxAge = maxAge
	})
}

func TestSessions(t *testing.T) {
	t.Run("idle expiry", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			cookie := e.Client()
			acctSignIn(cookie, u.Email, u.Password).OK(t, nil)
			e.Advance(time.Hour + time.Second)
			acctWantViewer(t, u.Client, "", "Bearer session unused for longer than the idle timeout")
			u.Do(acctMRequestVerif, nil).Fails(t, "UNAUTHENTICATED", "SESSION_EXPIRED")
			res := cookie.Do(acctQViewer, nil).OK(t, nil)
			if v := res.Get(t, "viewer"); v != nil {
				t.Fatalf("cookie session unused for longer than the idle timeout: viewer %v", v)
			}
			acctWantClearedCookie(t, res)
			acctCanSignIn(t, e, u.Email, u.Password)
		}, acctSessionLifetimes(time.Hour, 24*time.Hour))
	})

	t.Run("use keeps a session alive", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			for i := range 4 {
				e.Advance(40 * time.Minute)
				acctWantViewer(t, u.Client, u.ID, fmt.Sprintf("after %d × 40 minutes, each followed by a request", i+1))
			}
			e.Advance(time.Hour + time.Second)
			acctWantViewer(t, u.Client, "", "after an idle hour")
		}, acctSessionLifetimes(time.Hour, 24*time.Hour))
	})

	t.Run("absolute expiry", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			for i := range 3 {
				e.Advance(50 * time.Minute)
				acctWantViewer(t, u.Client, u.ID, fmt.Sprintf("active session after %d minutes", 50*(i+1)))
			}
			e.Advance(50 * time.Minute) // 200 minutes: past the 3 hour maximum age
			acctWantViewer(t, u.Client, "", "active session after its maximum age")
			u.Do(acctMRequestVerif, nil).Fails(t, "UNAUTHENTICATED", "SESSION_EXPIRED")
		}, acctSessionLifetimes(time.Hour, 3*time.Hour))
	})

	t.Run("signOut revokes the session", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			cookie := e.Client()
			cookieTok := acctSignIn(cookie, u.Email, u.Password).OK(t, nil).Str(t, "signIn.token")

			// Bearer: only this session ends.
			res := acctSignOut(u.Client, false).OK(t, nil)
			if n := res.Get(t, "signOut.revokedSessions"); n != float64(1) {
				t.Fatalf("revokedSessions = %v, want 1", n)
			}
			acctWantClearedCookie(t, res)
			acctWantViewer(t, u.Client, "", "Bearer session after signOut")
			u.Do(acctMRequestVerif, nil).Fails(t, "UNAUTHENTICATED", "SESSION_EXPIRED")
			acctWantViewer(t, cookie, u.ID, "another session of the user")

			// Cookie: the session ends and the browser forgets the cookie.
			res = cookie.Do(`mutation { signOut { revokedSessions } }`, nil).OK(t, nil)
			if n := res.Get(t, "signOut.revokedSessions"); n != float64(1) {
				t.Fatalf("revokedSessions = %v, want 1", n)
			}
			acctWantClearedCookie(t, res)
			acctWantViewer(t, cookie, "", "cookie client after signOut")
			stolen := e.Client()
			stolen.Token = cookieTok
			acctWantViewer(t, stolen, "", "signed-out cookie token used as Bearer")
			if got := acctSnapshot(t, e).Sessions; got != 0 {
				t.Fatalf("%d sessions left after signing both out", got)
			}
		})
	})

	t.Run("signOut everywhere", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			ada := e.SignUp("Ada")
			bob := e.SignUp("Bob")
			var others []*testenv.Client
			for range 2 {
				c := e.Client()
				acctSignIn(c, ada.Email, ada.Password).OK(t, nil)
				others = append(others, c)
			}
			res := acctSignOut(ada.Client, true).OK(t, nil)
			if n := res.Get(t, "signOut.revokedSessions"); n != float64(3) {
				t.Fatalf("revokedSessions = %v, want 3", n)
			}
			acctWantClearedCookie(t, res)
			acctWantViewer(t, ada.Client, "", "Ada's Bearer session")
			for i, c := range others {
				acctWantViewer(t, c, "", fmt.Sprintf("Ada's cookie session %d", i))
			}
			acctWantViewer(t, bob.Client, bob.ID, "Bob's session")
		})
	})

	t.Run("signOut without a session", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			e.SignUp("Ada")
			before := acctSnapshot(t, e)
			for _, c := range []*testenv.Client{e.Client(), func() *testenv.Client { c := e.Client(); c.Token = "garbage"; return c }()} {
				for _, everywhere := range []bool{false, true} {
					res := acctSignOut(c, everywhere).OK(t, nil)
					if n := res.Get(t, "signOut.revokedSessions"); n != float64(0) {
						t.Fatalf("revokedSessions = %v, want 0", n)
					}
					acctWantClearedCookie(t, res)
				}
			}
			acctUnchanged(t, e, before, "signOut without a session")
		})
	})
}

// --- email verification ---

func TestEmailVerification(t *testing.T) {
	t.Run("verify with the mailed token", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			tok := e.Mail.Token(u.Email)
			var d struct {
				VerifyEmail struct {
					User struct {
						ID              string
						EmailVerified   bool
						EmailVerifiedAt *string
					}
				}
			}
			acctVerifyEmail(e.Client(), tok).OK(t, &d) // no session needed
			got := d.VerifyEmail.User
			if got.ID != u.ID || !got.EmailVerified || got.EmailVerifiedAt == nil {
				t.Fatalf("verifyEmail user = %+v, want %s verified", got, u.ID)
			}
			acctWantTimeNear(t, "emailVerifiedAt", *got.EmailVerifiedAt, e.Now())
			res := u.Do(acctQViewer, nil).OK(t, nil)
			if res.Get(t, "viewer.emailVerified") != true || res.Str(t, "viewer.emailVerifiedAt") != *got.EmailVerifiedAt {
				t.Fatalf("viewer after verification: %s", res.Data)
			}

			// The token works once.
			before := acctSnapshot(t, e)
			acctFailsOn(t, acctVerifyEmail(e.Client(), tok), "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
			acctFailsOn(t, acctVerifyEmail(u.Client, tok), "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
			acctUnchanged(t, e, before, "reusing a verification token")
			if res := u.Do(acctQViewer, nil).OK(t, nil); res.Str(t, "viewer.emailVerifiedAt") != *got.EmailVerifiedAt {
				t.Fatalf("emailVerifiedAt changed on reuse: %s", res.Data)
			}
		})
	})

	t.Run("expired token", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			tok := e.Mail.Token(u.Email)
			e.Advance(48*time.Hour + time.Second)
			acctFailsOn(t, acctVerifyEmail(e.Client(), tok), "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
			if res := u.Do(acctQViewer, nil).OK(t, nil); res.Get(t, "viewer.emailVerified") != false {
				t.Fatalf("verified with an expired token: %s", res.Data)
			}
		}, testenv.WithConfig(func(c *config.Config) { c.VerificationTTL = 48 * time.Hour }))
	})

	t.Run("token just before expiry works", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			tok := e.Mail.Token(u.Email)
			e.Advance(time.Hour - time.Minute)
			acctVerifyEmail(e.Client(), tok).OK(t, nil)
		}, testenv.WithConfig(func(c *config.Config) { c.VerificationTTL = time.Hour }))
	})

	t.Run("invalid tokens", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			acctRequestReset(e.Client(), u.Email).OK(t, nil)
			resetTok := e.Mail.Token(u.Email)
			cases := map[string]string{
				"garbage":                "garbage",
				"empty":                  "",
				"unknown":                strings.Repeat("A", 43),
				"a password reset token": resetTok,
			}
			for name, tok := range cases {
				t.Run(name, func(t *testing.T) {
					before := acctSnapshot(t, e)
					acctFailsOn(t, acctVerifyEmail(e.Client(), tok), "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
					acctUnchanged(t, e, before, "a refused verifyEmail")
				})
			}
			if res := u.Do(acctQViewer, nil).OK(t, nil); res.Get(t, "viewer.emailVerified") != false {
				t.Fatalf("verified by an invalid token: %s", res.Data)
			}
			// The refused reset token was not consumed.
			acctResetPassword(e.Client(), resetTok, acctOtherPassword).OK(t, nil)
		})
	})

	t.Run("request a new link", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			first := e.Mail.Token(u.Email)
			res := u.Do(acctMRequestVerif, nil).OK(t, nil)
			if res.Str(t, "requestEmailVerification.user.id") != u.ID || res.Get(t, "requestEmailVerification.user.emailVerified") != false {
				t.Fatalf("requestEmailVerification: %s", res.Data)
			}
			acctWantMails(t, e, u.Email, 2)
			m := e.Mail.Last(u.Email)
			if !acctVerifyLink.MatchString(m.Text) {
				t.Fatalf("no verification link in:\n%s", m.Text)
			}
			second := e.Mail.Token(u.Email)
			if second == first {
				t.Fatal("the new email carries the old token")
			}
			acctVerifyEmail(e.Client(), second).OK(t, nil)

			// Now verified: no more links.
			before := acctSnapshot(t, e)
			u.Do(acctMRequestVerif, nil).Fails(t, "CONFLICT", "ALREADY_VERIFIED")
			acctUnchanged(t, e, before, "requestEmailVerification when verified")
			acctWantMails(t, e, u.Email, 2)
		})
	})

	t.Run("concurrent redemption of one token", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			tok := e.Mail.Token(u.Email)
			results := acctConcurrently(t, e, 10, acctMVerifyEmail, map[string]any{"in": map[string]any{"token": tok}})
			acctExactlyOne(t, results, "BAD_USER_INPUT", "INVALID_TOKEN")
			if res := u.Do(acctQViewer, nil).OK(t, nil); res.Get(t, "viewer.emailVerified") != true {
				t.Fatalf("not verified: %s", res.Data)
			}
		})
	})
}

// --- password reset ---

func TestPasswordReset(t *testing.T) {
	t.Run("unknown and known addresses answer alike", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			before := acctSnapshot(t, e)
			unknown := acctRequestReset(e.Client(), "  Nobody@Example.COM ").OK(t, nil)
			acctUnchanged(t, e, before, "requestPasswordReset for an unknown address")
			acctWantMails(t, e, "nobody@example.com", 0)
			known := acctRequestReset(e.Client(), " "+strings.ToUpper(u.Email)).OK(t, nil)

			if got, want := string(unknown.Data), `{"requestPasswordReset":{"email":"nobody@example.com"}}`; got != want {
				t.Errorf("unknown address: data %s, want %s", got, want)
			}
			if got, want := string(known.Data), `{"requestPasswordReset":{"email":"`+u.Email+`"}}`; got != want {
				t.Errorf("known address: data %s, want %s", got, want)
			}
			if unknown.Status != known.Status || !reflect.DeepEqual(acctTopLevelKeys(t, unknown), acctTopLevelKeys(t, known)) {
				t.Errorf("responses differ in shape:\n%d %s\n%d %s", unknown.Status, unknown.Raw, known.Status, known.Raw)
			}
			acctWantNoSessionCookie(t, unknown)
			acctWantNoSessionCookie(t, known)

			// Only the known address gets an email, with a portal reset link.
			acctWantMails(t, e, u.Email, 2) // verification + reset
			if m := e.Mail.Last(u.Email); !acctResetLink.MatchString(m.Text) {
				t.Fatalf("reset email has no https://portal.example.test/reset-password?token=... link:\n%s", m.Text)
			}
			// Asking does not change the password or end sessions.
			acctCanSignIn(t, e, u.Email, u.Password)
			acctWantViewer(t, u.Client, u.ID, "session after requestPasswordReset")
		})
	})

	t.Run("reset the password", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			other := e.SignUp("Bob")
			cookie := e.Client()
			acctSignIn(cookie, u.Email, u.Password).OK(t, nil)
			acctRequestReset(e.Client(), u.Email).OK(t, nil)
			tok := e.Mail.Token(u.Email)

			c := e.Client()
			res := acctResetPassword(c, tok, acctOtherPassword).OK(t, nil)
			var d struct {
				ResetPassword struct {
					Token, ExpiresAt string
					User             struct {
						ID              string
						EmailVerified   bool
						EmailVerifiedAt *string
					}
				}
			}
			res.OK(t, &d)
			p := d.ResetPassword
			if p.User.ID != u.ID || !p.User.EmailVerified || p.User.EmailVerifiedAt == nil {
				t.Fatalf("resetPassword user = %+v, want %s with a verified address", p.User, u.ID)
			}
			acctWantTimeNear(t, "expiresAt", p.ExpiresAt, e.Now().Add(config.Default().SessionMaxAge))
			acctWantSessionCookie(t, res, p.Token, false)

			// The caller is signed in, by cookie and by the returned token.
			acctWantViewer(t, c, u.ID, "cookie of resetPassword")
			bearer := e.Client()
			bearer.Token = p.Token
			acctWantViewer(t, bearer, u.ID, "token of resetPassword")
			// Every earlier session ended; other users' did not.
			acctWantViewer(t, u.Client, "", "sign-up session after a password reset")
			acctWantViewer(t, cookie, "", "sign-in session after a password reset")
			acctWantViewer(t, other.Client, other.ID, "another user's session")
			// The new password works, the old one does not.
			acctCannotSignIn(t, e, u.Email, u.Password)
			acctCanSignIn(t, e, u.Email, acctOtherPassword)
			// The token works once.
			before := acctSnapshot(t, e)
			acctFailsOn(t, acctResetPassword(e.Client(), tok, "yet another password"), "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
			acctUnchanged(t, e, before, "reusing a reset token")
			acctCanSignIn(t, e, u.Email, acctOtherPassword)
			acctWantViewer(t, bearer, u.ID, "new session after a refused reuse")
		})
	})

	t.Run("expired token", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			acctRequestReset(e.Client(), u.Email).OK(t, nil)
			tok := e.Mail.Token(u.Email)
			e.Advance(time.Hour + time.Second)
			before := acctSnapshot(t, e)
			res := acctResetPassword(e.Client(), tok, acctOtherPassword)
			acctFailsOn(t, res, "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
			acctWantNoSessionCookie(t, res)
			acctUnchanged(t, e, before, "an expired reset token")
			acctCanSignIn(t, e, u.Email, u.Password)
			acctCannotSignIn(t, e, u.Email, acctOtherPassword)
		}, testenv.WithConfig(func(c *config.Config) { c.ResetTTL = time.Hour }))
	})

	t.Run("invalid new password keeps the token", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			acctRequestReset(e.Client(), u.Email).OK(t, nil)
			tok := e.Mail.Token(u.Email)
			for _, tc := range []struct{ pw, reason string }{
				{"123456789", "PASSWORD_TOO_SHORT"},
				{strings.Repeat("p", 129), "PASSWORD_TOO_LONG"},
			} {
				before := acctSnapshot(t, e)
				res := acctResetPassword(e.Client(), tok, tc.pw)
				acctFailsOn(t, res, "BAD_USER_INPUT", tc.reason, "input.newPassword")
				acctWantNoSessionCookie(t, res)
				acctUnchanged(t, e, before, "a refused resetPassword")
				acctWantViewer(t, u.Client, u.ID, "session after a refused resetPassword")
				acctCanSignIn(t, e, u.Email, u.Password)
			}
			acctResetPassword(e.Client(), tok, acctOtherPassword).OK(t, nil)
			acctCanSignIn(t, e, u.Email, acctOtherPassword)
		})
	})

	t.Run("invalid tokens", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			verifyTok := e.Mail.Token(u.Email)
			for name, tok := range map[string]string{
				"garbage":                     "garbage",
				"empty":                       "",
				"unknown":                     strings.Repeat("A", 43),
				"an email verification token": verifyTok,
			} {
				t.Run(name, func(t *testing.T) {
					before := acctSnapshot(t, e)
					acctFailsOn(t, acctResetPassword(e.Client(), tok, acctOtherPassword), "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
					acctUnchanged(t, e, before, "a refused resetPassword")
				})
			}
			acctCanSignIn(t, e, u.Email, u.Password)
			acctWantViewer(t, u.Client, u.ID, "session after refused resets")
			// The refused verification token was not consumed.
			acctVerifyEmail(e.Client(), verifyTok).OK(t, nil)
		})
	})

	t.Run("redeeming a newer token kills older ones", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			acctRequestReset(e.Client(), u.Email).OK(t, nil)
			older := e.Mail.Token(u.Email)
			acctRequestReset(e.Client(), u.Email).OK(t, nil)
			newer := e.Mail.Token(u.Email)
			if older == newer {
				t.Fatal("two reset emails carry the same token")
			}
			acctResetPassword(e.Client(), newer, acctOtherPassword).OK(t, nil)
			acctFailsOn(t, acctResetPassword(e.Client(), older, "yet another password"), "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
			acctCanSignIn(t, e, u.Email, acctOtherPassword)
		})
	})

	t.Run("redeeming an older token kills newer ones", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			acctRequestReset(e.Client(), u.Email).OK(t, nil)
			older := e.Mail.Token(u.Email)
			acctRequestReset(e.Client(), u.Email).OK(t, nil)
			newer := e.Mail.Token(u.Email)
			acctResetPassword(e.Client(), older, acctOtherPassword).OK(t, nil)
			acctFailsOn(t, acctResetPassword(e.Client(), newer, "yet another password"), "BAD_USER_INPUT", "INVALID_TOKEN", "input.token")
			acctCanSignIn(t, e, u.Email, acctOtherPassword)
		})
	})
}

func acctTopLevelKeys(t testing.TB, r *testenv.Response) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		t.Fatalf("decoding %s: %v", r.Raw, err)
	}
	var keys []string
	for _, k := range []string{"data", "errors", "extensions"} {
		if _, ok := m[k]; ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// --- rate limits ---

func TestAccountRateLimits(t *testing.T) {
	t.Run("signIn per client address", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			attacker := acctFromIP(e, "203.0.113.1")
			for i := range 3 {
				acctSignIn(attacker, u.Email, fmt.Sprintf("wrong password %d", i)).Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
			}
			before := acctSnapshot(t, e)
			res := acctSignIn(attacker, u.Email, u.Password) // even the right password
			acctWantRateLimited(t, res)
			acctWantNoSessionCookie(t, res)
			acctWantRateLimited(t, acctSignIn(attacker, "nobody@example.com", u.Password))
			acctUnchanged(t, e, before, "a rate-limited signIn")
			// Another address is not affected.
			acctSignIn(acctFromIP(e, "203.0.113.2"), u.Email, u.Password).OK(t, nil)
		}, testenv.WithLimits(account.Limits{SignInPerIP: 3}), acctTrustProxy)
	})

	t.Run("X-Forwarded-For does not evade the limit without TrustProxy", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			for i := range 3 {
				acctSignIn(acctFromIP(e, fmt.Sprintf("203.0.113.%d", i+1)), u.Email, "wrong password").Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
			}
			acctWantRateLimited(t, acctSignIn(acctFromIP(e, "203.0.113.99"), u.Email, u.Password))
		}, testenv.WithLimits(account.Limits{SignInPerIP: 3}))
	})

	t.Run("signIn per client address behind a proxy that adds a header line", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			// The client forges an X-Forwarded-For line; the proxy adds its own line
			// with the real address. Only the proxy's (last) entry counts.
			attempt := func(forged string) *testenv.Response {
				c := e.Client()
				c.Header["X-Forwarded-For"] = []string{forged, "203.0.113.1"}
				return acctSignIn(c, u.Email, "wrong password")
			}
			for i := range 3 {
				attempt(fmt.Sprintf("10.0.0.%d", i+1)).Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
			}
			acctWantRateLimited(t, attempt("10.0.0.99"))
		}, testenv.WithLimits(account.Limits{SignInPerIP: 3}), acctTrustProxy)
	})

	t.Run("signIn per account", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			bob := e.SignUp("Bob")
			for i := range 3 {
				acctSignIn(acctFromIP(e, fmt.Sprintf("198.51.100.%d", i+1)), u.Email, "wrong password").Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
			}
			before := acctSnapshot(t, e)
			// From a fresh address, in another letter case, with the right password.
			acctWantRateLimited(t, acctSignIn(acctFromIP(e, "198.51.100.50"), strings.ToUpper(u.Email), u.Password))
			acctUnchanged(t, e, before, "a rate-limited signIn")
			// Other accounts are not affected, even from the same addresses.
			acctSignIn(acctFromIP(e, "198.51.100.1"), bob.Email, bob.Password).OK(t, nil)
		}, testenv.WithLimits(account.Limits{SignInPerAccount: 3}), acctTrustProxy)
	})

	t.Run("signIn per account counts failures only", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			// The owner signing in often is never limited.
			for i := range 5 {
				acctSignIn(acctFromIP(e, fmt.Sprintf("198.51.100.%d", i+1)), u.Email, u.Password).OK(t, nil)
			}
			// A success clears the failures before it: two failures, a success, then
			// three more failures are allowed before the limit.
			for range 2 {
				acctSignIn(acctFromIP(e, "198.51.100.9"), u.Email, "wrong password").Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
			}
			acctSignIn(acctFromIP(e, "198.51.100.9"), u.Email, u.Password).OK(t, nil)
			for range 3 {
				acctSignIn(acctFromIP(e, "198.51.100.9"), u.Email, "wrong password").Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
			}
			acctWantRateLimited(t, acctSignIn(acctFromIP(e, "198.51.100.10"), u.Email, u.Password))
		}, testenv.WithLimits(account.Limits{SignInPerAccount: 3}), acctTrustProxy)
	})

	t.Run("signIn per account holds under concurrent guesses", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			const n = 12
			var wg sync.WaitGroup
			var limited, wrong atomic.Int32
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res := acctSignIn(acctFromIP(e, fmt.Sprintf("203.0.113.%d", i+1)), u.Email, "wrong password")
					if len(res.Errors) == 0 {
						return
					}
					switch res.Errors[0].Reason() {
					case "TOO_MANY_REQUESTS":
						limited.Add(1)
					case "INVALID_CREDENTIALS":
						wrong.Add(1)
					}
				}()
			}
			wg.Wait()
			if wrong.Load() != 3 || limited.Load() != n-3 {
				t.Fatalf("%d concurrent guesses: %d checked, %d limited; want 3 checked, %d limited", n, wrong.Load(), limited.Load(), n-3)
			}
		}, testenv.WithLimits(account.Limits{SignInPerAccount: 3}), acctTrustProxy)
	})

	t.Run("signUp per client address", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			c := acctFromIP(e, "192.0.2.7")
			for i := range 2 {
				acctSignUp(c, fmt.Sprintf("user%d@example.com", i), acctGoodPassword, "User").OK(t, nil)
			}
			before := acctSnapshot(t, e)
			res := acctSignUp(c, "user2@example.com", acctGoodPassword, "User")
			acctWantRateLimited(t, res)
			acctWantNoSessionCookie(t, res)
			acctUnchanged(t, e, before, "a rate-limited signUp")
			acctWantMails(t, e, "user2@example.com", 0)
			acctCannotSignIn(t, e, "user2@example.com", acctGoodPassword)
			// Another address may sign up, with the address the limit refused.
			acctSignUp(acctFromIP(e, "192.0.2.8"), "user2@example.com", acctGoodPassword, "User").OK(t, nil)
		}, testenv.WithLimits(account.Limits{SignUpPerIP: 2}), acctTrustProxy)
	})

	t.Run("requestPasswordReset per account", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			bob := e.SignUp("Bob")
			for i := range 2 {
				acctRequestReset(acctFromIP(e, fmt.Sprintf("203.0.113.%d", i+1)), u.Email).OK(t, nil)
			}
			before := acctSnapshot(t, e)
			acctWantRateLimited(t, acctRequestReset(acctFromIP(e, "203.0.113.3"), strings.ToUpper(u.Email)))
			acctUnchanged(t, e, before, "a rate-limited requestPasswordReset")
			acctWantMails(t, e, u.Email, 3) // verification + 2 resets
			acctRequestReset(acctFromIP(e, "203.0.113.3"), bob.Email).OK(t, nil)
			acctWantMails(t, e, bob.Email, 2)
		}, testenv.WithLimits(account.Limits{ResetPerAccount: 2}), acctTrustProxy)
	})

	t.Run("requestPasswordReset per client address", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			c := acctFromIP(e, "203.0.113.9")
			acctRequestReset(c, "nobody@example.com").OK(t, nil)
			acctRequestReset(c, u.Email).OK(t, nil)
			before := acctSnapshot(t, e)
			acctWantRateLimited(t, acctRequestReset(c, u.Email))
			acctUnchanged(t, e, before, "a rate-limited requestPasswordReset")
			acctRequestReset(acctFromIP(e, "203.0.113.10"), u.Email).OK(t, nil)
			acctWantMails(t, e, u.Email, 3) // verification + 2 resets
		}, testenv.WithLimits(account.Limits{ResetPerIP: 2}), acctTrustProxy)
	})

	t.Run("requestEmailVerification per user", func(t *testing.T) {
		testenv.Each(t, func(t *testing.T, e *testenv.Env) {
			u := e.SignUp("Ada")
			bob := e.SignUp("Bob")
			for range 2 {
				u.Do(acctMRequestVerif, nil).OK(t, nil)
			}
			before := acctSnapshot(t, e)
			acctWantRateLimited(t, u.Do(acctMRequestVerif, nil))
			acctUnchanged(t, e, before, "a rate-limited requestEmailVerification")
			acctWantMails(t, e, u.Email, 3) // sign-up + 2 requests
			bob.Do(acctMRequestVerif, nil).OK(t, nil)
		}, testenv.WithLimits(account.Limits{VerifyMailsPerUser: 2}))
	})
}

// --- node and nodes ---

func TestUserNodes(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		ada := e.SignUp("Ada")
		bob := e.SignUp("Bob")
		node := func(t *testing.T, c *testenv.Client, id string) any {
			t.Helper()
			return c.Do(acctQNode, map[string]any{"id": id}).OK(t, nil).Get(t, "node")
		}

		t.Run("own user", func(t *testing.T) {
			res := ada.Do(acctQNode, map[string]any{"id": ada.ID}).OK(t, nil)
			if res.Str(t, "node.__typename") != "User" || res.Str(t, "node.id") != ada.ID || res.Str(t, "node.email") != ada.Email {
				t.Fatalf("node(own id) = %s", res.Data)
			}
		})

		t.Run("invisible or not an ID", func(t *testing.T) {
			for name, id := range map[string]string{
				"another user, no shared organization": bob.ID,
				"garbage":                              "garbage",
				"empty":                                "",
				"unknown prefix":                       "zzz_01jd3x9v0k7w8q2m5n4p6r8t0a",
				"prefix of a type that is not a Node":  "ses_01jd3x9v0k7w8q2m5n4p6r8t0a",
				"user that does not exist":             "usr_01jd3x9v0k7w8q2m5n4p6r8t0a",
				"own ID in upper case":                 strings.ToUpper(ada.ID),
			} {
				if got := node(t, ada.Client, id); got != nil {
					t.Errorf("%s: node(%q) = %v, want null", name, id, got)
				}
			}
		})

		t.Run("nodes", func(t *testing.T) {
			var d struct {
				Nodes []*struct {
					Typename string `json:"__typename"`
					ID       string
					Email    string
				}
			}
			ada.Do(acctQNodes, map[string]any{"ids": []string{ada.ID, bob.ID, "garbage"}}).OK(t, &d)
			if len(d.Nodes) != 3 || d.Nodes[0] == nil || d.Nodes[0].Typename != "User" || d.Nodes[0].ID != ada.ID ||
				d.Nodes[0].Email != ada.Email || d.Nodes[1] != nil || d.Nodes[2] != nil {
				t.Fatalf("nodes([own, other, garbage]) = %+v, want [User, null, null]", d.Nodes)
			}
		})

		t.Run("anonymous", func(t *testing.T) {
			if got := node(t, e.Client(), ada.ID); got != nil {
				t.Fatalf("anonymous node(%s) = %v, want null", ada.ID, got)
			}
			res := e.Client().Do(acctQNodes, map[string]any{"ids": []string{ada.ID, bob.ID}}).OK(t, nil)
			if got := string(res.Data); got != `{"nodes":[null,null]}` {
				t.Fatalf("anonymous nodes = %s, want [null, null]", got)
			}
		})

		t.Run("at most 100 IDs", func(t *testing.T) {
			ids := make([]string, 100)
			for i := range ids {
				ids[i] = ada.ID
			}
			res := ada.Do(acctQNodes, map[string]any{"ids": ids}).OK(t, nil)
			if list, _ := res.Get(t, "nodes").([]any); len(list) != 100 {
				t.Fatalf("nodes(100 ids) returned %d", len(list))
			}
			ada.Do(acctQNodes, map[string]any{"ids": append(ids, bob.ID)}).Fails(t, "BAD_USER_INPUT", "")
		})
	})
}

// --- cost ---

func TestViewerStatementCount(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Ada")
		cookie := e.Client()
		acctSignIn(cookie, u.Email, u.Password).OK(t, nil)
		for name, c := range map[string]*testenv.Client{"Bearer": u.Client, "cookie": cookie} {
			e.SQL.Reset()
			c.Do(`{ viewer { id email } }`, nil).OK(t, nil)
			if n := e.SQL.Count(); n != 1 {
				t.Errorf("{ viewer { id email } } with a %s session ran %d statements, want 1 (session and user in one joined read):\n%s", name, n, strings.Join(e.SQL.Log(), "\n"))
			}
		}
	})
}
