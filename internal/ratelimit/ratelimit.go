// Package ratelimit limits how often a key (a client address, an account) may do
// something. Limiters count in this process, with token buckets from
// golang.org/x/time/rate kept in a bounded, expiring LRU so that a flood of distinct
// keys cannot exhaust memory; or, made from a Shared, in Redis (GCRA from
// go-redis/redis_rate), so that replicas behind a load balancer share one count
// and N replicas do not grant N times the limit.
package ratelimit

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// maxKeys bounds the memory of one limiter (about 100 bytes a key).
const maxKeys = 100_000

// sharedTimeout bounds a Redis round trip on the request path (a round trip to
// a healthy Redis takes well under a millisecond; an invitation takes its token
// inside its transaction, so this also bounds how long a dead Redis can hold it).
// After a failure, limiters count locally for retryShared before trying Redis
// again: while Redis is unreachable, only the requests that arrive while one try
// is pending, once every retryShared, wait up to sharedTimeout.
const (
	sharedTimeout = 200 * time.Millisecond
	retryShared   = 5 * time.Second
)

// Limiter allows N events per period per key, in bursts of up to N.
// A nil *Limiter allows everything.
type Limiter struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets *expirable.LRU[string, *rate.Limiter]
	now     func() time.Time

	// shared, when set, counts in Redis under name; the local buckets serve only
	// while Redis cannot be reached.
	shared *Shared
	name   string
	glimit redis_rate.Limit
}

// New returns a limiter of n events per period counted in this process, or nil
// (no limit) when n <= 0.
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

// Shared is a Redis server on which limiters count for every instance that uses
// it. When Redis cannot be reached, limiters fall back to counting in this
// process (each instance then grants the limit on its own) rather than refusing
// everyone or allowing everything.
type Shared struct {
	rl      *redis_rate.Limiter
	log     *slog.Logger
	down    atomic.Bool
	retryAt atomic.Int64 // unix nanoseconds; before it, count locally
}

// NewShared counts on the Redis server of rdb (keys "rate:orgql:<name>:<key>").
func NewShared(rdb *redis.Client, log *slog.Logger) *Shared {
	return &Shared{rl: redis_rate.NewLimiter(rdb), log: log}
}

// New returns a limiter of n events per period named name (unique among the
// limiters of a Shared), or nil when n <= 0. On a nil Shared it counts in this
// process, as New does.
func (s *Shared) New(name string, n int, period time.Duration) *Limiter {
	l := New(n, period)
	if l == nil || s == nil {
		return l
	}
	l.shared, l.name = s, "orgql:"+name+":"
	l.glimit = redis_rate.Limit{Rate: n, Burst: n, Period: period}
	return l
}

// Allow takes one event for key. When the key is over its limit it returns false and
// how long until the next event would be allowed.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	if l.shared.usable() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
		res, err := l.shared.rl.Allow(ctx, l.name+key, l.glimit)
		cancel()
		if l.shared.reachable(err) {
			if res.Allowed > 0 {
				return true, 0
			}
			return false, max(res.RetryAfter, time.Millisecond)
		}
	}
	return l.allowLocal(key)
}

func (l *Limiter) allowLocal(key string) (bool, time.Duration) {
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
func (l *Limiter) Reset(ctx context.Context, key string) {
	if l == nil {
		return
	}
	if l.shared.usable() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
		l.shared.reachable(l.shared.rl.Reset(ctx, l.name+key))
		cancel()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buckets.Remove(key)
}

// usable reports whether to try Redis: it is configured, and did not just fail.
func (s *Shared) usable() bool {
	return s != nil && time.Now().UnixNano() >= s.retryAt.Load()
}

// reachable reports whether a Redis call succeeded, logging when Redis becomes
// unreachable and when it is back (once each, not per call).
func (s *Shared) reachable(err error) bool {
	if err != nil {
		s.retryAt.Store(time.Now().Add(retryShared).UnixNano())
		if s.down.CompareAndSwap(false, true) {
			s.log.Warn("rate limits: Redis unreachable; counting per instance until it is back", "err", err)
		}
		return false
	}
	if s.down.CompareAndSwap(true, false) {
		s.log.Info("rate limits: Redis is back; counting across instances again")
	}
	return true
}
