package gqlws

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testPool(base int, idle, stall time.Duration) *workerPool {
	p := newWorkerPool()
	p.base, p.idle, p.stall = base, idle, stall
	return p
}

// waitUntil polls cond (functional waits, not timing assertions: the deadline only
// keeps a broken pool from hanging the suite).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (p *workerPool) counts() (workers, backlog int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers, len(p.queue) - p.head
}

func TestWorkerPoolRunsTasksInOrder(t *testing.T) {
	p := testPool(1, time.Minute, time.Hour) // one worker, no watchdog help
	gate := make(chan struct{})
	p.run(func() { <-gate })
	var mu sync.Mutex
	var got []int
	for i := range 2000 {
		p.run(func() { mu.Lock(); got = append(got, i); mu.Unlock() })
	}
	close(gate)
	waitUntil(t, "every task ran", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 2000 })
	if !slices.IsSorted(got) {
		t.Fatalf("tasks ran out of order: %v…", got[:20])
	}
	if w, _ := p.counts(); w != 1 {
		t.Fatalf("workers = %d, want 1 (a backlog alone adds none beyond the base)", w)
	}
}

// A task that blocks (a write to a peer that stopped reading) must not hold up the
// tasks queued behind it.
func TestWorkerPoolBlockedTasksDoNotStallTheQueue(t *testing.T) {
	p := testPool(2, time.Minute, 5*time.Millisecond)
	gate := make(chan struct{})
	defer close(gate)
	for range 5 { // more blocked tasks than base workers
		p.run(func() { <-gate })
	}
	var ran atomic.Int64
	for range 100 {
		p.run(func() { ran.Add(1) })
	}
	waitUntil(t, "the tasks behind the blocked ones ran", func() bool { return ran.Load() == 100 })
	if w, _ := p.counts(); w < 6 {
		t.Fatalf("workers = %d, want at least 6 (5 blocked, one or more moving the queue)", w)
	}
}

func TestWorkerPoolShrinksWhenIdle(t *testing.T) {
	p := testPool(3, 20*time.Millisecond, 5*time.Millisecond)
	var ran atomic.Int64
	for range 50 {
		p.run(func() { time.Sleep(100 * time.Microsecond); ran.Add(1) })
	}
	waitUntil(t, "every task ran", func() bool { return ran.Load() == 50 })
	waitUntil(t, "every worker ended", func() bool { w, _ := p.counts(); return w == 0 })
	p.run(func() { ran.Add(1) }) // and it starts again
	waitUntil(t, "the next task ran", func() bool { return ran.Load() == 51 })
}

// Tasks arriving as workers time out: a woken worker and one that ends must never
// lose a task or a wake-up.
func TestWorkerPoolWakeupsRaceIdleTimeouts(t *testing.T) {
	p := testPool(4, time.Microsecond, time.Millisecond)
	const producers, each = 8, 2000
	var ran atomic.Int64
	var wg sync.WaitGroup
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p.run(func() { ran.Add(1) })
				if (i+g)%50 == 0 {
					time.Sleep(100 * time.Microsecond) // let workers go idle and end
				}
			}
		}()
	}
	wg.Wait()
	waitUntil(t, "every task ran", func() bool { return ran.Load() == producers*each })
	waitUntil(t, "every worker ended", func() bool { w, _ := p.counts(); return w == 0 })
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waiting != 0 || len(p.wake) != 0 {
		t.Fatalf("with no worker left: %d counted waiting, %d wake-ups unclaimed", p.waiting, len(p.wake))
	}
}
