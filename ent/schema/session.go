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

// Session is a signed-in browser or API client. Only a hash of its token is stored.
type Session struct{ ent.Schema }

// Mixin of Session.
func (Session) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Session}}
}

// Fields of Session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		// SHA-256 of the 256-bit token, hex: a stolen database does not yield sessions.
		field.String("token_hash").MaxLen(64).NotEmpty().Unique().Immutable().Sensitive(),
		field.String("user_id").MaxLen(ids.MaxLen).NotEmpty().Immutable(),
		field.String("active_organization_id").MaxLen(ids.MaxLen).Optional().Nillable(),
		field.String("user_agent").MaxLen(512).Default(""),
		field.String("ip").MaxLen(64).Default(""),
		field.Time("created_at").SchemaType(micros).Default(now).Immutable(),
		// Absolute expiry: the session ends then whatever its activity.
		field.Time("expires_at").SchemaType(micros),
		// Idle expiry is measured from here.
		field.Time("last_seen_at").SchemaType(micros).Default(now),
	}
}

// Edges of Session.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("sessions").Field("user_id").Unique().Required().Immutable(),
		edge.From("active_organization", Organization.Type).Ref("active_sessions").Field("active_organization_id").Unique(),
	}
}

// Indexes of Session.
func (Session) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id"),
		index.Fields("expires_at"),
	}
}

// Annotations of Session.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// Policy of Session: no client reads it.
func (Session) Policy() ent.Policy { return systemOnly() }
