// Package mail renders orgql's transactional emails and delivers them.
//
// Emails are never sent from a request: a service method renders a Message and
// writes it to the outbox (Enqueue) in the same transaction as the change that
// caused it, so a rolled-back change sends nothing and a committed one cannot lose
// its email. An Outbox then delivers queued messages through a Sender, retrying
// with backoff while the SMTP server is unavailable.
package mail

import (
	"context"
	"log/slog"
	"regexp"
)

// Message is an email ready to send. To is a bare address (user@example.com);
// Text is required because some clients and every spam filter look at it, HTML
// is optional.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers one message (or returns an error; the outbox retries).
// Implementations must be safe for concurrent use, because several outbox
// workers may share one Sender.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// linkPattern finds the links of a plain-text body.
var linkPattern = regexp.MustCompile(`https?://[^\s<>"]+`)

// LogSender logs each message (to, subject and the full plain-text body, which
// contains the links) at INFO with slog, for local development without SMTP. It
// never fails. Do not use it in production: the log then holds live
// single-use tokens.
type LogSender struct {
	// Logger receives the messages; nil means slog.Default().
	Logger *slog.Logger
}

// Send logs m and returns nil.
func (s LogSender) Send(ctx context.Context, m Message) error {
	l := s.Logger
	if l == nil {
		l = slog.Default()
	}
	// The links first, on their own, so a developer can click through from the log.
	l.LogAttrs(ctx, slog.LevelInfo, "email (not sent: log mailer)",
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.Any("links", linkPattern.FindAllString(m.Text, -1)),
		slog.String("text", m.Text),
	)
	return nil
}
