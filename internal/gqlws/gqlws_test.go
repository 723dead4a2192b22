package gqlws

// Unit tests of the transport against a fake graphql.GraphExecutor: every close
// code of graphql-transport-ws, ping/pong, keep-alive, the operation lifecycle
// (next/error/complete, client complete, id reuse), the legacy graphql-ws protocol,
// the hub (session close, shutdown, pings) and goroutine hygiene. The fake executor
// reads its behaviour from the query text:
//
//	query           one result, then the end
//	stream:N        N results, then the end
//	wait:NAME       no result; ends when its context is cancelled (reported)
//	gate:NAME       one result once the test opens gate NAME, whatever the context
//	gate-invalid:N  a request error once the test opens gate N
//	invalid         a request error (like a validation error)
//	abort           Abort(ctx, err), then the end
//	viewer          one result naming the session of the connection
//	flood           large results as fast as the transport takes them, until cancelled

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

const tWait = 5 * time.Second

// ---------------------------------------------------------------------------
// Fake executor

type viewerKey struct{}

type fakeExec struct {
	mu       sync.Mutex
	gates    map[string]chan struct{}
	started  chan string // names of wait/gate operations once dispatched
	canceled chan string // names of wait/gate operations whose context ended
	running  atomic.Int64
}

func newFakeExec() *fakeExec {
	return &fakeExec{
		gates:    map[string]chan struct{}{},
		started:  make(chan string, 1024),
		canceled: make(chan string, 1024),
	}
}

func (f *fakeExec) gate(name string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.gates[name]
	if g == nil {
		g = make(chan struct{})
		f.gates[name] = g
	}
	return g
}

func (f *fakeExec) open(name string) { close(f.gate(name)) }

func (f *fakeExec) CreateOperationContext(ctx context.Context, p *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	q := p.Query
	switch {
	case q == "invalid":
		return nil, gqlerror.List{gqlerror.Errorf("Cannot query field \"nope\" on type \"Query\".")}
	case strings.HasPrefix(q, "gate-invalid:"):
		name := strings.TrimPrefix(q, "gate-invalid:")
		f.started <- name
		<-f.gate(name)
		return nil, gqlerror.List{gqlerror.Errorf("stale error of %s", name)}
	}
	return &graphql.OperationContext{RawQuery: q, OperationName: p.OperationName, Variables: p.Variables}, nil
}

func data(v any) *graphql.Response {
	b, _ := json.Marshal(v)
	return &graphql.Response{Data: b}
}

func (f *fakeExec) DispatchOperation(ctx context.Context, oc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	q := oc.RawQuery
	// running counts operations whose context has not ended.
	f.running.Add(1)
	context.AfterFunc(ctx, func() { f.running.Add(-1) })
	end := func() *graphql.Response { return nil }
	n := 0
	switch {
	case q == "query":
		return func(context.Context) *graphql.Response {
			if n++; n == 1 {
				return data(map[string]any{"ok": true})
			}
			return end()
		}, ctx
	case q == "viewer":
		return func(ctx context.Context) *graphql.Response {
			if n++; n == 1 {
				return data(map[string]any{"viewer": ctx.Value(viewerKey{})})
			}
			return end()
		}, ctx
	case strings.HasPrefix(q, "stream:"):
		total, _ := strconv.Atoi(strings.TrimPrefix(q, "stream:"))
		return func(context.Context) *graphql.Response {
			if n++; n <= total {
				return data(map[string]any{"n": n})
			}
			return end()
		}, ctx
	case strings.HasPrefix(q, "wait:"):
		name := strings.TrimPrefix(q, "wait:")
		f.started <- name
		return func(ctx context.Context) *graphql.Response {
			<-ctx.Done()
			f.canceled <- name
			return end()
		}, ctx
	case strings.HasPrefix(q, "gate:"):
		name := strings.TrimPrefix(q, "gate:")
		f.started <- name
		return func(ctx context.Context) *graphql.Response {
			if n++; n > 1 {
				return end()
			}
			select {
			case <-f.gate(name):
				return data(map[string]any{"gate": name})
			case <-ctx.Done():
			}
			f.canceled <- name
			// A result already in flight when the client completed.
			<-f.gate(name)
			return data(map[string]any{"gate": name})
		}, ctx
	case strings.HasPrefix(q, "tick:"): // a result every so many milliseconds
		ms, _ := strconv.Atoi(strings.TrimPrefix(q, "tick:"))
		return func(ctx context.Context) *graphql.Response {
			select {
			case <-ctx.Done():
				return end()
			case <-time.After(time.Duration(ms) * time.Millisecond):
			}
			n++
			return data(map[string]any{"n": n})
		}, ctx
	case q == "abort":
		return func(ctx context.Context) *graphql.Response {
			Abort(ctx, &gqlerror.Error{Message: "fell behind", Extensions: map[string]any{"code": "RATE_LIMITED"}})
			return end()
		}, ctx
	case q == "flood":
		big := strings.Repeat("x", 32<<10)
		return func(ctx context.Context) *graphql.Response {
			if ctx.Err() != nil {
				return end()
			}
			return data(map[string]any{"big": big})
		}, ctx
	}
	return func(context.Context) *graphql.Response { return end() }, ctx
}

func (f *fakeExec) DispatchError(_ context.Context, list gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: list}
}

// ---------------------------------------------------------------------------
// Server fixture

