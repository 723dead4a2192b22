// Package org implements organizations and their members: creating, reading,
// updating and deleting organizations, the active organization of a session, and
// role changes, removals, departures and ownership transfers. Every change is one
// transaction that first locks the organization's row, checks the role matrix
// (package authz) against the membership read inside that transaction, writes the
// change and its event row, and commits; so the rules hold under concurrency.
package org

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/auth"
	"github.com/orgql/orgql/internal/database"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/ratelimit"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/viewer"
)

// Options configure the service.
type Options struct {
	// MaxOwned is how many organizations one user may own; 0 means no limit.
	MaxOwned int
	// PublicURL is the portal front-end (invitation links); BaseURL is this server
	// (logo URLs in emails).
	PublicURL, BaseURL string
	// InvitationTTL is how long an invitation link works.
	InvitationTTL time.Duration
	// MaxPendingInvitations caps an organization's pending invitations; 0: no cap.
	MaxPendingInvitations int
	// InvitesPerHour limits how many invitations one user sends (and resends) an
	// hour; 0: no limit.
	InvitesPerHour int
	// SharedLimits, when set, counts InvitesPerHour across instances (in Redis).
	SharedLimits *ratelimit.Shared
	// ResendCooldown is the least time between two sendings of one invitation.
	ResendCooldown time.Duration
	// NotifyMail wakes the mail outbox after a change that queued email commits.
	NotifyMail func()
	// Lifecycle, if set, takes part in creating and deleting organizations inside
	// their transactions. It is the seam for the Provider Portal: each organization
	// is mirrored as one developer identity, created and deleted through an outbox
	// row written here, so neither side keeps orphans.
	Lifecycle Lifecycle
}

// Lifecycle hooks run inside the transaction that creates or deletes an
// organization; an error rolls the change back.
type Lifecycle interface {
	OrganizationCreated(ctx context.Context, tx *ent.Tx, o *ent.Organization) error
	OrganizationDeleted(ctx context.Context, tx *ent.Tx, o *ent.Organization) error
}

// Service implements organizations and members.
type Service struct {
	db      *database.DB
	opts    Options
	log     *slog.Logger
	invites *ratelimit.Limiter
	clock   func() time.Time
	// committed is called with the events of each committed change (the realtime
	// feeds hook in here).
	committed Committed
}

// Committed receives the events of a committed change, and the users they concern
// beyond their subjects (the members of a deleted organization).
type Committed func(ctx context.Context, evs []*ent.Event, audience []string)

// New returns the service. committed, if not nil, receives the events of every
// committed change.
func New(db *database.DB, opts Options, committed Committed, log *slog.Logger) *Service {
	if committed == nil {
		committed = func(context.Context, []*ent.Event, []string) {}
	}
	return &Service{db: db, opts: opts, log: log, committed: committed,
		invites: opts.SharedLimits.New("invites", opts.InvitesPerHour, time.Hour), clock: time.Now}
}

// errNotFound is what a non-member learns about an organization or member.
var errNotFound = apperr.NotFoundf("no such organization or member")

// change is the state of one membership-changing transaction: the locked
// organization, the actor's membership, and the events and counter moves recorded
// so far, which flush writes when fn is done.
type change struct {
	tx     *ent.Tx
	ctx    context.Context // system context: the checks are explicit
	org    *ent.Organization
	actor  *ent.Member // nil when the actor need not be a member (accepting an invitation)
	events []*ent.Event
	// notifyMail: the change queued email; wake the outbox after commit.
	notifyMail bool
	// audience: users the events concern beyond their subjects.
	audience []string

	// pending are the events recorded but not yet written.
	pending []events.Change
	// counts are the moves of the organization's counters.
	counts counts
	// joined and left are users whose organization_count moves by one.
	joined, left []string
}

// counts are moves of an organization's counters (see the Organization schema).
type counts struct {
	members, owners, admins               int
	pending, accepted, rejected, canceled int
}

// role moves the counter of r, if it has one (MEMBERs are the rest).
func (n *counts) role(r role.Role, d int) {
	switch r {
	case role.Owner:
		n.owners += d
	case role.Admin:
		n.admins += d
	}
}

// invitation moves the counter of an invitation's stored status.
func (n *counts) invitation(st invitation.Status, d int) {
	switch st {
	case invitation.StatusPENDING:
		n.pending += d
	case invitation.StatusACCEPTED:
		n.accepted += d
	case invitation.StatusREJECTED:
		n.rejected += d
	case invitation.StatusCANCELED:
		n.canceled += d
	}
}

// memberAdded counts a new member.
func (c *change) memberAdded(m *ent.Member) {
	c.counts.members++
	c.counts.role(m.Role, 1)
	c.joined = append(c.joined, m.UserID)
}

// memberRemoved counts a member's departure.
func (c *change) memberRemoved(m *ent.Member) {
	c.counts.members--
	c.counts.role(m.Role, -1)
	c.left = append(c.left, m.UserID)
}

