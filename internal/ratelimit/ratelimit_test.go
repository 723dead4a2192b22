package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for a Limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func withClock(l *Limiter) (*Limiter, *clock) {
	c := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	l.now = c.now
	return l, c
}

func TestNilLimiterAllowsAll(t *testing.T) {
	for _, tc := range []struct {
		n      int
		period time.Duration
	}{{0, time.Minute}, {-1, time.Minute}, {5, 0}, {5, -time.Second}} {
		l := New(tc.n, tc.period)
		if l != nil {
			t.Fatalf("New(%d, %v) = %v, want nil (no limit)", tc.n, tc.period, l)
		}
		for i := 0; i < 1000; i++ {
			if ok, wait := l.Allow(context.Background(), "k"); !ok || wait != 0 {
				t.Fatalf("nil limiter refused: %v %v", ok, wait)
			}
		}
	}
}

func TestBurstThenRefused(t *testing.T) {
	cases := []struct {
		n        int
		period   time.Duration
		nextWait time.Duration // until one more event is allowed after a burst
	}{
		{1, time.Minute, time.Minute},
		{3, time.Minute, 20 * time.Second},
		{10, 15 * time.Minute, 90 * time.Second},
		{20, time.Hour, 3 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d per %v", tc.n, tc.period), func(t *testing.T) {
			l, clk := withClock(New(tc.n, tc.period))
			for i := 0; i < tc.n; i++ {
				if ok, wait := l.Allow(context.Background(), "k"); !ok || wait != 0 {
					t.Fatalf("event %d of the burst refused (wait %v)", i+1, wait)
				}
			}
			ok, wait := l.Allow(context.Background(), "k")
			if ok {
				t.Fatalf("event %d allowed, want refused", tc.n+1)
			}
			if wait <= 0 || wait > tc.nextWait || wait < tc.nextWait-time.Millisecond {
				t.Fatalf("wait %v, want about %v", wait, tc.nextWait)
			}
			// Refused attempts do not use up tokens or push the wait further.
			for i := 0; i < 50; i++ {
				if ok, w := l.Allow(context.Background(), "k"); ok || w != wait {
					t.Fatalf("retry %d: allowed=%v wait=%v, want refused with the same wait %v", i, ok, w, wait)
				}
			}
			clk.advance(wait - time.Millisecond)
			if ok, _ := l.Allow(context.Background(), "k"); ok {
				t.Fatalf("allowed before the wait was over")
			}
			clk.advance(time.Millisecond)
			if ok, _ := l.Allow(context.Background(), "k"); !ok {
				t.Fatalf("refused after the wait was over")
			}
			if ok, _ := l.Allow(context.Background(), "k"); ok {
				t.Fatalf("one interval refilled more than one event")
			}
		})
	}
}

func TestRefillAfterPeriod(t *testing.T) {
	l, clk := withClock(New(5, time.Minute))
	for round := 0; round < 3; round++ {
		for i := 0; i < 5; i++ {
			if ok, _ := l.Allow(context.Background(), "k"); !ok {
				t.Fatalf("round %d: event %d refused", round, i+1)
			}
		}
		if ok, _ := l.Allow(context.Background(), "k"); ok {
			t.Fatalf("round %d: event 6 allowed", round)
		}
		clk.advance(time.Minute) // a full period refills the whole burst
	}
	// Idle time does not bank more than one burst.
	clk.advance(24 * time.Hour)
	for i := 0; i < 5; i++ {
		if ok, _ := l.Allow(context.Background(), "k"); !ok {
			t.Fatalf("after a day: event %d refused", i+1)
		}
	}
	if ok, _ := l.Allow(context.Background(), "k"); ok {
		t.Fatalf("after a day: more than a burst allowed")
	}
}

func TestKeysIndependent(t *testing.T) {
	l, _ := withClock(New(2, time.Minute))
	for i := 0; i < 2; i++ {
		l.Allow(context.Background(), "203.0.113.7")
	}
	if ok, _ := l.Allow(context.Background(), "203.0.113.7"); ok {
		t.Fatalf("exhausted key allowed")
	}
	for _, k := range []string{"203.0.113.8", "", "ada@example.com", "203.0.113.7 "} {
		if ok, _ := l.Allow(context.Background(), k); !ok {
			t.Fatalf("key %q refused because another key is exhausted", k)
		}
	}
	// Limiters are independent of each other too.
	other, _ := withClock(New(2, time.Minute))
	if ok, _ := other.Allow(context.Background(), "203.0.113.7"); !ok {
		t.Fatalf("a second limiter shares buckets with the first")
	}
}

func TestConcurrentAllow(t *testing.T) {
	l, _ := withClock(New(100, time.Hour))
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for g := 0; g < 20; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if ok, _ := l.Allow(context.Background(), "k"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Fatalf("%d of 1000 concurrent events allowed, want exactly the burst of 100", allowed)
	}
}

func TestResetGivesAFullBurstToThatKeyOnly(t *testing.T) {
	l, _ := withClock(New(3, time.Hour))
	for _, k := range []string{"a", "b"} {
		for i := 0; i < 3; i++ {
			l.Allow(context.Background(), k)
		}
		if ok, _ := l.Allow(context.Background(), k); ok {
			t.Fatalf("%s: allowed past the burst", k)
		}
	}
	l.Reset(context.Background(), "a")
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow(context.Background(), "a"); !ok {
			t.Fatalf("a: event %d refused after Reset", i+1)
		}
	}
	if ok, _ := l.Allow(context.Background(), "a"); ok {
		t.Fatalf("a: Reset gave more than one burst")
	}
	if ok, _ := l.Allow(context.Background(), "b"); ok {
		t.Fatalf("b: Reset of a refilled b")
	}
	var nl *Limiter
	nl.Reset(context.Background(), "a") // a nil limiter has nothing to forget
}
