package graph_test

// GraphQL over WebSocket against the real server: graphql-transport-ws as its
// protocol document specifies (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md),
// the legacy graphql-ws protocol, every close code of issue 5 item 1, origin
// checks, keep-alive, operations, session revocation and goroutine hygiene.
// Protocol-only tests run on SQLite; tests that involve sessions or events run on
// every database.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/testenv"
)

const (
	wspWait = 5 * time.Second

	wspViewerQ     = `{ viewer { id } }`
	wspOrgEvents   = `subscription($org: ID!) { organizationEvents(organizationId: $org) { type organizationId } }`
	wspViewerEvent = `subscription { viewerEvents { type } }`
	wspMRename     = `mutation($in: UpdateOrganizationInput!) { updateOrganization(input: $in) { organization { id } } }`
	wspMSignIn     = `mutation($in: SignInInput!) { signIn(input: $in) { token } }`
	wspMSignOut    = `mutation($in: SignOutInput) { signOut(input: $in) { revokedSessions } }`
	wspMReqReset   = `mutation($in: RequestPasswordResetInput!) { requestPasswordReset(input: $in) { email } }`
	wspMReset      = `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) { token } }`
)

// ---------------------------------------------------------------------------
// Client side: a reader goroutine per socket, so that "nothing arrives" can be
// checked without breaking the connection (a gorilla read that times out does).

type wspEvent struct {
	m   testenv.Message
	err error
}

type wspConn struct {
	t  testing.TB
	s  *testenv.Socket
	ch chan wspEvent
}

// wspPump starts reading s; from then on read s only through the wspConn. The
// reader answers websocket pings as gorilla does by default.
func wspPump(t testing.TB, s *testenv.Socket) *wspConn {
	c := &wspConn{t: t, s: s, ch: make(chan wspEvent, 1024)}
	_ = s.Conn.SetReadDeadline(time.Time{}) // Socket.Read leaves one behind
	go func() {
		for {
			typ, b, err := s.Conn.ReadMessage()
			if err != nil {
				c.ch <- wspEvent{err: err}
				return
			}
			var m testenv.Message
			if typ != websocket.TextMessage {
				c.ch <- wspEvent{err: fmt.Errorf("server sent a non-text frame %d: %q", typ, b)}
				continue
			}
			if err := json.Unmarshal(b, &m); err != nil {
				c.ch <- wspEvent{err: fmt.Errorf("server sent invalid JSON %q: %v", b, err)}
				continue
			}
			c.ch <- wspEvent{m: m}
		}
	}()
	return c
}

// wspOpen dials, authenticates with the token and starts reading.
func wspOpen(t testing.TB, e *testenv.Env, token string, protocols ...string) *wspConn {
	t.Helper()
	s := e.Dial(nil, protocols...)
	s.Init(testenv.Bearer(token))
	return wspPump(t, s)
}

func (c *wspConn) send(m testenv.Message) {
	c.t.Helper()
	if err := c.s.Conn.WriteJSON(m); err != nil {
		c.t.Fatalf("websocket write: %v", err)
	}
}

func (c *wspConn) sendRaw(text string) {
	c.t.Helper()
	if err := c.s.Conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		c.t.Fatalf("websocket write: %v", err)
	}
}

func (c *wspConn) subscribe(id, query string, vars map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	c.send(testenv.Message{ID: id, Type: "subscribe", Payload: b})
}

func (c *wspConn) complete(id string) {
	c.t.Helper()
	c.send(testenv.Message{ID: id, Type: "complete"})
}

// read returns the next message, failing on a close, an error or a timeout.
func (c *wspConn) read(timeout time.Duration) testenv.Message {
	c.t.Helper()
	select {
	case ev := <-c.ch:
		if ev.err != nil {
			c.t.Fatalf("want a message, got %v", ev.err)
		}
		return ev.m
	case <-time.After(timeout):
		c.t.Fatalf("no message within %v", timeout)
	}
	return testenv.Message{}
}

// expect reads the next message, skipping legacy keep-alives ("ka"), and checks
// its type and id.
func (c *wspConn) expect(typ, id string) testenv.Message {
	c.t.Helper()
	for {
		m := c.read(wspWait)
		if m.Type == "ka" && typ != "ka" {
			continue
		}
		if m.Type != typ || m.ID != id {
			c.t.Fatalf("want %s for %q, got %s for %q: %s", typ, id, m.Type, m.ID, m.Payload)
		}
		return m
	}
}

// expectClose reads until the server closes and checks the code.
func (c *wspConn) expectClose(code int, timeout time.Duration) *websocket.CloseError {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-c.ch:
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
			c.t.Fatalf("want close %d within %v, the socket is still open", code, timeout)
		}
	}
}

// quiet fails if anything but a legacy keep-alive arrives within d.
func (c *wspConn) quiet(d time.Duration) {
	c.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-c.ch:
			if ev.err != nil {
				c.t.Fatalf("want silence, got %v", ev.err)
			}
			if ev.m.Type == "ka" {
				continue
			}
			c.t.Fatalf("want silence, got %s for %q: %s", ev.m.Type, ev.m.ID, ev.m.Payload)
		case <-deadline:
			return
		}
	}
}

var wspSeq atomic.Int64

// alive proves the socket is open and served: a query gets next and complete.
func (c *wspConn) alive() {
	c.t.Helper()
	id := fmt.Sprintf("alive-%d", wspSeq.Add(1))
	c.subscribe(id, `{ __typename }`, nil)
	c.expect("next", id)
	c.expect("complete", id)
}

