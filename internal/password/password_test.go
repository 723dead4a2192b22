package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/orgql/orgql/internal/apperr"
)

var cheap = argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestOWASPHash(t *testing.T) {
	h := New(Options{})
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	const prefix = "$argon2id$v=19$m=19456,t=2,p=1$"
	if !strings.HasPrefix(hash, prefix) {
		t.Fatalf("hash %q, want prefix %q", hash, prefix)
	}
	// $argon2id$v=19$m=...$salt$key: 16-byte salt and 32-byte key in unpadded base64.
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || len(parts[4]) != 22 || len(parts[5]) != 43 {
		t.Fatalf("hash %q is not PHC with a 16-byte salt and a 32-byte key", hash)
	}
	if ok, err := h.Verify(ctx, "correct horse battery staple", hash); err != nil || !ok {
		t.Fatalf("Verify(right) = %v, %v", ok, err)
	}
	if h.NeedsRehash(hash) {
		t.Fatalf("a fresh OWASP hash needs a rehash")
	}
}

func TestHashSalted(t *testing.T) {
	h := New(Options{Params: &cheap})
	a, _ := h.Hash(context.Background(), "same password!")
	b, _ := h.Hash(context.Background(), "same password!")
	if a == b {
		t.Fatalf("two hashes of one password are equal: %s", a)
	}
}

func TestVerify(t *testing.T) {
	h := New(Options{Params: &cheap})
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery staplE", false},
		{"correct horse battery staple ", false},
		{"correct horse battery staple\x00", false},
		{"", false},
	}
	for _, tc := range cases {
		ok, err := h.Verify(ctx, tc.pw, hash)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}

	// A hash made with other parameters still verifies.
	owaspHash, err := New(Options{}).Hash(ctx, "another password")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify(ctx, "another password", owaspHash); err != nil || !ok {
		t.Errorf("Verify of a hash with other parameters = %v, %v", ok, err)
	}

	// A corrupt stored hash is an error, not a match.
	if ok, err := h.Verify(ctx, "x", "$argon2id$garbage"); ok || err == nil {
		t.Errorf("Verify(corrupt hash) = %v, %v; want false and an error", ok, err)
	}
}

// With no stored hash (no such account) Verify says no, without an error, after
// doing the work of a real check: it needs a hashing slot like one.
func TestVerifyEmptyHash(t *testing.T) {
	h := New(Options{Params: &cheap, Concurrency: 1, MaxWait: 20 * time.Millisecond})
	ctx := context.Background()
	for _, pw := range []string{"", "anything at all", "orgql-dummy-password"} {
		ok, err := h.Verify(ctx, pw, "")
		if ok || err != nil {
			t.Errorf("Verify(%q, \"\") = %v, %v; want false, nil", pw, ok, err)
		}
	}
	if h.dummyHash() == "" || !strings.HasPrefix(h.dummyHash(), "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("the dummy hash %q is not made with the hasher's parameters", h.dummyHash())
	}

	if err := h.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := h.Verify(ctx, "anything at all", "")
	h.slots.Release(1)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with an empty hash did not wait for a hashing slot: err = %v", err)
	}
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	owasp := New(Options{})
	light := New(Options{Params: &cheap})
	cheapHash, _ := light.Hash(ctx, "correct horse battery staple")
	owaspHash, _ := owasp.Hash(ctx, "correct horse battery staple")
	longer := cheap
	longer.KeyLength = 64
	longerHash, _ := New(Options{Params: &longer}).Hash(ctx, "correct horse battery staple")
	cases := []struct {
		name string
		h    *Hasher
		hash string
		want bool
	}{
		{"cheap hash, OWASP hasher", owasp, cheapHash, true},
		{"OWASP hash, OWASP hasher", owasp, owaspHash, false},
		{"cheap hash, cheap hasher", light, cheapHash, false},
		{"OWASP hash, cheap hasher", light, owaspHash, true},
		{"other key length", light, longerHash, true},
		{"garbage", owasp, "not a hash", false},
		{"empty", owasp, "", false},
	}
	for _, tc := range cases {
		if got := tc.h.NeedsRehash(tc.hash); got != tc.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name, pw, reason string
	}{
		{"empty", "", apperr.ReasonPasswordTooShort},
		{"9 ASCII", strings.Repeat("a", 9), apperr.ReasonPasswordTooShort},
		{"10 ASCII", strings.Repeat("a", 10), ""},
		{"9 two-byte runes (18 bytes)", strings.Repeat("é", 9), apperr.ReasonPasswordTooShort},
		{"10 two-byte runes", strings.Repeat("é", 10), ""},
		{"3 four-byte runes (12 bytes)", strings.Repeat("🔑", 3), apperr.ReasonPasswordTooShort},
		{"10 four-byte runes", strings.Repeat("🔑", 10), ""},
		{"128 ASCII", strings.Repeat("a", 128), ""},
		{"129 ASCII", strings.Repeat("a", 129), apperr.ReasonPasswordTooLong},
		{"128 three-byte runes (384 bytes)", strings.Repeat("日", 128), ""},
		{"129 three-byte runes", strings.Repeat("日", 129), apperr.ReasonPasswordTooLong},
		{"spaces count", "          ", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate("input.password", tc.pw)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ae, ok := apperr.As(err)
			if !ok || ae.Code != apperr.BadUserInput || ae.Reason != tc.reason || ae.Field != "input.password" {
				t.Fatalf("Validate = %#v, want BAD_USER_INPUT/%s on input.password", err, tc.reason)
			}
		})
	}
}

