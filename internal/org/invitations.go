package org

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/predicate"
	"github.com/orgql/orgql/ent/session"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/auth"
	"github.com/orgql/orgql/internal/authz"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/mail"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/token"
	"github.com/orgql/orgql/internal/validate"
	"github.com/orgql/orgql/internal/viewer"
)

// Reasons of invitation refusals.
const (
	ReasonAlreadyMember     = "ALREADY_MEMBER"
	ReasonAlreadyInvited    = "ALREADY_INVITED"
	ReasonInvitationExpired = "INVITATION_EXPIRED"
	ReasonEmailMismatch     = "EMAIL_MISMATCH"
	ReasonNotPending        = "INVITATION_NOT_PENDING"
	ReasonResendCooldown    = "RESEND_COOLDOWN"
	ReasonTooManyAddresses  = "TOO_MANY_ADDRESSES"
)

// MaxBulkInvitations is how many addresses inviteMembers takes at once.
const MaxBulkInvitations = 50

// Status is an invitation's status as clients see it: the stored status, except that
// a PENDING invitation past its expiry reads EXPIRED.
type Status string

// The statuses.
const (
	StatusPending  Status = "PENDING"
	StatusAccepted Status = "ACCEPTED"
	StatusRejected Status = "REJECTED"
	StatusCanceled Status = "CANCELED"
	StatusExpired  Status = "EXPIRED"
)

// StatusOf derives the status of inv at time now.
func StatusOf(inv *ent.Invitation, now time.Time) Status {
	if inv.Status == invitation.StatusPENDING && !now.Before(inv.ExpiresAt) {
		return StatusExpired
	}
	return Status(inv.Status)
}

// StatusPredicate selects invitations whose derived status is st.
func StatusPredicate(st Status, now time.Time) predicate.Invitation {
	switch st {
	case StatusPending:
		return invitation.And(invitation.StatusEQ(invitation.StatusPENDING), invitation.ExpiresAtGT(now))
	case StatusExpired:
		return invitation.And(invitation.StatusEQ(invitation.StatusPENDING), invitation.ExpiresAtLTE(now))
	}
	return invitation.StatusEQ(invitation.Status(st))
}

// InviteRequest is one address to invite.
type InviteRequest struct {
	Email string
	Role  role.Role
}

// InviteResult is the outcome for one address of a bulk invitation: an invitation
// or a catalog error.
type InviteResult struct {
	Email      string
	Invitation *ent.Invitation
	Err        *apperr.Error
}

// Invite invites an email address to an organization with role ADMIN or MEMBER
// (OWNER or ADMIN inviter) and emails the invitation link.
func (s *Service) Invite(ctx context.Context, orgID string, req InviteRequest) (*ent.Invitation, error) {
	return s.inviteOne(ctx, orgID, req, "input")
}

// InviteMany invites up to MaxBulkInvitations addresses, each on its own: one
// address's refusal does not stop the others. The error is for the request as a
// whole (not signed in, not allowed, too many addresses, or a fault).
func (s *Service) InviteMany(ctx context.Context, orgID string, reqs []InviteRequest) ([]InviteResult, error) {
	if len(reqs) > MaxBulkInvitations {
		return nil, apperr.Input("input.invitations", ReasonTooManyAddresses,
			fmt.Sprintf("at most %d addresses at once", MaxBulkInvitations))
	}
	out := make([]InviteResult, 0, len(reqs))
	for i, req := range reqs {
		inv, err := s.inviteOne(ctx, orgID, req, fmt.Sprintf("input.invitations.%d", i))
		res := InviteResult{Email: strings.TrimSpace(req.Email), Invitation: inv}
		if normalized, err := validate.Email("", req.Email); err == nil {
			res.Email = normalized
		}
		if err != nil {
			ae, ok := apperr.As(err)
			// Whole-request refusals (no session, not a member, wrong role) and faults
			// end the batch; per-address refusals are results.
			if !ok || ae.Code == apperr.Unauthenticated || ae.Code == apperr.NotFound ||
				(ae.Code == apperr.Forbidden && ae.Reason == authz.ReasonInsufficientRole) {
				return nil, err
			}
			res.Err = ae
		} else {
			res.Email = inv.Email
		}
		out = append(out, res)
	}
	return out, nil
}