type fixture struct {
	t    *testing.T
	tr   *Transport
	hub  *Hub
	exec *fakeExec
	srv  *httptest.Server
	url  string
}

// runHub runs the hub, pinging quiet connections after interval, for the rest of
// the test.
func (f *fixture) runHub(interval time.Duration) {
	f.hub.PingInterval = interval
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = f.hub.Run(ctx) }()
	f.t.Cleanup(func() { cancel(); <-done })
}

// deafPeer connects an authenticated graphql-transport-ws client that never
// answers pings (a peer that vanished without closing).
func (f *fixture) deafPeer() *client {
	f.t.Helper()
	c, err := f.dialErr(nil, ProtocolTransportWS)
	if err != nil {
		f.t.Fatal(err)
	}
	c.c.SetPingHandler(func(string) error { return nil })
	c.pump()
	c.init(bearer("good"))
	return c
}

// authenticate accepts "Bearer good" (session s1), "Bearer other" (session s2),
// "Bearer expiring" (session s3, ending 300 ms from now), and the cookie sid=good.
func authenticate(r *http.Request, payload map[string]any) (Session, error) {
	auth, _ := payload["authorization"].(string)
	if auth == "" {
		if c, err := r.Cookie("sid"); err == nil && c.Value == "good" {
			auth = "Bearer good"
		}
	}
	switch auth {
	case "Bearer good":
		return Session{Ctx: context.WithValue(context.Background(), viewerKey{}, "alice"), ID: "s1"}, nil
	case "Bearer other":
		return Session{Ctx: context.WithValue(context.Background(), viewerKey{}, "bob"), ID: "s2"}, nil
	case "Bearer expiring":
		return Session{Ctx: context.WithValue(context.Background(), viewerKey{}, "carol"), ID: "s3",
			ExpiresAt: time.Now().Add(300 * time.Millisecond)}, nil
	}
	return Session{}, ErrForbidden
}

func newFixture(t *testing.T, opts ...func(*Transport)) *fixture {
	t.Helper()
	f := &fixture{t: t, exec: newFakeExec(), hub: NewHub(time.Hour)}
	f.tr = &Transport{
		Upgrader:     websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
		Authenticate: authenticate,
		InitTimeout:  time.Second,
		Hub:          f.hub,
	}
	for _, o := range opts {
		o(f.tr)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.tr.Do(w, r, f.exec)
	}))
	t.Cleanup(func() {
		f.hub.CloseAll()
		f.srv.Close()
	})
	f.url = "ws" + strings.TrimPrefix(f.srv.URL, "http")
	return f
}

// ---------------------------------------------------------------------------
// Client

type event struct {
	m   message
	raw []byte
	err error
}

type client struct {
	t    *testing.T
	c    *websocket.Conn
	res  *http.Response
	ch   chan event
	done chan struct{}
}

func (f *fixture) dialErr(header http.Header, protocols ...string) (*client, error) {
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: tWait}
	c, res, err := d.Dial(f.url, header)
	if err != nil {
		return &client{t: f.t, res: res}, err
	}
	cl := &client{t: f.t, c: c, res: res, ch: make(chan event, 4096)}
	f.t.Cleanup(func() {
		c.Close()
		if cl.done != nil {
			<-cl.done
		}
	})
	return cl, nil
}

// dial connects and starts reading (answering websocket pings as gorilla does).
func (f *fixture) dial(protocols ...string) *client {
	f.t.Helper()
	if len(protocols) == 0 {
		protocols = []string{ProtocolTransportWS}
	}
	c, err := f.dialErr(nil, protocols...)
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	c.pump()
	return c
}

func (c *client) pump() {
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		defer close(c.ch)
		for {
			typ, b, err := c.c.ReadMessage()
			if err != nil {
				c.ch <- event{err: err}
				return
			}
			var m message
			if typ != websocket.TextMessage || json.Unmarshal(b, &m) != nil {
				c.ch <- event{raw: b, err: fmt.Errorf("server sent an invalid frame (type %d): %q", typ, b)}
				continue
			}
			c.ch <- event{m: m, raw: b}
		}
	}()
}

func (c *client) send(m message) {
	c.t.Helper()
	if err := c.c.WriteJSON(m); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	if err := c.c.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) subscribe(id, query string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query})
	c.send(message{ID: id, Type: "subscribe", Payload: b})
}

func (c *client) next(timeout time.Duration) event {
	c.t.Helper()
	select {
	case ev, ok := <-c.ch:
		if !ok {
			c.t.Fatal("connection already ended")
		}
		return ev
	case <-time.After(timeout):
		c.t.Fatalf("no message within %v", timeout)
	}
	return event{}
}

// read returns the next protocol message, failing on a close or an error.
func (c *client) read() message {
	c.t.Helper()
	ev := c.next(tWait)
	if ev.err != nil {
		c.t.Fatalf("want a message, got %v", ev.err)
	}
	return ev.m
}

// expect reads the next message and checks its type and id.
func (c *client) expect(typ, id string) message {
	c.t.Helper()
	m := c.read()
	if m.Type != typ || m.ID != id {
		c.t.Fatalf("want %s for %q, got %s for %q: %s", typ, id, m.Type, m.ID, m.Payload)
	}
	return m
}

