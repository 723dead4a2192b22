package mail

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/orgql/orgql/internal/mail/mailtest"
)

const testFrom = "orgql <no-reply@example.com>"

func TestNewSMTPSenderParsesURLs(t *testing.T) {
	tests := []struct {
		url        string
		host       string
		port       int
		tls        tlsMode
		user, pass string
	}{
		{"smtp://mail.example.com", "mail.example.com", 587, tlsStartTLS, "", ""},
		{"SMTP://mail.example.com/", "mail.example.com", 587, tlsStartTLS, "", ""},
		{"smtp://mail.example.com:2525?tls=opportunistic", "mail.example.com", 2525, tlsOpportunistic, "", ""},
		{"smtp://mail.example.com?tls=STARTTLS", "mail.example.com", 587, tlsStartTLS, "", ""},
		{"smtp://mail.example.com:25?tls=none", "mail.example.com", 25, tlsNone, "", ""},
		{"smtp://apikey:p%40ss%2Fw0rd@mail.example.com", "mail.example.com", 587, tlsStartTLS, "apikey", "p@ss/w0rd"},
		{"smtp://u:pw@localhost:1025?tls=none", "localhost", 1025, tlsNone, "u", "pw"},
		{"smtp://[::1]:2525?tls=none", "::1", 2525, tlsNone, "", ""},
		{"smtps://mail.example.com", "mail.example.com", 465, tlsImplicit, "", ""},
		{"smtps://u:pw@mail.example.com:10465", "mail.example.com", 10465, tlsImplicit, "u", "pw"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			s, err := NewSMTPSender(tt.url, testFrom)
			if err != nil {
				t.Fatal(err)
			}
			got := s.(*smtpSender)
			if got.host != tt.host || got.port != tt.port || got.tls != tt.tls || got.user != tt.user || got.pass != tt.pass {
				t.Errorf("got host=%q port=%d tls=%v user=%q pass=%q", got.host, got.port, got.tls, got.user, got.pass)
			}
			if got.from.Name != "orgql" || got.from.Address != "no-reply@example.com" || got.msgIDDom != "example.com" {
				t.Errorf("from = %+v, message-ID domain %q", got.from, got.msgIDDom)
			}
		})
	}
}

func TestNewSMTPSenderRejectsBadURLs(t *testing.T) {
	const secret = "s3cr3t-pw"
	tests := []struct{ url, want string }{
		{"", "missing scheme"},
		{"mail.example.com", "missing scheme"},
		{"http://u:" + secret + "@mail.example.com", `unsupported scheme "http"`},
		{"smtp:mail.example.com", "missing //"},
		{"smtp://", "missing host"},
		{"smtp://u:" + secret + "@:25", "missing host"},
		{"smtp://u:" + secret + "@mail.example.com:99999", `invalid port "99999"`},
		{"smtp://u:" + secret + "@mail.example.com:abc", "invalid port"},
		{"smtp://u:" + secret + "@mail.example.com?tls=maybe", `unknown tls mode "maybe"`},
		{"smtp://u:" + secret + "@mail.example.com?tsl=none", `unknown parameter "tsl"`},
		{"smtp://u:" + secret + "@mail.example.com?tls=none&tls=starttls", "more than once"},
		{"smtps://u:" + secret + "@mail.example.com?tls=none", "takes no tls parameter"},
		{"smtp://u:" + secret + "@mail.example.com?tls=none", "refusing to send credentials without TLS"},
		{"smtp://u@mail.example.com", "user name without password"},
		{"smtp://:" + secret + "@mail.example.com", "empty user name"},
		{"smtp://u:" + secret + "@mail.example.com/inbox", `unexpected path "/inbox"`},
		{"smtp://u:" + secret + "%zz@mail.example.com", "percent-encode"},
		{"smtp://u:" + secret + "@/x@mail.example.com", "smtp://***@mail.example.com"},
		{"smtp:u:" + secret + "@mail.example.com", "smtp:***@mail.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := NewSMTPSender(tt.url, testFrom)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if strings.Contains(msg, secret) {
				t.Errorf("error leaks the password: %q", msg)
			}
		})
	}
}

func TestNewSMTPSenderRejectsBadFrom(t *testing.T) {
	if _, err := NewSMTPSender("smtp://mail.example.com", "not an address"); err == nil {
		t.Error("accepted a From without an address")
	}
}

func mustSender(t *testing.T, rawURL string) *smtpSender {
	t.Helper()
	s, err := NewSMTPSender(rawURL, testFrom)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*smtpSender)
}

func TestSMTPSenderDelivers(t *testing.T) {
	srv := mailtest.Start(t)
	m, err := VerifyEmail("ann@example.com", VerifyEmailData{Name: "Ann <3", Link: "https://app.example.com/v?token=t0k&x=1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mustSender(t, srv.URL()).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages", len(got))
	}
	checkDelivered(t, got[0], m)
}

