package realtime

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/gqlws"
	"github.com/orgql/orgql/internal/viewer"
)

// Options tune the feeds.
type Options struct {
	// PollInterval is how often active feeds look at the event table without a
	// notice (default 2 s): the bound on delay when the bus is down.
	PollInterval time.Duration
	// Buffer is how many undelivered events a subscriber may have; past it the
	// subscriber is ended with SUBSCRIBER_TOO_SLOW and resumes with a cursor.
	Buffer int
	// BeatInterval is how often an idle instance tells the bus the number of the
	// last notice it sent (default 5 s): about how long a lost last notice goes
	// unnoticed by the other instances. An instance unheard for three intervals is
	// presumed gone with notices unsent (one that stops cleanly says so).
	BeatInterval time.Duration
	// SessionsEnded closes the sockets of ended sessions on this instance.
	SessionsEnded func(ids []string)
	Logger        *slog.Logger
}

// ReasonTooSlow ends a subscriber that fell behind.
const ReasonTooSlow = "SUBSCRIBER_TOO_SLOW"

// Feeds fans organization events out to the subscribers of this instance.
type Feeds struct {
	client *ent.Client
	bus    Bus
	opts   Options
	log    *slog.Logger

	notices chan Notice
	// outbound notices wait here for the bus, so that a slow or unreachable bus
	// never delays the mutation that committed them.
	outbound chan Notice
	feedsWG  sync.WaitGroup
	cache    *expirable.LRU[string, *Preload]

	// instance names this process on the bus; sent numbers its notices (under
	// sendMu, with their queueing, so that a beat never overtakes a notice).
	instance string
	sendMu   sync.Mutex
	sent     int64
	beatNow  chan struct{}
	// peers follows the other instances' numbers (Run goroutine only).
	peers *peers

	mu      sync.Mutex
	orgs    map[string]*orgFeed
	viewers map[*viewerSub]struct{}
}

// New returns the feeds over the event table of client.
func New(client *ent.Client, bus Bus, opts Options) *Feeds {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 2 * time.Second
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 64
	}
	if opts.BeatInterval <= 0 {
		opts.BeatInterval = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Feeds{
		client:   client,
		bus:      bus,
		opts:     opts,
		log:      opts.Logger,
		notices:  make(chan Notice, 4096),
		outbound: make(chan Notice, 4096),
		cache:    expirable.NewLRU[string, *Preload](20_000, nil, time.Minute),
		instance: rand.Text(),
		beatNow:  make(chan struct{}, 1),
		peers:    newPeers(3 * opts.BeatInterval),
		orgs:     map[string]*orgFeed{},
		viewers:  map[*viewerSub]struct{}{},
	}
}

// Run receives notices from the bus and polls active feeds until ctx ends.
func (f *Feeds) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		// Handled in order with the notices: see handle.
		_ = f.bus.Run(ctx, f.enqueue, func(again bool) {
			select {
			case f.notices <- Notice{subscribed: true, again: again}:
			case <-ctx.Done():
			}
		})
	}()
	go func() {
		defer wg.Done()
		f.publish(ctx)
	}()
	poll := time.NewTicker(f.opts.PollInterval)
	defer poll.Stop()
	silence := time.NewTicker(f.opts.BeatInterval)
	defer silence.Stop()
	for {
		select {
		case <-ctx.Done():
			f.stopAll()
			f.feedsWG.Wait()
			wg.Wait()
			return nil
		case n := <-f.notices:
			f.handle(ctx, n)
		case <-poll.C:
			f.poll(ctx)
		case now := <-silence.C:
			if k := f.peers.silent(now); k > 0 {
				f.log.Warn("realtime: an instance went silent without saying goodbye; viewer streams end", "instances", k)
				f.eventsMissed()
			}
		}
	}
}

func (f *Feeds) enqueue(n Notice) {
	select {
	case f.notices <- n:
	default:
		// Organization feeds catch up by polling; viewer streams cannot, and end:
		// now for a notice of this instance, at the gap it leaves for another's.
		f.log.Warn("realtime: notice queue full; dropping a notice", "org", n.OrgID)
		if n.Instance == "" && (len(n.Users) > 0 || len(n.Emails) > 0) {
			f.eventsMissed()
		}
	}
}

