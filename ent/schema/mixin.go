// Package schema holds orgql's data model: the entities, their fields, edges, indexes and
// the foreign keys that back the invariants of GUIDE §2.
package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/orgql/orgql/internal/ids"
)

// idMixin gives an entity an opaque, prefixed, random ID (see package ids).
type idMixin struct {
	mixin.Schema
	prefix string
}

func (m idMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			MaxLen(ids.MaxLen).
			NotEmpty().
			DefaultFunc(func() string { return ids.New(m.prefix) }).
			Immutable().
			Comment("Opaque, globally unique identifier."),
	}
}

// timeMixin records creation and last-update times. With orderable, connections of
// the type can be ordered by CREATED_AT.
type timeMixin struct {
	mixin.Schema
	orderable bool
}

func (m timeMixin) Fields() []ent.Field {
	created := field.Time("created_at").SchemaType(micros).
		Default(now).
		Immutable().
		Comment("When this was created.")
	if m.orderable {
		created.Annotations(entgql.OrderField("CREATED_AT"))
	}
	return []ent.Field{
		created,
		field.Time("updated_at").SchemaType(micros).
			Default(now).
			UpdateDefault(now).
			Comment("When this was last changed."),
	}
}

// now is the clock of stored times: UTC, so both databases store the same instant.
func now() time.Time { return time.Now().UTC() }

// micros stores times with microseconds on MySQL (its default TIMESTAMP keeps seconds
// and ends in 2038) so that expiry checks behave the same on both databases.
var micros = map[string]string{dialect.MySQL: "datetime(6)"}
