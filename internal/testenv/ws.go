package testenv

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Socket is a raw GraphQL-over-WebSocket client of the Env's server, for protocol
// tests: it sends and reads protocol messages as they are.
type Socket struct {
	env  *Env
	Conn *websocket.Conn
	// Response is the HTTP response of the upgrade (also when it failed).
	Response *http.Response
}

// Message is a protocol message.
type Message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Dial opens a websocket to /graphql with the given subprotocols (default
// graphql-transport-ws) and extra headers (Origin, Cookie). It fails the test if the
// upgrade fails; use DialErr to examine a refused upgrade.
func (e *Env) Dial(header http.Header, protocols ...string) *Socket {
	e.T.Helper()
	s, err := e.DialErr(header, protocols...)
	if err != nil {
		e.T.Fatalf("websocket dial: %v", err)
	}
	return s
}

// DialErr is Dial returning the error.
func (e *Env) DialErr(header http.Header, protocols ...string) (*Socket, error) {
	if len(protocols) == 0 {
		protocols = []string{"graphql-transport-ws"}
	}
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 5 * time.Second}
	url := "ws" + strings.TrimPrefix(e.Server.URL, "http") + "/graphql"
	c, res, err := d.Dial(url, header)
	s := &Socket{env: e, Conn: c, Response: res}
	if err != nil {
		return s, err
	}
	e.T.Cleanup(func() { c.Close() })
	return s, nil
}

// Send writes a message.
func (s *Socket) Send(m Message) {
	s.env.T.Helper()
	if err := s.Conn.WriteJSON(m); err != nil {
		s.env.T.Fatalf("websocket write: %v", err)
	}
}

// SendRaw writes a text frame as is.
func (s *Socket) SendRaw(text string) {
	s.env.T.Helper()
	if err := s.Conn.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		s.env.T.Fatalf("websocket write: %v", err)
	}
}

// Init sends connection_init with the payload (nil: none) and expects connection_ack.
func (s *Socket) Init(payload any) {
	s.env.T.Helper()
	m := Message{Type: "connection_init"}
	if payload != nil {
		b, _ := json.Marshal(payload)
		m.Payload = b
	}
	s.Send(m)
	if got := s.Read(5 * time.Second); got.Type != "connection_ack" {
		s.env.T.Fatalf("want connection_ack, got %+v", got)
	}
}

// Bearer is a connection_init payload carrying a session token.
func Bearer(token string) map[string]any { return map[string]any{"authorization": "Bearer " + token} }

// Subscribe starts an operation.
func (s *Socket) Subscribe(id, query string, vars map[string]any) {
	s.env.T.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	s.Send(Message{ID: id, Type: "subscribe", Payload: b})
}

// Read returns the next message, failing the test after timeout or on a close.
func (s *Socket) Read(timeout time.Duration) Message {
	s.env.T.Helper()
	m, err := s.ReadErr(timeout)
	if err != nil {
		s.env.T.Fatalf("websocket read: %v", err)
	}
	return m
}

// ReadErr returns the next message or the error (a *websocket.CloseError when the
// server closed the connection).
func (s *Socket) ReadErr(timeout time.Duration) (Message, error) {
	var m Message
	_ = s.Conn.SetReadDeadline(time.Now().Add(timeout))
	_, data, err := s.Conn.ReadMessage()
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, err
	}
	return m, nil
}

// ExpectClose reads until the server closes the connection and checks the code.
func (s *Socket) ExpectClose(code int, timeout time.Duration) *websocket.CloseError {
	s.env.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := s.ReadErr(time.Until(deadline))
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			s.env.T.Fatalf("want close %d, got %v", code, err)
		}
		if ce.Code != code {
			s.env.T.Fatalf("want close %d, got %d %q", code, ce.Code, ce.Text)
		}
		return ce
	}
}

// Next reads the next "next" message of operation id and decodes its payload's data
// into v, failing on anything else.
func (s *Socket) Next(id string, v any, timeout time.Duration) json.RawMessage {
	s.env.T.Helper()
	for {
		m := s.Read(timeout)
		switch {
		case m.Type == "ping":
			s.Send(Message{Type: "pong"})
			continue
		case m.Type == "pong":
			continue
		case m.ID != id:
			s.env.T.Fatalf("want a message of %s, got %+v", id, m)
		case m.Type != "next":
			s.env.T.Fatalf("want next for %s, got %s: %s", id, m.Type, m.Payload)
		}
		var r struct {
			Data   json.RawMessage `json:"data"`
			Errors []Error         `json:"errors"`
		}
		if err := json.Unmarshal(m.Payload, &r); err != nil {
			s.env.T.Fatal(err)
		}
		if len(r.Errors) > 0 {
			s.env.T.Fatalf("next for %s has errors: %s", id, m.Payload)
		}
		if v != nil {
			if err := json.Unmarshal(r.Data, v); err != nil {
				s.env.T.Fatal(err)
			}
		}
		return r.Data
	}
}