// checkDelivered verifies that r is m as sent by a sender built with testFrom.
func checkDelivered(t *testing.T, r mailtest.Received, m Message) {
	t.Helper()
	if r.From != "no-reply@example.com" || len(r.To) != 1 || r.To[0] != m.To {
		t.Errorf("envelope from %q to %q", r.From, r.To)
	}
	p := mailtest.Parse(t, r.Data)
	wantType := "text/plain"
	if m.HTML != "" {
		wantType = "multipart/alternative"
	}
	if p.MediaType != wantType {
		t.Errorf("Content-Type = %s, want %s", p.MediaType, wantType)
	}
	if got := mailtest.DecodeHeader(t, p.Header, "From"); got != `"orgql" <no-reply@example.com>` && got != testFrom {
		t.Errorf("From = %q", got)
	}
	if got := mailtest.DecodeHeader(t, p.Header, "To"); got != "<"+m.To+">" && got != m.To {
		t.Errorf("To = %q", got)
	}
	if got := mailtest.DecodeHeader(t, p.Header, "Subject"); got != m.Subject {
		t.Errorf("Subject = %q, want %q", got, m.Subject)
	}
	if id := p.Header.Get("Message-Id"); !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID = %q", id)
	}
	if got := p.Header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", got)
	}
	if p.Header.Get("Date") == "" {
		t.Error("no Date header")
	}
	if norm(p.Text) != norm(m.Text) {
		t.Errorf("text part:\n%q\nwant\n%q", p.Text, m.Text)
	}
	if norm(p.HTML) != norm(m.HTML) {
		t.Errorf("HTML part:\n%q\nwant\n%q", p.HTML, m.HTML)
	}
}

// norm undoes the line-ending changes SMTP transport makes.
func norm(s string) string {
	return strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

func TestSMTPSenderAuthenticates(t *testing.T) {
	const user, pass = "mailer", "p@ss w0rd!"
	srv := mailtest.Start(t, mailtest.WithAuth(user, pass))
	m := Message{To: "bo@example.com", Subject: "Hello", Text: "Hi", HTML: "<p>Hi</p>"}

	if err := mustSender(t, srv.URL()).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 || got[0].User != user {
		t.Fatalf("received %+v", got)
	}

	const wrong = "wr0ng-s3cret"
	err := mustSender(t, srv.URLWithUser(url.UserPassword(user, wrong))).Send(context.Background(), m)
	if err == nil {
		t.Fatal("sent with a wrong password")
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error leaks the password: %v", err)
	}
	if !strings.Contains(err.Error(), "bad credentials mailer:***") {
		t.Errorf("error lost the server's answer: %v", err)
	}
	if len(srv.Messages()) != 1 {
		t.Error("a message got through without authentication")
	}
}

func TestSMTPSenderRequiresSTARTTLSByDefault(t *testing.T) {
	srv := mailtest.Start(t)
	s := mustSender(t, "smtp://"+srv.Addr())
	err := s.Send(context.Background(), Message{To: "bo@example.com", Subject: "Hello", Text: "Hi"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("err = %v, want a STARTTLS error", err)
	}
	if srv.DataCount() != 0 {
		t.Error("sent in plain text despite mandatory STARTTLS")
	}
}

func TestSMTPSenderOverTLS(t *testing.T) {
	cfg, roots := mailtest.SelfSignedTLS(t)
	const user, pass = "mailer", "secret"
	for _, tc := range []struct {
		name   string
		mode   mailtest.Mode
		scheme string
	}{
		{"starttls", mailtest.StartTLS, "smtp"},
		{"smtps", mailtest.ImplicitTLS, "smtps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// AUTH is only offered once the connection is encrypted.
			srv := mailtest.Start(t, mailtest.WithAuth(user, pass), mailtest.WithTLS(tc.mode, cfg))
			rawURL := srv.URL()
			if want := fmt.Sprintf("%s://%s:%s@%s", tc.scheme, user, pass, srv.Addr()); rawURL != want {
				t.Fatalf("URL() = %q, want %q", rawURL, want)
			}
			s := mustSender(t, rawURL)
			m := Message{To: "bo@example.com", Subject: "Over TLS", Text: "Hi", HTML: "<p>Hi</p>"}

			if err := s.Send(context.Background(), m); err == nil {
				t.Fatal("trusted a certificate from an unknown CA")
			}
			s.rootCAs = roots
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			got := srv.Messages()
			if len(got) != 1 || got[0].User != user {
				t.Fatalf("received %+v", got)
			}
			checkDelivered(t, got[0], m)
		})
	}
}

func TestSMTPSenderHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	srv := mailtest.Start(t, mailtest.OnData(func() {
		cancel() // the caller gives up while the server is busy...
		<-release
	}))
	t.Cleanup(func() { close(release) }) // runs before the server is closed

	err := mustSender(t, srv.URL()).Send(ctx, Message{To: "bo@example.com", Subject: "Hello", Text: "Hi"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