// roleChanged counts a member's move from one role to another.
func (c *change) roleChanged(from, to role.Role) {
	c.counts.role(from, -1)
	c.counts.role(to, 1)
}

// invitationMoved counts an invitation's move between stored statuses ("" for a
// new invitation).
func (c *change) invitationMoved(from, to invitation.Status) {
	if from != "" {
		c.counts.invitation(from, -1)
	}
	c.counts.invitation(to, 1)
}

// flush writes what the change recorded: one UPDATE of the organization row
// (event sequence and counters), one INSERT of the events, and the members'
// organization counts. c.org then shows the new values.
func (c *change) flush() error {
	n := c.counts
	if len(c.pending) > 0 || n != (counts{}) {
		seq := c.org.EventSequence + int64(len(c.pending))
		upd := c.tx.Organization.Update().Where(organization.ID(c.org.ID)).SetEventSequence(seq)
		for _, f := range []struct {
			d   int
			add func(int) *ent.OrganizationUpdate
		}{
			{n.members, upd.AddMemberCount}, {n.owners, upd.AddOwnerCount}, {n.admins, upd.AddAdminCount},
			{n.pending, upd.AddPendingInvitationCount}, {n.accepted, upd.AddAcceptedInvitationCount},
			{n.rejected, upd.AddRejectedInvitationCount}, {n.canceled, upd.AddCanceledInvitationCount},
		} {
			if f.d != 0 {
				f.add(f.d)
			}
		}
		if err := upd.Exec(c.ctx); err != nil {
			return fmt.Errorf("updating the organization's sequence and counters: %w", err)
		}
		evs, err := events.Write(c.ctx, c.tx, c.org, c.pending)
		if err != nil {
			return err
		}
		o := c.org
		o.EventSequence = seq
		o.MemberCount += n.members
		o.OwnerCount += n.owners
		o.AdminCount += n.admins
		o.PendingInvitationCount += n.pending
		o.AcceptedInvitationCount += n.accepted
		o.RejectedInvitationCount += n.rejected
		o.CanceledInvitationCount += n.canceled
		c.events = append(c.events, evs...)
		c.pending, c.counts = nil, counts{}
	}
	for _, u := range []struct {
		ids []string
		d   int
	}{{c.joined, 1}, {c.left, -1}} {
		if len(u.ids) == 0 {
			continue
		}
		if err := c.tx.User.Update().Where(user.IDIn(u.ids...)).AddOrganizationCount(u.d).Exec(c.ctx); err != nil {
			return fmt.Errorf("updating organization counts of users: %w", err)
		}
	}
	c.joined, c.left = nil, nil
	return nil
}

// inOrg runs fn in a transaction that holds orgID's row lock, with the viewer's
// membership of that organization. A viewer who is not a member gets NOT_FOUND.
func (s *Service) inOrg(ctx context.Context, orgID string, fn func(c *change) error) (*change, error) {
	return s.inOrgOn(ctx, orgID, "", func(c *change, _ *ent.Member) error { return fn(c) })
}

// inOrgOn is inOrg for a change to the member memberID (when not ""): the actor's
// membership and the target's are read in one statement, and a member of another
// organization is not found. The target is the actor's own row when they change
// themselves, as a separate copy.
func (s *Service) inOrgOn(ctx context.Context, orgID, memberID string, fn func(c *change, target *ent.Member) error) (*change, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	return s.locked(ctx, orgID, func(c *change) error {
		who := member.UserID(v.User.ID)
		if memberID != "" {
			who = member.Or(who, member.ID(memberID))
		}
		ms, err := c.tx.Member.Query().Where(member.OrganizationID(orgID), who).All(c.ctx)
		if err != nil {
			return err
		}
		var target *ent.Member
		for _, m := range ms {
			if m.UserID == v.User.ID {
				c.actor = m
			}
			if m.ID == memberID {
				cp := *m
				target = &cp
			}
		}
		if c.actor == nil || (memberID != "" && target == nil) {
			return errNotFound
		}
		return fn(c, target)
	})
}

// locked runs fn in a transaction that holds orgID's row lock, and hands the events
// fn recorded to the committed hook once the transaction commits.
func (s *Service) locked(ctx context.Context, orgID string, fn func(c *change) error) (*change, error) {
	var c *change
	err := s.db.Tx(ctx, func(tx *ent.Tx) error {
		c = &change{tx: tx, ctx: viewer.System(ctx)}
		// The lock comes first: on MySQL every later read of this transaction then
		// sees what the previous holder of the lock committed.
		org, err := s.lock(c.ctx, tx, orgID)
		if err != nil {
			return err
		}
		c.org = org
		if err := fn(c); err != nil {
			return err
		}
		return c.flush()
	})
	if err != nil {
		return nil, err
	}
	if len(c.events) > 0 {
		s.committed(ctx, c.events, c.audience)
	}
	if c.notifyMail && s.opts.NotifyMail != nil {
		s.opts.NotifyMail()
	}
	return c, nil
}