// TestConcurrencyCap: while every hashing slot is taken, Hash and Verify wait at
// most MaxWait and then fail with ErrBusy; once a slot frees up they work.
func TestConcurrencyCap(t *testing.T) {
	h := New(Options{Params: &cheap, Concurrency: 1, MaxWait: 20 * time.Millisecond})
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}

	if err := h.acquire(ctx); err != nil { // hold the only slot
		t.Fatal(err)
	}
	if _, err := h.Hash(ctx, "correct horse battery staple"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with no free slot: err = %v, want ErrBusy", err)
	}
	_, err = h.Verify(ctx, "correct horse battery staple", hash)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with no free slot: err = %v, want ErrBusy", err)
	}
	if !apperr.Is(err, apperr.RateLimited, apperr.ReasonServerBusy) {
		t.Fatalf("ErrBusy is %#v, want RATE_LIMITED/SERVER_BUSY", err)
	}

	// A caller that gives up is told so, not that the server is busy.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := h.Hash(cctx, "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Hash with a canceled context: err = %v, want context.Canceled", err)
	}

	h.slots.Release(1)
	if ok, err := h.Verify(ctx, "correct horse battery staple", hash); err != nil || !ok {
		t.Fatalf("Verify after the slot freed up = %v, %v", ok, err)
	}
	// Failures released nothing they did not hold: the slot is free exactly once.
	if !h.slots.TryAcquire(1) {
		t.Fatalf("the slot is not free after the hashes finished")
	}
	if h.slots.TryAcquire(1) {
		t.Fatalf("a failed hash released a slot it did not hold: two slots free with Concurrency 1")
	}
	h.slots.Release(1)
}

// Many concurrent callers all succeed when they wait their turn (no slot leaks).
func TestConcurrentHashes(t *testing.T) {
	h := New(Options{Params: &cheap, Concurrency: 2, MaxWait: time.Minute})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := 0; i < cap(errs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hash, err := h.Hash(ctx, "correct horse battery staple")
			if err == nil {
				var ok bool
				ok, err = h.Verify(ctx, "correct horse battery staple", hash)
				if err == nil && !ok {
					err = errors.New("no match")
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if !h.slots.TryAcquire(2) {
		t.Fatalf("slots leaked")
	}
}

func TestDefaults(t *testing.T) {
	h := New(Options{})
	if h.params != OWASP || h.maxWait != 5*time.Second {
		t.Fatalf("defaults: params %+v, maxWait %v", h.params, h.maxWait)
	}
	if OWASP.Memory != 19456 || OWASP.Iterations != 2 || OWASP.Parallelism != 1 || OWASP.SaltLength < 16 || OWASP.KeyLength < 32 {
		t.Fatalf("OWASP params %+v", OWASP)
	}
}
