package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/emailmessage"
	"github.com/orgql/orgql/internal/viewer"
)

// Enqueue writes m to the outbox with client (pass tx.Client() to make the email
// part of a transaction). It does not send: call Outbox.Notify after the
// transaction commits so the email leaves without waiting for the next poll.
func Enqueue(ctx context.Context, client *ent.Client, m Message) error {
	ctx = viewer.System(ctx)
	if strings.ContainsAny(m.To, "\r\n") {
		return fmt.Errorf("mail: invalid recipient %q", m.To)
	}
	if _, err := netmail.ParseAddress(m.To); err != nil {
		return fmt.Errorf("mail: invalid recipient %q: %w", m.To, err)
	}
	subject := cleanHeader(m.Subject)
	if subject == "" {
		return errors.New("mail: message has no subject")
	}
	if m.Text == "" {
		return errors.New("mail: message has no text body")
	}
	now := dbTime(time.Now())
	err := client.EmailMessage.Create().
		SetTo(m.To).
		SetSubject(subject).
		SetTextBody(m.Text).
		SetHTMLBody(m.HTML).
		SetNextAttemptAt(now).
		SetCreatedAt(now).
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("mail: queueing email: %w", err)
	}
	return nil
}

// dbTime normalizes t for storage: UTC, and microseconds because MySQL's
// datetime(6) keeps no more, so a value read back compares equal to the one
// written (the outbox matches its lease by equality).
func dbTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// OutboxOptions tune an Outbox. Zero values take the defaults.
type OutboxOptions struct {
	// PollInterval is how often to look for due messages when not notified
	// (default 5s). It bounds the delay of retries and of mail enqueued by
	// another replica.
	PollInterval time.Duration
	// BatchSize is how many due messages one query fetches (default 20).
	BatchSize int
	// Lease is how long a claimed message is locked to this worker (default 2m).
	// A worker that dies mid-send frees its messages after this long; a send is
	// cut off at half the lease so that a slow server cannot outlive the lock
	// and get the message sent twice.
	Lease time.Duration
	// BaseBackoff is the delay after the first failure, doubling per attempt
	// (default 15s).
	BaseBackoff time.Duration
	// MaxBackoff caps the delay between attempts (default 1h).
	MaxBackoff time.Duration
	// MaxAttempts is how many sends are tried before the message is marked
	// FAILED with an ERROR log line (default 12: with the default backoff
	// the last attempt comes about four hours after the first).
	MaxAttempts int
	// Logger receives delivery failures; nil means slog.Default().
	Logger *slog.Logger
}

func (o OutboxOptions) withDefaults() OutboxOptions {
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 20
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = 15 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Hour
	}
	if o.MaxBackoff < o.BaseBackoff {
		o.MaxBackoff = o.BaseBackoff
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 12
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Outbox delivers queued messages with retries and exponential backoff (with
// jitter), so an SMTP outage loses no email. Every replica may run one: a
// message is claimed with a compare-and-set update before it is sent, so two
// workers never send it at the same time. Delivery is at least once: a worker
// that sends and then cannot record the fact (crash, database outage) leaves
// the message to be sent again after its lease.
type Outbox struct {
	client *ent.Client
	sender Sender
	opts   OutboxOptions
	log    *slog.Logger
	wake   chan struct{}
	// now is the clock; tests replace it to step over backoff delays.
	now func() time.Time
}

// NewOutbox returns an Outbox that delivers the messages in client's database
// through sender. Call Run to start it.
func NewOutbox(client *ent.Client, sender Sender, opts OutboxOptions) *Outbox {
	opts = opts.withDefaults()
	return &Outbox{
		client: client,
		sender: sender,
		opts:   opts,
		log:    opts.Logger,
		wake:   make(chan struct{}, 1),
		now:    time.Now,
	}
}

// Run delivers due messages until ctx is done, then returns nil. It wakes every
// PollInterval and whenever Notify is called. A send in progress when ctx ends
// is finished and recorded, so shutdown neither cuts a message in half nor
// leaves it locked. Database and SMTP errors are logged and retried, never
// returned: a transient outage must not stop mail delivery for good.
func (o *Outbox) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-o.wake:
		}
		// The work context outlives ctx so a send already started can finish;
		// ctx itself only stops the pass between messages.
		if _, err := o.deliverDue(ctx, context.WithoutCancel(ctx)); err != nil {
			o.log.LogAttrs(ctx, slog.LevelError, "mail outbox: delivery pass failed", slog.Any("error", err))
		}
		if ctx.Err() != nil {
			return nil
		}
		timer.Reset(o.opts.PollInterval)
	}
}

