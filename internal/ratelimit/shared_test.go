package ratelimit

// Limits shared through Redis (run when Redis answers at 127.0.0.1:6379, on
// database 6, with limiter names of their own for each run, so that they neither
// see earlier runs' counts nor touch anyone's data): two instances draw from one
// count, a reset on one is seen by the other, concurrent takes never exceed the
// limit, and an unreachable Redis falls back to counting per instance.

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const testRedis = "127.0.0.1:6379"

// twoInstances returns the shared limits of two instances on one Redis database,
// and a prefix that makes limiter names unique to this run.
func twoInstances(t *testing.T) (a, b *Shared, run string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", testRedis, time.Second)
	if err != nil {
		t.Skipf("no Redis at %s: %v", testRedis, err)
	}
	c.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var shared []*Shared
	for range 2 {
		rdb := redis.NewClient(&redis.Options{Addr: testRedis, DB: 6})
		t.Cleanup(func() { rdb.Close() })
		shared = append(shared, NewShared(rdb, log))
	}
	return shared[0], shared[1], "test-" + rand.Text() + "-"
}

func TestSharedAcrossInstances(t *testing.T) {
	a, b, run := twoInstances(t)
	ctx := context.Background()
	la, lb := a.New(run+"across", 3, time.Minute), b.New(run+"across", 3, time.Minute)
	for i, l := range []*Limiter{la, lb, la} {
		if ok, wait := l.Allow(ctx, "k"); !ok {
			t.Fatalf("take %d refused (wait %v)", i+1, wait)
		}
	}
	for name, l := range map[string]*Limiter{"B": lb, "A": la} {
		ok, wait := l.Allow(ctx, "k")
		if ok || wait <= 0 || wait > 20*time.Second {
			t.Fatalf("%s: fourth take: allowed %v, wait %v; want refused, at most 20s", name, ok, wait)
		}
	}
	// Another key and another limiter name have counts of their own.
	if ok, _ := la.Allow(ctx, "other"); !ok {
		t.Fatal("another key was refused")
	}
	if ok, _ := a.New(run+"other", 3, time.Minute).Allow(ctx, "k"); !ok {
		t.Fatal("another limiter was refused")
	}
	// A reset on B is seen by A.
	lb.Reset(ctx, "k")
	if ok, wait := la.Allow(ctx, "k"); !ok {
		t.Fatalf("after a reset on B, A refused (wait %v)", wait)
	}
}

func TestSharedConcurrentTakes(t *testing.T) {
	a, b, run := twoInstances(t)
	la, lb := a.New(run+"concurrent", 5, time.Minute), b.New(run+"concurrent", 5, time.Minute)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		l := la
		if i%2 == 1 {
			l = lb
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := l.Allow(context.Background(), "k"); ok {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 5 {
		t.Fatalf("40 concurrent takes on two instances: %d allowed, want 5", allowed.Load())
	}
}

// TestSharedUnreachableFallsBack: with Redis unreachable, a limiter still limits,
// per instance, and after one failed try answers without waiting for Redis.
func TestSharedUnreachableFallsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	l := NewShared(rdb, slog.New(slog.NewTextHandler(io.Discard, nil))).New("test-down", 3, time.Minute)
	start := time.Now()
	for i := range 3 {
		if ok, wait := l.Allow(context.Background(), "k"); !ok {
			t.Fatalf("take %d refused (wait %v)", i+1, wait)
		}
	}
	if ok, _ := l.Allow(context.Background(), "k"); ok {
		t.Fatal("fourth take allowed with Redis down; want the local limit")
	}
	// Only the first take tried Redis: the others did not wait for it again.
	if d := time.Since(start); d > sharedTimeout+200*time.Millisecond {
		t.Fatalf("four takes with Redis down took %v", d)
	}
}

// TestSharedRetriedAfterFailure: after a failure an instance counts locally for a
// while (its takes do not reach Redis), then uses Redis again.
func TestSharedRetriedAfterFailure(t *testing.T) {
	a, b, run := twoInstances(t)
	ctx := context.Background()
	la, lb := a.New(run+"retry", 2, time.Minute), b.New(run+"retry", 2, time.Minute)
	a.retryAt.Store(time.Now().Add(time.Hour).UnixNano()) // as if Redis just failed
	la.Allow(ctx, "k")
	la.Allow(ctx, "k")
	if ok, _ := la.Allow(ctx, "k"); ok {
		t.Fatal("A, counting locally, allowed a third take")
	}
	for i := range 2 { // A's local takes did not reach Redis
		if ok, _ := lb.Allow(ctx, "k"); !ok {
			t.Fatalf("B: take %d refused", i+1)
		}
	}
	a.retryAt.Store(0) // the pause is over
	lb.Allow(ctx, "j")
	lb.Allow(ctx, "j")
	if ok, _ := la.Allow(ctx, "j"); ok { // A's local count of j is untouched
		t.Fatal("A, back on Redis, allowed a take of a key B exhausted")
	}
}
