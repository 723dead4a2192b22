package graph_test

import (
	"testing"

	"github.com/orgql/orgql/internal/password"
	"github.com/orgql/orgql/internal/testenv"
)

// Benchmarks run through the real HTTP handler (httptest server, loopback TCP) on
// each database of testenv.Kinds. Run: go test ./graph -run '^$' -bench . -benchmem

// BenchmarkSignIn measures signIn with the production argon2id parameters (OWASP:
// 19 MiB, 2 iterations), so it is dominated by the password hash by design.
func BenchmarkSignIn(b *testing.B) {
	for _, kind := range testenv.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := testenv.New(b, kind, testenv.WithPasswordParams(&password.OWASP))
			u := e.SignUp("Bench")
			c := e.Client()
			vars := map[string]any{"in": map[string]any{"email": u.Email, "password": u.Password}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.Do(`mutation($in: SignInInput!) { signIn(input: $in) { token } }`, vars).OK(b, nil)
			}
		})
	}
}

// BenchmarkViewer measures an authenticated `viewer` query: session lookup, user
// load and response, the floor of every authenticated request.
func BenchmarkViewer(b *testing.B) {
	for _, kind := range testenv.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := testenv.New(b, kind)
			u := e.SignUp("Bench")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				u.Do(`{ viewer { id email name emailVerified } }`, nil).OK(b, nil)
			}
		})
	}
}

// BenchmarkViewerParallel is BenchmarkViewer with concurrent clients.
func BenchmarkViewerParallel(b *testing.B) {
	for _, kind := range testenv.Kinds() {
		b.Run(kind, func(b *testing.B) {
			e := testenv.New(b, kind)
			u := e.SignUp("Bench")
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := e.Client()
				c.Token = u.Token
				for pb.Next() {
					c.Do(`{ viewer { id } }`, nil).OK(b, nil)
				}
			})
		})
	}
}