// expectClose reads until the server closes and checks the close code.
func (c *client) expectClose(code int, timeout time.Duration) *websocket.CloseError {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.ch:
			if !ok {
				c.t.Fatalf("want close %d, the connection had already ended", code)
			}
			if ev.err == nil {
				continue
			}
			var ce *websocket.CloseError
			if !errors.As(ev.err, &ce) {
				c.t.Fatalf("want close %d, got %v", code, ev.err)
			}
			if ce.Code != code {
				c.t.Fatalf("want close %d, got %d %q", code, ce.Code, ce.Text)
			}
			return ce
		case <-deadline:
			c.t.Fatalf("want close %d within %v, still open", code, timeout)
		}
	}
}

// quiet fails if any message or close arrives within d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case ev := <-c.ch:
		if ev.err != nil {
			c.t.Fatalf("want silence, got %v", ev.err)
		}
		c.t.Fatalf("want silence, got %s for %q: %s", ev.m.Type, ev.m.ID, ev.m.Payload)
	case <-time.After(d):
	}
}

func (c *client) init(payload any) {
	c.t.Helper()
	m := message{Type: "connection_init"}
	if payload != nil {
		m.Payload, _ = json.Marshal(payload)
	}
	c.send(m)
	c.expect("connection_ack", "")
}

func bearer(tok string) map[string]any { return map[string]any{"authorization": "Bearer " + tok} }

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func recv(t *testing.T, ch chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	case <-time.After(tWait):
		t.Fatalf("timed out waiting for %q", want)
	}
}

// ---------------------------------------------------------------------------
// Handshake and close codes

func TestWSInitTimeout4408(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(tr *Transport) { tr.InitTimeout = 200 * time.Millisecond })
	c := f.dial()
	ce := c.expectClose(CloseInitTimeout, tWait)
	if ce.Text != "Connection initialisation timeout" {
		t.Errorf("close reason %q", ce.Text)
	}
}

// Pings may come before connection_init, but they must not extend the wait for it.
func TestWSInitTimeoutNotExtendedByPings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(tr *Transport) { tr.InitTimeout = 300 * time.Millisecond })
	c := f.dial()
	start := time.Now()
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		// Ping every 100 ms for 2 s: well past the 300 ms init timeout.
		defer close(stopped)
		for i := 0; i < 20; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if c.c.WriteJSON(message{Type: "ping"}) != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	ce := c.expectClose(CloseInitTimeout, 5*time.Second)
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("4408 (%q) came after %v, once the client stopped pinging: pings before connection_init reset the 300 ms init timeout", ce.Text, d.Round(time.Millisecond))
	}
}

func TestWSSubscribeBeforeAck4401(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.subscribe("1", "query")
	c.expectClose(CloseUnauthorized, tWait)

	c = f.dial(ProtocolLegacy)
	b, _ := json.Marshal(map[string]any{"query": "query"})
	c.send(message{ID: "1", Type: "start", Payload: b})
	c.expectClose(CloseUnauthorized, tWait)
}

func TestWSSecondInit4429(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.send(message{Type: "connection_init"})
	ce := c.expectClose(CloseTooManyInits, tWait)
	if ce.Text != "Too many initialisation requests" {
		t.Errorf("close reason %q", ce.Text)
	}

	// Back to back, without waiting for the ack.
	c = f.dial()
	c.sendRaw(`{"type":"connection_init","payload":{"authorization":"Bearer good"}}`)
	c.sendRaw(`{"type":"connection_init","payload":{"authorization":"Bearer good"}}`)
	c.expectClose(CloseTooManyInits, tWait)
}

func TestWSDuplicateID4409(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.subscribe("dup", "wait:first")
	recv(t, f.exec.started, "first")
	c.subscribe("other", "query") // another id is fine
	c.expect("next", "other")
	c.expect("complete", "other")
	c.subscribe("dup", "query")
	ce := c.expectClose(CloseDuplicateID, tWait)
	if ce.Text != "Subscriber for dup already exists" {
		t.Errorf("close reason %q", ce.Text)
	}
	// The first operation ends with the connection.
	recv(t, f.exec.canceled, "first")
}

// "regardless of the operation type": a single-result operation still running
// also reserves its id.
func TestWSDuplicateIDOfRunningQuery4409(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.subscribe("q", "gate:slow")
	recv(t, f.exec.started, "slow")
	c.subscribe("q", "query")
	c.expectClose(CloseDuplicateID, tWait)
	f.exec.open("slow")
}

