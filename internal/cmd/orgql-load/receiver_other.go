//go:build !linux

package main

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// receiver reads each subscriber's connection on its own goroutine. (On Linux one
// goroutine reads them all through epoll, which leaves more CPU to the server;
// the poll interval applies there only.)
type receiver struct {
	tally *tally

	mu     sync.Mutex
	conns  []*websocket.Conn
	closed bool
}

func newReceiver(n int, _ time.Duration) (*receiver, error) {
	return &receiver{tally: newTally(n)}, nil
}

func (r *receiver) add(i int, c *websocket.Conn) error {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
	go func() {
		for {
			_, data, err := c.ReadMessage()
			now := time.Now()
			r.mu.Lock()
			closed := r.closed
			r.mu.Unlock()
			if closed {
				return
			}
			r.tally.mu.Lock()
			if err != nil {
				r.tally.fail(fmt.Errorf("subscriber %d: %w", i, err))
			} else if bytes.Contains(data, nextMessage) {
				r.tally.arrived(i, now)
			}
			r.tally.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return nil
}

func (r *receiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		for _, c := range r.conns {
			c.Close()
		}
	}
}

// cpuUse is CPU time spent by the server and by this generator.
type cpuUse struct{ server, self time.Duration }

// cpuTimes is measured on Linux only (from /proc).
func cpuTimes(int) (cpuUse, bool) { return cpuUse{}, false }