// wspDecode decodes a next payload's data, failing on errors.
func wspDecode(t testing.TB, m testenv.Message, v any) {
	t.Helper()
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []testenv.Error `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		t.Fatalf("decoding %s: %v", m.Payload, err)
	}
	if len(r.Errors) > 0 {
		t.Fatalf("result of %s has errors: %s", m.ID, m.Payload)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decoding data %s: %v", r.Data, err)
	}
}

func wspEventType(t testing.TB, m testenv.Message) string {
	t.Helper()
	var d struct {
		OrganizationEvents struct{ Type string } `json:"organizationEvents"`
	}
	wspDecode(t, m, &d)
	return d.OrganizationEvents.Type
}

// wspWaitSubs waits until e's feeds count exactly orgSubs organizationEvents and
// viewerSubs viewerEvents subscribers (-1: any), so that no later commit is missed.
func wspWaitSubs(t testing.TB, e *testenv.Env, orgSubs, viewerSubs int) {
	t.Helper()
	deadline := time.Now().Add(wspWait)
	for {
		_, o, v := e.App.Feeds.Stats()
		if (orgSubs < 0 || o == orgSubs) && (viewerSubs < 0 || v == viewerSubs) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d organization and %d viewer subscribers, have %d and %d", orgSubs, viewerSubs, o, v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wspRename(t testing.TB, u *testenv.User, orgID, name string) {
	t.Helper()
	u.Do(wspMRename, map[string]any{"in": map[string]any{"organizationId": orgID, "name": name}}).OK(t, nil)
}

// wspSignIn signs u in again (a new session) and returns that session's token.
func wspSignIn(t testing.TB, e *testenv.Env, u *testenv.User) string {
	t.Helper()
	return e.Client().Do(wspMSignIn, map[string]any{"in": map[string]any{"email": u.Email, "password": u.Password}}).
		OK(t, nil).Str(t, "signIn.token")
}

// wspCookieSession signs u in with a fresh cookie client and returns the value of
// the session cookie it was given.
func wspCookieSession(t testing.TB, e *testenv.Env, u *testenv.User) string {
	t.Helper()
	res := e.Client().Do(wspMSignIn, map[string]any{"in": map[string]any{"email": u.Email, "password": u.Password}}).OK(t, nil)
	for _, ck := range (&http.Response{Header: res.Header}).Cookies() {
		if ck.Name == "orgql_session" && ck.Value != "" {
			return ck.Value
		}
	}
	t.Fatalf("signIn set no orgql_session cookie: %v", res.Header["Set-Cookie"])
	return ""
}

func wspCookie(value string) http.Header { return http.Header{"Cookie": {"orgql_session=" + value}} }

func wspURL(e *testenv.Env) string {
	return "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
}

// ---------------------------------------------------------------------------
// Close codes

func TestWSInitTimeout4408(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "sqlite")
	s := e.Dial(nil)
	start := time.Now()
	ce := wspPump(t, s).expectClose(4408, 10*time.Second)
	if ce.Text != "Connection initialisation timeout" {
		t.Errorf("close reason %q", ce.Text)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("closed after %v; the init timeout is 3 s", d)
	}
}

// Pings may come before connection_init ("at any time"), but they must not
// extend the 3 s wait for it.
func TestWSInitTimeoutNotExtendedByPings(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "sqlite")
	c := wspPump(t, e.Dial(nil))
	start := time.Now()
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		// A ping every 500 ms for 8 s.
		defer close(stopped)
		for i := 0; i < 16; i++ {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			if c.s.Conn.WriteJSON(testenv.Message{Type: "ping"}) != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-stopped }()
	c.expectClose(4408, 15*time.Second)
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("4408 came after %v, once the client stopped pinging: pings before connection_init reset the 3 s init timeout", d.Round(time.Millisecond))
	}
}

func TestWSSubscribeBeforeAck4401(t *testing.T) {
	e := testenv.New(t, "sqlite")
	c := wspPump(t, e.Dial(nil))
	c.subscribe("1", wspViewerQ, nil)
	ce := c.expectClose(4401, wspWait)
	if ce.Text != "Unauthorized" {
		t.Errorf("close reason %q", ce.Text)
	}
	// Nothing ran: a mutation before the ack must not take effect either.
	u := e.SignUp("Early")
	o := e.CreateOrg(u, "Early", "early-ws")
	c = wspPump(t, e.Dial(http.Header{"Authorization": {"Bearer " + u.Token}}))
	c.subscribe("m", wspMRename, map[string]any{"in": map[string]any{"organizationId": o.ID, "name": "Renamed"}})
	c.expectClose(4401, wspWait)
	if got := u.Do(`query($slug: String!) { organization(slug: $slug) { name } }`, map[string]any{"slug": o.Slug}).OK(t, nil).Str(t, "organization.name"); got != "Early" {
		t.Errorf("a subscribe before the ack ran: name %q", got)
	}
}

func TestWSSecondInit4429(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Twice")
	c := wspOpen(t, e, u.Token)
	c.send(testenv.Message{Type: "connection_init"})
	ce := c.expectClose(4429, wspWait)
	if ce.Text != "Too many initialisation requests" {
		t.Errorf("close reason %q", ce.Text)
	}

	// Back to back, before the ack.
	c = wspPump(t, e.Dial(nil))
	initMsg, _ := json.Marshal(testenv.Message{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer ` + u.Token + `"}`)})
	c.sendRaw(string(initMsg))
	c.sendRaw(string(initMsg))
	c.expectClose(4429, wspWait)
}