func (s *Service) inviteOne(ctx context.Context, orgID string, req InviteRequest, field string) (*ent.Invitation, error) {
	email, err := validate.Email(field+".email", req.Email)
	if err != nil {
		return nil, err
	}
	var inv *ent.Invitation
	_, err = s.inOrg(ctx, orgID, func(c *change) error {
		if err := authz.Require(c.actor.Role, authz.InviteMembers); err != nil {
			return err
		}
		if req.Role == role.Owner || !authz.Assignable(c.actor.Role, req.Role) {
			return &apperr.Error{Code: apperr.Forbidden, Reason: authz.ReasonRoleNotAssignable, Field: field + ".role",
				Message: "invitations are for the ADMIN or MEMBER role; make someone an owner after they join"}
		}
		member, err := c.tx.Member.Query().
			Where(member.OrganizationID(c.org.ID), member.HasUserWith(user.Email(email))).
			Exist(c.ctx)
		if err != nil {
			return err
		}
		if member {
			return &apperr.Error{Code: apperr.Conflict, Reason: ReasonAlreadyMember, Field: field + ".email",
				Message: "this address already belongs to a member"}
		}
		now := s.now()
		existing, err := c.tx.Invitation.Query().
			Where(invitation.OrganizationID(c.org.ID), invitation.PendingEmail(email)).
			Only(c.ctx)
		switch {
		case err == nil && now.Before(existing.ExpiresAt):
			return &apperr.Error{Code: apperr.Conflict, Reason: ReasonAlreadyInvited, Field: field + ".email",
				Message: "this address has a pending invitation; resend it instead"}
		case err == nil:
			// Expired: it gives up its place (it still reads as EXPIRED).
			if err := c.tx.Invitation.UpdateOne(existing).ClearPendingEmail().Exec(c.ctx); err != nil {
				return err
			}
		case !ent.IsNotFound(err):
			return err
		}
		if err := s.checkPendingCap(c, now); err != nil {
			return err
		}
		// Counted only for invitations that would go out.
		if ok, wait := s.invites.Allow(c.ctx, c.actor.UserID); !ok {
			return apperr.Limited(wait)
		}
		tok, hash := token.New()
		inv, err = c.tx.Invitation.Create().
			SetOrganizationID(c.org.ID).
			SetInviterID(c.actor.UserID).
			SetEmail(email).
			SetPendingEmail(email).
			SetRole(req.Role).
			SetTokenHash(hash).
			SetExpiresAt(now.Add(s.opts.InvitationTTL)).
			SetLastSentAt(now).
			Save(c.ctx)
		if isConstraint(err) {
			return &apperr.Error{Code: apperr.Conflict, Reason: ReasonAlreadyInvited, Field: field + ".email",
				Message: "this address has a pending invitation; resend it instead"}
		}
		if err != nil {
			return err
		}
		c.invitationMoved("", invitation.StatusPENDING)
		if err := s.mailInvitation(c, inv, tok); err != nil {
			return err
		}
		return c.record(events.Change{
			Type: events.InvitationCreated, InvitationID: inv.ID, NewRole: req.Role,
			Data: map[string]any{"email": email},
		})
	})
	if err != nil {
		return nil, wrap("inviting", err)
	}
	return inv.Unwrap(), nil
}

// checkPendingCap refuses a new pending invitation at the organization's cap.
func (s *Service) checkPendingCap(c *change, now time.Time) error {
	max := s.opts.MaxPendingInvitations
	if max <= 0 {
		return nil
	}
	n, err := c.tx.Invitation.Query().
		Where(invitation.OrganizationID(c.org.ID), StatusPredicate(StatusPending, now)).
		Count(c.ctx)
	if err != nil {
		return err
	}
	if n >= max {
		return apperr.New(apperr.Forbidden, ReasonLimitReached,
			fmt.Sprintf("the organization has %d pending invitations, the most allowed; cancel some first", n))
	}
	return nil
}

