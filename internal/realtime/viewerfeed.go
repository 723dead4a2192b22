package realtime

import (
	"context"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/gqlws"
	"github.com/orgql/orgql/internal/viewer"
)

// ViewerEvent is an event of the viewerEvents stream: something that happened to
// the subscriber rather than to an organization they watch.
type ViewerEvent struct {
	// Type is INVITATION_RECEIVED, ROLE_CHANGED, REMOVED_FROM_ORGANIZATION or
	// ORGANIZATION_DELETED.
	Type             string
	CreatedAt        time.Time
	OrganizationID   string
	OrganizationName *string
	MemberID         *string
	InvitationID     *string
}

// The viewer event types.
const (
	InvitationReceived      = "INVITATION_RECEIVED"
	RoleChanged             = "ROLE_CHANGED"
	RemovedFromOrganization = "REMOVED_FROM_ORGANIZATION"
	OrganizationDeleted     = "ORGANIZATION_DELETED"
)

// viewerSub is one viewerEvents subscription.
type viewerSub struct {
	f      *Feeds
	ctx    context.Context
	userID string
	email  string // verified address; empty when not verified
	mu     sync.Mutex
	ch     chan *ViewerEvent
	notify func()
	closed bool
}

// SubscribeViewer streams what happens to the viewer: invitations arriving for
// their verified address, their role changing, their removal, and the deletion of
// an organization they belonged to. It is live only (no cursor).
func (f *Feeds) SubscribeViewer(ctx context.Context, v *viewer.Viewer) (<-chan *ViewerEvent, error) {
	s := &viewerSub{f: f, ctx: ctx, userID: v.User.ID, ch: make(chan *ViewerEvent, f.opts.Buffer)}
	s.notify, _ = gqlws.Notifier(ctx)
	if v.User.EmailVerifiedAt != nil {
		s.email = v.User.Email
	}
	f.mu.Lock()
	f.viewers[s] = struct{}{}
	f.mu.Unlock()
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		delete(f.viewers, s)
		f.mu.Unlock()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	})
	return s.ch, nil
}

// viewerNotice delivers a notice's events to the viewer streams it concerns.
func (f *Feeds) viewerNotice(ctx context.Context, n Notice) {
	users := map[string]bool{}
	for _, u := range n.Users {
		users[u] = true
	}
	emails := map[string]bool{}
	for _, e := range n.Emails {
		emails[e] = true
	}
	f.mu.Lock()
	var subs []*viewerSub
	for s := range f.viewers {
		if users[s.userID] || (s.email != "" && emails[s.email]) {
			subs = append(subs, s)
		}
	}
	f.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	sctx := viewer.System(ctx)
	evs, err := f.client.Event.Query().
		Where(event.OrganizationID(n.OrgID), event.SequenceGTE(n.From), event.SequenceLTE(n.To)).
		Order(event.BySequence()).
		All(sctx)
	if err != nil {
		f.log.Warn("realtime: reading events for viewer streams; they end", "err", err)
		for _, s := range subs {
			s.end(errEventsMissed())
		}
		return
	}
	audience := users
	for _, s := range subs {
		for _, e := range evs {
			if ve := viewerEventFor(s, e, audience); ve != nil {
				s.push(ve)
			}
		}
	}
}

// viewerEventFor turns an organization event into the subscriber's viewer event, if
// it is one for them.
func viewerEventFor(s *viewerSub, e *ent.Event, audience map[string]bool) *ViewerEvent {
	ve := &ViewerEvent{CreatedAt: e.CreatedAt, OrganizationID: deref(e.OrganizationID),
		MemberID: e.MemberID, InvitationID: e.InvitationID}
	if name, ok := e.Data["name"].(string); ok {
		ve.OrganizationName = &name
	}
	subject := deref(e.SubjectUserID)
	switch e.Type {
	case events.InvitationCreated, events.InvitationResent:
		if email, _ := e.Data["email"].(string); s.email != "" && email == s.email {
			ve.Type = InvitationReceived
			return ve
		}
	case events.MemberRoleChanged:
		if subject == s.userID {
			ve.Type = RoleChanged
			return ve
		}
	case events.OwnershipTransferred:
		if subject == s.userID {
			ve.Type = RoleChanged
			return ve
		}
		if deref(e.ActorID) == s.userID {
			// The previous owner became an admin: their own membership.
			ve.Type = RoleChanged
			if id, ok := e.Data["previousOwnerMemberId"].(string); ok {
				ve.MemberID = &id
			}
			return ve
		}
	case events.MemberRemoved:
		if subject == s.userID {
			ve.Type = RemovedFromOrganization
			return ve
		}
	case events.OrganizationDeleted:
		if audience[s.userID] {
			ve.Type = OrganizationDeleted
			ve.MemberID = nil
			return ve
		}
	}
	return nil
}

func (s *viewerSub) push(ve *ViewerEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.ch <- ve:
		s.notify()
	default:
		s.closeLocked(&gqlerror.Error{
			Message:    "the subscriber fell too far behind; refetch and subscribe again",
			Extensions: map[string]any{"code": "RATE_LIMITED", "reason": ReasonTooSlow},
		})
	}
}

func (s *viewerSub) end(err *gqlerror.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked(err)
}

func (s *viewerSub) closeLocked(err *gqlerror.Error) {
	if s.closed {
		return
	}
	s.closed = true
	endOperation(s.ctx, err)
	close(s.ch)
	s.notify()
}
