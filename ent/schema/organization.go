package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/orgql/orgql/ent/privacy"
	"github.com/orgql/orgql/internal/ids"
)

// Organization is the unit of multi-tenancy: members, invitations and everything they
// own belong to one.
type Organization struct{ ent.Schema }

// Mixin of Organization.
func (Organization) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Organization}, timeMixin{orderable: true}}
}

// Fields of Organization.
func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").
			MaxRuneLen(100).
			NotEmpty().
			Comment("The organization's display name, 1 to 100 characters."),
		// The name lower-cased (Unicode), kept by the service: ordering by name then
		// ignores letter case on both databases.
		field.String("name_key").
			MaxRuneLen(100).
			Default("").
			Annotations(entgql.Skip(^entgql.SkipOrderField), entgql.OrderField("NAME")),
		// Stored lower-case, so the unique index is case-insensitive on every database.
		field.String("slug").
			MaxLen(48).
			NotEmpty().
			Unique().
			Immutable().
			Comment("URL-safe unique name: 3 to 48 lower-case letters, digits and single hyphens. Never changes.").
			Annotations(entgql.OrderField("SLUG")),
		// Content hash of the current logo: part of its URL, so the URL changes with it.
		field.String("logo_hash").
			MaxLen(64).
			Optional().
			Nillable().
			Annotations(entgql.Skip()),
		// Sequence number of the organization's last event. Every event takes the next
		// one while the organization row is locked, so an organization's events are
		// numbered in commit order without gaps.
		field.Int64("event_sequence").
			NonNegative().
			Default(0).
			Annotations(entgql.Skip()),
		// Counters kept by the membership and invitation transactions (package org,
		// under this row's lock, in the statement that advances event_sequence), so
		// that memberCount, the owner count of the role matrix and every totalCount
		// are read with the organization instead of counted. MEMBERs are
		// member_count - owner_count - admin_count.
		field.Int("member_count").NonNegative().Default(0).Annotations(entgql.Skip()),
		field.Int("owner_count").NonNegative().Default(0).Annotations(entgql.Skip()),
		field.Int("admin_count").NonNegative().Default(0).Annotations(entgql.Skip()),
		// Invitations by stored status (an expired invitation is stored PENDING).
		field.Int("pending_invitation_count").NonNegative().Default(0).Annotations(entgql.Skip()),
		field.Int("accepted_invitation_count").NonNegative().Default(0).Annotations(entgql.Skip()),
		field.Int("rejected_invitation_count").NonNegative().Default(0).Annotations(entgql.Skip()),
		field.Int("canceled_invitation_count").NonNegative().Default(0).Annotations(entgql.Skip()),
	}
}

// Edges of Organization.
func (Organization) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("members", Member.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("invitations", Invitation.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("logo", OrganizationLogo.Type).
			Unique().
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("active_sessions", Session.Type).
			Annotations(entsql.OnDelete(entsql.SetNull), entgql.Skip()),
	}
}

// Annotations of Organization.
func (Organization) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("An organization: the unit that members, invitations, applications and credentials belong to. Only its members can see it."),
		entgql.RelayConnection(),
	}
}

// Policy of Organization: see visibleOrganizations.
func (Organization) Policy() ent.Policy {
	return privacy.Policy{Query: privacy.QueryPolicy{visibleOrganizations()}}
}

// Hooks of Organization: see sortkeys.go.
func (Organization) Hooks() []ent.Hook { return []ent.Hook{organizationSortKeys()} }
