package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"

	gomail "github.com/wneessen/go-mail"
)

// Default SMTP ports: submission with STARTTLS (RFC 6409) and implicit TLS
// (RFC 8314). Port 25 is for relaying between servers and is often blocked.
const (
	defaultSubmissionPort = 587
	defaultSMTPSPort      = 465
)

// tlsMode says how the connection to the SMTP server is encrypted.
type tlsMode int

const (
	tlsStartTLS      tlsMode = iota // STARTTLS, or no mail is sent
	tlsOpportunistic                // STARTTLS when offered, else plain text
	tlsNone                         // plain text: local relays and test servers only
	tlsImplicit                     // TLS from the first byte (smtps)
)

func (m tlsMode) String() string {
	switch m {
	case tlsStartTLS:
		return "starttls"
	case tlsOpportunistic:
		return "opportunistic"
	case tlsNone:
		return "none"
	case tlsImplicit:
		return "implicit"
	}
	return "unknown"
}

// smtpSender is the Sender returned by NewSMTPSender. It keeps only parsed
// configuration: each Send builds its own go-mail client, because a go-mail
// Client holds per-connection state and is not meant to be shared by
// concurrent senders.
type smtpSender struct {
	host     string
	port     int
	tls      tlsMode
	user     string
	pass     string
	from     *netmail.Address
	msgIDDom string // domain part of Message-IDs: the From domain, as mail systems expect
	// rootCAs verifies the server certificate; nil means the system roots.
	// Only tests set it, to trust their own CA.
	rootCAs *x509.CertPool
}

// NewSMTPSender parses an SMTP URL and returns a Sender using github.com/wneessen/go-mail.
//
//	smtp://[user:pass@]host[:port][?tls=starttls|opportunistic|none]   default port 587, default tls=starttls (mandatory STARTTLS)
//	smtps://[user:pass@]host[:port]                                     implicit TLS, default port 465
//
// User name and password must be percent-encoded in the URL (p%40ss for p@ss).
// With credentials the sender uses SMTP AUTH, PLAIN or LOGIN, whichever the
// server offers. Credentials never travel unencrypted except to a loopback
// host: tls=none with credentials is refused for any other host, and with
// tls=opportunistic a server without STARTTLS makes the send fail rather than
// receive the password in clear text.
//
// from is an RFC 5322 address like `orgql <no-reply@example.com>`. Each Send
// opens a connection, sends, and closes it (fine for our volume), and aborts when
// ctx is done. Errors never contain the password.
func NewSMTPSender(rawURL, from string) (Sender, error) {
	s, err := parseSMTPURL(rawURL)
	if err != nil {
		return nil, err
	}
	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: invalid sender address %q: %v (want e.g. \"orgql <no-reply@example.com>\")", from, err)
	}
	s.from = addr
	s.msgIDDom = addr.Address[strings.LastIndexByte(addr.Address, '@')+1:]
	return s, nil
}

