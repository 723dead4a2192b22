// Package gqlws serves GraphQL over WebSocket on gorilla/websocket, speaking the
// graphql-transport-ws protocol exactly as its protocol document specifies
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md), plus the legacy
// graphql-ws protocol of subscriptions-transport-ws. It is a gqlgen transport
// (graphql.Transport) of its own because gqlgen's built-in one answers most protocol
// violations with a generic 1002 instead of the protocol's close codes, and because
// owning the connection lets us bound memory per idle subscription (one goroutine
// per connection plus one per operation, pooled write buffers, small read buffers)
// and close sockets when their session ends.
package gqlws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// The subprotocols, preferred first.
const (
	ProtocolTransportWS = "graphql-transport-ws"
	ProtocolLegacy      = "graphql-ws"
)

// Close codes: graphql-transport-ws's, and two of RFC 6455's.
const (
	CloseNormal         = websocket.CloseNormalClosure // 1000
	CloseGoingAway      = websocket.CloseGoingAway     // 1001: server shutting down
	CloseBadRequest     = 4400                         // invalid message
	CloseUnauthorized   = 4401                         // subscribe before connection_ack
	CloseForbidden      = 4403                         // init refused, session ended
	CloseSubprotocol    = 4406                         // no supported subprotocol
	CloseInitTimeout    = 4408                         // no connection_init in time
	CloseDuplicateID    = 4409                         // subscriber for that id already exists
	CloseTooManyInits   = 4429                         // second connection_init
	closeWriteDeadline  = time.Second
	defaultInitTimeout  = 3 * time.Second
	defaultWriteTimeout = 10 * time.Second
	defaultReadLimit    = 64 << 10
	// maxOperations bounds the operations running at once on one connection.
	maxOperations = 100
)

// Session is what Authenticate establishes for a connection.
type Session struct {
	// Ctx carries the viewer for the connection's operations.
	Ctx context.Context
	// ID identifies the session, so that ending it closes its sockets.
	ID string
	// ExpiresAt is when the session ends at the latest; the socket closes then.
	ExpiresAt time.Time
}

// ErrForbidden refuses a connection_init; the socket closes with 4403.
var ErrForbidden = errors.New("forbidden")

// Transport serves GraphQL over WebSocket.
type Transport struct {
	// Upgrader accepts the connection; its CheckOrigin enforces the allowed origins
	// (403 otherwise). Subprotocols are set by the transport.
	Upgrader websocket.Upgrader
	// Authenticate turns the upgrade request (its cookie) and the connection_init
	// payload into a session, or returns an error (the socket closes with 4403).
	Authenticate func(r *http.Request, payload map[string]any) (Session, error)
	// InitTimeout bounds the wait for connection_init (default 3 s, then 4408).
	InitTimeout time.Duration
	// WriteTimeout bounds each write to a client (default 10 s); a client that does
	// not read for that long is disconnected.
	WriteTimeout time.Duration
	// ReadLimit caps a client message (default 64 KiB; larger closes with 1009).
	ReadLimit int64
	// Hub keeps the open connections, pings them and closes them when their session
	// ends or the server stops.
	Hub *Hub
	// Logger receives connection errors.
	Logger *slog.Logger

	poolOnce sync.Once
	pool     *workerPool // runs deliveries
	handlers *workerPool // handles client messages (see onWorker)
}

var _ graphql.Transport = (*Transport)(nil)

// Supports reports whether r asks for a websocket.
func (t *Transport) Supports(r *http.Request) bool { return websocket.IsWebSocketUpgrade(r) }

// Do upgrades the request and hands the connection to a goroutine of its own, then
// returns: the HTTP server's goroutine, with its deep stack and its 8 KiB of
// buffers, is released, so an idle socket costs one small goroutine. Operations
// run in goroutines only while they have results to send.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	up := t.Upgrader
	up.Subprotocols = []string{ProtocolTransportWS, ProtocolLegacy}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered (403 for a bad origin, 400 otherwise)
	}
	c := &conn{
		t:    t,
		ws:   ws,
		exec: exec,
		// The request's context ends when Do returns; its values (the viewer of a
		// cookie) stay useful until the handshake is done. Its headers are not kept
		// for the connection's life: no operation needs them.
		req:    r.WithContext(context.WithoutCancel(r.Context())),
		remote: r.RemoteAddr,
		ops:    map[string]*op{},
	}
	go c.run()
}

