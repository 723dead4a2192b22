// Package mailtest runs a real SMTP server in the test process, for tests of
// code that sends email over SMTP (mail.NewSMTPSender, or a whole orgql
// pointed at it). The server listens on 127.0.0.1, records what it receives,
// and can be told to require authentication, speak TLS, or fail.
//
// It does not import package mail, so mail's own tests can use it.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mode says how a Server encrypts its connections.
type Mode int

const (
	// Plain speaks SMTP without any TLS. It accepts AUTH over the plain
	// connection (AllowInsecureAuth), so senders must use tls=none.
	Plain Mode = iota
	// StartTLS offers STARTTLS, and AUTH only once the connection is encrypted.
	StartTLS
	// ImplicitTLS speaks TLS from the first byte (smtps).
	ImplicitTLS
)

// Option configures a Server before it starts.
type Option func(*Server)

// WithAuth makes the server offer AUTH PLAIN and refuse MAIL FROM until the
// client has authenticated with this user name and password. A failed AUTH is
// answered with 535 and a message that echoes the credentials, as a careless
// server might, so tests can check that the client never repeats the password.
func WithAuth(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// FailFirst makes the server answer 451 (try again later) to the first n DATA
// commands, after which it accepts mail normally.
func FailFirst(n int) Option {
	return func(s *Server) { s.failFirst = n }
}

// FailAlways makes the server answer 451 to every DATA command.
func FailAlways() Option {
	return func(s *Server) { s.failAlways = true }
}

// OnData sets a function the server calls during each DATA command, after
// reading the message and before answering. It may block, to hold the client
// waiting for the answer; a test that blocks it must release it in a
// t.Cleanup registered after Start, which runs before the server shuts down.
func OnData(f func()) Option {
	return func(s *Server) { s.onData = f }
}

// WithTLS makes the server use TLS in the given mode with cfg (for instance
// from SelfSignedTLS). Mode Plain ignores cfg.
func WithTLS(mode Mode, cfg *tls.Config) Option {
	return func(s *Server) { s.mode, s.tlsCfg = mode, cfg }
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	addr *net.TCPAddr

	// Settings, fixed before the first connection.
	mode       Mode
	tlsCfg     *tls.Config
	user, pass string
	failFirst  int
	failAlways bool
	onData     func()

	mu        sync.Mutex
	dataCalls int
	failNext  int
	received  []Received
}

// Received is a message the server accepted.
type Received struct {
	// From is the envelope sender (MAIL FROM).
	From string
	// To are the envelope recipients (RCPT TO).
	To []string
	// User is the authenticated user name, or "" without AUTH.
	User string
	// Data is the message as transmitted: headers and body, CRLF line endings.
	Data []byte
}

// Start starts a Server on 127.0.0.1 with a free port. It is shut down, and
// its open connections closed, when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{}
	for _, opt := range opts {
		opt(s)
	}
	if s.mode != Plain && s.tlsCfg == nil {
		t.Fatal("mailtest: a TLS mode needs a TLS configuration")
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{srv: s}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = s.mode == Plain
	// Failed handshakes and dropped connections are what some tests are
	// about; the server need not narrate them.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().(*net.TCPAddr)
	switch s.mode {
	case StartTLS:
		srv.TLSConfig = s.tlsCfg
	case ImplicitTLS:
		l = tls.NewListener(l, s.tlsCfg)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

// Addr returns the server's address, 127.0.0.1:PORT.
func (s *Server) Addr() string { return s.addr.String() }

// Port returns the server's TCP port.
func (s *Server) Port() int { return s.addr.Port }

// URL returns an SMTP URL for mail.NewSMTPSender that matches the server's
// mode (smtp://…?tls=none, smtp:// with STARTTLS, or smtps://) and carries the
// credentials given to WithAuth, if any.
func (s *Server) URL() string {
	var u *url.Userinfo
	if s.user != "" {
		u = url.UserPassword(s.user, s.pass)
	}
	return s.URLWithUser(u)
}

// URLWithUser is URL with other credentials; nil means none.
func (s *Server) URLWithUser(u *url.Userinfo) string {
	userinfo := ""
	if u != nil {
		userinfo = u.String() + "@"
	}
	switch s.mode {
	case StartTLS:
		return fmt.Sprintf("smtp://%s%s", userinfo, s.Addr())
	case ImplicitTLS:
		return fmt.Sprintf("smtps://%s%s", userinfo, s.Addr())
	}
	return fmt.Sprintf("smtp://%s%s?tls=none", userinfo, s.Addr())
}

// FailNext makes the server answer 451 to the next n DATA commands, on top of
// any FailFirst, then accept mail again. It lets a test that shares one server
// between steps start an outage at a chosen point.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Messages returns the messages the server accepted, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// DataCount returns how many DATA commands the server answered, accepted or
// failed.
func (s *Server) DataCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataCalls
}

// session is one SMTP connection's transaction state.
type session struct {
	srv  *Server
	user string
	from string
	to   []string
}

func (c *session) AuthMechanisms() []string {
	if c.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (c *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != c.srv.user || pass != c.srv.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials " + user + ":" + pass}
		}
		c.user = user
		return nil
	}), nil
}