// parseSMTPURL does all the checking NewSMTPSender can do before the first send,
// so a typo in the configuration stops the server at startup instead of filling
// the outbox with failures.
func parseSMTPURL(rawURL string) (*smtpSender, error) {
	shown := redactURL(rawURL)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mail: invalid SMTP URL %q: %s (want smtp://[user:pass@]host[:port][?tls=starttls|opportunistic|none] or smtps://[user:pass@]host[:port])",
			shown, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error quotes the whole URL, password included: report the cause
		// found by parsing the redacted form instead.
		if _, rerr := url.Parse(shown); rerr != nil {
			var ue *url.Error
			if errors.As(rerr, &ue) {
				return nil, bad("%v", ue.Err)
			}
			return nil, bad("malformed")
		}
		return nil, bad("malformed user name or password (percent-encode special characters, e.g. p%%40ss for p@ss)")
	}
	s := &smtpSender{}
	switch u.Scheme {
	case "smtp":
		s.tls, s.port = tlsStartTLS, defaultSubmissionPort
	case "smtps":
		s.tls, s.port = tlsImplicit, defaultSMTPSPort
	case "":
		return nil, bad("missing scheme smtp:// or smtps://")
	default:
		return nil, bad("unsupported scheme %q", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, bad("missing // after the scheme")
	}
	s.host = u.Hostname()
	if s.host == "" {
		if strings.Contains(rawURL, "@") {
			return nil, bad("missing host (percent-encode any / ? # @ in the user name or password)")
		}
		return nil, bad("missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, bad("invalid port %q", p)
		}
		s.port = n
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return nil, bad("unexpected fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("malformed query")
	}
	for k, v := range q {
		if k != "tls" {
			return nil, bad("unknown parameter %q (only tls is supported)", k)
		}
		if u.Scheme == "smtps" {
			return nil, bad("smtps always uses implicit TLS and takes no tls parameter (use smtp:// for STARTTLS)")
		}
		if len(v) != 1 {
			return nil, bad("tls given more than once")
		}
		switch strings.ToLower(v[0]) {
		case "starttls", "":
			s.tls = tlsStartTLS
		case "opportunistic":
			s.tls = tlsOpportunistic
		case "none":
			s.tls = tlsNone
		default:
			return nil, bad("unknown tls mode %q (want starttls, opportunistic or none)", v[0])
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		pass, ok := u.User.Password()
		if s.user == "" {
			return nil, bad("empty user name")
		}
		if !ok || pass == "" {
			return nil, bad("user name without password")
		}
		s.pass = pass
		if s.tls == tlsNone && !isLoopback(s.host) {
			return nil, bad("refusing to send credentials without TLS to %s (tls=none is only allowed with credentials for localhost)", s.host)
		}
	}
	return s, nil
}

// isLoopback matches go-mail's rule for sending PLAIN/LOGIN credentials over an
// unencrypted connection, so configuration is rejected exactly when sends
// would fail.
func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// redactURL replaces the user information of an SMTP URL with "***" so that
// the URL can appear in errors and logs. It cuts at the last "@" because a
// malformed URL may hold an unescaped "@", "/" or "?" in its password; hiding
// too much of a broken URL is better than showing a secret.
func redactURL(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	prefix := ""
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		prefix = s[:i+3]
	} else if i := strings.IndexByte(s, ':'); i >= 0 && i < at {
		prefix = s[:i+1]
	}
	return prefix + "***" + s[at:]
}

// Send delivers m over a fresh connection.
func (s *smtpSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msg, err := s.message(m)
	if err != nil {
		return err
	}

	// go-mail honours ctx only while dialing; afterwards it relies on its own
	// timeouts. Closing the connection when ctx is done aborts a hung
	// conversation at once, so shutdown and the outbox lease are respected.
	var (
		mu   sync.Mutex
		conn net.Conn
	)
	addr := net.JoinHostPort(s.host, strconv.Itoa(s.port))
	dial := func(dctx context.Context, network, _ string) (net.Conn, error) {
		// go-mail formats host:port without brackets, which breaks IPv6
		// literals, so the address is built here.
		d := &net.Dialer{}
		var (
			c   net.Conn
			err error
		)
		if s.tls == tlsImplicit {
			c, err = (&tls.Dialer{NetDialer: d, Config: s.tlsConfig()}).DialContext(dctx, network, addr)
		} else {
			c, err = d.DialContext(dctx, network, addr)
		}
		if err != nil {
			return nil, err
		}
		mu.Lock()
		conn = c
		mu.Unlock()
		if ctx.Err() != nil {
			c.Close()
		}
		return c, nil
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if conn != nil {
			conn.Close()
		}
	})
	defer stop()

	client, err := gomail.NewClient(s.host, s.clientOptions(dial)...)
	if err != nil {
		return s.redactErr(fmt.Errorf("mail: configuring SMTP client: %w", err))
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return s.redactErr(fmt.Errorf("mail: sending to %s via %s: %w", m.To, addr, err))
	}
	return nil
}

func (s *smtpSender) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12, RootCAs: s.rootCAs}
}

func (s *smtpSender) clientOptions(dial gomail.DialContextFunc) []gomail.Option {
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tlsConfig()),
	}
	switch s.tls {
	case tlsStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case tlsOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case tlsNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case tlsImplicit:
		// The dial function already wraps the connection in TLS; WithSSL only
		// stops go-mail from also attempting STARTTLS.
		opts = append(opts, gomail.WithSSL())
	}
	if s.user != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.user),
			gomail.WithPassword(s.pass),
		)
	}
	return opts
}

// message converts m to a go-mail message.
func (s *smtpSender) message(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail: invalid recipient %q: %w", m.To, err)
	}
	msg.Subject(cleanHeader(m.Subject))
	msg.SetDate()
	msg.SetMessageIDWithValue(randomID() + "@" + s.msgIDDom)
	// RFC 3834: tells vacation responders and ticket systems not to answer.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// redactErr hides the password should a server or library echo it back.
// The wrapped error stays reachable for errors.Is and errors.As.
func (s *smtpSender) redactErr(err error) error {
	if s.pass == "" || !strings.Contains(err.Error(), s.pass) {
		return err
	}
	return &redactedError{err: err, msg: strings.ReplaceAll(err.Error(), s.pass, "***")}
}

type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID returns 128 random bits for a Message-ID's left-hand side.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}