// mailInvitation queues the invitation email with the (only ever clear) token.
func (s *Service) mailInvitation(c *change, inv *ent.Invitation, tok string) error {
	inviter, err := c.tx.User.Get(c.ctx, c.actor.UserID)
	if err != nil {
		return err
	}
	d := mail.InvitationData{
		OrganizationName: c.org.Name,
		InviterName:      inviter.Name,
		Role:             string(inv.Role),
		Email:            inv.Email,
		Link:             strings.TrimSuffix(s.opts.PublicURL, "/") + "/accept-invitation?token=" + url.QueryEscape(tok),
		ExpiresAt:        inv.ExpiresAt,
	}
	if c.org.LogoHash != nil {
		d.LogoURL = LogoURL(s.opts.BaseURL, c.org.ID, *c.org.LogoHash)
	}
	m, err := mail.Invitation(inv.Email, d)
	if err != nil {
		return err
	}
	c.notifyMail = true
	return mail.Enqueue(c.ctx, c.tx.Client(), m)
}

// managed runs fn on a PENDING-or-not invitation of an organization the viewer
// administers (cancel, resend).
func (s *Service) managed(ctx context.Context, invitationID string, fn func(c *change, inv *ent.Invitation) error) error {
	// The read policy shows invitations only to the organization's owners and admins.
	inv, err := s.db.Client.Invitation.Get(ctx, invitationID)
	if ent.IsNotFound(err) {
		return apperr.NotFoundf("no such invitation")
	}
	if err != nil {
		return err
	}
	_, err = s.inOrg(ctx, inv.OrganizationID, func(c *change) error {
		if err := authz.Require(c.actor.Role, authz.InviteMembers); err != nil {
			return err
		}
		cur, err := c.tx.Invitation.Get(c.ctx, invitationID)
		if err != nil {
			return err
		}
		return fn(c, cur)
	})
	return err
}

// Cancel cancels a pending invitation (OWNER or ADMIN); its link stops working.
func (s *Service) Cancel(ctx context.Context, invitationID string) (*ent.Invitation, error) {
	var out *ent.Invitation
	err := s.managed(ctx, invitationID, func(c *change, inv *ent.Invitation) error {
		var err error
		if out, err = s.transition(c, inv, invitation.StatusCANCELED); err != nil {
			return err
		}
		return c.record(events.Change{Type: events.InvitationCanceled, InvitationID: inv.ID, OldRole: inv.Role})
	})
	if err != nil {
		return nil, wrap("canceling invitation", err)
	}
	return out.Unwrap(), nil
}

// transition moves a PENDING (and, unless to CANCELED, unexpired) invitation to a
// final status with a compare-and-set: of two concurrent transitions one wins and
// the other gets INVITATION_NOT_PENDING. It returns a copy of inv as it now is,
// which, like inv, belongs to the transaction only if inv was read in it.
func (s *Service) transition(c *change, inv *ent.Invitation, to invitation.Status) (*ent.Invitation, error) {
	now := s.now()
	// Pinned to the token read: a resend in between (new token, maybe a new role)
	// makes the old link's answer lose.
	q := c.tx.Invitation.Update().Where(invitation.ID(inv.ID), invitation.StatusEQ(invitation.StatusPENDING),
		invitation.TokenHash(inv.TokenHash))
	if to != invitation.StatusCANCELED {
		q.Where(invitation.ExpiresAtGT(now))
	}
	n, err := q.SetStatus(to).ClearPendingEmail().SetRespondedAt(now).SetUpdatedAt(now).Save(c.ctx)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		if inv.Status == invitation.StatusPENDING && !now.Before(inv.ExpiresAt) {
			return nil, errExpired
		}
		return nil, apperr.New(apperr.Conflict, ReasonNotPending, "the invitation is no longer pending")
	}
	c.invitationMoved(invitation.StatusPENDING, to)
	out := *inv
	out.Status, out.PendingEmail, out.RespondedAt, out.UpdatedAt = to, nil, &now, now
	return &out, nil
}

var errExpired = apperr.New(apperr.BadUserInput, ReasonInvitationExpired, "the invitation has expired; ask for a new one")