// message is a protocol message of either subprotocol.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// conn is one websocket connection.
type conn struct {
	t    *Transport
	ws   *websocket.Conn
	exec graphql.GraphExecutor
	// req is the upgrade request until the handshake ends; then it is dropped,
	// with everything its context holds, and only remote stays.
	req    *http.Request
	remote string

	legacy  bool
	session Session
	ctx     context.Context
	cancel  context.CancelFunc

	writeMu sync.Mutex
	// deadlinesMoved is when a write last moved the deadlines (under writeMu).
	deadlinesMoved time.Time
	// heard and pinged are when the peer last sent something and when the hub last
	// pinged it, in Unix nanoseconds: the hub pings only a peer gone quiet (see
	// Hub.Run).
	heard, pinged atomic.Int64

	mu     sync.Mutex
	acked  bool
	closed bool
	ops    map[string]*op
	expiry *time.Timer
}

func (c *conn) log() *slog.Logger {
	if c.t.Logger != nil {
		return c.t.Logger
	}
	return slog.Default()
}

func (c *conn) run() {
	defer c.shutdown()
	switch c.ws.Subprotocol() {
	case ProtocolTransportWS:
	case ProtocolLegacy:
		c.legacy = true
	default:
		c.closeWith(CloseSubprotocol, "Subprotocol not acceptable: use graphql-transport-ws")
		return
	}
	limit := c.t.ReadLimit
	if limit <= 0 {
		limit = defaultReadLimit
	}
	c.ws.SetReadLimit(limit)
	ok := c.init()
	if c.t.Hub != nil {
		defer c.t.Hub.remove(c) // init adds it as soon as the session is known
	}
	if !ok {
		return
	}
	c.ws.SetPongHandler(func(string) error {
		c.heardFrom()
		return nil
	})
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			c.readFailed(err)
			return
		}
		c.heardFrom()
		// Decoded and handled in one trip to a worker (see onWorker).
		c.onWorker(func() {
			var m message
			if m, err = decode(typ, data); err == nil {
				ok = c.handle(m)
			}
		})
		if err != nil {
			c.readFailed(err)
			return
		}
		if !ok {
			return
		}
	}
}

// heardFrom notes that the peer sent something (a message or a pong): it is
// alive, so the read deadline moves and the hub need not ping it for a while.
func (c *conn) heardFrom() {
	c.heard.Store(time.Now().UnixNano())
	c.extendReadDeadline()
}

// onWorker runs fn on a pool worker and waits for it. Decoding and handling a
// message (JSON, authentication, the database) grows a goroutine's stack to 8 KB
// and more, and the goroutine here stays parked in a read for the connection's
// life: a stack it grew once would be kept by every idle connection, where a read
// alone needs 4 KB.
func (c *conn) onWorker(fn func()) {
	done := make(chan struct{})
	c.t.handlerPool().run(func() {
		defer close(done)
		fn()
	})
	<-done
}

// init waits for connection_init, authenticates and acknowledges.
func (c *conn) init() bool {
	timeout := c.t.InitTimeout
	if timeout <= 0 {
		timeout = defaultInitTimeout
	}
	// One deadline for the whole wait: pings before the init do not extend it.
	_ = c.ws.SetReadDeadline(time.Now().Add(timeout))
	var m message
	for {
		var err error
		m, err = c.read()
		if err != nil {
			if isTimeout(err) {
				c.closeWith(CloseInitTimeout, "Connection initialisation timeout")
				return false
			}
			c.readFailed(err)
			return false
		}
		if m.Type != "ping" && m.Type != "pong" {
			break
		}
		if ok, known := c.handlePing(m); known && !ok {
			return false
		} else if !known {
			break // legacy: no such message
		}
	}
	var ok bool
	c.onWorker(func() { ok = c.accept(m) })
	return ok
}