// lock reads an organization with its row locked until the transaction ends. SQLite
// has no row locks; there the transaction itself is exclusive (BEGIN IMMEDIATE).
func (s *Service) lock(ctx context.Context, tx *ent.Tx, orgID string) (*ent.Organization, error) {
	q := tx.Organization.Query().Where(organization.ID(orgID))
	if s.db.Dialect == dialect.MySQL {
		q = q.ForUpdate()
	}
	org, err := q.Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errNotFound
	}
	return org, err
}

// record adds an event to the change, by the actor unless ch names another.
// flush writes it.
func (c *change) record(ch events.Change) error {
	if ch.ActorID == "" && c.actor != nil {
		ch.ActorID = c.actor.UserID
	}
	c.pending = append(c.pending, ch)
	return nil
}

// owners is the organization's owner count, as of the locked transaction (the
// counter on its row).
func (c *change) owners() int { return c.org.OwnerCount }

// dropActiveOrganization makes the sessions of userID forget org as their active
// organization: a departed member's next request finds nothing of it.
func (c *change) dropActiveOrganization(userID string) error {
	_, err := c.tx.Session.Update().
		Where(sessionOf(userID, c.org.ID)).
		ClearActiveOrganizationID().
		Save(c.ctx)
	return err
}

// memberOrgID returns the organization of a member visible to the viewer, so that a
// mutation addressed by member ID can lock the right organization.
func (s *Service) memberOrgID(ctx context.Context, memberID string) (string, error) {
	if _, err := auth.Require(ctx); err != nil {
		return "", err
	}
	m, err := s.db.Client.Member.Query().Where(member.ID(memberID)).Only(ctx)
	if ent.IsNotFound(err) {
		return "", errNotFound
	}
	if err != nil {
		return "", err
	}
	return m.OrganizationID, nil
}

// ByID returns an organization the viewer belongs to, or nil.
func (s *Service) ByID(ctx context.Context, id string) (*ent.Organization, error) {
	return nilIfNotFound(s.db.Client.Organization.Get(ctx, id))
}

// BySlug returns the organization with this slug if the viewer belongs to it, or nil
// (for non-members it does not exist), with the viewer's role in it, read in the
// same statement.
func (s *Service) BySlug(ctx context.Context, slug string) (*ent.Organization, *role.Role, error) {
	q := s.db.Client.Organization.Query().Where(organization.Slug(normalizeSlug(slug)))
	uid := viewer.UserID(ctx)
	if uid != "" {
		q.Modify(withViewerRole(uid))
	}
	o, err := nilIfNotFound(q.Only(ctx))
	if o == nil || err != nil || uid == "" {
		return o, nil, err
	}
	rl, err := viewerRoleOf(o)
	return o, rl, err
}

// viewerRoleAlias names the viewer's role, read beside an organization.
const viewerRoleAlias = "orgql_viewer_role"

// withViewerRole joins an organization query with the viewer's membership (as the
// alias vm), so that only the viewer's organizations match and each comes with
// the viewer's role. The read policy says the same; the join reads the role.
func withViewerRole(userID string) func(*sql.Selector) {
	return func(sel *sql.Selector) {
		vm := sql.Table(member.Table).As("vm")
		sel.Join(vm).OnP(sql.And(
			sql.ColumnsEQ(vm.C(member.FieldOrganizationID), sel.C(organization.FieldID)),
			sql.EQ(vm.C(member.FieldUserID), userID),
		))
		sel.AppendSelectAs(vm.C(member.FieldRole), viewerRoleAlias)
	}
}

// viewerRoleOf reads the role withViewerRole selected.
func viewerRoleOf(o *ent.Organization) (*role.Role, error) {
	v, err := o.Value(viewerRoleAlias)
	if err != nil {
		return nil, err
	}
	var rl role.Role
	switch v := v.(type) {
	case string:
		rl = role.Role(v)
	case []byte:
		rl = role.Role(v)
	default:
		return nil, fmt.Errorf("viewer role: unexpected %T", v)
	}
	if !rl.Valid() {
		return nil, fmt.Errorf("viewer role: unexpected %q", rl)
	}
	return &rl, nil
}

func nilIfNotFound[T any](v *T, err error) (*T, error) {
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}

// lockUser takes the user's row lock (MySQL), so that concurrent creations by one
// user count owned organizations one after another.
func (s *Service) lockUser(ctx context.Context, tx *ent.Tx, userID string) error {
	q := tx.User.Query().Where(user.ID(userID))
	if s.db.Dialect == dialect.MySQL {
		q = q.ForUpdate()
	}
	_, err := q.Only(ctx)
	return err
}

// now is the service clock, in UTC.
func (s *Service) now() time.Time { return s.clock().UTC() }

// Now returns the service clock's time (invitation expiry is judged by it).
func (s *Service) Now() time.Time { return s.now() }

// SetClock replaces the clock (tests move time forward to expire invitations).
func (s *Service) SetClock(now func() time.Time) { s.clock = now }

// isConstraint reports a unique or foreign-key violation.
func isConstraint(err error) bool {
	var ce *ent.ConstraintError
	return errors.As(err, &ce)
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}
