package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/orgql/orgql/ent/privacy"
	"github.com/orgql/orgql/internal/ids"
	"github.com/orgql/orgql/internal/role"
)

// Invitation invites an email address to join an organization with a role.
type Invitation struct{ ent.Schema }

// Mixin of Invitation.
func (Invitation) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Invitation}, timeMixin{}}
}

// Fields of Invitation.
func (Invitation) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").MaxLen(ids.MaxLen).NotEmpty().Immutable().
			Annotations(entgql.Skip()),
		field.String("inviter_id").MaxLen(ids.MaxLen).Optional().Nillable().
			Annotations(entgql.Skip()),
		field.String("email").
			MaxLen(254).
			NotEmpty().
			Immutable().
			Comment("The invited address, lower-cased."),
		field.Enum("role").
			GoType(role.Role("")).
			Comment("The role the invitee gets on accepting.").
			Annotations(entgql.Type("MemberRole")),
		// Stored status; an expired PENDING invitation reads as EXPIRED (derived in
		// the API, see org.StatusOf).
		field.Enum("status").
			Values("PENDING", "ACCEPTED", "REJECTED", "CANCELED").
			Default("PENDING").
			Annotations(entgql.Skip()),
		field.String("token_hash").MaxLen(64).NotEmpty().Unique().Sensitive(),
		// Equal to email while PENDING and NULL otherwise: the unique index on
		// (organization_id, pending_email) allows one pending invitation per address on
		// databases without partial indexes. NULLs never collide.
		field.String("pending_email").MaxLen(254).Optional().Nillable().
			Annotations(entgql.Skip()),
		field.Time("expires_at").SchemaType(micros).Comment("When the invitation link stops working."),
		field.Time("last_sent_at").SchemaType(micros).Default(now).Comment("When the invitation email was last sent."),
		field.Time("responded_at").SchemaType(micros).Optional().Nillable().Comment("When it was accepted, rejected or canceled."),
	}
}

// Edges of Invitation.
func (Invitation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("invitations").Field("organization_id").Unique().Required().Immutable().
			Annotations(entgql.Skip()),
		edge.From("inviter", User.Type).Ref("invitations_sent").Field("inviter_id").Unique().
			Annotations(entgql.Skip()),
	}
}

// Indexes of Invitation.
func (Invitation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "pending_email").Unique(),
		// Organization.invitations, newest first, without and with a status filter
		// (keyset on created_at, then ID); the expiry index counts and finds the
		// PENDING invitations that read as EXPIRED.
		index.Fields("organization_id", "created_at", "id"),
		index.Fields("organization_id", "status", "created_at", "id"),
		index.Fields("organization_id", "status", "expires_at"),
		index.Fields("email", "status"),
	}
}

// Annotations of Invitation.
func (Invitation) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("An invitation of an email address to join an organization with a role. Visible to the organization's owners and admins, and to the invitee while pending."),
		entgql.RelayConnection(),
	}
}

// Policy of Invitation: see visibleInvitations.
func (Invitation) Policy() ent.Policy {
	return privacy.Policy{Query: privacy.QueryPolicy{visibleInvitations()}}
}