func TestWSInvalidMessages4400(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		beforeAck bool
		send      func(c *client)
	}{
		{"not JSON", false, func(c *client) { c.sendRaw("hello") }},
		{"not JSON before init", true, func(c *client) { c.sendRaw("{") }},
		{"binary frame", false, func(c *client) {
			_ = c.c.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`))
		}},
		{"binary connection_init", true, func(c *client) {
			_ = c.c.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"connection_init"}`))
		}},
		{"JSON array", false, func(c *client) { c.sendRaw(`[]`) }},
		{"JSON string", false, func(c *client) { c.sendRaw(`"ping"`) }},
		{"no type", false, func(c *client) { c.sendRaw(`{"id":"1","payload":{"query":"query"}}`) }},
		{"empty type", false, func(c *client) { c.sendRaw(`{"type":""}`) }},
		{"type not a string", false, func(c *client) { c.sendRaw(`{"type":1}`) }},
		{"unknown type", false, func(c *client) { c.sendRaw(`{"type":"hello"}`) }},
		{"unknown type before init", true, func(c *client) { c.sendRaw(`{"type":"hello"}`) }},
		{"server message next", false, func(c *client) { c.sendRaw(`{"id":"1","type":"next","payload":{}}`) }},
		{"server message connection_ack", false, func(c *client) { c.sendRaw(`{"type":"connection_ack"}`) }},
		{"server message error", false, func(c *client) { c.sendRaw(`{"id":"1","type":"error","payload":[]}`) }},
		{"legacy start", false, func(c *client) { c.sendRaw(`{"id":"1","type":"start","payload":{"query":"query"}}`) }},
		{"legacy stop", false, func(c *client) { c.sendRaw(`{"id":"1","type":"stop"}`) }},
		{"legacy connection_terminate", false, func(c *client) { c.sendRaw(`{"type":"connection_terminate"}`) }},
		{"subscribe without id", false, func(c *client) { c.sendRaw(`{"type":"subscribe","payload":{"query":"query"}}`) }},
		{"subscribe with empty id", false, func(c *client) { c.sendRaw(`{"id":"","type":"subscribe","payload":{"query":"query"}}`) }},
		{"subscribe with numeric id", false, func(c *client) { c.sendRaw(`{"id":1,"type":"subscribe","payload":{"query":"query"}}`) }},
		{"subscribe without payload", false, func(c *client) { c.sendRaw(`{"id":"1","type":"subscribe"}`) }},
		{"subscribe with null payload", false, func(c *client) { c.sendRaw(`{"id":"1","type":"subscribe","payload":null}`) }},
		{"subscribe with string payload", false, func(c *client) { c.sendRaw(`{"id":"1","type":"subscribe","payload":"query"}`) }},
		{"subscribe without query", false, func(c *client) { c.sendRaw(`{"id":"1","type":"subscribe","payload":{}}`) }},
		{"subscribe with numeric query", false, func(c *client) { c.sendRaw(`{"id":"1","type":"subscribe","payload":{"query":1}}`) }},
		{"subscribe with array variables", false, func(c *client) {
			c.sendRaw(`{"id":"1","type":"subscribe","payload":{"query":"query","variables":[1]}}`)
		}},
		{"complete without id", false, func(c *client) { c.sendRaw(`{"type":"complete"}`) }},
		{"complete with empty id", false, func(c *client) { c.sendRaw(`{"type":"complete","id":""}`) }},
		{"connection_init with array payload", true, func(c *client) { c.sendRaw(`{"type":"connection_init","payload":[1]}`) }},
		{"connection_init with string payload", true, func(c *client) { c.sendRaw(`{"type":"connection_init","payload":"x"}`) }},
		// Ping and pong payloads are Record<string, unknown> | null.
		{"ping with string payload", false, func(c *client) { c.sendRaw(`{"type":"ping","payload":"x"}`) }},
		{"ping with array payload", false, func(c *client) { c.sendRaw(`{"type":"ping","payload":[1]}`) }},
		{"pong with number payload", false, func(c *client) { c.sendRaw(`{"type":"pong","payload":1}`) }},
	}
	f := newFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := *f
			f.t = t
			c := f.dial()
			if !tc.beforeAck {
				c.init(bearer("good"))
			}
			tc.send(c)
			c.expectClose(CloseBadRequest, tWait)
		})
	}
}

// Messages the protocol allows that a strict parser might refuse.
func TestWSValidEdgeMessagesAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.sendRaw(`{"type":"connection_init","payload":{"authorization":"Bearer good"},"extra":1}`)
	c.expect("connection_ack", "")
	c.sendRaw(`{"id":"1","type":"subscribe","payload":{"query":"query","operationName":null,"variables":null,"extensions":null}}`)
	c.expect("next", "1")
	c.expect("complete", "1")
	// complete for an unknown id is ignored, not an error.
	c.sendRaw(`{"id":"never","type":"complete"}`)
	c.sendRaw(`{"type":"ping","payload":null}`)
	c.expect("pong", "")
	c.sendRaw(`{"type":"pong"}`)
	c.subscribe("2", "query")
	c.expect("next", "2")
	c.expect("complete", "2")

	// A null connection_init payload is allowed too (the cookie authenticates).
	d, err := f.dialErr(http.Header{"Cookie": {"sid=good"}}, ProtocolTransportWS)
	if err != nil {
		t.Fatal(err)
	}
	d.pump()
	d.sendRaw(`{"type":"connection_init","payload":null}`)
	d.expect("connection_ack", "")
}

func TestWSForbidden4403(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for name, payload := range map[string]any{
		"wrong token":   bearer("bad"),
		"no payload":    nil,
		"empty payload": map[string]any{},
	} {
		t.Run(name, func(t *testing.T) {
			g := *f
			g.t = t
			c := g.dial()
			m := message{Type: "connection_init"}
			if payload != nil {
				m.Payload, _ = json.Marshal(payload)
			}
			c.send(m)
			ce := c.expectClose(CloseForbidden, tWait)
			if ce.Text != "Forbidden" {
				t.Errorf("close reason %q", ce.Text)
			}
		})
	}
	if n := f.hub.Connections(); n != 0 {
		t.Errorf("refused connections in the hub: %d", n)
	}
}

func TestWSCookieAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, err := f.dialErr(http.Header{"Cookie": {"sid=good"}}, ProtocolTransportWS)
	if err != nil {
		t.Fatal(err)
	}
	c.pump()
	c.init(nil)
	c.subscribe("v", "viewer")
	if m := c.expect("next", "v"); string(m.Payload) != `{"data":{"viewer":"alice"}}` {
		t.Errorf("payload %s", m.Payload)
	}
	c.expect("complete", "v")
}

func TestWSSubprotocol4406(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for name, protos := range map[string][]string{
		"foo only": {"foo"},
		"none":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			g := *f
			g.t = t
			c, err := g.dialErr(nil, protos...)
			if err != nil {
				t.Fatal(err)
			}
			c.pump()
			c.expectClose(CloseSubprotocol, tWait)
		})
	}
	t.Run("preference", func(t *testing.T) {
		g := *f
		g.t = t
		c, err := g.dialErr(nil, "foo", ProtocolLegacy, ProtocolTransportWS)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.c.Subprotocol(); got != ProtocolTransportWS {
			t.Errorf("negotiated %q, want %q", got, ProtocolTransportWS)
		}
	})
}

func TestWSReadLimit1009(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// Default 64 KiB: a message of exactly 64 KiB is accepted.
	c := f.dial()
	c.init(bearer("good"))
	msg := func(size int) string {
		head := `{"id":"big","type":"subscribe","payload":{"query":"query","pad":"`
		tail := `"}}`
		return head + strings.Repeat("x", size-len(head)-len(tail)) + tail
	}
	c.sendRaw(msg(64 << 10))
	c.expect("next", "big")
	c.expect("complete", "big")
	// The server may close while the client is still writing the message: a
	// write error here is expected, the close frame still arrives.
	_ = c.c.WriteMessage(websocket.TextMessage, []byte(msg(64<<10+1)))
	c.expectClose(websocket.CloseMessageTooBig, tWait)

	// Before connection_init too.
	c = f.dial()
	_ = c.c.WriteMessage(websocket.TextMessage, []byte(`{"type":"connection_init","payload":{"x":"`+strings.Repeat("x", 70<<10)+`"}}`))
	c.expectClose(websocket.CloseMessageTooBig, tWait)

	// A configured limit.
	g := newFixture(t, func(tr *Transport) { tr.ReadLimit = 1024 })
	c = g.dial()
	c.init(bearer("good"))
	c.sendRaw(msg(1024))
	c.expect("next", "big")
	c.expect("complete", "big")
	_ = c.c.WriteMessage(websocket.TextMessage, []byte(msg(1025)))
	c.expectClose(websocket.CloseMessageTooBig, tWait)
}

// ---------------------------------------------------------------------------
// Ping, pong, keep-alive

func TestWSPingPong(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	// Before connection_init.
	c.sendRaw(`{"type":"ping","payload":{"n":1}}`)
	if m := c.expect("pong", ""); string(m.Payload) != `{"n":1}` {
		t.Errorf("pong payload %s, want the ping's", m.Payload)
	}
	c.init(bearer("good"))
	c.sendRaw(`{"type":"ping"}`)
	if m := c.expect("pong", ""); m.Payload != nil {
		t.Errorf("pong payload %s, want none", m.Payload)
	}
	c.sendRaw(`{"type":"ping","payload":{"t":"x","nested":{"a":[1,2]}}}`)
	if m := c.expect("pong", ""); string(m.Payload) != `{"t":"x","nested":{"a":[1,2]}}` {
		t.Errorf("pong payload %s", m.Payload)
	}
	// Unsolicited pongs are heartbeats: no answer, no close.
	c.sendRaw(`{"type":"pong"}`)
	c.sendRaw(`{"type":"pong","payload":{"x":1}}`)
	c.quiet(200 * time.Millisecond)
	c.subscribe("1", "query")
	c.expect("next", "1")
	c.expect("complete", "1")
}