// Committed is the hook of the services: events of one transaction, after it
// committed. audience names users the events concern beyond their subjects (the
// members of a deleted organization).
func (f *Feeds) Committed(ctx context.Context, evs []*ent.Event, audience []string) {
	if len(evs) == 0 {
		return
	}
	n := Notice{OrgID: *evs[0].OrganizationID, From: evs[0].Sequence, To: evs[len(evs)-1].Sequence}
	users := map[string]bool{}
	for _, u := range audience {
		users[u] = true
	}
	for _, e := range evs {
		switch e.Type {
		case events.MemberRoleChanged, events.MemberRemoved:
			users[deref(e.SubjectUserID)] = true
		case events.OwnershipTransferred:
			users[deref(e.SubjectUserID)] = true
			users[deref(e.ActorID)] = true
		case events.InvitationCreated, events.InvitationResent:
			if email, ok := e.Data["email"].(string); ok {
				n.Emails = append(n.Emails, email)
			}
		}
	}
	delete(users, "")
	for u := range users {
		n.Users = append(n.Users, u)
	}
	f.enqueue(n)
	f.send(n)
}

// send numbers a notice and queues it for the bus. A notice dropped here, or lost
// by the bus, leaves a gap in the numbers that the other instances see.
func (f *Feeds) send(n Notice) {
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	f.sent++
	n.Instance, n.Seq = f.instance, f.sent
	select {
	case f.outbound <- n:
	default:
		f.log.Warn("realtime: bus queue full; other instances will poll")
	}
}

// publish hands queued notices to the bus, each with a bounded wait, and a beat
// when nothing waits; when ctx ends, it sends what is queued and says goodbye.
func (f *Feeds) publish(ctx context.Context) {
	beat := time.NewTicker(f.opts.BeatInterval)
	defer beat.Stop()
	for {
		var n Notice
		select {
		case <-ctx.Done():
			f.farewell()
			return
		case n = <-f.outbound:
		case <-beat.C:
		case <-f.beatNow:
		}
		if n.Instance == "" { // a beat
			f.sendMu.Lock()
			idle, last := len(f.outbound) == 0, f.sent
			f.sendMu.Unlock()
			if !idle {
				continue // the queued notices carry the numbers
			}
			n = Notice{Instance: f.instance, Seq: last, Beat: true}
		}
		// Not cancelled with ctx: a notice taken from the queue as the instance
		// stops is still published (the wait stays bounded).
		f.publishOne(context.WithoutCancel(ctx), n)
	}
}

// farewell publishes the notices still queued and a goodbye carrying the last
// number, within a few seconds, so that a clean stop (a rolling deploy) leaves the
// other instances neither short nor guessing.
func (f *Feeds) farewell() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for len(f.outbound) > 0 { // only this goroutine takes from it
		f.publishOne(ctx, <-f.outbound)
	}
	f.sendMu.Lock()
	last := f.sent
	f.sendMu.Unlock()
	f.publishOne(ctx, Notice{Instance: f.instance, Seq: last, Bye: true})
}

func (f *Feeds) publishOne(ctx context.Context, n Notice) {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := f.bus.Publish(pctx, n); err != nil && ctx.Err() == nil && !n.Beat {
		f.log.Warn("realtime: publishing a notice failed; other instances will poll", "err", err)
	}
}

// SessionsEnded closes the sockets of sessions that ended (sign-out, password
// reset) on every instance.
func (f *Feeds) SessionsEnded(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	n := Notice{EndedSessions: ids}
	f.enqueue(n)
	f.send(n)
}

func (f *Feeds) handle(ctx context.Context, n Notice) {
	if n.subscribed {
		// After an outage, what was missed is accounted for now, not again at each
		// instance's next notice; then everyone is asked for their numbers.
		if n.again {
			f.peers.reset()
			f.eventsMissed()
		}
		f.send(Notice{Sync: true})
		return
	}
	if n.Instance == f.instance {
		return // the bus echoes our own notices, handled when they were sent
	}
	if n.Instance != "" {
		missed, duplicate := f.peers.heard(n, time.Now())
		if missed {
			f.log.Warn("realtime: a notice from another instance was lost; viewer streams end", "instance", n.Instance)
			f.eventsMissed()
		}
		if duplicate {
			return
		}
		if n.Sync {
			select {
			case f.beatNow <- struct{}{}:
			default: // one is due already
			}
		}
	}
	if n.Beat || n.Bye || n.Sync {
		return
	}
	if len(n.EndedSessions) > 0 {
		if f.opts.SessionsEnded != nil {
			f.opts.SessionsEnded(n.EndedSessions)
		}
		return
	}
	if n.OrgID == "" {
		return
	}
	f.mu.Lock()
	o := f.orgs[n.OrgID]
	f.mu.Unlock()
	if o != nil {
		o.poke()
	}
	if len(n.Users) > 0 || len(n.Emails) > 0 {
		f.viewerNotice(ctx, n)
	}
}