// accept answers the first message after the handshake: it authenticates a
// connection_init and acknowledges it.
func (c *conn) accept(m message) bool {
	switch m.Type {
	case "connection_init":
	case "subscribe", "start":
		c.closeWith(CloseUnauthorized, "Unauthorized")
		return false
	case "connection_terminate":
		c.closeWith(CloseNormal, "terminated")
		return false
	default:
		c.closeWith(CloseBadRequest, "Invalid message: expected connection_init")
		return false
	}
	var payload map[string]any
	if len(m.Payload) > 0 && string(m.Payload) != "null" {
		if err := json.Unmarshal(m.Payload, &payload); err != nil {
			c.closeWith(CloseBadRequest, "Invalid message: connection_init payload must be an object")
			return false
		}
	}
	s, err := c.t.Authenticate(c.req, payload)
	c.req = nil
	if err != nil {
		if c.legacy {
			// The cause (possibly a database error) is the server's business.
			c.send(message{Type: "connection_error", Payload: errorJSON("Forbidden")})
		}
		c.closeWith(CloseForbidden, "Forbidden")
		return false
	}
	c.session = s
	if c.t.Hub != nil {
		// Registered before the ack, so a sign-out from now on finds this socket.
		c.t.Hub.add(c)
	}
	c.ctx, c.cancel = context.WithCancel(s.Ctx)
	if !s.ExpiresAt.IsZero() {
		c.expiry = time.AfterFunc(time.Until(s.ExpiresAt), func() {
			c.closeWith(CloseForbidden, "Forbidden: session expired")
		})
	}
	c.mu.Lock()
	c.acked = true
	c.mu.Unlock()
	if !c.send(message{Type: "connection_ack"}) {
		return false
	}
	if c.legacy {
		c.send(message{Type: "ka"})
	}
	return true
}

// handle processes one message after the handshake; false ends the connection.
func (c *conn) handle(m message) bool {
	if ok, known := c.handlePing(m); known {
		return ok
	}
	switch m.Type {
	case "connection_init":
		c.closeWith(CloseTooManyInits, "Too many initialisation requests")
		return false
	case "subscribe", "start":
		if (m.Type == "start") != c.legacy {
			c.closeWith(CloseBadRequest, "Invalid message: unknown type "+m.Type)
			return false
		}
		return c.subscribe(m)
	case "complete", "stop":
		if (m.Type == "stop") != c.legacy || m.ID == "" {
			c.closeWith(CloseBadRequest, "Invalid message: "+m.Type+" needs an id")
			return false
		}
		c.mu.Lock()
		o := c.ops[m.ID]
		delete(c.ops, m.ID)
		c.mu.Unlock()
		if o != nil {
			o.cancel()
		}
		return true
	case "connection_terminate":
		if c.legacy {
			c.closeWith(CloseNormal, "terminated")
			return false
		}
	}
	c.closeWith(CloseBadRequest, "Invalid message: unknown type "+m.Type)
	return false
}

// handlePing answers a graphql-transport-ws ping; pongs need no answer. known
// reports whether m was a ping or pong; ok is false when it was invalid (the
// connection is then closed).
func (c *conn) handlePing(m message) (ok, known bool) {
	if c.legacy || (m.Type != "ping" && m.Type != "pong") {
		return false, false
	}
	// The payload is an object or absent.
	if len(m.Payload) > 0 && string(m.Payload) != "null" {
		var obj map[string]any
		if json.Unmarshal(m.Payload, &obj) != nil {
			c.closeWith(CloseBadRequest, "Invalid message: "+m.Type+" payload must be an object")
			return false, true
		}
	}
	if m.Type == "ping" {
		c.send(message{Type: "pong", Payload: m.Payload})
	}
	return true, true
}

// op is one running operation. Its identity, not only its id, decides whether a
// late result still belongs to the client: after a client's complete the id may be
// reused by a new operation, which the old one must never answer for.
type op struct {
	id     string
	cancel context.CancelFunc
}

// operation is the payload of subscribe/start.
type operation struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

