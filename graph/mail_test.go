package graph_test

// End-to-end tests of account email over real SMTP: orgql runs with the sender
// its configuration builds (Config.SMTPURL and SMTPFrom), pointed at an
// in-process SMTP server, and the links in what that server receives are used
// through the API.

import (
	"context"
	"html"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/app"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/mail"
	"github.com/orgql/orgql/internal/mail/mailtest"
	"github.com/orgql/orgql/internal/testenv"
)

const (
	smtpFromName = "orgql Portal"
	smtpFromAddr = "no-reply@portal.example.test"
	smtpUser     = "mailer"
	smtpPass     = "s3cret p@ss"

	smtpVerifyEmail   = `mutation($t:String!){ verifyEmail(input:{token:$t}) { user { emailVerified } } }`
	smtpRequestReset  = `mutation($e:String!){ requestPasswordReset(input:{email:$e}) { email } }`
	smtpResetPassword = `mutation($t:String!,$p:String!){ resetPassword(input:{token:$t,newPassword:$p}) { token user { id emailVerified } } }`
	smtpSignIn        = `mutation($e:String!,$p:String!){ signIn(input:{email:$e,password:$p}) { user { id } } }`
	smtpViewer        = `{ viewer { id emailVerified } }`

	smtpNewPassword = "a brand new passphrase"
)

