package testenv

import (
	"context"
	"net/url"
	"regexp"
	"sync"

	"github.com/orgql/orgql/internal/mail"
)

// Mailbox is a mail.Sender that keeps what orgql sends. Messages go through the
// real outbox: reading the mailbox first delivers what is due.
type Mailbox struct {
	env  *Env
	mu   sync.Mutex
	sent []mail.Message
}

// Send stores m.
func (b *Mailbox) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, m)
	return nil
}

// To delivers what is due and returns every message sent to addr, oldest first.
func (b *Mailbox) To(addr string) []mail.Message {
	b.env.T.Helper()
	if _, err := b.env.App.Outbox.DeliverDue(context.Background()); err != nil {
		b.env.T.Fatalf("delivering mail: %v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []mail.Message
	for _, m := range b.sent {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// Last returns the newest message to addr, failing the test if there is none.
func (b *Mailbox) Last(addr string) mail.Message {
	b.env.T.Helper()
	msgs := b.To(addr)
	if len(msgs) == 0 {
		b.env.T.Fatalf("no email to %s", addr)
	}
	return msgs[len(msgs)-1]
}

var tokenParam = regexp.MustCompile(`[?&]token=([A-Za-z0-9_%-]+)`)

// Token returns the token of the link in the newest message to addr.
func (b *Mailbox) Token(addr string) string {
	b.env.T.Helper()
	m := b.Last(addr)
	match := tokenParam.FindStringSubmatch(m.Text)
	if match == nil {
		b.env.T.Fatalf("no token link in the email to %s:\n%s", addr, m.Text)
	}
	tok, err := url.QueryUnescape(match[1])
	if err != nil {
		b.env.T.Fatal(err)
	}
	return tok
}