func TestWSHubPingsKeepClientsAlive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.runHub(50 * time.Millisecond)

	var pings atomic.Int64
	c, err := f.dialErr(nil, ProtocolTransportWS)
	if err != nil {
		t.Fatal(err)
	}
	c.c.SetPingHandler(func(data string) error {
		pings.Add(1)
		return c.c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	c.pump()
	c.init(bearer("good"))

	// The idle read deadline is 2 × 50 ms + 5 s; stay past it answering pings only.
	c.quiet(5500 * time.Millisecond)
	if n := pings.Load(); n < 10 {
		t.Errorf("%d websocket pings in 5.5 s at a 50 ms interval", n)
	}
	c.subscribe("1", "query")
	c.expect("next", "1")
	c.expect("complete", "1")
}

// The hub pings only peers gone quiet: one that sends something within the
// interval is not pinged, one that only receives results is (results prove nothing
// of the peer), and a legacy one still gets its "ka" every interval, which its
// client requires.
func TestWSHubPingsOnlyQuietPeers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.runHub(300 * time.Millisecond)

	dialCounting := func() (*client, *atomic.Int64) {
		var n atomic.Int64
		c, err := f.dialErr(nil, ProtocolTransportWS)
		if err != nil {
			t.Fatal(err)
		}
		c.c.SetPingHandler(func(data string) error {
			n.Add(1)
			return c.c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		c.pump()
		c.init(bearer("good"))
		return c, &n
	}
	talker, talkerPings := dialCounting()
	receiver, receiverPings := dialCounting()
	receiver.subscribe("1", "tick:50")

	legacy := f.dial(ProtocolLegacy)
	legacy.init(bearer("good"))
	b, _ := json.Marshal(map[string]any{"query": "tick:50"})
	legacy.send(message{ID: "1", Type: "start", Payload: b})

	results, kas := 0, 0
	talk := time.NewTicker(100 * time.Millisecond)
	defer talk.Stop()
	for start := time.Now(); time.Since(start) < 2*time.Second; {
		select {
		case <-talk.C:
			talker.send(message{Type: "ping"})
		case ev := <-talker.ch:
			if ev.err != nil || ev.m.Type != "pong" {
				t.Fatalf("talker: %+v", ev)
			}
		case ev := <-receiver.ch:
			if ev.err != nil {
				t.Fatal(ev.err)
			}
			results++
		case ev := <-legacy.ch:
			if ev.err != nil {
				t.Fatal(ev.err)
			}
			if ev.m.Type == "ka" {
				kas++
			}
		}
	}
	if results < 10 {
		t.Fatalf("the receiving connection got %d results", results)
	}
	if n := talkerPings.Load(); n != 0 {
		t.Errorf("a peer sending a message every 100 ms was pinged %d times at a 300 ms interval", n)
	}
	if n := receiverPings.Load(); n < 3 {
		t.Errorf("a peer that only receives results was pinged %d times in 2 s at a 300 ms interval", n)
	}
	if kas < 3 { // one follows connection_ack
		t.Errorf("a busy legacy connection got %d ka in 2 s at a 300 ms interval", kas)
	}
}

// A peer that vanished without closing keeps taking results into the kernel's
// buffer; it must still be dropped once it stops answering pings.
func TestWSBusySilentPeerDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.runHub(50 * time.Millisecond)

	c := f.deafPeer()
	c.subscribe("1", "tick:50")
	start, results := time.Now(), 0
	deadline := time.After(15 * time.Second)
	for {
		select {
		case ev := <-c.ch:
			if ev.err == nil {
				results++
				continue
			}
		case <-deadline:
			t.Fatalf("a peer that never answers pings, sent a result every 50 ms, was not dropped (%d results)", results)
		}
		break
	}
	// Dropped by the idle read deadline (2 × 50 ms + 5 s), not before.
	if waited := time.Since(start); waited < 5*time.Second || results < 10 {
		t.Fatalf("dropped after %v with %d results", waited, results)
	}
	waitFor(t, "the hub to forget the connection", tWait, func() bool { return f.hub.Connections() == 0 })
}

// Legacy graphql-ws clients get "ka" messages instead of websocket pings and never
// send anything by themselves: an idle one must not be dropped as silent.
func TestWSLegacyIdleClientStaysConnected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.runHub(50 * time.Millisecond)

	c := f.dial(ProtocolLegacy)
	c.init(bearer("good"))
	start := time.Now()
	kas := 0
	// The idle read deadline is 2 × 50 ms + 5 s; stay past it.
	for time.Since(start) < 5500*time.Millisecond {
		select {
		case ev := <-c.ch:
			if ev.err != nil {
				t.Fatalf("an idle legacy client was disconnected after %v (%d ka received): %v",
					time.Since(start).Round(time.Millisecond), kas, ev.err)
			}
			if ev.m.Type != "ka" {
				t.Fatalf("unexpected %+v", ev.m)
			}
			kas++
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, _ := json.Marshal(map[string]any{"query": "query"})
	c.send(message{ID: "1", Type: "start", Payload: b})
	for {
		m := c.read()
		if m.Type == "ka" {
			continue
		}
		if m.Type != "data" || m.ID != "1" {
			t.Fatalf("want data for 1, got %+v", m)
		}
		break
	}
}

func TestWSSilentClientDropped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.runHub(50 * time.Millisecond)

	c := f.deafPeer()
	c.subscribe("w", "wait:silent")
	recv(t, f.exec.started, "silent")
	// Dropped after the idle read deadline (2 × 50 ms + 5 s); its operation ends.
	select {
	case name := <-f.exec.canceled:
		if name != "silent" {
			t.Fatalf("cancelled %q", name)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a client that never answers pings was not dropped")
	}
	waitFor(t, "the hub to forget the connection", tWait, func() bool { return f.hub.Connections() == 0 })
}

// ---------------------------------------------------------------------------
// Operations

func TestWSQueryNextComplete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.subscribe("q", "query")
	if m := c.expect("next", "q"); string(m.Payload) != `{"data":{"ok":true}}` {
		t.Errorf("next payload %s", m.Payload)
	}
	c.expect("complete", "q")

	c.subscribe("s", "stream:3")
	for i := 1; i <= 3; i++ {
		if m := c.expect("next", "s"); string(m.Payload) != fmt.Sprintf(`{"data":{"n":%d}}`, i) {
			t.Errorf("next payload %s", m.Payload)
		}
	}
	c.expect("complete", "s")
	// The id is free again once completed.
	c.subscribe("q", "stream:1")
	c.expect("next", "q")
	c.expect("complete", "q")
}

func TestWSValidationErrorHasNoComplete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.subscribe("bad", "invalid")
	m := c.expect("error", "bad")
	var errs []map[string]any
	if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) != 1 || errs[0]["message"] == nil {
		t.Fatalf("error payload must be GraphQLError[], got %s", m.Payload)
	}
	c.quiet(200 * time.Millisecond) // no complete after an error
	// The id is free again after an error.
	c.subscribe("bad", "query")
	c.expect("next", "bad")
	c.expect("complete", "bad")
}

