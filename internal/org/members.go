package org

import (
	"context"
	"time"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/internal/authz"
	"github.com/orgql/orgql/internal/events"
	"github.com/orgql/orgql/internal/role"
)

// targetOf describes a member for the role matrix.
func (c *change) targetOf(m *ent.Member) (authz.Target, error) {
	return authz.Target{Role: m.Role, Self: m.ID == c.actor.ID, Owners: c.owners()}, nil
}

// UpdateMemberRole changes a member's role as the matrix allows.
func (s *Service) UpdateMemberRole(ctx context.Context, memberID string, newRole role.Role) (*ent.Member, error) {
	orgID, err := s.memberOrgID(ctx, memberID)
	if err != nil {
		return nil, err
	}
	var out *ent.Member
	_, err = s.inOrgOn(ctx, orgID, memberID, func(c *change, m *ent.Member) error {
		t, err := c.targetOf(m)
		if err != nil {
			return err
		}
		if err := authz.ChangeRole(c.actor.Role, t, newRole); err != nil {
			return err
		}
		out = m
		if m.Role == newRole {
			return nil
		}
		if out, err = c.setRole(m, newRole); err != nil {
			return err
		}
		return c.record(events.Change{
			Type: events.MemberRoleChanged, SubjectUserID: m.UserID, MemberID: m.ID,
			OldRole: m.Role, NewRole: newRole,
		})
	})
	if err != nil {
		return nil, wrap("changing role", err)
	}
	return out.Unwrap(), nil
}

// RemoveMember removes another member as the matrix allows. The removed user's
// sessions lose the organization at once.
func (s *Service) RemoveMember(ctx context.Context, memberID string) (*ent.Member, *ent.Organization, error) {
	orgID, err := s.memberOrgID(ctx, memberID)
	if err != nil {
		return nil, nil, err
	}
	var removed *ent.Member
	c, err := s.inOrgOn(ctx, orgID, memberID, func(c *change, m *ent.Member) error {
		t, err := c.targetOf(m)
		if err != nil {
			return err
		}
		if err := authz.Remove(c.actor.Role, t); err != nil {
			return err
		}
		if err := c.removeMember(m); err != nil {
			return err
		}
		if err := c.dropActiveOrganization(m.UserID); err != nil {
			return err
		}
		removed = m
		return c.record(events.Change{
			Type: events.MemberRemoved, SubjectUserID: m.UserID, MemberID: m.ID, OldRole: m.Role,
		})
	})
	if err != nil {
		return nil, nil, wrap("removing member", err)
	}
	return removed.Unwrap(), c.org.Unwrap(), nil
}

// Leave removes the viewer from an organization, unless they are its last owner.
func (s *Service) Leave(ctx context.Context, orgID string) (*ent.Member, error) {
	c, err := s.inOrg(ctx, orgID, func(c *change) error {
		if err := authz.Leave(c.actor.Role, c.owners()); err != nil {
			return err
		}
		if err := c.removeMember(c.actor); err != nil {
			return err
		}
		if err := c.dropActiveOrganization(c.actor.UserID); err != nil {
			return err
		}
		return c.record(events.Change{
			Type: events.MemberLeft, SubjectUserID: c.actor.UserID, MemberID: c.actor.ID, OldRole: c.actor.Role,
		})
	})
	if err != nil {
		return nil, wrap("leaving organization", err)
	}
	return c.actor.Unwrap(), nil
}

// TransferOwnership makes another member an OWNER and the viewer an ADMIN, in one
// transaction.
func (s *Service) TransferOwnership(ctx context.Context, orgID, memberID string) (newOwner, previousOwner *ent.Member, err error) {
	_, err = s.inOrgOn(ctx, orgID, memberID, func(c *change, m *ent.Member) error {
		t, err := c.targetOf(m)
		if err != nil {
			return err
		}
		if err := authz.Transfer(c.actor.Role, t); err != nil {
			return err
		}
		newOwner = m
		if newOwner, err = c.setRole(m, role.Owner); err != nil {
			return err
		}
		if previousOwner, err = c.setRole(c.actor, role.Admin); err != nil {
			return err
		}
		return c.record(events.Change{
			Type: events.OwnershipTransferred, SubjectUserID: m.UserID, MemberID: m.ID,
			OldRole: m.Role, NewRole: role.Owner,
			Data: map[string]any{"previousOwnerMemberId": c.actor.ID, "previousOwnerUserId": c.actor.UserID},
		})
	})
	if err != nil {
		return nil, nil, wrap("transferring ownership", err)
	}
	return newOwner.Unwrap(), previousOwner.Unwrap(), nil
}

// setRole changes a member's role with one UPDATE and counts the move; it returns
// the member as it now is.
func (c *change) setRole(m *ent.Member, to role.Role) (*ent.Member, error) {
	if m.Role == to {
		return m, nil
	}
	now := time.Now().UTC()
	n, err := c.tx.Member.Update().Where(member.ID(m.ID)).SetRole(to).SetUpdatedAt(now).Save(c.ctx)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, errNotFound
	}
	c.roleChanged(m.Role, to)
	out := *m
	out.Role, out.UpdatedAt = to, now
	return &out, nil
}

// removeMember deletes a membership and counts it.
func (c *change) removeMember(m *ent.Member) error {
	n, err := c.tx.Member.Delete().Where(member.ID(m.ID)).Exec(c.ctx)
	if err != nil {
		return err
	}
	if n != 1 {
		return errNotFound
	}
	c.memberRemoved(m)
	return nil
}