func (c *session) Mail(from string, _ *smtp.MailOptions) error {
	if c.srv.user != "" && c.user == "" {
		return smtp.ErrAuthRequired
	}
	c.from = from
	return nil
}

func (c *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	c.to = append(c.to, to)
	return nil
}

func (c *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if c.srv.onData != nil {
		c.srv.onData()
	}
	c.srv.mu.Lock()
	defer c.srv.mu.Unlock()
	c.srv.dataCalls++
	fail := c.srv.failAlways || c.srv.dataCalls <= c.srv.failFirst
	if !fail && c.srv.failNext > 0 {
		c.srv.failNext--
		fail = true
	}
	if fail {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	}
	c.srv.received = append(c.srv.received, Received{From: c.from, To: append([]string(nil), c.to...), User: c.user, Data: data})
	return nil
}

func (c *session) Reset() { c.from, c.to = "", nil }

func (c *session) Logout() error { return nil }

// Parsed is a received message taken apart.
type Parsed struct {
	// Header holds the top-level headers, still encoded (see DecodeHeader).
	Header netmail.Header
	// MediaType is the top-level media type, e.g. "multipart/alternative".
	MediaType string
	// Text is the decoded text/plain body, "" when the message has none.
	Text string
	// HTML is the decoded text/html body, "" when the message has none.
	HTML string
}

// Parse takes a message apart: its headers, and its text/plain and text/html
// bodies with their transfer encoding undone, from a single-part message or
// from (possibly nested) multipart ones. It fails the test on malformed input
// or on a part of any other type, or more than one of a type.
func Parse(t testing.TB, data []byte) Parsed {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("mailtest: reading message: %v\n%s", err, data)
	}
	out := Parsed{Header: msg.Header}
	out.MediaType = parseEntity(t, &out, textproto.MIMEHeader(msg.Header), msg.Body)
	return out
}

// parseEntity stores the body of one MIME entity in out and returns its media type.
func parseEntity(t testing.TB, out *Parsed, h textproto.MIMEHeader, body io.Reader) string {
	t.Helper()
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Fatalf("mailtest: Content-Type %q: %v", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("mailtest: reading part: %v", err)
			}
			// The multipart reader undoes quoted-printable itself and drops
			// the Content-Transfer-Encoding header.
			parseEntity(t, out, p.Header, p)
		}
		return mt
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, newlineStripper{body})
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("mailtest: reading %s body: %v", mt, err)
	}
	var dst *string
	switch mt {
	case "text/plain":
		dst = &out.Text
	case "text/html":
		dst = &out.HTML
	default:
		t.Fatalf("mailtest: unexpected part %s", mt)
	}
	if *dst != "" {
		t.Fatalf("mailtest: more than one %s part", mt)
	}
	*dst = string(b)
	return mt
}

// newlineStripper drops CR and LF, which base64 bodies are wrapped with.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// DecodeHeader returns the header key of h with RFC 2047 encoded words
// decoded, failing the test if they are malformed.
func DecodeHeader(t testing.TB, h netmail.Header, key string) string {
	t.Helper()
	v, err := new(mime.WordDecoder).DecodeHeader(h.Get(key))
	if err != nil {
		t.Fatalf("mailtest: decoding %s: %v", key, err)
	}
	return v
}

// SelfSignedTLS returns a server configuration with a fresh self-signed
// certificate for 127.0.0.1 and localhost, and a pool that trusts it.
func SelfSignedTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "orgql test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion:   tls.VersionTLS12,
	}, pool
}
