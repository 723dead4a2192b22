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

// User is a person with an account: an email address, a name and a password.
type User struct{ ent.Schema }

// Mixin of User.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.User}, timeMixin{}}
}

// Fields of User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		// Stored trimmed and lower-cased, so the unique index is case-insensitive on
		// every database.
		field.String("email").
			MaxLen(254).
			NotEmpty().
			Unique().
			Comment("The user's email address, lower-cased. Visible to the user and to members of organizations the user belongs to."),
		field.String("name").
			MaxRuneLen(100).
			NotEmpty().
			Comment("The user's display name."),
		field.String("image_url").
			MaxLen(2048).
			Optional().
			Nillable().
			Comment("URL of the user's avatar image, if any.").
			Annotations(entgql.MapsTo("imageUrl")),
		field.Time("email_verified_at").
			SchemaType(micros).
			Optional().
			Nillable().
			Comment("When the user proved control of the email address; null until then."),
		// PHC-encoded argon2id hash; never leaves the server.
		field.String("password_hash").
			MaxLen(255).
			Sensitive().
			Annotations(entgql.Skip()),
		// How many organizations the user belongs to, kept by the membership
		// transactions: the totalCount of User.organizations.
		field.Int("organization_count").NonNegative().Default(0).Annotations(entgql.Skip()),
	}
}

// Edges of User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("sessions", Session.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("tokens", UserToken.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("memberships", Member.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip()),
		edge.To("invitations_sent", Invitation.Type).
			Annotations(entsql.OnDelete(entsql.SetNull), entgql.Skip()),
		edge.To("events", Event.Type).
			Annotations(entsql.OnDelete(entsql.SetNull), entgql.Skip()),
	}
}

// Policy of User: see visibleUsers.
func (User) Policy() ent.Policy {
	return privacy.Policy{Query: privacy.QueryPolicy{visibleUsers()}}
}

// Annotations of User.
func (User) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("A person with an account."),
	}
}

// Hooks of User: see sortkeys.go.
func (User) Hooks() []ent.Hook { return []ent.Hook{userSortKeys()} }
