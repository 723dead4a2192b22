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

// Member is a user's membership of an organization, with a role.
type Member struct{ ent.Schema }

// Mixin of Member.
func (Member) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Member}}
}

// Fields of Member.
func (Member) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").MaxLen(ids.MaxLen).NotEmpty().Immutable().
			Annotations(entgql.Skip()),
		field.String("user_id").MaxLen(ids.MaxLen).NotEmpty().Immutable().
			Annotations(entgql.Skip()),
		field.Enum("role").
			GoType(role.Role("")).
			Comment("The member's role in the organization.").
			Annotations(entgql.Type("MemberRole")),
		field.Time("created_at").
			SchemaType(micros).
			Default(now).
			Immutable().
			Comment("When the user joined the organization.").
			Annotations(entgql.MapsTo("joinedAt")),
		field.Time("updated_at").
			SchemaType(micros).
			Default(now).
			UpdateDefault(now).
			Comment("When the membership last changed (its role, or when it was created)."),
	}
}

// Edges of Member.
func (Member) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("members").Field("organization_id").Unique().Required().Immutable().
			Comment("The organization."),
		edge.From("user", User.Type).Ref("memberships").Field("user_id").Unique().Required().Immutable().
			Comment("The member's account: name, email and avatar."),
	}
}

// Indexes of Member.
func (Member) Indexes() []ent.Index {
	return []ent.Index{
		// A user is a member of an organization at most once.
		index.Fields("organization_id", "user_id").Unique(),
		index.Fields("organization_id", "role"),
		index.Fields("user_id"),
	}
}

// Annotations of Member.
func (Member) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A user's membership of an organization, with a role. Visible to the organization's members."),
		entgql.RelayConnection(),
	}
}

// Policy of Member: see visibleMembers.
func (Member) Policy() ent.Policy {
	return privacy.Policy{Query: privacy.QueryPolicy{visibleMembers()}}
}
