package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
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
		// Sort keys copied from the member's user and organization, so that every
		// order of Organization.members and User.organizations is served by an index
		// on this table alone (see Indexes). memberSortKeys fills them when a member
		// is created; userSortKeys and organizationSortKeys keep them in step, in the
		// transaction of the change they mirror. Compared byte by byte on both
		// databases (varbinary on MySQL), so both order them alike.
		field.String("user_name_key").MaxLen(400).Default("").
			SchemaType(map[string]string{dialect.MySQL: "varbinary(400)"}).
			Annotations(entgql.Skip()).
			Comment("The user's name, lower-cased (Unicode)."),
		field.String("user_email").MaxLen(254).Default("").
			SchemaType(map[string]string{dialect.MySQL: "varbinary(254)"}).
			Annotations(entgql.Skip()).
			Comment("The user's email address (stored lower-cased)."),
		field.String("org_name_key").MaxLen(400).Default("").
			SchemaType(map[string]string{dialect.MySQL: "varbinary(400)"}).
			Annotations(entgql.Skip()).
			Comment("The organization's name_key."),
		field.String("org_slug").MaxLen(48).Default("").
			SchemaType(map[string]string{dialect.MySQL: "varbinary(48)"}).
			Annotations(entgql.Skip()).
			Comment("The organization's slug (immutable)."),
		field.Time("org_created_at").
			SchemaType(micros).
			Optional().
			Annotations(entgql.Skip()).
			Comment("When the organization was created (immutable)."),
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
		// One index per order of Organization.members (JOINED_AT, NAME, EMAIL), with
		// and without a role filter; ROLE is (role, created_at). Each ends in the
		// member ID, the tie-breaker, so a keyset cursor is one index seek. The
		// role-led ones also serve the owner counts of the role matrix. The NAME
		// ones carry the email too: they cover a search's totalCount (name or email
		// LIKE the term), which then reads the organization's index entries rather
		// than the table.
		index.Fields("organization_id", "created_at", "id"),
		index.Fields("organization_id", "user_name_key", "id", "user_email"),
		index.Fields("organization_id", "user_email", "id"),
		index.Fields("organization_id", "role", "created_at", "id"),
		index.Fields("organization_id", "role", "user_name_key", "id", "user_email"),
		index.Fields("organization_id", "role", "user_email", "id"),
		// One per order of User.organizations (NAME, SLUG, CREATED_AT), ending in
		// the organization ID, its tie-breaker.
		index.Fields("user_id", "org_name_key", "organization_id"),
		index.Fields("user_id", "org_slug", "organization_id"),
		index.Fields("user_id", "org_created_at", "organization_id"),
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

// Hooks of Member: see sortkeys.go.
func (Member) Hooks() []ent.Hook { return []ent.Hook{memberSortKeys()} }
