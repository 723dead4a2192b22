package org

import (
	"context"
	"fmt"
	"strings"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/organizationlogo"
	"github.com/orgql/orgql/ent/predicate"
	"github.com/orgql/orgql/ent/session"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/auth"
	"github.com/orgql/orgql/internal/authz"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/logo"
	"github.com/orgql/orgql/internal/role"
	"github.com/orgql/orgql/internal/slugs"
	"github.com/orgql/orgql/internal/validate"
	"github.com/orgql/orgql/internal/viewer"
)

// ReasonLimitReached: the user owns as many organizations as allowed.
const ReasonLimitReached = "LIMIT_REACHED"

// ReasonSlugMismatch: deleteOrganization's confirmation is not the slug.
const ReasonSlugMismatch = "SLUG_MISMATCH"

func normalizeSlug(s string) string { return slugs.Normalize(s) }

func sessionOf(userID, orgID string) predicate.Session {
	return session.And(session.UserID(userID), session.ActiveOrganizationID(orgID))
}

// Create makes an organization with the viewer as its OWNER and makes it the active
// organization of the viewer's session.
func (s *Service) Create(ctx context.Context, name, slug string) (*ent.Organization, *ent.Member, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, nil, err
	}
	name, err = validate.Name("input.name", name, 100)
	if err != nil {
		return nil, nil, err
	}
	slug = slugs.Normalize(slug)
	if reason := slugs.Check(slug); reason != "" {
		return nil, nil, slugError(reason)
	}
	var (
		o   *ent.Organization
		m   *ent.Member
		evs []*ent.Event
	)
	sctx := viewer.System(ctx)
	err = s.db.Tx(ctx, func(tx *ent.Tx) error {
		if err := s.lockUser(sctx, tx, v.User.ID); err != nil {
			return err
		}
		if s.opts.MaxOwned > 0 {
			owned, err := tx.Member.Query().Where(member.UserID(v.User.ID), member.RoleEQ(role.Owner)).Count(sctx)
			if err != nil {
				return err
			}
			if owned >= s.opts.MaxOwned {
				return apperr.New(apperr.Forbidden, ReasonLimitReached,
					fmt.Sprintf("you already own %d organizations, the most allowed", owned))
			}
		}
		o, err = tx.Organization.Create().SetName(name).SetSlug(slug).Save(sctx)
		if isConstraint(err) {
			return slugError(slugs.ReasonTaken)
		}
		if err != nil {
			return err
		}
		m, err = tx.Member.Create().SetOrganizationID(o.ID).SetUserID(v.User.ID).SetRole(role.Owner).Save(sctx)
		if err != nil {
			return err
		}
		if s.opts.Lifecycle != nil {
			if err := s.opts.Lifecycle.OrganizationCreated(sctx, tx, o); err != nil {
				return err
			}
		}
		c := &change{tx: tx, ctx: sctx, org: o, actor: m}
		c.memberAdded(m)
		if err := c.record(events.Change{Type: events.OrganizationCreated, Data: map[string]any{"name": name, "slug": slug}}); err != nil {
			return err
		}
		if err := c.record(events.Change{Type: events.MemberJoined, SubjectUserID: v.User.ID, MemberID: m.ID, NewRole: role.Owner}); err != nil {
			return err
		}
		if err := c.flush(); err != nil {
			return err
		}
		evs = c.events
		// Update, not UpdateOne: ent would read the row back.
		return tx.Session.Update().Where(session.ID(v.Session.ID)).SetActiveOrganizationID(o.ID).Exec(sctx)
	})
	if err != nil {
		return nil, nil, wrap("creating organization", err)
	}
	o, m = o.Unwrap(), m.Unwrap()
	orgID := o.ID
	viewer.Update(ctx, func(_ *ent.User, ses *ent.Session) { ses.ActiveOrganizationID = &orgID })
	m.Edges.Organization = o
	s.committed(ctx, evs, nil)
	return o, m, nil
}

func slugError(reason string) error {
	switch reason {
	case slugs.ReasonTaken:
		return &apperr.Error{Code: apperr.Conflict, Reason: reason, Field: "input.slug", Message: "this slug is taken"}
	case slugs.ReasonReserved:
		return apperr.Input("input.slug", reason, "this slug is reserved")
	}
	return apperr.Input("input.slug", reason,
		fmt.Sprintf("a slug has %d to %d lower-case letters, digits and single hyphens, like acme-labs", slugs.MinLen, slugs.MaxLen))
}

