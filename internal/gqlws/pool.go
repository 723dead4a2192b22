package gqlws

import (
	"runtime"
	"sync"
	"time"
)

// workerPool runs drains in the order they come, on reused goroutines.
//
// Reused, because rendering a GraphQL result grows a goroutine's stack and a reused
// goroutine keeps it, where a fresh one per event would grow it again each time.
// Few, because a fan-out queues a drain for each of thousands of subscribers: a
// handful of workers that take one drain after another keep the CPUs busy without
// a goroutine woken and parked per delivery, and serve the subscribers in the order
// the events reached them.
//
// A drain can block, though: a write to a peer that stopped reading waits until the
// write deadline, and a rendering may wait on the database. So that such drains
// never hold up the others, a watchdog adds workers whenever the queue has not
// moved for a stall period; the pool shrinks again as workers stay idle.
type workerPool struct {
	base  int           // workers a backlog gets without stalling
	idle  time.Duration // a worker waiting this long for a task ends
	stall time.Duration // a queue not moving for this long gets more workers

	mu       sync.Mutex
	queue    []func() // FIFO: queue[head:] waits
	head     int
	workers  int    // running a task or waiting for one
	waiting  int    // waiting for a task and not yet woken
	started  uint64 // tasks taken so far, the watchdog's measure of progress
	watching bool   // a watchdog runs
	// wake carries one token per waiting worker that run woke (tokens are not
	// addressed: whichever woken worker receives one goes on).
	wake chan struct{}
}

func newWorkerPool() *workerPool {
	return &workerPool{
		base:  max(2, runtime.GOMAXPROCS(0)),
		idle:  5 * time.Second,
		stall: 10 * time.Millisecond,
		wake:  make(chan struct{}, 64),
	}
}

// run queues a task.
func (p *workerPool) run(task func()) {
	p.mu.Lock()
	p.queue = append(p.queue, task)
	wake := p.waiting > 0
	switch {
	case wake:
		p.waiting--
	case p.workers < p.base:
		p.workers++
		go p.work()
	case !p.watching:
		p.watching = true
		go p.watch(p.started)
	}
	p.mu.Unlock()
	if wake {
		p.wake <- struct{}{} // outside p.mu: a woken worker takes it to go on
	}
}

// take returns the oldest waiting task; p.mu is held.
func (p *workerPool) take() (func(), bool) {
	if p.head == len(p.queue) {
		return nil, false
	}
	task := p.queue[p.head]
	p.queue[p.head] = nil
	p.head++
	switch {
	case p.head == len(p.queue): // drained: reuse the array from its start
		p.queue, p.head = p.queue[:0], 0
	case p.head >= 1024 && p.head > len(p.queue)/2: // a backlog that never drains
		n := copy(p.queue, p.queue[p.head:])
		clear(p.queue[n:])
		p.queue, p.head = p.queue[:n], 0
	}
	p.started++
	return task, true
}

func (p *workerPool) work() {
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		p.mu.Lock()
		task, ok := p.take()
		if ok {
			p.mu.Unlock()
			task()
			continue
		}
		p.waiting++
		p.mu.Unlock()
		t.Reset(p.idle)
		select {
		case <-p.wake:
		case <-t.C:
			p.mu.Lock()
			if p.waiting > 0 {
				// Not woken (the count of the unwoken includes this worker): end.
				p.waiting--
				p.workers--
				p.mu.Unlock()
				return
			}
			// Every waiting worker was woken, this one too: its token is coming.
			p.mu.Unlock()
			<-p.wake
		}
	}
}

// watch adds workers while the queue waits and none of its tasks gets started for a
// stall period, that is while every worker is blocked; it ends when the queue is empty.
func (p *workerPool) watch(seen uint64) {
	for {
		time.Sleep(p.stall)
		p.mu.Lock()
		backlog := len(p.queue) - p.head
		if backlog == 0 {
			p.watching = false
			p.mu.Unlock()
			return
		}
		if p.started == seen {
			add := min(backlog, p.base)
			p.workers += add
			for range add {
				go p.work()
			}
		}
		seen = p.started
		p.mu.Unlock()
	}
}
