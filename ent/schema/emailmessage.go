package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/orgql/orgql/internal/ids"
)

// EmailMessage is the mail outbox: a message is written in the transaction that causes
// it and delivered afterwards, with retries, so an SMTP outage loses no email.
type EmailMessage struct{ ent.Schema }

// Mixin of EmailMessage.
func (EmailMessage) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.EmailMessage}}
}

// Fields of EmailMessage.
func (EmailMessage) Fields() []ent.Field {
	return []ent.Field{
		field.String("to").MaxLen(254).NotEmpty().Immutable(),
		field.String("subject").MaxLen(255).NotEmpty().Immutable(),
		// The bodies hold single-use links; they are cleared once the message is sent.
		field.Text("text_body").Sensitive(),
		field.Text("html_body").Sensitive(),
		field.Enum("status").Values("PENDING", "SENT", "FAILED").Default("PENDING"),
		field.Int("attempts").NonNegative().Default(0),
		field.Time("next_attempt_at").SchemaType(micros).Default(now),
		// A worker claims a message by moving this into the future (compare-and-set), so
		// several replicas never send the same message at once.
		field.Time("locked_until").SchemaType(micros).Optional().Nillable(),
		field.String("last_error").MaxLen(1024).Optional(),
		field.Time("created_at").SchemaType(micros).Default(now).Immutable(),
		field.Time("sent_at").SchemaType(micros).Optional().Nillable(),
	}
}

// Indexes of EmailMessage.
func (EmailMessage) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("status", "next_attempt_at"),
	}
}

// Annotations of EmailMessage.
func (EmailMessage) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// Policy of EmailMessage: no client reads it.
func (EmailMessage) Policy() ent.Policy { return systemOnly() }