func TestWSDuplicateID4409(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Dup")
	c := wspOpen(t, e, u.Token)
	c.subscribe("dup", wspViewerEvent, nil)
	wspWaitSubs(t, e, -1, 1)
	c.alive() // other ids are fine meanwhile
	c.subscribe("dup", wspViewerQ, nil)
	ce := c.expectClose(4409, wspWait)
	if ce.Text != "Subscriber for dup already exists" {
		t.Errorf("close reason %q", ce.Text)
	}
	wspWaitSubs(t, e, -1, 0)
}

func TestWSInvalidMessages4400(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Invalid")
	cases := []struct {
		name    string
		preInit bool
		send    func(c *wspConn)
	}{
		{"not JSON", false, func(c *wspConn) { c.sendRaw("hello") }},
		{"not JSON before init", true, func(c *wspConn) { c.sendRaw("{") }},
		{"binary frame", false, func(c *wspConn) {
			_ = c.s.Conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"ping"}`))
		}},
		{"binary frame before init", true, func(c *wspConn) {
			_ = c.s.Conn.WriteMessage(websocket.BinaryMessage, []byte(`{"type":"connection_init"}`))
		}},
		{"JSON array", false, func(c *wspConn) { c.sendRaw(`[{"type":"ping"}]`) }},
		{"JSON without type", false, func(c *wspConn) { c.sendRaw(`{"id":"1","payload":{"query":"{ __typename }"}}`) }},
		{"empty type", false, func(c *wspConn) { c.sendRaw(`{"type":""}`) }},
		{"numeric type", false, func(c *wspConn) { c.sendRaw(`{"type":7}`) }},
		{"unknown type", false, func(c *wspConn) { c.sendRaw(`{"type":"subscribe_all"}`) }},
		{"unknown type before init", true, func(c *wspConn) { c.sendRaw(`{"type":"hello"}`) }},
		{"server type next", false, func(c *wspConn) { c.sendRaw(`{"id":"1","type":"next","payload":{"data":{}}}`) }},
		{"server type connection_ack", false, func(c *wspConn) { c.sendRaw(`{"type":"connection_ack"}`) }},
		{"legacy start", false, func(c *wspConn) { c.sendRaw(`{"id":"1","type":"start","payload":{"query":"{ __typename }"}}`) }},
		{"legacy stop", false, func(c *wspConn) { c.sendRaw(`{"id":"1","type":"stop"}`) }},
		{"legacy connection_terminate", false, func(c *wspConn) { c.sendRaw(`{"type":"connection_terminate"}`) }},
		{"subscribe without id", false, func(c *wspConn) { c.sendRaw(`{"type":"subscribe","payload":{"query":"{ __typename }"}}`) }},
		{"subscribe with empty id", false, func(c *wspConn) { c.sendRaw(`{"id":"","type":"subscribe","payload":{"query":"{ __typename }"}}`) }},
		{"subscribe with numeric id", false, func(c *wspConn) { c.sendRaw(`{"id":1,"type":"subscribe","payload":{"query":"{ __typename }"}}`) }},
		{"subscribe without payload", false, func(c *wspConn) { c.sendRaw(`{"id":"1","type":"subscribe"}`) }},
		{"subscribe with null payload", false, func(c *wspConn) { c.sendRaw(`{"id":"1","type":"subscribe","payload":null}`) }},
		{"subscribe without query", false, func(c *wspConn) { c.sendRaw(`{"id":"1","type":"subscribe","payload":{"variables":{}}}`) }},
		{"subscribe with empty query", false, func(c *wspConn) { c.sendRaw(`{"id":"1","type":"subscribe","payload":{"query":""}}`) }},
		{"subscribe with non-string query", false, func(c *wspConn) { c.sendRaw(`{"id":"1","type":"subscribe","payload":{"query":{}}}`) }},
		{"subscribe with array variables", false, func(c *wspConn) {
			c.sendRaw(`{"id":"1","type":"subscribe","payload":{"query":"{ __typename }","variables":[]}}`)
		}},
		{"complete without id", false, func(c *wspConn) { c.sendRaw(`{"type":"complete"}`) }},
		{"connection_init with array payload", true, func(c *wspConn) { c.sendRaw(`{"type":"connection_init","payload":[]}`) }},
		// Ping and pong payloads are Record<string, unknown> | null.
		{"ping with string payload", false, func(c *wspConn) { c.sendRaw(`{"type":"ping","payload":"x"}`) }},
		{"pong with array payload", false, func(c *wspConn) { c.sendRaw(`{"type":"pong","payload":[1]}`) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := e.Dial(nil)
			if !tc.preInit {
				s.Init(testenv.Bearer(u.Token))
			}
			c := wspPump(t, s)
			tc.send(c)
			c.expectClose(4400, wspWait)
		})
	}
}

// What the protocol allows must not be refused: null payloads, unknown fields,
// complete for an unknown or finished id.
func TestWSValidEdgeMessagesAccepted(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Edge")
	c := wspPump(t, e.Dial(nil))
	c.sendRaw(`{"type":"connection_init","payload":{"authorization":"Bearer ` + u.Token + `"},"extra":true}`)
	c.expect("connection_ack", "")
	c.sendRaw(`{"id":"1","type":"subscribe","payload":{"query":"{ viewer { id } }","operationName":null,"variables":null,"extensions":null}}`)
	c.expect("next", "1")
	c.expect("complete", "1")
	c.complete("1")     // already finished
	c.complete("never") // never started
	c.sendRaw(`{"type":"ping","payload":null}`)
	c.expect("pong", "")
	c.alive()
}

func TestWSCredentials(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Creds")
		whoami := func(c *wspConn) string {
			c.subscribe("who", wspViewerQ, nil)
			var d struct{ Viewer *struct{ ID string } }
			wspDecode(t, c.expect("next", "who"), &d)
			c.expect("complete", "who")
			if d.Viewer == nil {
				return ""
			}
			return d.Viewer.ID
		}
		refused := func(t *testing.T, header http.Header, payload any) {
			t.Helper()
			s := e.Dial(header)
			m := testenv.Message{Type: "connection_init"}
			if payload != nil {
				m.Payload, _ = json.Marshal(payload)
			}
			s.Send(m)
			ce := wspPump(t, s).expectClose(4403, wspWait)
			if ce.Text != "Forbidden" {
				t.Errorf("close reason %q", ce.Text)
			}
		}

		t.Run("bearer in connection_init", func(t *testing.T) {
			if got := whoami(wspOpen(t, e, u.Token)); got != u.ID {
				t.Errorf("viewer %q, want %s", got, u.ID)
			}
		})
		t.Run("capitalized Authorization key", func(t *testing.T) {
			s := e.Dial(nil)
			s.Init(map[string]any{"Authorization": "Bearer " + u.Token})
			if got := whoami(wspPump(t, s)); got != u.ID {
				t.Errorf("viewer %q, want %s", got, u.ID)
			}
		})
		t.Run("session cookie", func(t *testing.T) {
			s := e.Dial(wspCookie(wspCookieSession(t, e, u)))
			s.Init(nil)
			if got := whoami(wspPump(t, s)); got != u.ID {
				t.Errorf("viewer %q, want %s", got, u.ID)
			}
		})
		t.Run("authorization header of the upgrade", func(t *testing.T) {
			s := e.Dial(http.Header{"Authorization": {"Bearer " + u.Token}})
			s.Init(map[string]any{})
			if got := whoami(wspPump(t, s)); got != u.ID {
				t.Errorf("viewer %q, want %s", got, u.ID)
			}
		})
		t.Run("invalid bearer", func(t *testing.T) {
			refused(t, nil, testenv.Bearer(strings.Repeat("A", len(u.Token))))
		})
		t.Run("garbage", func(t *testing.T) {
			refused(t, nil, map[string]any{"authorization": "garbage"})
			refused(t, nil, map[string]any{"authorization": "Bearer"})
			refused(t, nil, map[string]any{"authorization": ""})
			refused(t, nil, map[string]any{"authorization": "Basic " + u.Token})
		})
		t.Run("no credentials", func(t *testing.T) {
			refused(t, nil, nil)
			refused(t, nil, map[string]any{})
		})
		t.Run("unknown cookie", func(t *testing.T) {
			refused(t, wspCookie(strings.Repeat("B", len(u.Token))), nil)
		})
		t.Run("signed-out token", func(t *testing.T) {
			v := e.SignUp("Gone")
			cookie := wspCookieSession(t, e, v)
			v.Do(wspMSignOut, nil).OK(t, nil)
			refused(t, nil, testenv.Bearer(v.Token))
			// Another session of v is unaffected.
			s := e.Dial(wspCookie(cookie))
			s.Init(nil)
			wspPump(t, s).alive()
		})
		t.Run("expired session", func(t *testing.T) {
			w := e.SignUp("Idle")
			cookie := wspCookieSession(t, e, w)
			e.Advance(config.Default().SessionIdleTimeout + time.Hour)
			refused(t, nil, testenv.Bearer(w.Token))
			refused(t, wspCookie(cookie), nil)
			// A fresh session works on the advanced clock.
			wspOpen(t, e, e.SignUp("Fresh").Token).alive()
		})
	})
}

func TestWSSubprotocol4406(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Proto")
	t.Run("foo only", func(t *testing.T) {
		s := e.Dial(nil, "foo")
		ce := wspPump(t, s).expectClose(4406, wspWait)
		if !strings.HasPrefix(ce.Text, "Subprotocol not acceptable") {
			t.Errorf("close reason %q", ce.Text)
		}
	})
	t.Run("none", func(t *testing.T) {
		conn, _, err := (&websocket.Dialer{HandshakeTimeout: wspWait}).Dial(wspURL(e), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wspPump(t, &testenv.Socket{Conn: conn}).expectClose(4406, wspWait)
	})
	t.Run("preference", func(t *testing.T) {
		s := e.Dial(nil, "foo", "graphql-ws", "graphql-transport-ws")
		if got := s.Conn.Subprotocol(); got != "graphql-transport-ws" {
			t.Errorf("negotiated %q, want graphql-transport-ws", got)
		}
		if got := s.Response.Header.Get("Sec-WebSocket-Protocol"); got != "graphql-transport-ws" {
			t.Errorf("Sec-WebSocket-Protocol %q", got)
		}
		s.Init(testenv.Bearer(u.Token))
	})
	t.Run("legacy", func(t *testing.T) {
		s := e.Dial(nil, "foo", "graphql-ws")
		if got := s.Conn.Subprotocol(); got != "graphql-ws" {
			t.Errorf("negotiated %q, want graphql-ws", got)
		}
		s.Init(testenv.Bearer(u.Token))
	})
}

func TestWSOrigin(t *testing.T) {
	const allowed = "https://app.example.test"
	e := testenv.New(t, "sqlite", testenv.WithConfig(func(c *config.Config) { c.AllowedOrigins = []string{allowed} }))
	plain := testenv.New(t, "sqlite")
	u := e.SignUp("Origin")
	pu := plain.SignUp("Plain")

	for _, tc := range []struct {
		name   string
		env    *testenv.Env
		token  string
		origin string // "" sends none
		ok     bool
	}{
		{"allowed origin", e, u.Token, allowed, true},
		{"same origin", e, u.Token, e.Server.URL, true},
		{"no Origin header", e, u.Token, "", true},
		{"foreign origin", e, u.Token, "https://evil.example.test", false},
		{"allowed origin as a prefix", e, u.Token, allowed + ".evil.test", false},
		{"allowed host, other scheme", e, u.Token, "http://app.example.test", false},
		{"same host, other port", e, u.Token, "http://127.0.0.1:1", false},
		{"null origin", e, u.Token, "null", false},
		{"no allow-list: same origin", plain, pu.Token, plain.Server.URL, true},
		{"no allow-list: foreign origin", plain, pu.Token, allowed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			s, err := tc.env.DialErr(h)
			if tc.ok {
				if err != nil {
					t.Fatalf("upgrade refused: %v (HTTP %v)", err, s.Response)
				}
				s.Init(testenv.Bearer(tc.token))
				return
			}
			if err == nil {
				s.Conn.Close()
				t.Fatalf("upgrade from Origin %q accepted", tc.origin)
			}
			if s.Response == nil || s.Response.StatusCode != http.StatusForbidden {
				t.Fatalf("want HTTP 403, got %v (%v)", s.Response, err)
			}
		})
	}
}

func TestWSReadLimit1009(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Big")
	// A message of exactly 64 KiB is served: a query padded with whitespace.
	msg := func(size int) string {
		head := `{"id":"big","type":"subscribe","payload":{"query":"{ viewer { id } }`
		tail := `"}}`
		return head + strings.Repeat(" ", size-len(head)-len(tail)) + tail
	}
	c := wspOpen(t, e, u.Token)
	c.sendRaw(msg(64 << 10))
	c.expect("next", "big")
	c.expect("complete", "big")
	// One byte more closes with 1009. The server may close while the client is
	// still writing, so a write error is expected.
	_ = c.s.Conn.WriteMessage(websocket.TextMessage, []byte(msg(64<<10+1)))
	c.expectClose(websocket.CloseMessageTooBig, wspWait)

	// Before connection_init too.
	c = wspPump(t, e.Dial(nil))
	_ = c.s.Conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"connection_init","payload":{"authorization":"`+strings.Repeat("x", 1<<20)+`"}}`))
	c.expectClose(websocket.CloseMessageTooBig, wspWait)
}

// ---------------------------------------------------------------------------
// Ping, pong, keep-alive

func TestWSPingPong(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Ping")
	c := wspPump(t, e.Dial(nil))
	// Before connection_init.
	c.sendRaw(`{"type":"ping","payload":{"seq":1}}`)
	if m := c.expect("pong", ""); string(m.Payload) != `{"seq":1}` {
		t.Errorf("pong payload %s, want the ping's", m.Payload)
	}
	c.send(testenv.Message{Type: "connection_init", Payload: json.RawMessage(`{"authorization":"Bearer ` + u.Token + `"}`)})
	c.expect("connection_ack", "")
	c.sendRaw(`{"type":"ping"}`)
	if m := c.expect("pong", ""); len(m.Payload) != 0 {
		t.Errorf("pong payload %s, want none", m.Payload)
	}
	c.sendRaw(`{"type":"ping","payload":{"latency":{"sent":"2024-01-01T00:00:00Z"},"n":[1,2,3]}}`)
	if m := c.expect("pong", ""); string(m.Payload) != `{"latency":{"sent":"2024-01-01T00:00:00Z"},"n":[1,2,3]}` {
		t.Errorf("pong payload %s, want the ping's", m.Payload)
	}
	// An unsolicited pong is a heartbeat: accepted silently.
	c.sendRaw(`{"type":"pong"}`)
	c.sendRaw(`{"type":"pong","payload":{"beat":1}}`)
	c.quiet(300 * time.Millisecond)
	c.alive()
}

func wspPingEnv(t *testing.T) *testenv.Env {
	return testenv.New(t, "sqlite", testenv.WithConfig(func(c *config.Config) { c.WebsocketPing = 200 * time.Millisecond }))
}

// The server pings each socket; a client that answers (as every browser does)
// stays connected past the idle deadline (2 × ping + 5 s) with no message of its own.
func TestWSKeepAlivePings(t *testing.T) {
	t.Parallel()
	e := wspPingEnv(t)
	u := e.SignUp("Alive")
	s := e.Dial(nil)
	var pings atomic.Int64
	s.Conn.SetPingHandler(func(data string) error {
		pings.Add(1)
		return s.Conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	s.Init(testenv.Bearer(u.Token))
	c := wspPump(t, s)
	c.subscribe("v", wspViewerEvent, nil)
	c.quiet(6500 * time.Millisecond)
	if n := pings.Load(); n < 5 {
		t.Errorf("%d websocket pings in 6.5 s at a 200 ms interval", n)
	}
	c.alive()
	wspWaitSubs(t, e, -1, 1)
}

// A client that does not answer pings is dropped once the idle deadline passes, and
// its subscriptions end.
func TestWSKeepAliveDropsSilentClient(t *testing.T) {
	t.Parallel()
	e := wspPingEnv(t)
	u := e.SignUp("Silent")
	s := e.Dial(nil)
	s.Conn.SetPingHandler(func(string) error { return nil })
	s.Init(testenv.Bearer(u.Token))
	c := wspPump(t, s)
	c.subscribe("v", wspViewerEvent, nil)
	wspWaitSubs(t, e, -1, 1)
	select {
	case ev := <-c.ch:
		if ev.err == nil {
			t.Fatalf("unexpected %+v", ev.m)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("a client that never answers pings is still connected after 15 s (idle deadline 5.4 s)")
	}
	wspWaitSubs(t, e, -1, 0)
}

// Legacy graphql-ws clients are kept alive with "ka" messages and, like the
// subscriptions-transport-ws client, send nothing while idle: they must stay
// connected.
func TestWSKeepAliveLegacyIdleClient(t *testing.T) {
	t.Parallel()
	e := wspPingEnv(t)
	u := e.SignUp("Legacy idle")
	s := e.Dial(nil, "graphql-ws")
	s.Init(testenv.Bearer(u.Token))
	c := wspPump(t, s)
	start := time.Now()
	kas := 0
	for time.Since(start) < 6500*time.Millisecond {
		select {
		case ev := <-c.ch:
			if ev.err != nil {
				t.Fatalf("an idle graphql-ws client was disconnected after %v (%d ka received): %v",
					time.Since(start).Round(time.Millisecond), kas, ev.err)
			}
			if ev.m.Type != "ka" {
				t.Fatalf("unexpected %+v", ev.m)
			}
			kas++
		case <-time.After(100 * time.Millisecond):
		}
	}
	if kas < 5 {
		t.Errorf("%d ka messages in 6.5 s at a 200 ms interval", kas)
	}
	b, _ := json.Marshal(map[string]any{"query": wspViewerQ})
	c.send(testenv.Message{ID: "1", Type: "start", Payload: b})
	c.expect("data", "1")
}

// ---------------------------------------------------------------------------
// Operations

func TestWSOperations(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Ops")
		o := e.CreateOrg(owner, "Ops", "ops-ws")
		vars := map[string]any{"org": o.ID}

		t.Run("query gives next and complete", func(t *testing.T) {
			c := wspOpen(t, e, owner.Token)
			c.subscribe("q", wspViewerQ, nil)
			var d struct{ Viewer struct{ ID string } }
			wspDecode(t, c.expect("next", "q"), &d)
			if d.Viewer.ID != owner.ID {
				t.Errorf("viewer %q, want %s", d.Viewer.ID, owner.ID)
			}
			c.expect("complete", "q")
		})

		t.Run("mutation", func(t *testing.T) {
			c := wspOpen(t, e, owner.Token)
			c.subscribe("m", wspMRename, map[string]any{"in": map[string]any{"organizationId": o.ID, "name": "Ops renamed"}})
			c.expect("next", "m")
			c.expect("complete", "m")
		})

		t.Run("validation error gives error and no complete", func(t *testing.T) {
			c := wspOpen(t, e, owner.Token)
			c.subscribe("bad", `{ viewer { noSuchField } }`, nil)
			m := c.expect("error", "bad")
			var errs []testenv.Error
			if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 || errs[0].Message == "" {
				t.Fatalf("error payload must be a list of GraphQL errors, got %s", m.Payload)
			}
			// Nothing more for "bad": the next message is for the next operation.
			c.subscribe("after", wspViewerQ, nil)
			c.expect("next", "after")
			c.expect("complete", "after")
			c.quiet(200 * time.Millisecond)
			// Also for a subscription missing a required variable.
			c.subscribe("badvars", wspOrgEvents, nil)
			c.expect("error", "badvars")
			c.quiet(200 * time.Millisecond)
		})

		t.Run("subscription delivers events", func(t *testing.T) {
			c := wspOpen(t, e, owner.Token)
			c.subscribe("s", wspOrgEvents, vars)
			wspWaitSubs(t, e, 1, -1)
			wspRename(t, owner, o.ID, "Ops 1")
			if typ := wspEventType(t, c.expect("next", "s")); typ != "ORGANIZATION_UPDATED" {
				t.Errorf("event %s", typ)
			}
			c.complete("s")
			wspWaitSubs(t, e, 0, -1)
		})

		t.Run("client complete stops a subscription silently", func(t *testing.T) {
			c := wspOpen(t, e, owner.Token)
			c.subscribe("stop", wspOrgEvents, vars)
			c.subscribe("keep", wspOrgEvents, vars)
			wspWaitSubs(t, e, 2, -1)
			c.complete("stop")
			wspWaitSubs(t, e, 1, -1)
			wspRename(t, owner, o.ID, "Ops 2")
			if typ := wspEventType(t, c.expect("next", "keep")); typ != "ORGANIZATION_UPDATED" {
				t.Errorf("event %s", typ)
			}
			// No next and no complete for "stop".
			c.quiet(500 * time.Millisecond)
			c.complete("keep")
			c.quiet(200 * time.Millisecond)
			wspWaitSubs(t, e, 0, -1)
		})

		t.Run("many operations on one socket", func(t *testing.T) {
			const n = 20
			c := wspOpen(t, e, owner.Token)
			for i := 0; i < n; i++ {
				c.subscribe(fmt.Sprintf("sub-%d", i), wspOrgEvents, vars)
				c.subscribe(fmt.Sprintf("q-%d", i), wspViewerQ, nil)
			}
			wspWaitSubs(t, e, n, -1)
			wspRename(t, owner, o.ID, "Ops 3")
			got := map[string][]string{}
			for count := 0; count < 3*n; count++ {
				m := c.read(wspWait)
				got[m.ID] = append(got[m.ID], m.Type)
				if strings.HasPrefix(m.ID, "sub-") && wspEventType(t, m) != "ORGANIZATION_UPDATED" {
					t.Errorf("%s: %s", m.ID, m.Payload)
				}
			}
			for i := 0; i < n; i++ {
				if g := strings.Join(got[fmt.Sprintf("sub-%d", i)], ","); g != "next" {
					t.Errorf("sub-%d: %s", i, g)
				}
				if g := strings.Join(got[fmt.Sprintf("q-%d", i)], ","); g != "next,complete" {
					t.Errorf("q-%d: %s", i, g)
				}
			}
			c.quiet(300 * time.Millisecond)
			if ops := e.App.Sockets.Operations(); ops != n {
				t.Errorf("operations %d, want %d", ops, n)
			}
		})

		t.Run("ids are reusable once completed", func(t *testing.T) {
			c := wspOpen(t, e, owner.Token)
			for i := 0; i < 3; i++ {
				c.subscribe("x", wspViewerQ, nil)
				c.expect("next", "x")
				c.expect("complete", "x")
			}
			// After an error.
			c.subscribe("x", `{ nope }`, nil)
			c.expect("error", "x")
			c.subscribe("x", wspViewerQ, nil)
			c.expect("next", "x")
			c.expect("complete", "x")
			// After the client completed a subscription.
			before := func() int { _, n, _ := e.App.Feeds.Stats(); return n }()
			c.subscribe("y", wspOrgEvents, vars)
			wspWaitSubs(t, e, before+1, -1)
			c.complete("y")
			wspWaitSubs(t, e, before, -1)
			c.subscribe("y", wspOrgEvents, vars)
			wspWaitSubs(t, e, before+1, -1)
			wspRename(t, owner, o.ID, "Ops 4")
			if typ := wspEventType(t, c.expect("next", "y")); typ != "ORGANIZATION_UPDATED" {
				t.Errorf("event %s", typ)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// Legacy graphql-ws

func TestWSLegacyProtocol(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		owner := e.SignUp("Legacy")
		o := e.CreateOrg(owner, "Legacy", "legacy-ws")
		s := e.Dial(nil, "graphql-ws")
		if got := s.Conn.Subprotocol(); got != "graphql-ws" {
			t.Fatalf("subprotocol %q", got)
		}
		s.Init(testenv.Bearer(owner.Token)) // connection_ack
		c := wspPump(t, s)
		c.expect("ka", "")
		start := func(id, query string, vars map[string]any) {
			b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
			c.send(testenv.Message{ID: id, Type: "start", Payload: b})
		}

		start("q", wspViewerQ, nil)
		var d struct{ Viewer struct{ ID string } }
		wspDecode(t, c.expect("data", "q"), &d)
		if d.Viewer.ID != owner.ID {
			t.Errorf("viewer %q", d.Viewer.ID)
		}
		c.expect("complete", "q")

		start("s", wspOrgEvents, map[string]any{"org": o.ID})
		wspWaitSubs(t, e, 1, -1)
		wspRename(t, owner, o.ID, "Legacy 1")
		if typ := wspEventType(t, c.expect("data", "s")); typ != "ORGANIZATION_UPDATED" {
			t.Errorf("event %s", typ)
		}
		c.send(testenv.Message{ID: "s", Type: "stop"})
		wspWaitSubs(t, e, 0, -1)
		wspRename(t, owner, o.ID, "Legacy 2")
		// No more data for "s" (a complete acknowledging the stop is tolerated).
		for deadline := time.After(300 * time.Millisecond); ; {
			select {
			case ev := <-c.ch:
				if ev.err != nil || (ev.m.Type != "ka" && ev.m.Type != "complete") {
					t.Fatalf("after stop: %v %+v %s", ev.err, ev.m, ev.m.Payload)
				}
				continue
			case <-deadline:
			}
			break
		}

		c.send(testenv.Message{Type: "connection_terminate"})
		c.expectClose(websocket.CloseNormalClosure, wspWait)

		t.Run("bad credentials", func(t *testing.T) {
			for _, payload := range []string{`{"authorization":"Bearer nope"}`, `{}`} {
				bad := wspPump(t, e.Dial(nil, "graphql-ws"))
				bad.send(testenv.Message{Type: "connection_init", Payload: json.RawMessage(payload)})
				m := bad.expect("connection_error", "")
				var p struct{ Message string }
				if err := json.Unmarshal(m.Payload, &p); err != nil || p.Message == "" {
					t.Errorf("connection_error payload %s", m.Payload)
				}
				bad.expectClose(4403, wspWait)
			}
		})
	})
}

// ---------------------------------------------------------------------------
// Session revocation

func TestWSSessionRevocation(t *testing.T) {
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Revoked")
		other := e.SignUp("Bystander")
		tokenB := wspSignIn(t, e, u)
		cookieC := wspCookieSession(t, e, u)

		a1 := wspOpen(t, e, u.Token)
		a2 := wspOpen(t, e, u.Token, "graphql-ws")
		b := wspOpen(t, e, tokenB)
		cs := e.Dial(wspCookie(cookieC))
		cs.Init(nil)
		cc := wspPump(t, cs)
		v := wspOpen(t, e, other.Token)
		a1.subscribe("v", wspViewerEvent, nil)
		wspWaitSubs(t, e, -1, 1)

		// signOut by another client holding the same token closes that session's
		// sockets only.
		signer := e.Client()
		signer.Token = u.Token
		signer.Do(wspMSignOut, nil).OK(t, nil)
		a1.expectClose(4403, wspWait)
		a2.expectClose(4403, wspWait)
		wspWaitSubs(t, e, -1, 0)
		b.alive()
		cc.alive()
		v.alive()

		// signOut everywhere closes every socket of the user.
		signer.Token = tokenB
		if n := signer.Do(wspMSignOut, map[string]any{"in": map[string]any{"everywhere": true}}).OK(t, nil).Get(t, "signOut.revokedSessions"); n != float64(2) {
			t.Errorf("revokedSessions %v, want 2", n)
		}
		b.expectClose(4403, wspWait)
		cc.expectClose(4403, wspWait)
		v.alive()

		// resetPassword closes every socket of the user.
		t1 := wspSignIn(t, e, other)
		r1 := wspOpen(t, e, other.Token)
		r2 := wspOpen(t, e, t1, "graphql-ws")
		e.Client().Do(wspMReqReset, map[string]any{"in": map[string]any{"email": other.Email}}).OK(t, nil)
		tok := e.Mail.Token(other.Email)
		newToken := e.Client().Do(wspMReset, map[string]any{"in": map[string]any{"token": tok, "newPassword": "another long password"}}).
			OK(t, nil).Str(t, "resetPassword.token")
		r1.expectClose(4403, wspWait)
		r2.expectClose(4403, wspWait)
		v.expectClose(4403, wspWait)
		wspOpen(t, e, newToken).alive()
		waitHub(t, e, 1)
	})
}

// waitHub waits until the hub has n sockets.
func waitHub(t testing.TB, e *testenv.Env, n int) {
	t.Helper()
	deadline := time.Now().Add(wspWait)
	for e.App.Sockets.Connections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("want %d sockets in the hub, have %d", n, e.App.Sockets.Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A socket closes with 4403 when its session reaches its absolute expiry, without
// any message from the client.
func TestWSSessionMaxAgeClosesSocket(t *testing.T) {
	t.Parallel()
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Brief")
		c := wspOpen(t, e, u.Token)
		l := wspOpen(t, e, u.Token, "graphql-ws")
		c.subscribe("v", wspViewerEvent, nil)
		wspWaitSubs(t, e, -1, 1)
		c.expectClose(4403, 15*time.Second)
		l.expectClose(4403, wspWait)
		wspWaitSubs(t, e, -1, 0)
	}, testenv.WithConfig(func(c *config.Config) { c.SessionMaxAge = 3 * time.Second }))
}

// ---------------------------------------------------------------------------
// Shutdown

// RunRealtime closes every socket with 1001 when the server stops; the harness
// cancels it only at cleanup, so this calls what it calls.
func TestWSShutdownGoingAway(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Bye")
	a := wspOpen(t, e, u.Token)
	b := wspOpen(t, e, u.Token, "graphql-ws")
	a.subscribe("v", wspViewerEvent, nil)
	wspWaitSubs(t, e, -1, 1)
	waitHub(t, e, 2)
	e.App.Sockets.CloseAll()
	a.expectClose(websocket.CloseGoingAway, wspWait)
	b.expectClose(websocket.CloseGoingAway, wspWait)
	wspWaitSubs(t, e, -1, 0)
	waitHub(t, e, 0)
}

// ---------------------------------------------------------------------------
// Goroutines

func TestWSGoroutinesReturnToBaseline(t *testing.T) {
	e := testenv.New(t, "sqlite")
	u := e.SignUp("Leak")
	o := e.CreateOrg(u, "Leak", "leak-ws")
	vars := map[string]any{"org": o.ID}

	// Warm up: one socket through a whole life (pools, timers, caches).
	w := e.Dial(nil)
	w.Init(testenv.Bearer(u.Token))
	w.Subscribe("w", wspOrgEvents, vars)
	wspWaitSubs(t, e, 1, -1)
	wspRename(t, u, o.ID, "Leak warm-up")
	if _, err := w.ReadErr(wspWait); err != nil {
		t.Fatal(err)
	}
	w.Conn.Close()
	wspWaitSubs(t, e, 0, -1)
	waitHub(t, e, 0)
	// Idle delivery workers may linger a few seconds by design: wait for the count
	// to come down to the limit.
	settle := func(limit int) int {
		deadline := time.Now().Add(20 * time.Second)
		n := runtime.NumGoroutine()
		for time.Now().Before(deadline) && n > limit {
			time.Sleep(50 * time.Millisecond)
			n = runtime.NumGoroutine()
		}
		return n
	}
	base := runtime.NumGoroutine()

	socks := make([]*testenv.Socket, 50)
	for i := range socks {
		s := e.Dial(nil)
		s.Init(testenv.Bearer(u.Token))
		s.Subscribe("s", wspOrgEvents, vars)
		socks[i] = s
	}
	wspWaitSubs(t, e, 50, -1)
	// One event to every subscriber, so the delivery path has run too.
	wspRename(t, u, o.ID, "Leak")
	for _, s := range socks {
		if m := s.Next("s", nil, wspWait); m == nil {
			t.Fatal("no event")
		}
	}
	peak := runtime.NumGoroutine()
	for i, s := range socks {
		if i%2 == 0 {
			_ = s.Conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		}
		s.Conn.Close()
	}
	wspWaitSubs(t, e, 0, -1)
	waitHub(t, e, 0)
	// Generous: a few goroutines of the runtime or the HTTP server may come and go.
	if n := settle(base + 3); n > base+3 {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines: baseline %d, with 50 sockets %d, 20 s after closing them %d\n%s",
			base, peak, n, buf[:runtime.Stack(buf, true)])
	}
}