func (c *conn) subscribe(m message) bool {
	var operation operation
	if m.ID == "" || len(m.Payload) == 0 || json.Unmarshal(m.Payload, &operation) != nil || operation.Query == "" {
		c.closeWith(CloseBadRequest, "Invalid message: subscribe needs an id and a payload with a query")
		return false
	}
	c.mu.Lock()
	if _, dup := c.ops[m.ID]; !dup && len(c.ops) >= maxOperations {
		c.mu.Unlock()
		b, _ := json.Marshal(gqlerror.List{{
			Message:    fmt.Sprintf("at most %d operations may run on one connection", maxOperations),
			Extensions: map[string]any{"code": "RATE_LIMITED", "reason": "TOO_MANY_OPERATIONS"},
		}})
		c.send(message{ID: m.ID, Type: "error", Payload: b})
		return true
	}
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	if _, dup := c.ops[m.ID]; dup {
		c.mu.Unlock()
		cancel()
		c.closeWith(CloseDuplicateID, "Subscriber for "+m.ID+" already exists")
		return false
	}
	o := &op{id: m.ID, cancel: cancel}
	c.ops[m.ID] = o
	c.mu.Unlock()
	go c.execute(ctx, o, operation)
	return true
}

type abortKey struct{}

type abortHolder struct {
	mu  sync.Mutex
	err *gqlerror.Error
}

// Abort ends the operation running in ctx with an error message instead of
// "complete" (for example when a subscriber fell too far behind and must resume
// from a cursor). The resolver must still end its stream. It reports whether ctx
// belongs to a websocket operation.
func Abort(ctx context.Context, err *gqlerror.Error) bool {
	h, _ := ctx.Value(abortKey{}).(*abortHolder)
	if h == nil {
		return false
	}
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	return true
}

// pump switches an operation to on-demand delivery (see Notifier).
type pump struct {
	mu         sync.Mutex
	registered bool
	pumping    bool
	avail      int
	drain      func()
	spawn      func(func())
	// shortcut, if set, may answer the next value without gqlgen; abandon is called
	// when gqlgen ends the operation instead of rendering what shortcut left it.
	shortcut func() (json.RawMessage, bool)
	abandon  func()
}

// Shortcut lets an on-demand operation answer its next value without running it
// through gqlgen: fn takes the next value and returns its result, already encoded,
// if one is ready (a result rendered and encoded once and shared by many
// subscribers); otherwise it leaves the value for gqlgen and returns false. When
// gqlgen then ends the operation without rendering it (the operation was
// cancelled), abandon is called. It must be set along with Notifier.
func Shortcut(ctx context.Context, fn func() (json.RawMessage, bool), abandon func()) {
	if p, _ := ctx.Value(pumpKey{}).(*pump); p != nil {
		p.mu.Lock()
		p.shortcut, p.abandon = fn, abandon
		p.mu.Unlock()
	}
}

type pumpKey struct{}

// Notifier switches the subscription running in ctx to on-demand delivery: the
// transport reads the resolver's channel only when notify says something is waiting,
// so an idle subscription costs no goroutine. A resolver that uses it must call
// notify once after each value it sends and once after closing the channel, and
// must call Notifier before returning the channel. ok is false outside a websocket
// operation; the resolver then just sends.
func Notifier(ctx context.Context) (notify func(), ok bool) {
	p, _ := ctx.Value(pumpKey{}).(*pump)
	if p == nil {
		return func() {}, false
	}
	p.mu.Lock()
	p.registered = true
	p.mu.Unlock()
	return p.notify, true
}

// OnDemand reports whether the operation of ctx has switched to on-demand
// delivery (Notifier was called).
func OnDemand(ctx context.Context) bool {
	p, _ := ctx.Value(pumpKey{}).(*pump)
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.registered
}

func (p *pump) notify() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.avail++
	p.kick()
}

// kick starts a drain when values wait and none runs; p.mu is held.
func (p *pump) kick() {
	if p.drain != nil && !p.pumping && p.avail > 0 {
		p.pumping = true
		p.spawn(p.drain)
	}
}

// take claims a waiting value for the drain, or ends the drain.
func (p *pump) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.avail == 0 {
		p.pumping = false
		return false
	}
	p.avail--
	return true
}

