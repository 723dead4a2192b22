package realtime

import (
	"context"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/internal/authz"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/gqlws"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/viewer"
)

// batch is how many events a feed reads at a time.
const batch = 200

// maxPending bounds the live events held for a subscriber while its replay runs.
// The slice grows only while a replay lags behind writes, so it may be larger than
// the channel buffer every subscriber carries.
func maxPending(buffer int) int { return max(buffer, 1024) }

// orgFeed tails one organization's events for the subscribers of this instance. One
// goroutine per organization with subscribers reads each new event once, checks it
// against the membership table once, and hands it to every subscriber.
type orgFeed struct {
	f    *Feeds
	id   string
	wake chan struct{}
	done chan struct{}

	mu   sync.Mutex
	last int64 // the last sequence handed out
	subs map[*orgSub]struct{}
	// roles mirrors the organization's membership table: loaded from it, then
	// advanced by the events, which record every membership change in the change's
	// own transaction. Each delivery is checked against the membership as of that
	// event, without reading thousands of rows per event. It is reloaded from the
	// table every rolesRefresh, and a subscriber's own row is read when it joins.
	roles   map[string]role.Role
	rolesAt time.Time
}

// rolesRefresh bounds how long the membership mirror goes without a full reload.
const rolesRefresh = time.Minute

// apply advances the membership mirror past an event; o.mu is held.
func (o *orgFeed) apply(e *ent.Event) {
	subject := deref(e.SubjectUserID)
	switch e.Type {
	case events.MemberJoined, events.MemberRoleChanged:
		if subject != "" && e.NewRole != nil {
			o.roles[subject] = role.Role(*e.NewRole)
		}
	case events.OwnershipTransferred:
		if subject != "" {
			o.roles[subject] = role.Owner
		}
		if actor := deref(e.ActorID); actor != "" {
			o.roles[actor] = role.Admin
		}
	case events.MemberRemoved, events.MemberLeft:
		delete(o.roles, subject)
	case events.OrganizationDeleted:
		clear(o.roles)
	}
}

// decide authorizes a live event for a subscriber against the membership as of the
// event; o.mu is held.
func (o *orgFeed) decide(s *orgSub, e *ent.Event) decision {
	r, ok := o.roles[s.userID]
	return authorize(s, r, ok, e)
}

// authorize decides whether a subscriber gets an event, given whether they were a
// member at it and their role then. The event that ends their membership is their
// last; it is matched by membership, not by user, so that the removal of an earlier
// membership, replayed to someone who rejoined since, does not end their stream.
func authorize(s *orgSub, r role.Role, member bool, e *ent.Event) decision {
	switch {
	case e.Type == events.OrganizationDeleted:
		return decision{send: true, end: true}
	case (e.Type == events.MemberRemoved || e.Type == events.MemberLeft) && deref(e.MemberID) == s.memberID:
		return decision{send: true, end: true}
	case !member:
		return decision{end: true} // not a member: nothing more, ever
	case isInvitationEvent(e.Type) && !authz.Allows(r, authz.ViewInvitations):
		return decision{}
	}
	return decision{send: true}
}

// orgSub is one organizationEvents subscription.
type orgSub struct {
	ctx    context.Context
	userID string
	role   role.Role // at subscription
	// memberID is the subscriber's membership, whose end ends the stream.
	memberID string
	// checkedAt is the feed position read before the subscriber's membership was.
	checkedAt int64
	ch        chan *ent.Event
	// notify tells the websocket transport a value (or the close) waits in ch.
	notify func()
	// While replaying, live events wait in pending (the replay sends in order).
	replaying bool
	pending   []*ent.Event
	// overflow: more live events arrived during the replay than the buffer holds.
	overflow bool
	closed   bool
	lastSent int64
}

func (o *orgFeed) poke() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *orgFeed) loop() {
	for {
		select {
		case <-o.done:
			return
		case <-o.wake:
		}
		if err := o.pump(); err != nil {
			o.f.log.Warn("realtime: reading an organization feed", "org", o.id, "err", err)
		}
	}
}