// smtpEnv returns options that start orgql with the real SMTP sender pointed at
// srv, and an outbox whose retries come after a millisecond or two instead of
// the production 15 seconds and more.
func smtpEnv(srv *mailtest.Server) []testenv.Option {
	return []testenv.Option{
		testenv.WithMailSender(nil), // build the sender from the configuration
		testenv.WithConfig(func(c *config.Config) {
			c.SMTPURL = srv.URL()
			c.SMTPFrom = smtpFromName + " <" + smtpFromAddr + ">"
		}),
		func(o *app.Options) {
			o.OutboxOptions = &mail.OutboxOptions{BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
		},
	}
}

// smtpMessagesTo returns what srv received for addr, oldest first.
func smtpMessagesTo(srv *mailtest.Server, addr string) []mailtest.Received {
	var out []mailtest.Received
	for _, m := range srv.Messages() {
		for _, to := range m.To {
			if to == addr {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// smtpDeliver runs outbox passes until srv has received n messages for addr,
// sleeping a little between passes so that retries fall due. It fails the test
// after a bounded number of passes.
func smtpDeliver(t *testing.T, e *testenv.Env, srv *mailtest.Server, addr string, n int) []mailtest.Received {
	t.Helper()
	for range 500 {
		if _, err := e.App.Outbox.DeliverDue(context.Background()); err != nil {
			t.Fatalf("DeliverDue: %v", err)
		}
		if got := smtpMessagesTo(srv, addr); len(got) >= n {
			return got
		}
		time.Sleep(2 * time.Millisecond)
	}
	got := smtpMessagesTo(srv, addr)
	t.Fatalf("%d messages reached the SMTP server for %s, want %d (DATA commands so far: %d)\nlog:\n%s",
		len(got), addr, n, srv.DataCount(), e.Logs.String())
	return nil
}

// smtpCheckMail checks that r is the account email with the given subject sent
// to addr by the configured sender, with the same link, under
// https://portal.example.test+path, in its text and HTML parts. It returns the
// link's token.
func smtpCheckMail(t *testing.T, r mailtest.Received, addr, subject, path string) string {
	t.Helper()
	if r.From != smtpFromAddr || len(r.To) != 1 || r.To[0] != addr {
		t.Errorf("envelope from %q to %q, want from %q to %q", r.From, r.To, smtpFromAddr, addr)
	}
	if r.User != smtpUser {
		t.Errorf("sent as SMTP user %q, want %q", r.User, smtpUser)
	}
	p := mailtest.Parse(t, r.Data)
	if p.MediaType != "multipart/alternative" {
		t.Errorf("Content-Type = %s, want multipart/alternative", p.MediaType)
	}
	from, err := netmail.ParseAddress(mailtest.DecodeHeader(t, p.Header, "From"))
	if err != nil || from.Name != smtpFromName || from.Address != smtpFromAddr {
		t.Errorf("From = %q (%v), want %s <%s>", p.Header.Get("From"), err, smtpFromName, smtpFromAddr)
	}
	to, err := netmail.ParseAddressList(mailtest.DecodeHeader(t, p.Header, "To"))
	if err != nil || len(to) != 1 || to[0].Address != addr {
		t.Errorf("To = %q (%v), want %s", p.Header.Get("To"), err, addr)
	}
	if got := mailtest.DecodeHeader(t, p.Header, "Subject"); got != subject {
		t.Errorf("Subject = %q, want %q", got, subject)
	}
	link := regexp.MustCompile(`https://portal\.example\.test` + regexp.QuoteMeta(path) + `\?token=([A-Za-z0-9_.~%-]+)`)
	tm := link.FindStringSubmatch(p.Text)
	if tm == nil {
		t.Fatalf("no %s link in the text part:\n%s", path, p.Text)
	}
	hm := link.FindStringSubmatch(html.UnescapeString(p.HTML))
	if hm == nil {
		t.Fatalf("no %s link in the HTML part:\n%s", path, p.HTML)
	}
	if !strings.Contains(p.HTML, `href="`+tm[0]+`"`) {
		t.Errorf("the HTML part does not link to %s:\n%s", tm[0], p.HTML)
	}
	if hm[1] != tm[1] {
		t.Errorf("text and HTML parts link with different tokens: %q, %q", tm[1], hm[1])
	}
	tok, err := url.QueryUnescape(tm[1])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestMailVerificationOverSMTP(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithAuth(smtpUser, smtpPass))
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Ada")
		if got := smtpMessagesTo(srv, u.Email); len(got) != 0 {
			t.Fatalf("signUp sent %d emails before the outbox ran", len(got))
		}
		got := smtpDeliver(t, e, srv, u.Email, 1)
		if len(got) != 1 {
			t.Fatalf("%d emails to %s, want 1", len(got), u.Email)
		}
		tok := smtpCheckMail(t, got[0], u.Email, "Verify your email address", "/verify-email")

		var v struct {
			Viewer struct {
				ID            string
				EmailVerified bool
			}
		}
		u.Do(smtpViewer, nil).OK(t, &v)
		if v.Viewer.ID != u.ID || v.Viewer.EmailVerified {
			t.Fatalf("viewer before verifying: %+v", v.Viewer)
		}

		var d struct {
			VerifyEmail struct{ User struct{ EmailVerified bool } }
		}
		e.Client().Do(smtpVerifyEmail, map[string]any{"t": tok}).OK(t, &d)
		if !d.VerifyEmail.User.EmailVerified {
			t.Error("verifyEmail returned an unverified user")
		}
		u.Do(smtpViewer, nil).OK(t, &v)
		if !v.Viewer.EmailVerified {
			t.Error("the user is not verified after verifyEmail")
		}

		// Sent means sent: further passes send nothing.
		if _, err := e.App.Outbox.DeliverDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(smtpMessagesTo(srv, u.Email)); n != 1 {
			t.Errorf("%d emails to %s after another pass, want 1", n, u.Email)
		}
	}, smtpEnv(srv)...)
}

func TestMailPasswordResetSurvivesSMTPFailures(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithAuth(smtpUser, smtpPass))
	testenv.Each(t, func(t *testing.T, e *testenv.Env) {
		u := e.SignUp("Bo")
		smtpDeliver(t, e, srv, u.Email, 1) // the verification email

		// The server now fails the next two DATA commands with 451.
		srv.FailNext(2)
		dataBefore := srv.DataCount()
		e.Client().Do(smtpRequestReset, map[string]any{"e": u.Email}).OK(t, nil)

		got := smtpDeliver(t, e, srv, u.Email, 2)
		if n := srv.DataCount() - dataBefore; n != 3 {
			t.Errorf("%d DATA commands for the reset email, want 3 (two refused, one accepted)", n)
		}
		if n := strings.Count(e.Logs.String(), "send failed, will retry"); n != 2 {
			t.Errorf("%d retry warnings logged, want 2", n)
		}
		tok := smtpCheckMail(t, got[1], u.Email, "Reset your password", "/reset-password")

		// Exactly once: passes after the retries' backoff send nothing more.
		for range 5 {
			time.Sleep(5 * time.Millisecond)
			if n, err := e.App.Outbox.DeliverDue(context.Background()); err != nil || n != 0 {
				t.Fatalf("DeliverDue after delivery = %d, %v", n, err)
			}
		}
		if got := smtpMessagesTo(srv, u.Email); len(got) != 2 {
			t.Fatalf("%d emails to %s, want 2 (verification, reset)", len(got), u.Email)
		}

		c := e.Client()
		var d struct {
			ResetPassword struct {
				Token string
				User  struct {
					ID            string
					EmailVerified bool
				}
			}
		}
		c.Do(smtpResetPassword, map[string]any{"t": tok, "p": smtpNewPassword}).OK(t, &d)
		if d.ResetPassword.Token == "" || d.ResetPassword.User.ID != u.ID || !d.ResetPassword.User.EmailVerified {
			t.Errorf("resetPassword = %+v", d.ResetPassword)
		}
		e.Client().Do(smtpSignIn, map[string]any{"e": u.Email, "p": smtpNewPassword}).OK(t, nil)
		if res := e.Client().Do(smtpSignIn, map[string]any{"e": u.Email, "p": u.Password}); len(res.Errors) == 0 {
			t.Error("the old password still signs in")
		}
		if res := e.Client().Do(smtpResetPassword, map[string]any{"t": tok, "p": "yet another passphrase"}); len(res.Errors) == 0 {
			t.Error("the reset link worked twice")
		}
	}, smtpEnv(srv)...)
}
