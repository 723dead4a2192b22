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

// Event records one change to an organization, written in the transaction that makes
// the change. It is the audit log and the feed that subscriptions replay and tail.
//
// organization_id, member_id, invitation_id and subject_user_id are plain columns, not
// foreign keys: the history of an organization outlives the rows it talks about,
// including the organization itself (its ORGANIZATION_DELETED event).
type Event struct{ ent.Schema }

// Mixin of Event.
func (Event) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Event}}
}

// Fields of Event.
func (Event) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").MaxLen(ids.MaxLen).Optional().Nillable().Immutable(),
		// Position in the organization's feed (see Organization.event_sequence).
		field.Int64("sequence").NonNegative().Immutable(),
		field.String("type").MaxLen(64).NotEmpty().Immutable(),
		field.String("actor_id").MaxLen(ids.MaxLen).Optional().Nillable(),
		field.String("subject_user_id").MaxLen(ids.MaxLen).Optional().Nillable().Immutable(),
		field.String("member_id").MaxLen(ids.MaxLen).Optional().Nillable().Immutable(),
		field.String("invitation_id").MaxLen(ids.MaxLen).Optional().Nillable().Immutable(),
		field.String("old_role").MaxLen(16).Optional().Nillable().Immutable(),
		field.String("new_role").MaxLen(16).Optional().Nillable().Immutable(),
		// Type-specific details, such as the changed settings.
		field.JSON("data", map[string]any{}).Optional().Immutable(),
		field.Time("created_at").SchemaType(micros).Default(now).Immutable(),
	}
}

// Edges of Event.
func (Event) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("actor", User.Type).Ref("events").Field("actor_id").Unique(),
	}
}

// Indexes of Event.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "sequence").Unique(),
		index.Fields("subject_user_id", "created_at"),
	}
}

// Annotations of Event.
func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One change to an organization: an audit log entry and a realtime event."),
		entgql.Skip(),
	}
}