func TestWSAbortSendsErrorNotComplete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.subscribe("a", "abort")
	m := c.expect("error", "a")
	if !strings.Contains(string(m.Payload), "RATE_LIMITED") {
		t.Errorf("error payload %s", m.Payload)
	}
	c.quiet(200 * time.Millisecond)
	if Abort(context.Background(), gqlerror.Errorf("x")) {
		t.Error("Abort outside an operation reported true")
	}
}

func TestWSClientCompleteCancelsOperation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.subscribe("w", "wait:w1")
	recv(t, f.exec.started, "w1")
	if n := f.hub.Operations(); n != 1 {
		t.Errorf("operations %d, want 1", n)
	}
	c.send(message{ID: "w", Type: "complete"})
	recv(t, f.exec.canceled, "w1")
	// The server does not answer a client's complete.
	c.quiet(200 * time.Millisecond)
	waitFor(t, "no operations", tWait, func() bool { return f.hub.Operations() == 0 })
	// The id may be reused at once.
	c.subscribe("w", "query")
	c.expect("next", "w")
	c.expect("complete", "w")
}

// "Even if the client sent a Complete message for a single-result-operation before
// it resolved, the result should not be sent through once it does."
func TestWSNoResultAfterClientComplete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.subscribe("q", "gate:late")
	recv(t, f.exec.started, "late")
	c.send(message{ID: "q", Type: "complete"})
	recv(t, f.exec.canceled, "late")
	f.exec.open("late") // the result resolves after the client completed
	c.quiet(300 * time.Millisecond)
}

// Once a client completes an operation it may reuse the id; what the old
// operation still produces must not land on the new one, and the new one must
// stay cancellable by its id.
func TestWSReusedIDNotHijackedByCompletedOperation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	c.subscribe("a", "gate-invalid:old")
	recv(t, f.exec.started, "old")
	c.send(message{ID: "a", Type: "complete"})
	c.subscribe("a", "wait:new")
	recv(t, f.exec.started, "new")
	f.exec.open("old") // the completed operation fails late
	select {
	case ev := <-c.ch:
		t.Errorf("the completed operation's outcome reached the client under the reused id: %v %s %s %s",
			ev.err, ev.m.Type, ev.m.ID, ev.m.Payload)
	case <-time.After(300 * time.Millisecond):
	}
	if n := f.hub.Operations(); n != 1 {
		t.Errorf("operations %d, want 1 (the new subscription)", n)
	}
	c.send(message{ID: "a", Type: "complete"})
	select {
	case name := <-f.exec.canceled:
		if name != "new" {
			t.Fatalf("cancelled %q", name)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("complete did not stop the new subscription with the reused id: it is orphaned until the socket closes")
	}
}

func TestWSManyOperationsOnOneSocket(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("good"))
	const n = 50
	for i := 0; i < n; i++ {
		c.subscribe(fmt.Sprintf("w%d", i), fmt.Sprintf("wait:w%d", i))
		c.subscribe(fmt.Sprintf("s%d", i), "stream:2")
	}
	got := map[string][]string{}
	for completes := 0; completes < n; {
		m := c.read()
		got[m.ID] = append(got[m.ID], m.Type)
		if m.Type == "complete" {
			completes++
		}
	}
	if len(got) != n {
		t.Errorf("messages for %d ids, want %d: %v", len(got), n, got)
	}
	for id, types := range got {
		if strings.Join(types, ",") != "next,next,complete" {
			t.Errorf("%s: %v", id, types)
		}
	}
	for i := 0; i < n; i++ {
		<-f.exec.started
	}
	if ops := f.hub.Operations(); ops != n {
		t.Errorf("operations %d, want %d", ops, n)
	}
	for i := 0; i < n; i += 2 {
		c.send(message{ID: fmt.Sprintf("w%d", i), Type: "complete"})
	}
	for i := 0; i < n/2; i++ {
		<-f.exec.canceled
	}
	waitFor(t, "half the operations", tWait, func() bool { return f.hub.Operations() == n/2 })
	c.c.Close()
	for i := 0; i < n/2; i++ {
		<-f.exec.canceled
	}
}

func TestWSSessionExpiry4403(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial()
	c.init(bearer("expiring"))
	c.subscribe("w", "wait:exp")
	recv(t, f.exec.started, "exp")
	c.expectClose(CloseForbidden, tWait)
	recv(t, f.exec.canceled, "exp")
}

