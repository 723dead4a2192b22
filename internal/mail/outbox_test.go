package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/emailmessage"
	"github.com/orgql/orgql/internal/database"
	"github.com/orgql/orgql/internal/mail/mailtest"
	"github.com/orgql/orgql/internal/viewer"
)

// openDB opens a migrated SQLite database in a fresh file.
func openDB(t *testing.T) (*database.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orgql.db")
	return openDBAt(t, path), path
}

// openDBAt opens the database at path with its own connection pool, as
// another replica would.
func openDBAt(t *testing.T, path string) *database.DB {
	t.Helper()
	db, err := database.Open(viewer.System(context.Background()), "sqlite:"+path, database.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(viewer.System(context.Background())); err != nil {
		t.Fatal(err)
	}
	return db
}

// testClock runs ahead of the real clock by a settable offset, so a test can
// step over backoff delays without sleeping.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

func newTestOutbox(client *ent.Client, s Sender, opts OutboxOptions, clock *testClock) *Outbox {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	o := NewOutbox(client, s, opts)
	if clock != nil {
		o.now = clock.now
	}
	return o
}

// senderFunc adapts a function to Sender.
type senderFunc func(context.Context, Message) error

func (f senderFunc) Send(ctx context.Context, m Message) error { return f(ctx, m) }

func onlyMessage(t *testing.T, client *ent.Client) *ent.EmailMessage {
	t.Helper()
	m, err := client.EmailMessage.Query().Only(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func deliverDue(t *testing.T, o *Outbox) int {
	t.Helper()
	n, err := o.DeliverDue(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOutboxDeliversEnqueuedMail(t *testing.T) {
	ctx := viewer.System(context.Background())
	db, _ := openDB(t)
	srv := mailtest.Start(t)
	o := newTestOutbox(db.Client, mustSender(t, srv.URL()), OutboxOptions{}, nil)

	m, err := VerifyEmail("ann@example.com", VerifyEmailData{Name: "Ann", Link: "https://app.example.com/verify?token=s1ngle-use"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(ctx, func(tx *ent.Tx) error { return Enqueue(ctx, tx.Client(), m) }); err != nil {
		t.Fatal(err)
	}
	queued := onlyMessage(t, db.Client)
	if queued.Status != emailmessage.StatusPENDING || queued.TextBody != m.Text || queued.HTMLBody != m.HTML {
		t.Fatalf("queued %+v", queued)
	}
	if srv.DataCount() != 0 {
		t.Fatal("Enqueue sent the message")
	}

	if n := deliverDue(t, o); n != 1 {
		t.Fatalf("DeliverDue sent %d, want 1", n)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages", len(got))
	}
	checkDelivered(t, got[0], m)

	sent := onlyMessage(t, db.Client)
	if sent.Status != emailmessage.StatusSENT || sent.SentAt == nil || sent.LockedUntil != nil || sent.Attempts != 1 {
		t.Errorf("after sending: status %s, sent_at %v, locked_until %v, attempts %d", sent.Status, sent.SentAt, sent.LockedUntil, sent.Attempts)
	}
	if sent.TextBody != "" || sent.HTMLBody != "" {
		t.Error("the bodies (with their single-use link) were kept after sending")
	}
	if sent.SentAt != nil && sent.SentAt.Location() != time.UTC {
		t.Errorf("sent_at in %v, want UTC", sent.SentAt.Location())
	}

	if n := deliverDue(t, o); n != 0 || len(srv.Messages()) != 1 {
		t.Errorf("second pass sent %d more", n)
	}
}

func TestEnqueueIsPartOfTheTransaction(t *testing.T) {
	ctx := viewer.System(context.Background())
	db, _ := openDB(t)
	rollback := errors.New("rollback")
	err := db.Tx(ctx, func(tx *ent.Tx) error {
		if err := Enqueue(ctx, tx.Client(), Message{To: "ann@example.com", Subject: "Hi", Text: "Hi"}); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if n := db.Client.EmailMessage.Query().CountX(ctx); n != 0 {
		t.Errorf("%d messages survived the rollback", n)
	}
}

func TestEnqueueValidates(t *testing.T) {
	ctx := viewer.System(context.Background())
	db, _ := openDB(t)
	for _, m := range []Message{
		{To: "not an address", Subject: "Hi", Text: "Hi"},
		{To: "ann@example.com\r\nBcc: x@example.com", Subject: "Hi", Text: "Hi"},
		{To: "ann@example.com", Subject: " \r\n", Text: "Hi"},
		{To: "ann@example.com", Subject: "Hi", HTML: "<p>Hi</p>"},
	} {
		if err := Enqueue(ctx, db.Client, m); err == nil {
			t.Errorf("Enqueue(%+v) succeeded", m)
		}
	}
	long := Message{To: "ann@example.com", Subject: "Re: " + strings.Repeat("ü", 300), Text: "Hi"}
	if err := Enqueue(ctx, db.Client, long); err != nil {
		t.Fatalf("a long subject is cut, not refused: %v", err)
	}
	if got := onlyMessage(t, db.Client).Subject; len(got) > maxSubjectLen || !utf8.ValidString(got) {
		t.Errorf("stored subject of %d bytes", len(got))
	}
}

func TestOutboxRetriesWithBackoffUntilTheServerRecovers(t *testing.T) {
	ctx := viewer.System(context.Background())
	db, _ := openDB(t)
	srv := mailtest.Start(t, mailtest.FailFirst(2))
	clock := &testClock{}
	const base = 10 * time.Second
	o := newTestOutbox(db.Client, mustSender(t, srv.URL()),
		OutboxOptions{BaseBackoff: base, MaxBackoff: time.Hour}, clock)

	m := Message{To: "ann@example.com", Subject: "Hello", Text: "Hi", HTML: "<p>Hi</p>"}
	if err := Enqueue(ctx, db.Client, m); err != nil {
		t.Fatal(err)
	}

	// checkFailed verifies the state after the given failed attempt, which
	// started no earlier than before, and returns the next attempt's time.
	checkFailed := func(attempt int, before time.Time) time.Time {
		t.Helper()
		row := onlyMessage(t, db.Client)
		if row.Status != emailmessage.StatusPENDING || row.Attempts != attempt || row.LockedUntil != nil {
			t.Fatalf("after failure %d: status %s attempts %d locked_until %v", attempt, row.Status, row.Attempts, row.LockedUntil)
		}
		if !strings.Contains(row.LastError, "451") {
			t.Errorf("last_error = %q, want the server's 451", row.LastError)
		}
		want := base << (attempt - 1)
		delay := row.NextAttemptAt.Sub(before)
		if delay < want*8/10-time.Second || delay > want*12/10+time.Second {
			t.Errorf("attempt %d: retry after %v, want %v ±20%%", attempt, delay, want)
		}
		return row.NextAttemptAt
	}

	before := clock.now()
	if n := deliverDue(t, o); n != 0 {
		t.Fatal("sent despite the 451")
	}
	next := checkFailed(1, before)

	// Not due yet: nothing is tried.
	if n := deliverDue(t, o); n != 0 || srv.DataCount() != 1 {
		t.Fatalf("retried before the backoff elapsed (sent %d, DATA %d)", n, srv.DataCount())
	}

	clock.advance(next.Sub(clock.now()) + time.Millisecond)
	before = clock.now()
	if n := deliverDue(t, o); n != 0 {
		t.Fatal("sent despite the second 451")
	}
	next = checkFailed(2, before)

	clock.advance(next.Sub(clock.now()) + time.Millisecond)
	if n := deliverDue(t, o); n != 1 {
		t.Fatalf("third attempt sent %d, want 1", n)
	}
	clock.advance(24 * time.Hour)
	if n := deliverDue(t, o); n != 0 {
		t.Fatal("sent again")
	}

	if got := srv.Messages(); len(got) != 1 || srv.DataCount() != 3 {
		t.Fatalf("server received %d messages in %d DATA commands, want 1 in 3", len(got), srv.DataCount())
	}
	row := onlyMessage(t, db.Client)
	if row.Status != emailmessage.StatusSENT || row.Attempts != 3 || row.LastError != "" || row.TextBody != "" {
		t.Errorf("after success: %+v", row)
	}
}

func TestOutboxGivesUpAfterMaxAttempts(t *testing.T) {
	ctx := viewer.System(context.Background())
	db, _ := openDB(t)
	var logs bytes.Buffer
	var calls int
	// A long error with multi-byte characters, to check truncation.
	longErr := errors.New(strings.Repeat("é", 2000))
	sender := senderFunc(func(context.Context, Message) error { calls++; return longErr })
	clock := &testClock{}
	o := newTestOutbox(db.Client, sender, OutboxOptions{
		MaxAttempts: 3,
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	}, clock)
	if err := Enqueue(ctx, db.Client, Message{To: "ann@example.com", Subject: "Hello", Text: "Hi"}); err != nil {
		t.Fatal(err)
	}

	for i := 1; i <= 5; i++ {
		deliverDue(t, o)
		clock.advance(2 * time.Hour) // past any backoff
	}
	if calls != 3 {
		t.Errorf("tried %d times, want 3", calls)
	}
	row := onlyMessage(t, db.Client)
	if row.Status != emailmessage.StatusFAILED || row.Attempts != 3 || row.LockedUntil != nil {
		t.Errorf("status %s attempts %d locked_until %v", row.Status, row.Attempts, row.LockedUntil)
	}
	if row.TextBody != "" || row.HTMLBody != "" {
		t.Error("the bodies were kept after giving up")
	}
	if len(row.LastError) > 1000 || !utf8.ValidString(row.LastError) || !strings.HasPrefix(longErr.Error(), row.LastError) {
		t.Errorf("last_error: %d bytes, valid UTF-8 %v", len(row.LastError), utf8.ValidString(row.LastError))
	}
	if got := strings.Count(logs.String(), "level=ERROR"); got != 1 {
		t.Errorf("%d ERROR lines, want 1:\n%s", got, logs.String())
	}
	containsAll(t, "log", logs.String(), "giving up", "to=ann@example.com", "attempts=3")
}

func TestOutboxBackoff(t *testing.T) {
	o := NewOutbox(nil, nil, OutboxOptions{BaseBackoff: 15 * time.Second, MaxBackoff: time.Hour})
	for attempts := 1; attempts <= 40; attempts++ {
		want := min(15*time.Second<<min(attempts-1, 20), time.Hour)
		for range 20 {
			got := o.backoff(attempts)
			if got < want*8/10 || got > want*12/10 || got > time.Hour {
				t.Fatalf("backoff(%d) = %v, want %v ±20%% and at most 1h", attempts, got, want)
			}
		}
	}
}

func TestOutboxClaimIsExclusive(t *testing.T) {
	ctx := viewer.System(context.Background())
	db, path := openDB(t)
	clock := &testClock{}
	a := newTestOutbox(db.Client, nil, OutboxOptions{Lease: time.Minute}, clock)
	b := newTestOutbox(openDBAt(t, path).Client, nil, OutboxOptions{Lease: time.Minute}, clock)
	if err := Enqueue(ctx, db.Client, Message{To: "ann@example.com", Subject: "Hello", Text: "Hi"}); err != nil {
		t.Fatal(err)
	}
	m := onlyMessage(t, db.Client)
	due := clock.now()

	if _, ok, err := a.claim(ctx, m, due); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if _, ok, err := b.claim(ctx, m, due); err != nil || ok {
		t.Fatalf("second claim while locked: %v %v", ok, err)
	}
	// A worker that died keeps the message only until its lease ends.
	clock.advance(time.Minute + time.Second)
	if _, ok, err := b.claim(ctx, m, clock.now()); err != nil || !ok {
		t.Fatalf("claim after the lease expired: %v %v", ok, err)
	}
}

func TestOutboxReplicasDeliverEachMessageOnce(t *testing.T) {
	ctx := viewer.System(context.Background())
	db, path := openDB(t)
	const messages = 40
	for i := range messages {
		if err := Enqueue(ctx, db.Client, Message{To: "ann@example.com", Subject: fmt.Sprint("msg ", i), Text: "Hi"}); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	got := map[string]int{}
	sender := senderFunc(func(_ context.Context, m Message) error {
		mu.Lock()
		defer mu.Unlock()
		got[m.Subject]++
		return nil
	})
	// Two replicas with their own connection pools, each running several
	// passes at once, with small batches to maximize overlap.
	replicas := []*Outbox{
		newTestOutbox(db.Client, sender, OutboxOptions{BatchSize: 5}, nil),
		newTestOutbox(openDBAt(t, path).Client, sender, OutboxOptions{BatchSize: 5}, nil),
	}
	var (
		wg    sync.WaitGroup
		total int
		errs  []error
	)
	for _, o := range replicas {
		for range 3 {
			wg.Go(func() {
				n, err := o.DeliverDue(ctx)
				mu.Lock()
				defer mu.Unlock()
				total += n
				errs = append(errs, err)
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if total != messages || len(got) != messages {
		t.Errorf("sent %d, %d distinct, want %d", total, len(got), messages)
	}
	for subject, n := range got {
		if n != 1 {
			t.Errorf("%s sent %d times", subject, n)
		}
	}
	if n := db.Client.EmailMessage.Query().Where(emailmessage.StatusNEQ(emailmessage.StatusSENT)).CountX(ctx); n != 0 {
		t.Errorf("%d messages not marked sent", n)
	}
}

func TestDeliverDueCanceledReleasesTheMessage(t *testing.T) {
	db, _ := openDB(t)
	ctx, cancel := context.WithCancel(viewer.System(context.Background()))
	sender := senderFunc(func(ctx context.Context, _ Message) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	o := newTestOutbox(db.Client, sender, OutboxOptions{}, nil)
	if err := Enqueue(ctx, db.Client, Message{To: "ann@example.com", Subject: "Hello", Text: "Hi"}); err != nil {
		t.Fatal(err)
	}
	if n, err := o.DeliverDue(ctx); n != 0 || err != nil {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	row := onlyMessage(t, db.Client)
	if row.Status != emailmessage.StatusPENDING || row.Attempts != 0 || row.LockedUntil != nil {
		t.Errorf("after cancel: status %s attempts %d locked_until %v", row.Status, row.Attempts, row.LockedUntil)
	}
}

func TestOutboxRunWakesOnNotifyAndStopsGracefully(t *testing.T) {
	db, _ := openDB(t)
	calls := make(chan string)
	release := make(chan struct{})
	var slowCtxErr error // the slow send's context error when it completes
	sender := senderFunc(func(ctx context.Context, m Message) error {
		calls <- m.Subject
		if m.Subject == "slow" {
			<-release
			slowCtxErr = ctx.Err()
		}
		return nil
	})
	// Polling is effectively off: only the first pass and Notify wake Run.
	o := newTestOutbox(db.Client, sender, OutboxOptions{PollInterval: time.Hour}, nil)
	ctx, cancel := context.WithCancel(viewer.System(context.Background()))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()

	wait := func() string {
		t.Helper()
		select {
		case s := <-calls:
			return s
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not deliver after Notify")
		}
		return ""
	}
	enqueue := func(subject string) {
		t.Helper()
		if err := Enqueue(ctx, db.Client, Message{To: "ann@example.com", Subject: subject, Text: "Hi"}); err != nil {
			t.Fatal(err)
		}
		o.Notify()
	}

	enqueue("fast")
	if s := wait(); s != "fast" {
		t.Fatalf("sent %q", s)
	}

	// Shutdown while a send is in progress: the send finishes, with a live
	// context, and is recorded; then Run returns.
	enqueue("slow")
	if s := wait(); s != "slow" {
		t.Fatalf("sent %q", s)
	}
	cancel()
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if slowCtxErr != nil {
		t.Error("the in-progress send's context was canceled by shutdown")
	}
	n := db.Client.EmailMessage.Query().Where(emailmessage.StatusEQ(emailmessage.StatusSENT)).CountX(viewer.System(context.Background()))
	if n != 2 {
		t.Errorf("%d messages marked sent, want 2", n)
	}
}

func TestNotifyNeverBlocks(t *testing.T) {
	o := NewOutbox(nil, nil, OutboxOptions{})
	for range 1000 {
		o.Notify()
	}
}