// Resend sends a pending (or expired) invitation again with a new link and a new
// expiry, optionally with another role. The old link stops working. One sending per
// ResendCooldown.
func (s *Service) Resend(ctx context.Context, invitationID string, newRole *role.Role) (*ent.Invitation, error) {
	var out *ent.Invitation
	err := s.managed(ctx, invitationID, func(c *change, inv *ent.Invitation) error {
		if inv.Status != invitation.StatusPENDING {
			return apperr.New(apperr.Conflict, ReasonNotPending, "only pending or expired invitations can be resent")
		}
		r := inv.Role
		if newRole != nil {
			r = *newRole
		}
		if r == role.Owner || !authz.Assignable(c.actor.Role, r) {
			return &apperr.Error{Code: apperr.Forbidden, Reason: authz.ReasonRoleNotAssignable, Field: "input.role",
				Message: "invitations are for the ADMIN or MEMBER role"}
		}
		now := s.now()
		if wait := inv.LastSentAt.Add(s.opts.ResendCooldown).Sub(now); wait > 0 {
			e := apperr.Limited(wait)
			e.Reason = ReasonResendCooldown
			e.Message = "the invitation was sent moments ago; try again later"
			return e
		}
		if ok, wait := s.invites.Allow(c.ctx, c.actor.UserID); !ok {
			return apperr.Limited(wait)
		}
		if !now.Before(inv.ExpiresAt) {
			// Reviving an expired invitation makes it pending again: the cap applies.
			if err := s.checkPendingCap(c, now); err != nil {
				return err
			}
		}
		tok, hash := token.New()
		// Compare-and-set on the old token: a concurrent resend or response wins.
		n, err := c.tx.Invitation.Update().
			Where(invitation.ID(inv.ID), invitation.StatusEQ(invitation.StatusPENDING), invitation.TokenHash(inv.TokenHash)).
			SetTokenHash(hash).SetRole(r).SetPendingEmail(inv.Email).
			SetExpiresAt(now.Add(s.opts.InvitationTTL)).SetLastSentAt(now).
			Save(c.ctx)
		if isConstraint(err) {
			return apperr.New(apperr.Conflict, ReasonAlreadyInvited, "this address has a newer pending invitation")
		}
		if err != nil {
			return err
		}
		if n != 1 {
			return apperr.New(apperr.Conflict, ReasonNotPending, "the invitation is no longer pending")
		}
		if out, err = c.tx.Invitation.Get(c.ctx, inv.ID); err != nil {
			return err
		}
		if err := s.mailInvitation(c, out, tok); err != nil {
			return err
		}
		return c.record(events.Change{Type: events.InvitationResent, InvitationID: inv.ID, OldRole: inv.Role, NewRole: r,
			Data: map[string]any{"email": inv.Email}})
	})
	if err != nil {
		return nil, wrap("resending invitation", err)
	}
	return out.Unwrap(), nil
}

// Ref names an invitation by its token (from the email link) or, for a signed-in
// user whose verified email is the invited address, by its ID (from the in-app inbox).
type Ref struct {
	Token string
	ID    string
}

// find loads the invitation a Ref names. Unknown, used and canceled tokens are
// refused alike; an ID works only for its invitee.
func (s *Service) find(ctx context.Context, ref Ref) (*ent.Invitation, error) {
	sctx := viewer.System(ctx)
	switch {
	case ref.Token != "" && ref.ID != "":
		return nil, apperr.Input("input.token", "TOKEN_OR_ID", "give the token or the invitation ID, not both")
	case ref.Token != "":
		if !token.Plausible(ref.Token) {
			return nil, errBadInvitationToken
		}
		inv, err := s.db.Client.Invitation.Query().Where(invitation.TokenHash(token.Hash(ref.Token))).Only(sctx)
		if ent.IsNotFound(err) {
			return nil, errBadInvitationToken
		}
		return inv, err
	case ref.ID != "":
		// The read policy shows a viewer the pending invitations of their verified
		// address (and those of organizations they administer).
		inv, err := s.db.Client.Invitation.Get(ctx, ref.ID)
		if err == nil && !strings.EqualFold(inv.Email, viewerEmail(ctx)) {
			err = &ent.NotFoundError{}
		}
		if ent.IsNotFound(err) {
			return nil, apperr.NotFoundf("no such invitation")
		}
		return inv, err
	}
	return nil, apperr.Input("input.token", "TOKEN_OR_ID", "give the token from the invitation link")
}

