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
	"net"
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

// memBus is one instance's connection to a memHub. failNotices makes that many of
// its next change notices (not beats, syncs or goodbyes) fail to publish; doubled
// delivers that many twice (a publish the client retried); cutOff fails every
// publish (the instance's own link is down).
type memBus struct {
	hub         *memHub
	failNotices atomic.Int64
	doubled     atomic.Int64
	cutOff      atomic.Bool
	beats       atomic.Int64
	published   atomic.Int64
	subscribed  atomic.Pointer[func(bool)]
}

func newMemHub() *memHub { return &memHub{delivers: map[*memBus]func(realtime.Notice){}} }

func (h *memHub) bus() *memBus { return &memBus{hub: h} }

func isChange(n realtime.Notice) bool { return !n.Beat && !n.Sync && !n.Bye }

func (b *memBus) Publish(_ context.Context, n realtime.Notice) error {
	if b.cutOff.Load() || (isChange(n) && b.failNotices.Load() > 0 && b.failNotices.Add(-1) >= 0) {
		return errors.New("injected failure: bus unreachable")
	}
	times := 1
	if isChange(n) && b.doubled.Load() > 0 && b.doubled.Add(-1) >= 0 {
		times = 2
	}
	b.published.Add(1)
	if n.Beat {
		b.beats.Add(1)
	}
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for range times {
		for _, deliver := range b.hub.delivers {
			deliver(n) // to every instance, the sender too, as Redis does
		}
	}
	return nil
}

func (b *memBus) Run(ctx context.Context, deliver func(realtime.Notice), subscribed func(bool)) error {
	b.subscribed.Store(&subscribed)
	b.hub.mu.Lock()
	b.hub.delivers[b] = deliver
	b.hub.mu.Unlock()
	subscribed(false)
	<-ctx.Done()
	b.hub.mu.Lock()
	delete(b.hub.delivers, b)
	b.hub.mu.Unlock()
	return nil
}

// resubscribe plays the instance's subscription coming back after an outage.
func (b *memBus) resubscribe() { (*b.subscribed.Load())(true) }

// twoInstances runs feeds A (the fixture's) and B over one database, each on its
// own bus of one hub, and waits until both listen and each has the other's
// number. stopB stops B cleanly (it is also stopped at the end of the test).
func twoInstances(t *testing.T, beat time.Duration) (f *fixture, busA, busB *memBus, b *realtime.Feeds, stopB func()) {
	t.Helper()
	hub := newMemHub()
	busA, busB = hub.bus(), hub.bus()
	opts := realtime.Options{PollInterval: time.Hour, BeatInterval: beat}
	f = newFixture(t, busA, opts, map[string]role.Role{"owner": role.Owner, "mem": role.Member})
	// A listens before B starts, so that it hears B's request for numbers.
	waitFor(t, "A to listen", func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		return len(hub.delivers) == 1
	})
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	b = realtime.New(f.db.Client, busB, opts)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	var once sync.Once
	stopB = func() {
		once.Do(func() {
			stop()
			<-done
		})
	}
	t.Cleanup(stopB)
	// An instance asks for the others' numbers when it subscribes: once A has
	// answered B's request, B knows A's.
	waitFor(t, "A to answer B's request for numbers", func() bool {
		hub.mu.Lock()
		n := len(hub.delivers)
		hub.mu.Unlock()
		return n == 2 && busA.beats.Load() > 0
	})
	return f, busA, busB, b, stopB
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
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
	f, busA, _, b, _ := twoInstances(t, beat)
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
	f, busA, _, b, _ := twoInstances(t, time.Hour)
	v := f.subscribeViewer(b, "mem")
	f.changeRole("mem", role.Admin)
	nextViewer(t, v)
	busA.failNotices.Store(1)
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
	f, busA, _, b, _ := twoInstances(t, 50*time.Millisecond)
	v := f.subscribeViewer(b, "mem")
	f.changeRole("mem", role.Admin)
	nextViewer(t, v)
	busA.failNotices.Store(1)
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