// execute runs one operation and streams its results.
func (c *conn) execute(ctx context.Context, o *op, operation operation) {
	id, cancel := o.id, o.cancel
	qid, _ := json.Marshal(id) // quoted once, sent with every result
	abort := &abortHolder{}
	ctx = context.WithValue(ctx, abortKey{}, abort)
	p := &pump{spawn: c.t.workers().run}
	ctx = context.WithValue(ctx, pumpKey{}, p)
	params := &graphql.RawParams{
		Query:         operation.Query,
		OperationName: operation.OperationName,
		Variables:     operation.Variables,
		Extensions:    operation.Extensions,
	}
	start := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: start, End: start}
	ctx = graphql.StartOperationTrace(ctx)
	oc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		c.finish(o, resp.Errors)
		cancel()
		return
	}
	responses, rctx := c.exec.DispatchOperation(ctx, oc)
	// The resolver ran inside DispatchOperation; what it registered is read once.
	p.mu.Lock()
	shortcut, abandon := p.shortcut, p.abandon
	p.mu.Unlock()
	// next produces one response; end finishes the operation.
	next := func() bool {
		if shortcut != nil {
			if payload, ok := shortcut(); ok {
				if ctx.Err() != nil || !c.sendPayload(qid, payload) {
					cancel()
					return false
				}
				return true
			}
		}
		resp := responses(rctx)
		if resp == nil {
			if abandon != nil {
				abandon()
			}
			c.end(ctx, o, abort)
			cancel()
			return false
		}
		if ctx.Err() != nil || !c.sendResult(qid, resp) {
			cancel()
			return false
		}
		return true
	}
	p.mu.Lock()
	if p.registered {
		// On demand: this goroutine ends here; a drain runs when values wait.
		p.drain = func() {
			for p.take() {
				if !next() {
					return
				}
			}
		}
		p.kick()
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	for next() {
	}
}

func (t *Transport) workers() *workerPool {
	t.poolOnce.Do(t.startPools)
	return t.pool
}

func (t *Transport) handlerPool() *workerPool {
	t.poolOnce.Do(t.startPools)
	return t.handlers
}

// startPools makes two pools, so that handling a message (which may wait on the
// database) never queues behind a fan-out's deliveries, nor holds them up.
func (t *Transport) startPools() {
	t.pool, t.handlers = newWorkerPool(), newWorkerPool()
}

// end finishes an operation whose stream ended: with the error a resolver gave
// Abort, or with "complete" (unless the client stopped it).
func (c *conn) end(ctx context.Context, o *op, abort *abortHolder) {
	abort.mu.Lock()
	aerr := abort.err
	abort.mu.Unlock()
	if aerr != nil {
		c.finish(o, gqlerror.List{aerr})
		return
	}
	if ctx.Err() == nil {
		c.finish(o, nil)
	}
}

// finish ends an operation: with errors (an "error" message, which ends it by
// itself) or with "complete".
func (c *conn) finish(o *op, errs gqlerror.List) {
	id := o.id
	c.mu.Lock()
	active := c.ops[id] == o
	if active {
		delete(c.ops, id)
	}
	c.mu.Unlock()
	if !active {
		return // the client completed it (and may have reused the id)
	}
	if len(errs) > 0 {
		b, _ := json.Marshal(errs)
		if c.legacy {
			// Legacy clients expect request errors as a data message.
			payload, _ := json.Marshal(map[string]any{"errors": errs})
			c.send(message{ID: id, Type: "data", Payload: payload})
			c.send(message{ID: id, Type: "complete"})
			return
		}
		c.send(message{ID: id, Type: "error", Payload: b})
		return
	}
	c.send(message{ID: id, Type: "complete"})
}

// sendResult sends a result of the operation whose JSON-quoted id is qid.
func (c *conn) sendResult(qid []byte, resp *graphql.Response) bool {
	b, err := json.Marshal(resp)
	if err != nil {
		c.log().Error("encoding a websocket result", "err", err)
		return false
	}
	return c.sendPayload(qid, b)
}

// sendPayload sends an encoded result of the operation whose JSON-quoted id is qid.
func (c *conn) sendPayload(qid []byte, b json.RawMessage) bool {
	typ := `,"type":"next","payload":`
	if c.legacy {
		typ = `,"type":"data","payload":`
	}
	// Written in pieces into the socket's frame buffer: encoding/json would re-scan
	// the payload for every subscriber of a shared result, and assembling the
	// message first would copy it once more.
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.moveDeadlines()
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err == nil {
		_, _ = io.WriteString(w, `{"id":`)
		_, _ = w.Write(qid)
		_, _ = io.WriteString(w, typ)
		_, _ = w.Write(b)
		_, _ = io.WriteString(w, "}")
		err = w.Close() // a failed Write fails Close as well
	}
	if err != nil {
		c.abort()
		return false
	}
	return true
}

