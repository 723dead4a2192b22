// Package realtime delivers organization events to subscribers: the feed of each
// organization is the event table, read in sequence order; a bus only tells the
// instances that a feed advanced. Every delivery is authorized against the
// membership table, and a subscriber can resume from a cursor without gap or
// duplicate.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Notice tells the feeds of every instance that something committed.
type Notice struct {
	// OrgID's feed advanced to sequence To; From is the first new sequence.
	OrgID string `json:"o,omitempty"`
	From  int64  `json:"f,omitempty"`
	To    int64  `json:"t,omitempty"`
	// Users and Emails are the people the new events concern (viewerEvents).
	Users  []string `json:"u,omitempty"`
	Emails []string `json:"e,omitempty"`
	// EndedSessions were signed out or revoked: their sockets close everywhere.
	EndedSessions []string `json:"x,omitempty"`
	// Instance and Seq number the notices an instance sends over the bus (1, 2, …)
	// so that a receiver sees when one went missing: a failed publish, a full queue.
	// A Beat repeats the last Seq sent, so that a lost last notice shows too.
	Instance string `json:"i,omitempty"`
	Seq      int64  `json:"s,omitempty"`
	Beat     bool   `json:"b,omitempty"`
	// Sync asks every instance to beat now (sent when a subscription starts, so
	// that its instance learns everyone's numbers at once). Bye: the instance is
	// stopping, Seq was its last notice.
	Sync bool `json:"y,omitempty"`
	Bye  bool `json:"z,omitempty"`

	// subscribed marks the local message of a (re)started subscription, handled in
	// order with the notices; again: after an outage.
	subscribed, again bool
}

// Bus carries notices between instances.
type Bus interface {
	// Publish sends a notice to every instance (this one included).
	Publish(ctx context.Context, n Notice) error
	// Run receives notices until ctx ends. subscribed is called each time the
	// subscription starts, before the first notice it delivers; again is true when
	// notices may have been missed before (the bus was unreachable), so that the
	// feeds catch up.
	Run(ctx context.Context, deliver func(Notice), subscribed func(again bool)) error
}

// Local is the bus of a single instance: nothing crosses a process.
type Local struct{}

// Publish does nothing: the feeds of this instance hear of commits directly.
func (Local) Publish(context.Context, Notice) error { return nil }

// Run waits for ctx to end.
func (Local) Run(ctx context.Context, _ func(Notice), _ func(bool)) error {
	<-ctx.Done()
	return nil
}

// Redis is a bus over Redis pub/sub, for several instances sharing one database.
// Losing Redis loses no event: notices only shorten the wait, the feeds also poll
// the event table, and catch up at once when Redis returns.
type Redis struct {
	Client  *redis.Client
	Channel string
	Logger  *slog.Logger
}

// NewRedis connects to the Redis server of a redis:// URL. The channel is named
// after the URL's database number ("orgql:notices:0"): pub/sub ignores database
// numbers, and deployments that keep apart by database must not hear each other.
func NewRedis(rawURL string, log *slog.Logger) (*Redis, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	return &Redis{Client: redis.NewClient(opt), Channel: fmt.Sprintf("orgql:notices:%d", opt.DB), Logger: log}, nil
}

// Publish sends a notice.
func (r *Redis) Publish(ctx context.Context, n Notice) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return r.Client.Publish(ctx, r.Channel, b).Err()
}

// Run subscribes and delivers notices, resubscribing after failures. It returns as
// soon as ctx ends: a subscription request that a stuck server never answers
// holds its goroutine until the client's read timeout (go-redis does not heed ctx
// there), and shutdown need not wait for it, as nothing is delivered after ctx
// ended. Closing the client ends it at once.
func (r *Redis) Run(ctx context.Context, deliver func(Notice), subscribed func(again bool)) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(ctx, deliver, subscribed)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

func (r *Redis) run(ctx context.Context, deliver func(Notice), subscribed func(again bool)) {
	down := false
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ps := r.Client.Subscribe(ctx, r.Channel)
		// Closing the subscription interrupts a pending receive at shutdown.
		stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
		if _, err := ps.Receive(ctx); err != nil {
			stop()
			_ = ps.Close()
			if !down && ctx.Err() == nil {
				r.Logger.Warn("redis bus unreachable; feeds fall back to polling", "err", err)
			}
			down = true
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		if down {
			r.Logger.Info("redis bus is back; catching up")
		}
		subscribed(down)
		backoff = 100 * time.Millisecond
		down = r.receive(ctx, ps, deliver)
		stop()
		_ = ps.Close()
	}
}

// receive delivers messages until the subscription fails (true) or ctx ends.
func (r *Redis) receive(ctx context.Context, ps *redis.PubSub, deliver func(Notice)) bool {
	for {
		// A bounded wait with a ping in between notices a dead connection even
		// when no message flows.
		msg, err := ps.ReceiveTimeout(ctx, 10*time.Second)
		if ctx.Err() != nil {
			return false
		}
		if err != nil {
			if isTimeout(err) {
				if perr := ps.Ping(ctx); perr == nil {
					continue
				}
			}
			r.Logger.Warn("redis bus lost; feeds fall back to polling", "err", err)
			return true
		}
		m, ok := msg.(*redis.Message)
		if !ok {
			continue // subscription confirmations and pongs
		}
		var n Notice
		if err := json.Unmarshal([]byte(m.Payload), &n); err != nil {
			r.Logger.Warn("redis bus: bad notice", "err", err)
			continue
		}
		deliver(n)
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