var errBadInvitationToken = apperr.Input("input.token", "INVALID_TOKEN", "the invitation link is invalid or was already used")

// viewerEmail is the viewer's address if it is verified, else "".
func viewerEmail(ctx context.Context) string {
	v := viewer.FromContext(ctx)
	if v == nil || v.User.EmailVerifiedAt == nil {
		return ""
	}
	return v.User.Email
}

// usable refuses invitations that are no longer pending or have expired.
func (s *Service) usable(inv *ent.Invitation) error {
	switch StatusOf(inv, s.now()) {
	case StatusPending:
		return nil
	case StatusExpired:
		return errExpired
	}
	return errBadInvitationToken
}

// Accept makes the signed-in viewer a member with the invited role, if the viewer's
// email is the invited address. The invitation becomes ACCEPTED (once: concurrent
// accepts yield one membership), the organization becomes the session's active one,
// and, since the link proves control of the inbox, the address counts as verified.
func (s *Service) Accept(ctx context.Context, ref Ref) (*ent.Member, *ent.Invitation, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, nil, err
	}
	inv, err := s.find(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if err := s.usable(inv); err != nil {
		return nil, nil, err
	}
	if !strings.EqualFold(inv.Email, v.User.Email) {
		return nil, nil, apperr.New(apperr.Forbidden, ReasonEmailMismatch,
			"this invitation is for another email address; sign in with that address")
	}
	var (
		m   *ent.Member
		out *ent.Invitation
	)
	c, err := s.locked(ctx, inv.OrganizationID, func(c *change) error {
		exists, err := c.tx.Member.Query().Where(member.OrganizationID(c.org.ID), member.UserID(v.User.ID)).Exist(c.ctx)
		if err != nil {
			return err
		}
		if exists {
			return apperr.New(apperr.Conflict, ReasonAlreadyMember, "you are already a member of this organization")
		}
		if out, err = s.transition(c, inv, invitation.StatusACCEPTED); err != nil {
			if apperr.Is(err, apperr.Conflict, ReasonNotPending) {
				return errBadInvitationToken
			}
			return err
		}
		m, err = c.tx.Member.Create().SetOrganizationID(c.org.ID).SetUserID(v.User.ID).SetRole(out.Role).Save(c.ctx)
		if isConstraint(err) {
			return apperr.New(apperr.Conflict, ReasonAlreadyMember, "you are already a member of this organization")
		}
		if err != nil {
			return err
		}
		c.memberAdded(m)
		if v.User.EmailVerifiedAt == nil && ref.Token != "" {
			// Update, not UpdateOne: ent would read the row back.
			if err := c.tx.User.Update().Where(user.ID(v.User.ID)).SetEmailVerifiedAt(s.now()).Exec(c.ctx); err != nil {
				return err
			}
		}
		if err := c.tx.Session.Update().Where(session.ID(v.Session.ID)).SetActiveOrganizationID(c.org.ID).Exec(c.ctx); err != nil {
			return err
		}
		if err := c.record(events.Change{Type: events.InvitationAccepted, ActorID: v.User.ID, InvitationID: inv.ID,
			SubjectUserID: v.User.ID, MemberID: m.ID, NewRole: out.Role}); err != nil {
			return err
		}
		return c.record(events.Change{Type: events.MemberJoined, ActorID: v.User.ID, SubjectUserID: v.User.ID,
			MemberID: m.ID, NewRole: out.Role, InvitationID: inv.ID})
	})
	if err != nil {
		return nil, nil, wrap("accepting invitation", err)
	}
	verified := v.User.EmailVerifiedAt == nil && ref.Token != ""
	now, orgID := s.now(), c.org.ID
	viewer.Update(ctx, func(u *ent.User, ses *ent.Session) {
		if verified {
			u.EmailVerifiedAt = &now
		}
		ses.ActiveOrganizationID = &orgID
	})
	m = m.Unwrap()
	m.Edges.Organization = c.org.Unwrap()
	return m, out, nil // out was read before the transaction (see transition)
}