// pump hands out every event committed since the last one handed out.
func (o *orgFeed) pump() error {
	ctx := viewer.System(context.Background())
	for {
		o.mu.Lock()
		stale := time.Since(o.rolesAt) > rolesRefresh
		o.mu.Unlock()
		if stale {
			// Reloaded before the events are read, so the events after the reload
			// are applied on top of it (applying one twice changes nothing).
			roles, err := o.f.members(ctx, o.id)
			if err != nil {
				return err
			}
			o.mu.Lock()
			o.roles, o.rolesAt = roles, time.Now()
			o.mu.Unlock()
		}
		o.mu.Lock()
		last := o.last
		o.mu.Unlock()
		evs, err := o.f.client.Event.Query().
			Where(event.OrganizationID(o.id), event.SequenceGT(last)).
			Order(event.BySequence()).
			Limit(batch).
			All(ctx)
		if err != nil || len(evs) == 0 {
			return err
		}
		if err := o.f.preload(ctx, evs); err != nil {
			return err
		}
		o.mu.Lock()
		for _, e := range evs {
			for s := range o.subs {
				o.offer(s, e, o.decide(s, e))
			}
			o.apply(e)
			o.last = e.Sequence
		}
		o.mu.Unlock()
		if len(evs) < batch {
			return nil
		}
	}
}

// offer gives a subscriber an event as decided; o.mu is held.
func (o *orgFeed) offer(s *orgSub, e *ent.Event, d decision) {
	if s.closed {
		return
	}
	if d.send {
		if s.replaying {
			// Only the replay goroutine sends while it runs; it closes the
			// stream if the buffer overflowed in the meantime.
			if len(s.pending) >= maxPending(o.f.opts.Buffer) {
				s.overflow = true
				return
			}
			s.pending = append(s.pending, e)
		} else {
			select {
			case s.ch <- e:
				s.lastSent = e.Sequence
				s.notify()
			default:
				o.close(s, tooSlow(s.lastSent))
				return
			}
		}
	}
	if d.end && !s.replaying {
		o.close(s, nil)
	} else if d.end {
		s.pending = append(s.pending, nil) // ends the stream after the replay
	}
}

// close ends a subscriber's stream; o.mu is held.
func (o *orgFeed) close(s *orgSub, err *gqlerror.Error) {
	if s.closed {
		return
	}
	s.closed = true
	endOperation(s.ctx, err)
	close(s.ch)
	s.notify()
	delete(o.subs, s)
}

// decision says whether a subscriber gets an event and whether its stream ends.
type decision struct{ send, end bool }

// members reads an organization's members and roles.
func (f *Feeds) members(ctx context.Context, orgID string) (map[string]role.Role, error) {
	list, err := f.client.Member.Query().
		Where(member.OrganizationID(orgID)).
		Select(member.FieldUserID, member.FieldRole).
		All(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]role.Role, len(list))
	for _, m := range list {
		out[m.UserID] = m.Role
	}
	return out, nil
}

// SubscribeOrg streams the events of an organization to a member: with after, the
// events after that cursor first (replayed from the event table), then live ones,
// with no gap and no duplicate. The stream ends after an event that removes the
// subscriber or deletes the organization, when the subscriber is no longer a member,
// or when it falls too far behind (with an error carrying a cursor to resume from).
func (f *Feeds) SubscribeOrg(ctx context.Context, userID, orgID string, after *int64) (<-chan *ent.Event, error) {
	// The feed position is read before the membership, so join can tell whether the
	// feed's mirror or this read is newer.
	checked, err := f.sequence(ctx, orgID)
	if err != nil {
		return nil, err
	}
	m, err := f.membershipOf(ctx, orgID, userID)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errNotFound
	}
	if after != nil && !authz.Allows(m.Role, authz.ViewAuditLog) {
		// A MEMBER resumes within their membership; replaying further back would
		// read the history that only owners and admins may (the audit log).
		first, err := f.joinEvent(ctx, orgID, m)
		if err != nil {
			return nil, err
		}
		if *after < first-1 {
			clamped := first - 1
			after = &clamped
		}
	}
	s := &orgSub{ctx: ctx, userID: userID, role: m.Role, memberID: m.ID, checkedAt: checked, ch: make(chan *ent.Event, f.opts.Buffer)}
	s.notify, _ = gqlws.Notifier(ctx)
	o, start, err := f.join(ctx, orgID, s, after)
	if err != nil {
		return nil, err
	}
	if s.replaying {
		go o.replay(s, *after, start)
	}
	// A callback, not a goroutine waiting on ctx: idle subscriptions stay cheap.
	context.AfterFunc(ctx, func() {
		o.mu.Lock()
		if !s.closed {
			s.closed = true
			delete(o.subs, s)
		}
		o.mu.Unlock()
		f.release(o)
	})
	return s.ch, nil
}