// Notify wakes Run now, typically after a transaction that enqueued mail
// commits. It never blocks: wake-ups that arrive while one is pending merge
// into it, since one pass delivers everything due.
func (o *Outbox) Notify() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// DeliverDue makes one pass: it claims and delivers every message due now and
// returns how many were sent. Failed sends are recorded for retry and are not
// errors; err reports database trouble. Run calls it in a loop; tests call it
// directly to step through retries.
func (o *Outbox) DeliverDue(ctx context.Context) (sent int, err error) {
	return o.deliverDue(ctx, ctx)
}

// deliverDue is DeliverDue with two contexts: stop ends the pass between
// messages, work bounds the database calls and sends.
func (o *Outbox) deliverDue(stop, work context.Context) (sent int, err error) {
	// The outbox is system work: it reads every message, whoever caused it.
	work = viewer.System(work)
	// Only messages due when the pass starts: a message that fails now is due
	// again later, so the pass cannot spin on it however small the backoff.
	due := dbTime(o.now())
	var errs []error
	seen := map[string]bool{}
	for stop.Err() == nil {
		batch, err := o.client.EmailMessage.Query().
			Where(
				emailmessage.StatusEQ(emailmessage.StatusPENDING),
				emailmessage.NextAttemptAtLTE(due),
				emailmessage.Or(emailmessage.LockedUntilIsNil(), emailmessage.LockedUntilLT(due)),
			).
			Order(emailmessage.ByNextAttemptAt(), emailmessage.ByID()).
			Limit(o.opts.BatchSize).
			All(work)
		if err != nil {
			return sent, errors.Join(append(errs, fmt.Errorf("mail outbox: listing due messages: %w", err))...)
		}
		fresh := 0
		for _, m := range batch {
			if stop.Err() != nil {
				break
			}
			if seen[m.ID] {
				continue
			}
			seen[m.ID] = true
			fresh++
			lease, ok, err := o.claim(work, m, due)
			if err != nil {
				return sent, errors.Join(append(errs, err)...)
			}
			if !ok {
				continue // another worker has it, or sent it already
			}
			ok, err = o.deliver(work, m, lease)
			if ok {
				sent++
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		// A short batch was the last one. A batch of rows already tried in
		// this pass (released by a canceled worker, say) would repeat forever.
		if len(batch) < o.opts.BatchSize || fresh == 0 {
			break
		}
	}
	return sent, errors.Join(errs...)
}

// claim locks m to this worker until the returned lease expires. The UPDATE
// only matches while the row is still exactly as read (pending, due, unlocked,
// same attempt count), so of several workers racing for it one wins and the
// others see zero affected rows. Matching the attempt count also guarantees
// the bodies read with the row are the ones to send.
func (o *Outbox) claim(ctx context.Context, m *ent.EmailMessage, due time.Time) (time.Time, bool, error) {
	now := dbTime(o.now())
	lease := dbTime(now.Add(o.opts.Lease))
	n, err := o.client.EmailMessage.Update().
		Where(
			emailmessage.IDEQ(m.ID),
			emailmessage.StatusEQ(emailmessage.StatusPENDING),
			emailmessage.AttemptsEQ(m.Attempts),
			emailmessage.NextAttemptAtLTE(due),
			emailmessage.Or(emailmessage.LockedUntilIsNil(), emailmessage.LockedUntilLT(now)),
		).
		SetLockedUntil(lease).
		Save(ctx)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("mail outbox: claiming message %s: %w", m.ID, err)
	}
	return lease, n == 1, nil
}

// deliver sends a claimed message (outside any transaction: SMTP can take
// seconds) and records the outcome.
func (o *Outbox) deliver(ctx context.Context, m *ent.EmailMessage, lease time.Time) (bool, error) {
	sendCtx, cancel := context.WithTimeout(ctx, o.opts.Lease/2)
	sendErr := o.sender.Send(sendCtx, Message{To: m.To, Subject: m.Subject, Text: m.TextBody, HTML: m.HTMLBody})
	cancel()

	// The outcome is recorded even if ctx has just ended: a sent message that
	// is not marked sent would go out again.
	rec, cancelRec := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancelRec()
	if sendErr == nil {
		return true, o.recordSent(rec, m)
	}
	if ctx.Err() != nil {
		// Our caller gave up, the server did nothing wrong: free the message
		// for the next pass without counting an attempt.
		return false, o.release(rec, m, lease)
	}
	return false, o.recordFailure(rec, m, lease, sendErr)
}

// recordSent marks m sent and erases its bodies, which hold single-use tokens
// that have no business staying in the database. It does not check the lease:
// the message was sent, and saying so is what prevents another send.
func (o *Outbox) recordSent(ctx context.Context, m *ent.EmailMessage) error {
	now := dbTime(o.now())
	_, err := o.client.EmailMessage.Update().
		Where(emailmessage.IDEQ(m.ID), emailmessage.StatusEQ(emailmessage.StatusPENDING)).
		SetStatus(emailmessage.StatusSENT).
		SetSentAt(now).
		SetAttempts(m.Attempts + 1).
		SetTextBody("").
		SetHTMLBody("").
		ClearLastError().
		ClearLockedUntil().
		Save(ctx)
	if err != nil {
		return fmt.Errorf("mail outbox: message %s was sent but could not be marked sent (it may be sent again): %w", m.ID, err)
	}
	return nil
}

// recordFailure schedules the next attempt, or gives up after MaxAttempts. The
// update only applies while this worker still holds the lease, so a worker
// that overran it cannot overwrite the outcome of the one that took over.
func (o *Outbox) recordFailure(ctx context.Context, m *ent.EmailMessage, lease time.Time, sendErr error) error {
	attempts := m.Attempts + 1
	now := dbTime(o.now())
	lastErr := truncateUTF8(strings.ToValidUTF8(sendErr.Error(), "\uFFFD"), maxErrorLen)
	upd := o.client.EmailMessage.Update().
		Where(
			emailmessage.IDEQ(m.ID),
			emailmessage.StatusEQ(emailmessage.StatusPENDING),
			emailmessage.LockedUntilEQ(lease),
		).
		SetAttempts(attempts).
		SetLastError(lastErr).
		ClearLockedUntil()
	failed := attempts >= o.opts.MaxAttempts
	var next time.Time
	if failed {
		// Nobody will send these bodies now; their links must not outlive
		// the attempt in the database. The user can ask for a new email.
		upd.SetStatus(emailmessage.StatusFAILED).SetTextBody("").SetHTMLBody("")
	} else {
		next = dbTime(now.Add(o.backoff(attempts)))
		upd.SetNextAttemptAt(next)
	}
	n, err := upd.Save(ctx)
	if err != nil {
		return fmt.Errorf("mail outbox: recording failure of message %s: %w", m.ID, err)
	}
	if n == 0 {
		o.log.LogAttrs(ctx, slog.LevelWarn, "mail outbox: lease lost before the failure was recorded",
			slog.String("id", m.ID), slog.String("error", lastErr))
		return nil
	}
	if failed {
		o.log.LogAttrs(ctx, slog.LevelError, "mail outbox: giving up on email",
			slog.String("id", m.ID), slog.String("to", m.To), slog.String("subject", m.Subject),
			slog.Int("attempts", attempts), slog.String("error", lastErr))
		return nil
	}
	o.log.LogAttrs(ctx, slog.LevelWarn, "mail outbox: send failed, will retry",
		slog.String("id", m.ID), slog.Int("attempts", attempts),
		slog.Time("next_attempt_at", next), slog.String("error", lastErr))
	return nil
}

// release gives up the lease without counting an attempt.
func (o *Outbox) release(ctx context.Context, m *ent.EmailMessage, lease time.Time) error {
	_, err := o.client.EmailMessage.Update().
		Where(emailmessage.IDEQ(m.ID), emailmessage.LockedUntilEQ(lease)).
		ClearLockedUntil().
		Save(ctx)
	if err != nil {
		return fmt.Errorf("mail outbox: releasing message %s: %w", m.ID, err)
	}
	return nil
}

// recordTimeout bounds the database write that records a send's outcome.
const recordTimeout = 30 * time.Second

// maxErrorLen keeps last_error within its column (1024 bytes) with room to spare.
const maxErrorLen = 1000

// backoff is the delay before attempt number attempts+1: BaseBackoff doubled
// per failure, capped at MaxBackoff, then varied by ±20% so that messages that
// failed together (an SMTP outage) do not all retry in the same instant.
func (o *Outbox) backoff(attempts int) time.Duration {
	d := o.opts.BaseBackoff
	for i := 1; i < attempts && d < o.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.opts.MaxBackoff)
	jittered := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return max(min(jittered, o.opts.MaxBackoff), time.Microsecond)
}
