// Package password hashes and checks passwords with argon2id, and caps how many
// hashes run at once so that a flood of sign-ins cannot starve other requests of CPU
// and memory.
package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"golang.org/x/sync/semaphore"

	"github.com/orgql/orgql/internal/apperr"
)

// Length limits, in characters. The maximum bounds hashing work per request.
const (
	MinLength = 10
	MaxLength = 128
)

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id configuration:
// 19 MiB of memory, 2 iterations, 1 degree of parallelism.
var OWASP = argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// ErrBusy is returned when no hashing slot frees up within the wait limit.
var ErrBusy = apperr.New(apperr.RateLimited, apperr.ReasonServerBusy, "the server is busy; try again in a moment")

// Hasher hashes and verifies passwords.
type Hasher struct {
	params  argon2id.Params
	slots   *semaphore.Weighted
	maxWait time.Duration

	dummyOnce sync.Once
	dummy     string
}

// Options configure a Hasher. Zero values take the defaults.
type Options struct {
	// Params defaults to OWASP. Tests lower it to run fast.
	Params *argon2id.Params
	// Concurrency is how many hashes may run at once; default GOMAXPROCS.
	Concurrency int
	// MaxWait is how long a request waits for a slot before ErrBusy; default 5 s.
	MaxWait time.Duration
}

// New returns a Hasher.
func New(o Options) *Hasher {
	h := &Hasher{params: OWASP, maxWait: o.MaxWait}
	if o.Params != nil {
		h.params = *o.Params
	}
	n := o.Concurrency
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	h.slots = semaphore.NewWeighted(int64(n))
	if h.maxWait <= 0 {
		h.maxWait = 5 * time.Second
	}
	return h
}

// Validate checks a new password against the policy. field names the input field
// for the error.
func Validate(field, pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinLength:
		return apperr.Input(field, apperr.ReasonPasswordTooShort,
			fmt.Sprintf("the password must have at least %d characters", MinLength))
	case n > MaxLength:
		return apperr.Input(field, apperr.ReasonPasswordTooLong,
			fmt.Sprintf("the password must have at most %d characters", MaxLength))
	}
	return nil
}

// Hash returns the PHC-encoded argon2id hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.slots.Release(1)
	return argon2id.CreateHash(pw, &h.params)
}

// Verify reports whether pw matches hash. With an empty hash (no such account) it
// still does the work of a real check, so response times do not reveal which email
// addresses have accounts.
func (h *Hasher) Verify(ctx context.Context, pw, hash string) (bool, error) {
	if hash == "" {
		hash = h.dummyHash()
		pw += "\x00" // never matches the dummy
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.slots.Release(1)
	ok, err := argon2id.ComparePasswordAndHash(pw, hash)
	if err != nil {
		return false, fmt.Errorf("checking password hash: %w", err)
	}
	return ok, nil
}

// NeedsRehash reports whether hash was made with other parameters than the current
// ones, so it should be replaced at the next successful sign-in.
func (h *Hasher) NeedsRehash(hash string) bool {
	p, _, _, err := argon2id.DecodeHash(hash)
	if err != nil {
		return false
	}
	return p.Memory != h.params.Memory || p.Iterations != h.params.Iterations ||
		p.Parallelism != h.params.Parallelism || p.KeyLength != h.params.KeyLength
}

func (h *Hasher) acquire(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, h.maxWait)
	defer cancel()
	if err := h.slots.Acquire(wctx, 1); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return ErrBusy
		}
		return err
	}
	return nil
}

func (h *Hasher) dummyHash() string {
	h.dummyOnce.Do(func() {
		h.dummy, _ = argon2id.CreateHash("orgql-dummy-password", &h.params)
	})
	return h.dummy
}
