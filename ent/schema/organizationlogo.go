package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/orgql/orgql/internal/ids"
)

// OrganizationLogo holds an organization's logo image, kept apart from the organization
// row so that reading organizations never reads image bytes.
type OrganizationLogo struct{ ent.Schema }

// Mixin of OrganizationLogo.
func (OrganizationLogo) Mixin() []ent.Mixin {
	return []ent.Mixin{idMixin{prefix: ids.Logo}}
}

// Fields of OrganizationLogo.
func (OrganizationLogo) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").MaxLen(ids.MaxLen).NotEmpty().Unique().Immutable(),
		field.String("content_type").MaxLen(32).NotEmpty(),
		field.Bytes("data").NotEmpty().SchemaType(map[string]string{dialect.MySQL: "mediumblob"}),
		field.String("sha256").MaxLen(64).NotEmpty(),
		field.Int("width").Positive(),
		field.Int("height").Positive(),
		field.Time("created_at").SchemaType(micros).Default(now),
	}
}

// Edges of OrganizationLogo.
func (OrganizationLogo) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).Ref("logo").Field("organization_id").Unique().Required().Immutable(),
	}
}

// Annotations of OrganizationLogo.
func (OrganizationLogo) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// Policy of OrganizationLogo: no client reads it.
func (OrganizationLogo) Policy() ent.Policy { return systemOnly() }