// Availability answers slugAvailability.
type Availability struct {
	Slug      string
	Available bool
	// Reason is why not: SLUG_INVALID, SLUG_RESERVED or SLUG_TAKEN; nil when available.
	Reason *string
	// Suggestion is an available slug close to the one asked for.
	Suggestion *string
}

// SlugAvailability tells a create form whether a slug can be used and, if not, offers
// one that can. It reads across all organizations, so it needs a signed-in user.
func (s *Service) SlugAvailability(ctx context.Context, raw string) (*Availability, error) {
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	slug := slugs.Normalize(raw)
	a := &Availability{Slug: slug}
	reason := slugs.Check(slug)
	if reason == "" {
		taken, err := s.taken(ctx, []string{slug})
		if err != nil {
			return nil, err
		}
		if taken[slug] {
			reason = slugs.ReasonTaken
		}
	}
	a.Available = reason == ""
	if a.Available {
		return a, nil
	}
	a.Reason = &reason
	base := slugs.Base(raw)
	if base == "" {
		return a, nil
	}
	cands := slugs.Candidates(base, 20)
	taken, err := s.taken(ctx, cands)
	if err != nil {
		return nil, err
	}
	for _, c := range cands {
		if c != slug && slugs.Check(c) == "" && !taken[c] {
			a.Suggestion = &c
			break
		}
	}
	return a, nil
}

// taken returns which of the slugs belong to organizations (any organization, so
// the system context).
func (s *Service) taken(ctx context.Context, list []string) (map[string]bool, error) {
	found, err := s.db.Client.Organization.Query().
		Where(organization.SlugIn(list...)).
		Select(organization.FieldSlug).
		Strings(viewer.System(ctx))
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(found))
	for _, f := range found {
		out[f] = true
	}
	return out, nil
}

// UpdateInput changes an organization's settings; nil fields stay as they are.
type UpdateInput struct {
	OrganizationID string
	Name           *string
	Logo           *logo.Image
	RemoveLogo     bool
}

// Update changes the name and logo (OWNER or ADMIN).
func (s *Service) Update(ctx context.Context, in UpdateInput) (*ent.Organization, error) {
	if in.Logo != nil && in.RemoveLogo {
		return nil, apperr.Input("input.removeLogo", "LOGO_CONFLICT", "send either a logo or removeLogo, not both")
	}
	if in.Name != nil {
		n, err := validate.Name("input.name", *in.Name, 100)
		if err != nil {
			return nil, err
		}
		in.Name = &n
	}
	c, err := s.inOrg(ctx, in.OrganizationID, func(c *change) error {
		if err := authz.Require(c.actor.Role, authz.UpdateSettings); err != nil {
			return err
		}
		data := map[string]any{}
		upd := c.tx.Organization.UpdateOneID(c.org.ID)
		if in.Name != nil && *in.Name != c.org.Name {
			data["name"] = *in.Name
			data["previousName"] = c.org.Name
			upd.SetName(*in.Name)
		}
		switch {
		case in.Logo != nil:
			if err := s.storeLogo(c, in.Logo); err != nil {
				return err
			}
			upd.SetLogoHash(in.Logo.SHA256)
			data["logo"] = "changed"
		case in.RemoveLogo && c.org.LogoHash != nil:
			if _, err := c.tx.OrganizationLogo.Delete().Where(organizationlogo.OrganizationID(c.org.ID)).Exec(c.ctx); err != nil {
				return err
			}
			upd.ClearLogoHash()
			data["logo"] = "removed"
		}
		if len(data) == 0 {
			return nil // nothing changed: no write, no event
		}
		org, err := upd.Save(c.ctx)
		if err != nil {
			return err
		}
		org.EventSequence = c.org.EventSequence
		c.org = org
		return c.record(events.Change{Type: events.OrganizationUpdated, Data: data})
	})
	if err != nil {
		return nil, wrap("updating organization", err)
	}
	return c.org.Unwrap(), nil
}

func (s *Service) storeLogo(c *change, img *logo.Image) error {
	existing, err := c.tx.OrganizationLogo.Query().Where(organizationlogo.OrganizationID(c.org.ID)).Only(c.ctx)
	switch {
	case ent.IsNotFound(err):
		return c.tx.OrganizationLogo.Create().
			SetOrganizationID(c.org.ID).SetContentType(img.ContentType).SetData(img.Data).
			SetSha256(img.SHA256).SetWidth(img.Width).SetHeight(img.Height).Exec(c.ctx)
	case err != nil:
		return err
	}
	return c.tx.OrganizationLogo.UpdateOne(existing).
		SetContentType(img.ContentType).SetData(img.Data).SetSha256(img.SHA256).
		SetWidth(img.Width).SetHeight(img.Height).SetCreatedAt(s.now()).Exec(c.ctx)
}