func TestWSSlowReaderDisconnected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(tr *Transport) { tr.WriteTimeout = 200 * time.Millisecond })
	d := websocket.Dialer{Subprotocols: []string{ProtocolTransportWS}}
	conn, _, err := d.Dial(f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.WriteJSON(message{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer good"}`)})
	_ = conn.SetReadDeadline(time.Now().Add(tWait))
	var ack message
	if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("ack: %v %+v", err, ack)
	}
	b, _ := json.Marshal(map[string]any{"query": "flood"})
	_ = conn.WriteJSON(message{ID: "f", Type: "subscribe", Payload: b})
	// The client never reads again: the server must give up, not block for ever.
	waitFor(t, "the stuck client to be dropped", 20*time.Second, func() bool {
		return f.hub.Connections() == 0 && f.exec.running.Load() == 0
	})
}

// ---------------------------------------------------------------------------
// Legacy graphql-ws

func TestWSLegacyProtocol(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.dial(ProtocolLegacy)
	if got := c.c.Subprotocol(); got != ProtocolLegacy {
		t.Fatalf("subprotocol %q", got)
	}
	c.init(bearer("good"))
	c.expect("ka", "")
	start := func(id, q string) {
		b, _ := json.Marshal(map[string]any{"query": q})
		c.send(message{ID: id, Type: "start", Payload: b})
	}
	start("1", "stream:2")
	c.expect("data", "1")
	c.expect("data", "1")
	c.expect("complete", "1")

	start("2", "invalid")
	m := c.expect("data", "2")
	if !strings.Contains(string(m.Payload), `"errors"`) {
		t.Errorf("legacy request error payload %s", m.Payload)
	}
	c.expect("complete", "2")

	start("3", "wait:legacy")
	recv(t, f.exec.started, "legacy")
	c.send(message{ID: "3", Type: "stop"})
	recv(t, f.exec.canceled, "legacy")

	// graphql-transport-ws messages are not part of the legacy protocol.
	c.send(message{Type: "connection_terminate"})
	c.expectClose(CloseNormal, tWait)

	bad := f.dial(ProtocolLegacy)
	bad.send(message{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer nope"}`)})
	if m := bad.expect("connection_error", ""); !strings.Contains(string(m.Payload), "message") {
		t.Errorf("connection_error payload %s", m.Payload)
	}
	bad.expectClose(CloseForbidden, tWait)
}

// ---------------------------------------------------------------------------
// Hub

func TestWSHubCloseSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a1, a2, b := f.dial(), f.dial(ProtocolLegacy), f.dial()
	a1.init(bearer("good"))
	a2.init(bearer("good"))
	b.init(bearer("other"))
	waitFor(t, "3 connections", tWait, func() bool { return f.hub.Connections() == 3 })
	if s := f.hub.Sessions(); len(s) != 2 {
		t.Errorf("sessions %v", s)
	}
	if n := f.hub.CloseSession("s1"); n != 2 {
		t.Errorf("CloseSession closed %d, want 2", n)
	}
	a1.expectClose(CloseForbidden, tWait)
	a2.expectClose(CloseForbidden, tWait)
	b.subscribe("1", "query")
	b.expect("next", "1")
	b.expect("complete", "1")
	waitFor(t, "1 connection", tWait, func() bool { return f.hub.Connections() == 1 })
	if s := f.hub.Sessions(); len(s) != 1 || s[0] != "s2" {
		t.Errorf("sessions %v", s)
	}
	if n := f.hub.CloseSession("unknown"); n != 0 {
		t.Errorf("CloseSession(unknown) = %d", n)
	}
}

func TestWSHubCloseAll1001(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.dial(), f.dial(ProtocolLegacy)
	a.init(bearer("good"))
	b.init(bearer("other"))
	a.subscribe("w", "wait:shutdown")
	recv(t, f.exec.started, "shutdown")
	waitFor(t, "2 connections", tWait, func() bool { return f.hub.Connections() == 2 })
	f.hub.CloseAll()
	a.expectClose(CloseGoingAway, tWait)
	b.expectClose(CloseGoingAway, tWait)
	recv(t, f.exec.canceled, "shutdown")
	waitFor(t, "no connections", tWait, func() bool { return f.hub.Connections() == 0 })
}

func TestWSHubRunStopsWithContext(t *testing.T) {
	t.Parallel()
	h := NewHub(10 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(tWait):
		t.Fatal("Run did not return after cancel")
	}
}

// ---------------------------------------------------------------------------
// Goroutines

func TestWSGoroutinesReturnToBaseline(t *testing.T) {
	f := newFixture(t)
	// Warm up (pools, timers) before taking the baseline.
	w := f.dial()
	w.init(bearer("good"))
	w.c.Close()
	<-w.done
	waitFor(t, "warm-up to end", tWait, func() bool { return f.hub.Connections() == 0 })
	time.Sleep(100 * time.Millisecond)
	base := runtime.NumGoroutine()

	var conns []*websocket.Conn
	for i := 0; i < 50; i++ {
		d := websocket.Dialer{Subprotocols: []string{ProtocolTransportWS}}
		conn, _, err := d.Dial(f.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		_ = conn.WriteJSON(message{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer good"}`)})
		var ack message
		if err := conn.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
			t.Fatalf("ack: %v %+v", err, ack)
		}
		b, _ := json.Marshal(map[string]any{"query": fmt.Sprintf("wait:g%d", i)})
		_ = conn.WriteJSON(message{ID: "w", Type: "subscribe", Payload: b})
	}
	for i := 0; i < 50; i++ {
		<-f.exec.started
	}
	waitFor(t, "50 operations", tWait, func() bool { return f.hub.Operations() == 50 })
	if n := runtime.NumGoroutine(); n < base+50 {
		t.Logf("goroutines with 50 sockets: %d (baseline %d)", n, base)
	}
	for i, conn := range conns {
		if i%2 == 0 {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		}
		conn.Close()
	}
	for i := 0; i < 50; i++ {
		<-f.exec.canceled
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base+2 && f.hub.Connections() == 0 && f.exec.running.Load() == 0 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d, baseline %d; connections %d; running %d\n%s",
				n, base, f.hub.Connections(), f.exec.running.Load(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