// eventsMissed runs when this instance may have missed notices (a bus outage, a
// notice lost on the way or dropped on a full queue, an instance gone silent):
// organization feeds read what they missed from their cursor; viewer streams,
// which have none, end with EVENTS_MISSED so that clients refetch and subscribe
// again.
func (f *Feeds) eventsMissed() {
	f.mu.Lock()
	orgs := make([]*orgFeed, 0, len(f.orgs))
	for _, o := range f.orgs {
		orgs = append(orgs, o)
	}
	viewers := make([]*viewerSub, 0, len(f.viewers))
	for v := range f.viewers {
		viewers = append(viewers, v)
	}
	f.mu.Unlock()
	for _, o := range orgs {
		o.poke()
	}
	for _, v := range viewers {
		v.end(errEventsMissed())
	}
}

// errEventsMissed ends a viewer stream that may have missed events.
func errEventsMissed() *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "events may have been missed (the event bus was interrupted or a notice was lost); refetch and subscribe again",
		Extensions: map[string]any{"code": string(apperr.Conflict), "reason": "EVENTS_MISSED"},
	}
}

// poll wakes the feeds whose organization advanced without a notice reaching us.
func (f *Feeds) poll(ctx context.Context) {
	f.mu.Lock()
	ids := make([]string, 0, len(f.orgs))
	for id := range f.orgs {
		ids = append(ids, id)
	}
	f.mu.Unlock()
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		orgs, err := f.client.Organization.Query().
			Where(organization.IDIn(chunk...)).
			Select(organization.FieldID, organization.FieldEventSequence).
			All(viewer.System(ctx))
		if err != nil {
			f.log.Warn("realtime: polling feeds", "err", err)
			return
		}
		found := map[string]int64{}
		for _, o := range orgs {
			found[o.ID] = o.EventSequence
		}
		f.mu.Lock()
		for _, id := range chunk {
			o := f.orgs[id]
			if o == nil {
				continue
			}
			seq, ok := found[id]
			o.mu.Lock()
			behind := !ok || seq > o.last // a deleted organization: read its last event
			o.mu.Unlock()
			if behind {
				o.poke()
			}
		}
		f.mu.Unlock()
	}
}

func (f *Feeds) stopAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, o := range f.orgs {
		close(o.done)
		delete(f.orgs, id)
	}
}

// Stats counts this instance's subscribers.
func (f *Feeds) Stats() (orgFeeds, orgSubscribers, viewerSubscribers int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.orgs {
		o.mu.Lock()
		orgSubscribers += len(o.subs)
		o.mu.Unlock()
	}
	return len(f.orgs), orgSubscribers, len(f.viewers)
}

// Preload is what the payload of an event refers to, loaded once per event for all
// its subscribers instead of once per subscriber.
type Preload struct {
	Member     *ent.Member // with User; nil when gone
	Invitation *ent.Invitation
	Actor      *ent.User
	Subject    *ent.User
}

// Preloaded returns the preloaded references of an event being delivered.
func (f *Feeds) Preloaded(eventID string) (*Preload, bool) { return f.cache.Get(eventID) }

// preload loads, in four queries whatever their number, what a batch of events
// refers to.
func (f *Feeds) preload(ctx context.Context, evs []*ent.Event) error {
	var memberIDs, invIDs, userIDs []string
	for _, e := range evs {
		if e.MemberID != nil {
			memberIDs = append(memberIDs, *e.MemberID)
		}
		if e.InvitationID != nil {
			invIDs = append(invIDs, *e.InvitationID)
		}
		if e.ActorID != nil {
			userIDs = append(userIDs, *e.ActorID)
		}
		if e.SubjectUserID != nil {
			userIDs = append(userIDs, *e.SubjectUserID)
		}
	}
	sctx := viewer.System(ctx)
	members := map[string]*ent.Member{}
	if len(memberIDs) > 0 {
		list, err := f.client.Member.Query().Where(member.IDIn(memberIDs...)).WithUser().All(sctx)
		if err != nil {
			return err
		}
		for _, m := range list {
			members[m.ID] = m
		}
	}
	invs := map[string]*ent.Invitation{}
	if len(invIDs) > 0 {
		list, err := f.client.Invitation.Query().Where(invitation.IDIn(invIDs...)).All(sctx)
		if err != nil {
			return err
		}
		for _, i := range list {
			invs[i.ID] = i
		}
	}
	users := map[string]*ent.User{}
	if len(userIDs) > 0 {
		list, err := f.client.User.Query().Where(user.IDIn(userIDs...)).All(sctx)
		if err != nil {
			return err
		}
		for _, u := range list {
			users[u.ID] = u
		}
	}
	for _, e := range evs {
		p := &Preload{}
		if e.MemberID != nil {
			p.Member = members[*e.MemberID]
		}
		if e.InvitationID != nil {
			p.Invitation = invs[*e.InvitationID]
		}
		if e.ActorID != nil {
			p.Actor = users[*e.ActorID]
		}
		if e.SubjectUserID != nil {
			p.Subject = users[*e.SubjectUserID]
		}
		f.cache.Add(e.ID, p)
	}
	return nil
}

