package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// Each kind of email is a pair of files under templates/, NAME.txt.tmpl
// (text/template) and NAME.html.tmpl (html/template, so every value is escaped
// for its context). They render the body only; layout.txt.tmpl and
// layout.html.tmpl wrap it with what all emails share. Both files see the kind's
// data struct as ".", plus the functions in templateFuncs.
//
// Adding a kind: a data struct, the two files, and a function calling render.
//
//go:embed templates/*.tmpl
var templateFiles embed.FS

// templateFuncs are available in every template. Keep them formatting-only:
// logic belongs in the Go function that builds the data.
var templateFuncs = map[string]any{
	"date": formatDate,
}

// formatDate renders an expiry unambiguously for a reader in any time zone.
func formatDate(t time.Time) string {
	return t.UTC().Format("Monday, 2 January 2006 at 15:04 UTC")
}

// kindTemplates are the parsed bodies of one kind of email.
type kindTemplates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

var (
	textLayout = texttemplate.Must(texttemplate.New("layout.txt.tmpl").
			Option("missingkey=error").ParseFS(templateFiles, "templates/layout.txt.tmpl"))
	htmlLayout = htmltemplate.Must(htmltemplate.New("layout.html.tmpl").
			Option("missingkey=error").ParseFS(templateFiles, "templates/layout.html.tmpl"))
	// kinds is parsed once at startup: the files are compiled in, so a syntax
	// error is a build defect that any test of this package reveals.
	kinds = mustParseKinds()
)

func mustParseKinds() map[string]kindTemplates {
	names, err := fs.Glob(templateFiles, "templates/*.txt.tmpl")
	if err != nil {
		panic(err)
	}
	m := map[string]kindTemplates{}
	for _, path := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "templates/"), ".txt.tmpl")
		if name == "layout" {
			continue
		}
		t, err := texttemplate.New(name).Funcs(templateFuncs).Option("missingkey=error").
			ParseFS(templateFiles, path)
		if err != nil {
			panic(fmt.Sprintf("mail: template %s: %v", path, err))
		}
		h, err := htmltemplate.New(name).Funcs(templateFuncs).Option("missingkey=error").
			ParseFS(templateFiles, "templates/"+name+".html.tmpl")
		if err != nil {
			panic(fmt.Sprintf("mail: template %s: %v (every kind needs both .txt.tmpl and .html.tmpl)", name, err))
		}
		m[name] = kindTemplates{
			text: t.Lookup(name + ".txt.tmpl"),
			html: h.Lookup(name + ".html.tmpl"),
		}
	}
	return m
}

// render builds a Message of the given kind. The subject is passed in rather
// than templated so that it can be composed in Go from the data (for example
// an organization name) and stays one line.
func render(kind, to, subject string, data any) (Message, error) {
	k, ok := kinds[kind]
	if !ok {
		return Message{}, fmt.Errorf("mail: no templates for %q", kind)
	}
	subject = cleanHeader(subject)

	var body bytes.Buffer
	if err := k.text.Execute(&body, data); err != nil {
		return Message{}, fmt.Errorf("mail: rendering %s text: %w", kind, err)
	}
	var text bytes.Buffer
	if err := textLayout.Execute(&text, map[string]any{
		"Subject": subject,
		"Content": strings.TrimSpace(body.String()),
	}); err != nil {
		return Message{}, fmt.Errorf("mail: rendering %s text layout: %w", kind, err)
	}

	body.Reset()
	if err := k.html.Execute(&body, data); err != nil {
		return Message{}, fmt.Errorf("mail: rendering %s HTML: %w", kind, err)
	}
	var html bytes.Buffer
	if err := htmlLayout.Execute(&html, map[string]any{
		"Subject": subject,
		// Safe: produced by html/template from the kind's file, which escaped
		// every value it inserted.
		"Content": htmltemplate.HTML(strings.TrimSpace(body.String())),
	}); err != nil {
		return Message{}, fmt.Errorf("mail: rendering %s HTML layout: %w", kind, err)
	}

	return Message{To: to, Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

// maxSubjectLen is the outbox's column size in bytes.
const maxSubjectLen = 255

// cleanHeader makes s safe and valid as a Subject: control characters (a
// user-chosen name with a line break must not start a new header) become
// spaces, and an overlong value is cut at a character boundary to fit the
// outbox column.
func cleanHeader(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	return truncateUTF8(s, maxSubjectLen)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// VerifyEmailData fills the email that confirms a new account's address.
type VerifyEmailData struct {
	// Name greets the user; empty gives a plain "Hi,".
	Name string
	// Link is the absolute URL that verifies the address; it carries the token.
	Link string
	// ExpiresAt is when the link stops working; zero omits the sentence.
	ExpiresAt time.Time
}

// VerifyEmail renders the address-verification email sent after sign-up.
func VerifyEmail(to string, d VerifyEmailData) (Message, error) {
	return render("verify_email", to, "Verify your email address", d)
}

// ResetPasswordData fills the password-reset email.
type ResetPasswordData struct {
	// Name greets the user; empty gives a plain "Hi,".
	Name string
	// Link is the absolute URL of the reset form; it carries the token.
	Link string
	// ExpiresAt is when the link stops working; zero omits the date.
	ExpiresAt time.Time
}

// ResetPassword renders the password-reset email. It tells the reader to
// ignore it when they did not ask, because anyone can request one for any
// address.
func ResetPassword(to string, d ResetPasswordData) (Message, error) {
	return render("reset_password", to, "Reset your password", d)
}

// InvitationData fills the email that invites an address to an organization.
type InvitationData struct {
	OrganizationName string
	// LogoURL is the absolute URL of the organization's logo; empty shows none.
	LogoURL     string
	InviterName string
	// Role is the role on accepting: ADMIN or MEMBER.
	Role string
	// Email is the invited address, which the accepting account must have.
	Email string
	// Link is the absolute URL of the accept page; it carries the token.
	Link      string
	ExpiresAt time.Time
}

// RoleLabel is the role as the email says it ("an admin", "a member").
func (d InvitationData) RoleLabel() string {
	switch d.Role {
	case "ADMIN":
		return "an admin"
	case "OWNER":
		return "an owner"
	}
	return "a member"
}

// Invitation renders an invitation email.
func Invitation(to string, d InvitationData) (Message, error) {
	return render("invitation", to, d.InviterName+" invited you to join "+d.OrganizationName, d)
}