// expectNone fails if the viewer stream delivers anything, or ends, within d.
func expectNone(t *testing.T, ch <-chan *realtime.ViewerEvent, d time.Duration) {
	t.Helper()
	select {
	case ve, ok := <-ch:
		if !ok {
			t.Fatal("the viewer stream ended")
		}
		t.Fatalf("an unexpected viewer event: %+v", ve)
	case <-time.After(d):
	}
}

// TestDuplicateNoticeDeliveredOnce: a notice the bus delivers twice (the Redis
// client retried a publish that had gone through) gives one viewer event.
func TestDuplicateNoticeDeliveredOnce(t *testing.T) {
	f, busA, _, b, _ := twoInstances(t, time.Hour)
	v := f.subscribeViewer(b, "mem")
	busA.doubled.Store(1)
	f.changeRole("mem", role.Admin)
	if ve := nextViewer(t, v); ve.Type != realtime.RoleChanged {
		t.Fatalf("want ROLE_CHANGED, got %+v", ve)
	}
	expectNone(t, v, 300*time.Millisecond)
	if busA.doubled.Load() > 0 {
		t.Fatal("the notice was not doubled")
	}
}

// TestLostNoticeAfterResubscribe: B's own subscription comes back after an outage
// (its viewer streams end, as they may have missed notices); a stream opened
// after that is not left short either: A's next notice is lost, the one after it
// shows the gap, since B learnt A's number right after resubscribing.
func TestLostNoticeAfterResubscribe(t *testing.T) {
	f, busA, busB, b, _ := twoInstances(t, time.Hour)
	old := f.subscribeViewer(b, "mem")
	beats := busA.beats.Load()
	busB.resubscribe()
	expectEnded(t, old)
	waitFor(t, "A to answer B's new request for numbers", func() bool { return busA.beats.Load() > beats })
	v := f.subscribeViewer(b, "mem")
	busA.failNotices.Store(1)
	f.changeRole("mem", role.Admin) // lost
	f.changeRole("mem", role.Member)
	expectEnded(t, v)
}

// TestSilentInstanceEndsStreams: A's own link to the bus is down, so nothing it
// sends arrives, beats included: after three beat intervals B presumes A gone with
// notices unsent and ends its viewer streams.
func TestSilentInstanceEndsStreams(t *testing.T) {
	f, busA, _, b, _ := twoInstances(t, 30*time.Millisecond)
	v := f.subscribeViewer(b, "mem")
	busA.cutOff.Store(true)
	f.changeRole("mem", role.Admin) // never arrives
	expectEnded(t, v)
}

// TestCleanStopSaysGoodbye: B stops cleanly (a rolling deploy): it says goodbye,
// so A does not presume it gone with notices unsent, and A's viewer streams stay
// open; notices B queued before stopping are published first.
func TestCleanStopSaysGoodbye(t *testing.T) {
	const beat = 30 * time.Millisecond
	f, _, busB, _, stopB := twoInstances(t, beat)
	waitFor(t, "B to beat", func() bool { return busB.beats.Load() > 0 }) // A knows B
	v := f.subscribeViewer(f.feeds, "mem")
	stopB()
	expectNone(t, v, 10*beat) // past the silence that would end it
	f.changeRole("mem", role.Admin)
	if ve := nextViewer(t, v); ve.Type != realtime.RoleChanged {
		t.Fatalf("want ROLE_CHANGED, got %+v", ve)
	}
}

// TestRedisBusStopsOnAStuckServer: a Redis that accepts connections and never
// answers must not hold up shutdown (go-redis does not heed a cancelled context
// once a request is sent; its read timeout is 3 s).
func TestRedisBusStopsOnAStuckServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	bus, err := realtime.NewRedis("redis://"+ln.Addr().String()+"/0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = bus.Run(ctx, func(realtime.Notice) {}, func(bool) {})
	}()
	time.Sleep(200 * time.Millisecond) // the subscription request is pending
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Run did not return within 1 s of its context ending")
	}
}