// replay sends the events (from, to] from the event table, then switches the
// subscriber to live delivery, skipping what the replay already sent. The replayed
// events precede the subscription, which found the subscriber a member: they are
// authorized by the subscriber's role then (and SubscribeOrg does not let a MEMBER
// replay from before they joined).
func (o *orgFeed) replay(s *orgSub, from, to int64) {
	ctx := viewer.System(s.ctx)
	for from < to && s.ctx.Err() == nil {
		evs, err := o.f.client.Event.Query().
			Where(event.OrganizationID(o.id), event.SequenceGT(from), event.SequenceLTE(to)).
			Order(event.BySequence()).
			Limit(batch).
			All(ctx)
		if err == nil {
			err = o.f.preload(ctx, evs)
		}
		if err != nil {
			// Never a silent gap: the client resumes from the last event it got.
			o.f.log.Warn("realtime: replaying a feed", "org", o.id, "err", err)
			o.mu.Lock()
			s.replaying = false
			o.close(s, unavailable(s.lastSent))
			o.mu.Unlock()
			return
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			d := authorize(s, s.role, true, e)
			if d.send {
				select {
				case s.ch <- e:
					s.lastSent = e.Sequence
					s.notify()
				case <-s.ctx.Done():
					return
				}
			}
			if d.end {
				o.mu.Lock()
				s.replaying = false
				o.close(s, nil)
				o.mu.Unlock()
				return
			}
			from = e.Sequence
		}
	}
	// Hand over the live events that arrived meanwhile, with blocking sends and
	// without the feed's lock, until none are left; only then go live, under the
	// lock, so no event slips between the two.
	for {
		o.mu.Lock()
		if s.overflow {
			s.replaying = false
			o.close(s, tooSlow(s.lastSent))
			o.mu.Unlock()
			return
		}
		pending := s.pending
		s.pending = nil
		if len(pending) == 0 {
			s.replaying = false
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		for _, e := range pending {
			if e == nil { // an end decided while replaying
				o.mu.Lock()
				s.replaying = false
				o.close(s, nil)
				o.mu.Unlock()
				return
			}
			if e.Sequence <= s.lastSent {
				continue
			}
			select {
			case s.ch <- e:
				s.lastSent = e.Sequence
				s.notify()
			case <-s.ctx.Done():
				return
			}
		}
	}
}

// join adds a subscriber to the running feed of an organization, starting the feed
// if needed, and returns the sequence live delivery starts after. Holding f.mu
// throughout keeps release from stopping the feed in between.
func (f *Feeds) join(ctx context.Context, orgID string, s *orgSub, after *int64) (*orgFeed, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, err := f.feed(ctx, orgID)
	if err != nil {
		return nil, 0, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last > s.checkedAt {
		// The feed already applied changes made after the subscriber's row was read:
		// the mirror is the newer truth (a removal in between refuses the subscription).
		r, ok := o.roles[s.userID]
		if !ok {
			if len(o.subs) == 0 { // do not leave a feed nobody reads
				f.stopLocked(o)
			}
			return nil, 0, errNotFound
		}
		s.role = r
	} else {
		o.roles[s.userID] = s.role // the row read just now is the newer truth
	}
	start := o.last
	if after != nil && *after < start {
		s.replaying = true
		s.lastSent = *after
	} else {
		s.lastSent = start
	}
	o.subs[s] = struct{}{}
	return o, start, nil
}

// feed returns the running feed of an organization, starting it if needed; f.mu
// is held.
func (f *Feeds) feed(ctx context.Context, orgID string) (*orgFeed, error) {
	if o := f.orgs[orgID]; o != nil {
		return o, nil
	}
	org, err := f.client.Organization.Query().
		Where(organization.ID(orgID)).
		Select(organization.FieldEventSequence).
		Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	// The sequence is read before the members, so that a change committing in
	// between is in the members and its event is applied again (harmlessly).
	roles, err := f.members(viewer.System(ctx), orgID)
	if err != nil {
		return nil, err
	}
	o := &orgFeed{
		f: f, id: orgID, last: org.EventSequence,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
		subs:  map[*orgSub]struct{}{},
		roles: roles, rolesAt: time.Now(),
	}
	f.orgs[orgID] = o
	f.feedsWG.Add(1)
	go func() {
		defer f.feedsWG.Done()
		o.loop()
	}()
	return o, nil
}

// release stops a feed that has no subscribers left.
func (f *Feeds) release(o *orgFeed) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o.mu.Lock()
	empty := len(o.subs) == 0
	o.mu.Unlock()
	if empty {
		f.stopLocked(o)
	}
}

// stopLocked stops o, which has no subscribers, unless a newer feed of its
// organization replaced it already. f.mu must be held.
func (f *Feeds) stopLocked(o *orgFeed) {
	if f.orgs[o.id] == o {
		delete(f.orgs, o.id)
		close(o.done)
	}
}