// moveDeadlines pushes the write deadline forward before a write; c.writeMu must be
// held. It is moved at most once a second: in a fan-out to thousands, each move is
// a runtime call per delivery, and a second is nothing next to them. (The read
// deadline moves only when the peer is heard from: what we manage to write into
// the kernel's buffer says nothing of whether the peer is still there.)
func (c *conn) moveDeadlines() {
	now := time.Now()
	if now.After(c.deadlinesMoved.Add(time.Second)) {
		_ = c.ws.SetWriteDeadline(now.Add(c.writeTimeout()))
		c.deadlinesMoved = now
	}
}

func (c *conn) writeTimeout() time.Duration {
	if c.t.WriteTimeout > 0 {
		return c.t.WriteTimeout
	}
	return defaultWriteTimeout
}

// ping sends a keep-alive: a ping frame (answered by the peer's websocket layer
// with a pong, which moves the read deadline) and, for legacy clients, a "ka"
// message. A connection busy sending is skipped: its writes prove it alive.
func (c *conn) ping() {
	if !c.writeMu.TryLock() {
		return
	}
	defer c.writeMu.Unlock()
	c.pinged.Store(time.Now().UnixNano())
	// The deadline is generous: on a loaded machine a goroutine may wait long for
	// a CPU, and a write that times out breaks the connection for good.
	deadline := time.Now().Add(c.writeTimeout())
	if err := c.ws.WriteControl(websocket.PingMessage, nil, deadline); err != nil {
		c.abort()
		return
	}
	if c.legacy {
		_ = c.ws.SetWriteDeadline(deadline)
		if err := c.ws.WriteJSON(message{Type: "ka"}); err != nil {
			c.abort()
		}
	}
}

// send writes one message; false when the connection is gone or too slow (a client
// that does not read for WriteTimeout is disconnected, never waited on for ever).
func (c *conn) send(m message) bool {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.deadlinesMoved = time.Now()
	_ = c.ws.SetWriteDeadline(c.deadlinesMoved.Add(c.writeTimeout()))
	if err := c.ws.WriteJSON(m); err != nil {
		c.abort()
		return false
	}
	return true
}

// read reads and decodes one message (before the handshake ends).
func (c *conn) read() (message, error) {
	typ, data, err := c.ws.ReadMessage()
	if err != nil {
		return message{}, err
	}
	var m message
	c.onWorker(func() { m, err = decode(typ, data) })
	return m, err
}

// decode parses a protocol message.
func decode(typ int, data []byte) (message, error) {
	var m message
	if typ != websocket.TextMessage || json.Unmarshal(data, &m) != nil || m.Type == "" {
		return m, errInvalid
	}
	return m, nil
}

var errInvalid = errors.New("invalid message")

func (c *conn) readFailed(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.Is(err, errInvalid):
		c.closeWith(CloseBadRequest, "Invalid message: not a JSON protocol message")
	case errors.Is(err, websocket.ErrReadLimit):
		c.closeWith(websocket.CloseMessageTooBig, "Message too big")
	case errors.As(err, &ce):
		c.closeWith(CloseNormal, "")
	default:
		c.abort()
	}
}

// readIdle is how long a connection may stay silent: the hub pings every
// PingInterval and a live client answers with a pong.
func (c *conn) extendReadDeadline() {
	d := 2*pingInterval(c.t.Hub) + 5*time.Second
	_ = c.ws.SetReadDeadline(time.Now().Add(d))
}

// closeWith sends a close frame with a code and reason and drops the connection.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason),
		time.Now().Add(closeWriteDeadline))
	_ = c.ws.Close()
}

// abort drops the connection without a close frame (the peer is gone or stuck).
func (c *conn) abort() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	_ = c.ws.Close()
}

// shutdown releases everything once the reader stops.
func (c *conn) shutdown() {
	c.abort()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.mu.Lock()
	ops := c.ops
	c.ops = map[string]*op{}
	c.mu.Unlock()
	for _, o := range ops {
		o.cancel()
	}
	if c.cancel != nil {
		c.cancel()
	}
}

func errorJSON(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"message": msg})
	return b
}

// String names the connection for logs.
func (c *conn) String() string { return fmt.Sprintf("ws(%s)", c.remote) }

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
