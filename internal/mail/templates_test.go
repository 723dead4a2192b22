package mail

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var testExpiry = time.Date(2030, time.March, 4, 17, 30, 0, 0, time.FixedZone("CET", 3600))

const testExpiryText = "Monday, 4 March 2030 at 16:30 UTC"

func TestVerifyEmail(t *testing.T) {
	const link = "https://app.example.com/verify-email?token=abc_123&next=%2Forgs"
	m, err := VerifyEmail("ann@example.com", VerifyEmailData{
		Name:      `<b>Ann & "Bo"</b>`,
		Link:      link,
		ExpiresAt: testExpiry,
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.To != "ann@example.com" || m.Subject != "Verify your email address" {
		t.Fatalf("To, Subject = %q, %q", m.To, m.Subject)
	}
	containsAll(t, "text", m.Text, `Hi <b>Ann & "Bo"</b>,`, "\n"+link+"\n", testExpiryText)
	containsAll(t, "HTML", m.HTML,
		"Hi &lt;b&gt;Ann &amp; &#34;Bo&#34;&lt;/b&gt;,",
		`href="https://app.example.com/verify-email?token=abc_123&amp;next=%2Forgs"`,
		">https://app.example.com/verify-email?token=abc_123&amp;next=%2Forgs</a>",
		"<title>Verify your email address</title>",
		testExpiryText,
	)
	if strings.Contains(m.HTML, "<b>Ann") {
		t.Error("the name is not escaped in the HTML")
	}
}

func TestResetPassword(t *testing.T) {
	const link = "https://app.example.com/reset-password?token=xyz"
	m, err := ResetPassword("bo@example.com", ResetPasswordData{Name: "Bo", Link: link, ExpiresAt: testExpiry})
	if err != nil {
		t.Fatal(err)
	}
	if m.To != "bo@example.com" || m.Subject != "Reset your password" {
		t.Fatalf("To, Subject = %q, %q", m.To, m.Subject)
	}
	containsAll(t, "text", m.Text, "Hi Bo,", link, testExpiryText, "If you did not request a password reset, ignore this email")
	containsAll(t, "HTML", m.HTML, `href="`+link+`"`, testExpiryText, "ignore this email")
}

func TestTemplatesWithoutNameOrExpiry(t *testing.T) {
	m, err := VerifyEmail("ann@example.com", VerifyEmailData{Link: "https://x.example/v"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(m.Text, "Hi,\n") {
		t.Errorf("text starts %q", m.Text[:10])
	}
	if strings.Contains(m.Text, "expires") || strings.Contains(m.HTML, "expires") {
		t.Error("an expiry sentence without an expiry")
	}
}

func TestTemplatesNeutralizeUnsafeLinks(t *testing.T) {
	m, err := ResetPassword("bo@example.com", ResetPasswordData{Link: "javascript:alert(1)"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("javascript: URL kept in href:\n%s", m.HTML)
	}
}

func TestEveryKindHasTextAndHTML(t *testing.T) {
	for _, name := range []string{"verify_email", "reset_password"} {
		k, ok := kinds[name]
		if !ok || k.text == nil || k.html == nil {
			t.Errorf("templates for %s missing: %+v", name, k)
		}
	}
	if _, err := render("no_such_kind", "a@example.com", "x", nil); err == nil {
		t.Error("render of an unknown kind succeeded")
	}
}

func TestCleanHeader(t *testing.T) {
	if got := cleanHeader(" Hello\r\nBcc: evil@example.com\t"); got != "Hello  Bcc: evil@example.com" {
		t.Errorf("cleanHeader = %q", got)
	}
	long := strings.Repeat("é", 200) // 400 bytes
	got := cleanHeader(long)
	if len(got) > maxSubjectLen || !utf8.ValidString(got) || !strings.HasPrefix(long, got) {
		t.Errorf("cleanHeader(long) = %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	s := LogSender{Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	m, err := VerifyEmail("ann@example.com", VerifyEmailData{Name: "Ann", Link: "https://app.example.com/v?token=t0k"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	containsAll(t, "log", buf.String(), "level=INFO", "to=ann@example.com", "Verify your email address", "https://app.example.com/v?token=t0k")
}

func containsAll(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
