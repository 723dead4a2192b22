// Package ratelimit limits how often a key (a client address, an account) may do
// something, with token buckets from golang.org/x/time/rate kept in a bounded,
// expiring LRU so that a flood of distinct keys cannot exhaust memory.
package ratelimit

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"golang.org/x/time/rate"
)

// maxKeys bounds the memory of one limiter (about 100 bytes a key).
const maxKeys = 100_000

// Limiter allows N events per period per key, in bursts of up to N.
// A nil *Limiter allows everything.
type Limiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets *expirable.LRU[string, *rate.Limiter]
	now     func() time.Time
}

// New returns a limiter of n events per period, or nil (no limit) when n <= 0.
func New(n int, period time.Duration) *Limiter {
	if n <= 0 || period <= 0 {
		return nil
	}
	return &Limiter{
		limit: rate.Limit(float64(n) / period.Seconds()),
		burst: n,
		// An untouched bucket is full again after one period, so forgetting it then
		// loses nothing.
		buckets: expirable.NewLRU[string, *rate.Limiter](maxKeys, nil, period),
		now:     time.Now,
	}
}

// Allow takes one event for key. When the key is over its limit it returns false and
// how long until the next event would be allowed.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
	}
	l.buckets.Add(key, b) // refreshes the expiry
	now := l.now()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Reset forgets key's past events, giving it a full burst again. Sign-in uses it so
// that the per-account limit counts failed attempts only: every attempt takes an event
// up front (so that concurrent guesses cannot outrun the limit) and a success clears
// them.
func (l *Limiter) Reset(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buckets.Remove(key)
}
