package gqlws

import (
	"context"
	"sync"
	"time"
)

// Hub tracks the open connections: it pings them from one goroutine (rather than
// a timer per connection), closes those of a session that ended, and closes
// everything on shutdown.
type Hub struct {
	// PingInterval is how long a connection stays quiet before it is pinged
	// (default 25 s): websocket pings for graphql-transport-ws, plus "ka" messages
	// for legacy clients.
	PingInterval time.Duration

	mu        sync.Mutex
	conns     map[*conn]struct{}
	bySession map[string]map[*conn]struct{}
}

// pingChunk is how many connections one goroutine pings in turn.
const pingChunk = 500

// NewHub returns an empty hub.
func NewHub(ping time.Duration) *Hub {
	return &Hub{PingInterval: ping, conns: map[*conn]struct{}{}, bySession: map[string]map[*conn]struct{}{}}
}

func pingInterval(h *Hub) time.Duration {
	if h == nil || h.PingInterval <= 0 {
		return 25 * time.Second
	}
	return h.PingInterval
}

func (h *Hub) add(c *conn) {
	now := time.Now().UnixNano() // the first ping is due an interval from now
	c.pinged.Store(now)
	c.heard.Store(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns[c] = struct{}{}
	s := h.bySession[c.session.ID]
	if s == nil {
		s = map[*conn]struct{}{}
		h.bySession[c.session.ID] = s
	}
	s[c] = struct{}{}
}

func (h *Hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
	if s := h.bySession[c.session.ID]; s != nil {
		delete(s, c)
		if len(s) == 0 {
			delete(h.bySession, c.session.ID)
		}
	}
}

// Connections returns how many sockets are open.
func (h *Hub) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Operations returns how many operations (subscriptions) are running.
func (h *Hub) Operations() int {
	h.mu.Lock()
	list := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		list = append(list, c)
	}
	h.mu.Unlock()
	n := 0
	for _, c := range list {
		c.mu.Lock()
		n += len(c.ops)
		c.mu.Unlock()
	}
	return n
}

// Sessions returns the IDs of the sessions with open sockets.
func (h *Hub) Sessions() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.bySession))
	for id := range h.bySession {
		out = append(out, id)
	}
	return out
}

// CloseSession closes the sockets of a session with 4403: it was signed out,
// revoked or expired.
func (h *Hub) CloseSession(id string) int {
	h.mu.Lock()
	var list []*conn
	for c := range h.bySession[id] {
		list = append(list, c)
	}
	h.mu.Unlock()
	for _, c := range list {
		c.closeWith(CloseForbidden, "Forbidden: session ended")
	}
	return len(list)
}

// CloseAll closes every socket (server shutdown: 1001 going away).
func (h *Hub) CloseAll() {
	h.mu.Lock()
	list := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		list = append(list, c)
	}
	h.mu.Unlock()
	for _, c := range list {
		c.closeWith(CloseGoingAway, "server shutting down")
	}
}

// pingChecks is how many times per PingInterval the hub looks for connections due
// for a ping.
const pingChecks = 5

// Run pings each connection once its peer has been quiet for a PingInterval, until
// ctx is done. Connections are checked several times an interval, so each is pinged
// on its own schedule (from when it connected) rather than all of them at one tick:
// ten thousand pings at once would hold up the deliveries of that moment. A
// graphql-transport-ws connection whose peer sent a message or a pong within the
// interval is not pinged: that proved it alive, as the pong would. Legacy
// connections get their "ka" every interval regardless, as their clients expect.
func (h *Hub) Run(ctx context.Context) error {
	interval := pingInterval(h)
	t := time.NewTicker(interval / pingChecks)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		due := time.Now().Add(-interval).UnixNano()
		h.mu.Lock()
		var list []*conn
		for c := range h.conns {
			if c.pinged.Load() <= due && (c.legacy || c.heard.Load() <= due) {
				list = append(list, c)
			}
		}
		h.mu.Unlock()
		// In chunks, side by side: a stuck peer holds up only its chunk.
		var wg sync.WaitGroup
		for start := 0; start < len(list); start += pingChunk {
			chunk := list[start:min(start+pingChunk, len(list))]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, c := range chunk {
					c.ping()
				}
			}()
		}
		wg.Wait()
	}
}
