package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/orgql/orgql/internal/ids"
)

// UserToken is a single-use, expiring token mailed to a user: email verification or
// password reset. Only its hash is stored.
type UserToken struct{ ent.Schema }

// Mixin of UserToken.
func (UserToken) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.UserToken}}
}

// Fields of UserToken.
func (UserToken) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("purpose").Values("VERIFY_EMAIL", "RESET_PASSWORD").Immutable(),
		field.String("token_hash").MaxLen(64).NotEmpty().Unique().Immutable().Sensitive(),
		field.String("user_id").MaxLen(ids.MaxLen).NotEmpty().Immutable(),
		// The address the token was mailed to: verifying proves control of this one,
		// so a token outlives no change of address.
		field.String("email").MaxLen(254).NotEmpty().Immutable(),
		field.Time("created_at").SchemaType(micros).Default(now).Immutable(),
		field.Time("expires_at").SchemaType(micros).Immutable(),
		// Set once, by a compare-and-set update, when the token is redeemed.
		field.Time("used_at").SchemaType(micros).Optional().Nillable(),
	}
}

// Edges of UserToken.
func (UserToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("tokens").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of UserToken.
func (UserToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "purpose"),
	}
}

// Annotations of UserToken.
func (UserToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// Policy of UserToken: no client reads it.
func (UserToken) Policy() ent.Policy { return systemOnly() }
