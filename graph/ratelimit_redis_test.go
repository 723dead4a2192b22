package graph_test

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/account"
	"github.com/orgql/orgql/internal/testenv"
)

// TestRateLimitsAcrossInstances: with Redis, instances share their rate limits,
// so a load balancer spreading guesses over replicas gains nothing. Three wrong
// passwords spread over two instances exhaust a per-account limit of three, and the
// right password is then refused on either; a success elsewhere clears the count
// for both. (Runs with ORGQL_TEST_MYSQL_DSN and Redis, on Redis database 5.)
func TestRateLimitsAcrossInstances(t *testing.T) {
	rtRedisOrSkip(t)
	cl := testenv.NewCluster(t, "mysql", 2, rtRedis(rtRedisAddr, 5, time.Minute),
		testenv.WithLimits(account.Limits{SignInPerAccount: 3}))
	a, b := cl.Envs[0], cl.Envs[1]
	// Addresses of this run only: the limits are keyed by address, and Redis keeps
	// the counts of earlier runs for their period.
	run := strings.ToLower(rand.Text())
	u := a.SignUp("Ada " + run)
	v := a.SignUp("Bob " + run)

	for _, e := range []*testenv.Env{a, b, a} {
		acctSignIn(e.Client(), u.Email, "wrong password").Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
	}
	acctWantRateLimited(t, acctSignIn(b.Client(), u.Email, u.Password))
	acctWantRateLimited(t, acctSignIn(a.Client(), u.Email, u.Password))

	// Two failures on B, a success on A: the count is cleared for B too, which then
	// checks three more guesses before refusing.
	for range 2 {
		acctSignIn(b.Client(), v.Email, "wrong password").Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
	}
	acctSignIn(a.Client(), v.Email, v.Password).OK(t, nil)
	for range 3 {
		acctSignIn(b.Client(), v.Email, "wrong password").Fails(t, "UNAUTHENTICATED", "INVALID_CREDENTIALS")
	}
	acctWantRateLimited(t, acctSignIn(b.Client(), v.Email, v.Password))
}