// Reject declines an invitation. The token alone is enough (it proves control of the
// inbox, and someone without an account may want to decline); by ID it needs the
// invitee signed in with their verified address.
func (s *Service) Reject(ctx context.Context, ref Ref) (*ent.Invitation, error) {
	inv, err := s.find(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := s.usable(inv); err != nil {
		return nil, err
	}
	var out *ent.Invitation
	_, err = s.locked(ctx, inv.OrganizationID, func(c *change) error {
		if out, err = s.transition(c, inv, invitation.StatusREJECTED); err != nil {
			if apperr.Is(err, apperr.Conflict, ReasonNotPending) {
				return errBadInvitationToken
			}
			return err
		}
		return c.record(events.Change{Type: events.InvitationRejected, ActorID: viewer.UserID(ctx),
			InvitationID: inv.ID, OldRole: inv.Role})
	})
	if err != nil {
		return nil, wrap("rejecting invitation", err)
	}
	return out, nil // read before the transaction (see transition)
}

// Preview is what the accept page shows before the user acts.
type Preview struct {
	OrganizationName    string
	OrganizationLogoURL *string
	InviterName         *string
	Role                role.Role
	// Email is the invited address, partly masked.
	Email     string
	ExpiresAt time.Time
	// AccountExists tells the page whether to offer sign-in or registration.
	AccountExists bool
}

// Preview describes the invitation behind a token, or returns nil: unknown, used,
// expired and canceled tokens are indistinguishable.
func (s *Service) Preview(ctx context.Context, tok string) (*Preview, error) {
	if !token.Plausible(tok) {
		return nil, nil
	}
	sctx := viewer.System(ctx)
	inv, err := s.db.Client.Invitation.Query().
		Where(invitation.TokenHash(token.Hash(tok))).
		WithOrganization().WithInviter().
		Only(sctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if StatusOf(inv, s.now()) != StatusPending {
		return nil, nil
	}
	o := inv.Edges.Organization
	p := &Preview{OrganizationName: o.Name, Role: inv.Role, Email: MaskEmail(inv.Email), ExpiresAt: inv.ExpiresAt}
	if o.LogoHash != nil {
		u := LogoURL(s.opts.BaseURL, o.ID, *o.LogoHash)
		p.OrganizationLogoURL = &u
	}
	if inv.Edges.Inviter != nil {
		p.InviterName = &inv.Edges.Inviter.Name
	}
	if p.AccountExists, err = s.db.Client.User.Query().Where(user.Email(inv.Email)).Exist(sctx); err != nil {
		return nil, err
	}
	return p, nil
}

// MaskEmail hides most of an address: "ada.lovelace@example.com" → "a***e@example.com".
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" {
		return "***"
	}
	r := []rune(local)
	if len(r) <= 2 {
		return string(r[0]) + "***@" + domain
	}
	return string(r[0]) + "***" + string(r[len(r)-1]) + "@" + domain
}

// PendingFor returns the pending invitations of the viewer's verified address, for
// an in-app inbox; nil when the address is not verified.
func (s *Service) PendingFor(ctx context.Context) ([]*ent.Invitation, error) {
	email := viewerEmail(ctx)
	if email == "" {
		return nil, nil
	}
	return s.db.Client.Invitation.Query().
		Where(invitation.Email(email), StatusPredicate(StatusPending, s.now())).
		Order(ent.Desc(invitation.FieldCreatedAt)).
		Limit(MaxPageSize).
		All(ctx)
}

// InvitedEmail returns the address a usable invitation token was sent to (for
// sign-up with an invitation), or the error that refuses the token.
func (s *Service) InvitedEmail(ctx context.Context, tok string) (string, error) {
	inv, err := s.find(ctx, Ref{Token: tok})
	if err == nil {
		err = s.usable(inv)
	}
	if ae, ok := apperr.As(err); ok && (ae.Field == "input.token" || ae.Reason == ReasonInvitationExpired) {
		e := *ae
		e.Field = "input.invitationToken"
		return "", &e
	}
	if err != nil {
		return "", err
	}
	return inv.Email, nil
}

// AcceptToken accepts the invitation of a token for the viewer (sign-up).
func (s *Service) AcceptToken(ctx context.Context, tok string) (*ent.Member, error) {
	m, _, err := s.Accept(ctx, Ref{Token: tok})
	return m, err
}
