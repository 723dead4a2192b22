package realtime_test

// Lost notices between instances: viewerEvents streams have no cursor, so a notice
// that never reaches their instance (a failed publish, a full queue) must end them
// with EVENTS_MISSED rather than leave them silently short. Instances number their
// notices; a gap, shown by the next notice or by a beat, ends the streams.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/realtime"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/viewer"
)

// memHub connects the buses of several instances in memory, as Redis would.
type memHub struct {
	mu       sync.Mutex
	delivers map[*memBus]func(realtime.Notice)
}

// memBus is one instance's connection to a memHub; fail makes that many of its
// publishes fail.
type memBus struct {
	hub       *memHub
	fail      atomic.Int64
	published atomic.Int64
}

func newMemHub() *memHub { return &memHub{delivers: map[*memBus]func(realtime.Notice){}} }

func (h *memHub) bus() *memBus { return &memBus{hub: h} }

func (b *memBus) Publish(_ context.Context, n realtime.Notice) error {
	if b.fail.Load() > 0 && b.fail.Add(-1) >= 0 {
		return errors.New("injected failure: bus unreachable")
	}
	b.published.Add(1)
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for _, deliver := range b.hub.delivers {
		deliver(n) // to every instance, the sender too, as Redis does
	}
	return nil
}

func (b *memBus) Run(ctx context.Context, deliver func(realtime.Notice), _ func()) error {
	b.hub.mu.Lock()
	b.hub.delivers[b] = deliver
	b.hub.mu.Unlock()
	<-ctx.Done()
	b.hub.mu.Lock()
	delete(b.hub.delivers, b)
	b.hub.mu.Unlock()
	return nil
}

// twoInstances runs feeds A (the fixture's) and B over one database, each on its
// own bus of one hub, and waits until both listen.
func twoInstances(t *testing.T, beat time.Duration) (f *fixture, busA *memBus, b *realtime.Feeds) {
	t.Helper()
	hub := newMemHub()
	busA, busB := hub.bus(), hub.bus()
	opts := realtime.Options{PollInterval: time.Hour, BeatInterval: beat}
	f = newFixture(t, busA, opts, map[string]role.Role{"owner": role.Owner, "mem": role.Member})
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b = realtime.New(f.db.Client, busB, opts)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		hub.mu.Lock()
		n := len(hub.delivers)
		hub.mu.Unlock()
		if n == 2 {
			return f, busA, b
		}
		if time.Now().After(deadline) {
			t.Fatal("the instances did not start listening")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// subscribeViewer subscribes a member's viewerEvents on feeds for the life of the test.
func (f *fixture) subscribeViewer(feeds *realtime.Feeds, name string) <-chan *realtime.ViewerEvent {
	f.t.Helper()
	u, err := f.db.Client.User.Get(sys(), f.users[name])
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	ch, err := feeds.SubscribeViewer(ctx, &viewer.Viewer{User: u})
	if err != nil {
		f.t.Fatal(err)
	}
	return ch
}

// changeRole records a role change of name, and tells the feeds of A, as the
// services do after the commit.
func (f *fixture) changeRole(name string, to role.Role) []*ent.Event {
	f.t.Helper()
	evs := f.write(nil, events.Change{Type: events.MemberRoleChanged, ActorID: f.users["owner"],
		SubjectUserID: f.users[name], OldRole: role.Member, NewRole: to})
	f.feeds.Committed(sys(), evs, nil)
	return evs
}

// nextViewer receives one viewer event, failing after timeout or if the stream ended.
func nextViewer(t *testing.T, ch <-chan *realtime.ViewerEvent) *realtime.ViewerEvent {
	t.Helper()
	select {
	case ve, ok := <-ch:
		if !ok {
			t.Fatal("the viewer stream ended")
		}
		return ve
	case <-time.After(5 * time.Second):
		t.Fatal("no viewer event within 5s")
	}
	return nil
}

// expectEnded waits for the viewer stream to end with nothing more delivered.
func expectEnded(t *testing.T, ch <-chan *realtime.ViewerEvent) {
	t.Helper()
	select {
	case ve, ok := <-ch:
		if ok {
			t.Fatalf("want the stream to end, got %+v", ve)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the viewer stream was not ended within 5s")
	}
}

// TestViewerEventsCrossInstancesAndBeatsEndNothing: a change made on A reaches a
// viewer stream on B; beats that show no gap leave it open, and later changes
// still arrive.
func TestViewerEventsCrossInstancesAndBeatsEndNothing(t *testing.T) {
	const beat = 20 * time.Millisecond
	f, busA, b := twoInstances(t, beat)
	v := f.subscribeViewer(b, "mem")
	f.changeRole("mem", role.Admin)
	if ve := nextViewer(t, v); ve.Type != realtime.RoleChanged {
		t.Fatalf("B: want ROLE_CHANGED, got %+v", ve)
	}
	before := busA.published.Load()
	for busA.published.Load() < before+5 { // five beats at least
		time.Sleep(beat)
	}
	f.changeRole("mem", role.Member)
	if ve := nextViewer(t, v); ve.Type != realtime.RoleChanged {
		t.Fatalf("B after beats: want ROLE_CHANGED, got %+v", ve)
	}
}

// TestLostNoticeShownByNextNotice: A's publish of a viewer's role change fails; the
// next notice A sends shows the gap, and B ends the viewer stream instead of
// delivering only the second change.
func TestLostNoticeShownByNextNotice(t *testing.T) {
	f, busA, b := twoInstances(t, time.Hour)
	v := f.subscribeViewer(b, "mem")
	f.changeRole("mem", role.Admin) // a first notice, so B knows A
	nextViewer(t, v)
	busA.fail.Store(1)
	f.changeRole("mem", role.Member) // lost
	f.changeRole("mem", role.Admin)
	expectEnded(t, v)
	// A new stream works as before.
	v2 := f.subscribeViewer(b, "mem")
	f.changeRole("mem", role.Member)
	if ve := nextViewer(t, v2); ve.Type != realtime.RoleChanged {
		t.Fatalf("B, new stream: want ROLE_CHANGED, got %+v", ve)
	}
}

// TestLostLastNoticeShownByBeat: A's last notice is lost and A sends nothing more;
// its next beat shows the gap and B ends the viewer stream.
func TestLostLastNoticeShownByBeat(t *testing.T) {
	f, busA, b := twoInstances(t, 50*time.Millisecond)
	v := f.subscribeViewer(b, "mem")
	f.changeRole("mem", role.Admin)
	nextViewer(t, v)
	busA.fail.Store(1)
	f.changeRole("mem", role.Member) // lost, and nothing follows
	expectEnded(t, v)
}

// TestViewerNoticeUnreadableEndsStreams: when the events a notice names cannot be
// read, the viewer streams it concerns end rather than miss them.
func TestViewerNoticeUnreadableEndsStreams(t *testing.T) {
	f := newFixture(t, realtime.Local{}, realtime.Options{PollInterval: time.Hour},
		map[string]role.Role{"owner": role.Owner, "mem": role.Member})
	v := f.subscribeViewer(f.feeds, "mem")
	f.changeRole("mem", role.Admin)
	nextViewer(t, v)
	f.failReplays.Store(1) // the viewer notice reads a closed range of the event table
	f.changeRole("mem", role.Member)
	expectEnded(t, v)
	if n := f.failReplays.Load(); n != 0 {
		t.Fatalf("the injected failure was not reached (%d left)", n)
	}
}