// LogoURL is where an organization's logo is served: its content hash is part of
// the path, so the URL changes with the logo and can be cached forever.
func LogoURL(baseURL, orgID, hash string) string {
	if len(hash) > 16 {
		hash = hash[:16]
	}
	return strings.TrimSuffix(baseURL, "/") + "/logos/" + orgID + "/" + hash
}

// Logo returns the current logo of an organization if its hash starts with
// hashPrefix. Logos are public (they appear in invitation emails), but only at
// their unguessable, content-addressed URL.
func (s *Service) Logo(ctx context.Context, orgID, hashPrefix string) (*ent.OrganizationLogo, error) {
	l, err := s.db.Client.OrganizationLogo.Query().
		Where(organizationlogo.OrganizationID(orgID), organizationlogo.Sha256HasPrefix(hashPrefix)).
		Only(viewer.System(ctx))
	return nilIfNotFound(l, err)
}

// Delete deletes an organization (OWNER only) with its members, invitations and
// logo; sessions that had it active lose it. confirmSlug must repeat its slug.
func (s *Service) Delete(ctx context.Context, orgID, confirmSlug string) error {
	_, err := s.inOrg(ctx, orgID, func(c *change) error {
		if err := authz.Require(c.actor.Role, authz.DeleteOrganization); err != nil {
			return err
		}
		if slugs.Normalize(confirmSlug) != c.org.Slug {
			return apperr.Input("input.confirmSlug", ReasonSlugMismatch, "type the organization's slug to confirm")
		}
		if err := c.record(events.Change{Type: events.OrganizationDeleted, Data: map[string]any{"name": c.org.Name, "slug": c.org.Slug}}); err != nil {
			return err
		}
		// Every member hears of it in their viewerEvents stream.
		users, err := c.tx.Member.Query().Where(member.OrganizationID(c.org.ID)).Select(member.FieldUserID).Strings(c.ctx)
		if err != nil {
			return err
		}
		c.audience = users
		// The members' organization counts drop with the memberships the delete
		// cascades to.
		if err := c.tx.User.Update().
			Where(user.HasMembershipsWith(member.OrganizationID(c.org.ID))).
			AddOrganizationCount(-1).Exec(c.ctx); err != nil {
			return err
		}
		if s.opts.Lifecycle != nil {
			if err := s.opts.Lifecycle.OrganizationDeleted(c.ctx, c.tx, c.org); err != nil {
				return err
			}
		}
		// Foreign keys cascade to members, invitations and the logo, and clear the
		// sessions' active organization.
		return c.tx.Organization.DeleteOneID(c.org.ID).Exec(c.ctx)
	})
	return wrap("deleting organization", err)
}

// SetActive sets (or with "" clears) the active organization of the viewer's
// session. Membership is checked now; every later read checks it again, so a stale
// active organization never grants anything.
func (s *Service) SetActive(ctx context.Context, orgID string) (*ent.Organization, error) {
	v, err := auth.Require(ctx)
	if err != nil {
		return nil, err
	}
	sctx := viewer.System(ctx)
	if orgID == "" {
		if err := s.db.Client.Session.UpdateOneID(v.Session.ID).ClearActiveOrganizationID().Exec(sctx); err != nil {
			return nil, err
		}
		viewer.Update(ctx, func(_ *ent.User, ses *ent.Session) { ses.ActiveOrganizationID = nil })
		return nil, nil
	}
	o, err := s.ByID(ctx, orgID) // read policy: members only
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, errNotFound
	}
	if err := s.db.Client.Session.Update().Where(session.ID(v.Session.ID)).SetActiveOrganizationID(o.ID).Exec(sctx); err != nil {
		return nil, err
	}
	active := o.ID
	viewer.Update(ctx, func(_ *ent.User, ses *ent.Session) { ses.ActiveOrganizationID = &active })
	return o, nil
}

// Active returns the active organization of the viewer's session if the viewer is
// still a member of it, or nil.
func (s *Service) Active(ctx context.Context) (*ent.Organization, error) {
	v := viewer.FromContext(ctx)
	if v == nil || v.Session.ActiveOrganizationID == nil {
		return nil, nil
	}
	return s.ByID(ctx, *v.Session.ActiveOrganizationID)
}
