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
		field.String("organization_id").MaxLen(ids.MaxLen).Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		// Position in the organization's feed (see Organization.event_sequence).
		field.Int64("sequence").NonNegative().Immutable().
			Annotations(entgql.Skip()),
		field.String("type").MaxLen(64).NotEmpty().Immutable().
			Annotations(entgql.Skip()),
		field.String("actor_id").MaxLen(ids.MaxLen).Optional().Nillable().
			Annotations(entgql.Skip()),
		field.String("subject_user_id").MaxLen(ids.MaxLen).Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		field.String("member_id").MaxLen(ids.MaxLen).Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		field.String("invitation_id").MaxLen(ids.MaxLen).Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		field.String("old_role").MaxLen(16).Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		field.String("new_role").MaxLen(16).Optional().Nillable().Immutable().
			Annotations(entgql.Skip()),
		// Type-specific details, such as the changed settings.
		field.JSON("data", map[string]any{}).Optional().Immutable().
			Annotations(entgql.Skip()),
		field.Time("created_at").SchemaType(micros).Default(now).Immutable().
			Comment("When the change happened."),
	}
}

// Edges of Event.
func (Event) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("actor", User.Type).Ref("events").Field("actor_id").Unique().
			Annotations(entgql.Skip()),
	}
}

// Indexes of Event.
func (Event) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "sequence").Unique(),
		index.Fields("subject_user_id", "created_at"),
		// A member's join event bounds what a MEMBER may replay.
		index.Fields("member_id"),
	}
}

// Annotations of Event.
func (Event) Annotations() []schema.Annotation {
	return []schema.Annotation{
		schema.Comment("One change to an organization: an entry of its audit log and an event of its realtime feed."),
		entgql.Type("OrganizationEvent"),
		entgql.RelayConnection(),
	}
}

// Policy of Event: see visibleEvents.
func (Event) Policy() ent.Policy {
	return privacy.Policy{Query: privacy.QueryPolicy{visibleEvents()}}
}