// Cursor encodes an event's position in its organization's feed (as ent.Event's
// Cursor method does). Clients treat it as opaque.
func Cursor(seq int64) string { return (&ent.Event{Sequence: seq}).Cursor() }

// ParseCursor decodes a cursor.
func ParseCursor(field, c string) (int64, error) {
	bad := apperr.Input(field, "INVALID_CURSOR", "the cursor is not one of this feed's")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, bad
	}
	n, ok := strings.CutPrefix(string(b), "e1:")
	if !ok {
		return 0, bad
	}
	seq, err := strconv.ParseInt(n, 10, 64)
	if err != nil || seq < 0 {
		return 0, bad
	}
	return seq, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// isInvitationEvent: invitation events go to OWNER and ADMIN subscribers only, as
// invitations are visible to them only.
func isInvitationEvent(t string) bool { return strings.HasPrefix(t, "INVITATION_") }

var errNotFound = apperr.NotFoundf("no such organization")

// membershipOf reads a user's membership of an organization from the membership
// table; nil when there is none.
func (f *Feeds) membershipOf(ctx context.Context, orgID, userID string) (*ent.Member, error) {
	m, err := f.client.Member.Query().
		Where(member.OrganizationID(orgID), member.UserID(userID)).
		Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return m, err
}

// sequence reads the position of an organization's feed.
func (f *Feeds) sequence(ctx context.Context, orgID string) (int64, error) {
	o, err := f.client.Organization.Query().
		Where(organization.ID(orgID)).
		Select(organization.FieldEventSequence).
		Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return 0, errNotFound
	}
	if err != nil {
		return 0, err
	}
	return o.EventSequence, nil
}

// joinEvent returns the sequence of the event that made m a member: the
// MEMBER_JOINED event written in the same transaction as the membership. Sequences,
// unlike clocks, order events exactly whatever the replica or the column precision.
// A membership without one (made before events were recorded, or directly in the
// database) falls back to the organization's first event at or after it was
// created, or the next sequence when there is none yet.
func (f *Feeds) joinEvent(ctx context.Context, orgID string, m *ent.Member) (int64, error) {
	sctx := viewer.System(ctx)
	e, err := f.client.Event.Query().
		Where(event.OrganizationID(orgID), event.MemberID(m.ID), event.Type(events.MemberJoined)).
		Order(event.BySequence()).
		First(sctx)
	if err == nil {
		return e.Sequence, nil
	}
	if !ent.IsNotFound(err) {
		return 0, err
	}
	e, err = f.client.Event.Query().
		Where(event.OrganizationID(orgID), event.CreatedAtGTE(m.CreatedAt)).
		Order(event.BySequence()).
		First(sctx)
	if ent.IsNotFound(err) {
		seq, err := f.sequence(ctx, orgID)
		return seq + 1, err
	}
	if err != nil {
		return 0, err
	}
	return e.Sequence, nil
}

// unavailable ends a subscriber whose replay could not be read.
func unavailable(lastSeq int64) *gqlerror.Error {
	return &gqlerror.Error{
		Message: fmt.Sprintf("the events could not be read; subscribe again with after: %q", Cursor(lastSeq)),
		Extensions: map[string]any{
			"code": string(apperr.Internal), "reason": "REPLAY_FAILED", "cursor": Cursor(lastSeq),
		},
	}
}

// tooSlow is the error that ends a subscriber that fell behind.
func tooSlow(lastSeq int64) *gqlerror.Error {
	return &gqlerror.Error{
		Message: fmt.Sprintf("the subscriber fell too far behind; subscribe again with after: %q", Cursor(lastSeq)),
		Extensions: map[string]any{
			"code": string(apperr.RateLimited), "reason": ReasonTooSlow, "cursor": Cursor(lastSeq),
		},
	}
}

// endOperation ends the websocket operation of ctx with err, if it runs over one.
func endOperation(ctx context.Context, err *gqlerror.Error) {
	if err != nil {
		gqlws.Abort(ctx, err)
	}
}
