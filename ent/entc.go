//go:build ignore

// entc.go generates the ent code and, through entgql, schema/ent.graphql.
// Run through `go generate ./...` from the repository root.
package main

import (
	"log"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("./gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("./schema/ent.graphql"),
		entgql.WithWhereInputs(false),
		entgql.WithSchemaHook(describeTypes),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./ent/schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureIntercept,
			gen.FeatureNamedEdges,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureUpsert,
			gen.FeatureExecQuery,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// roleDescriptions document the MemberRole enum (see GUIDE §2 for the matrix).
var roleDescriptions = map[string]string{
	"OWNER":  "Full control: everything an ADMIN can do, plus granting and removing OWNER, transferring ownership and deleting the organization.",
	"ADMIN":  "Manages the organization: settings, invitations, MEMBER and ADMIN roles, applications and credentials.",
	"MEMBER": "Reads the organization, its members, applications, subscriptions and credentials (secrets masked).",
}

// describeTypes fills the descriptions entgql leaves empty, so that GraphiQL documents
// every type and enum value: each entity's schema.Comment becomes its type
// description, order fields say what they order by, and roles say what they allow.
func describeTypes(g *gen.Graph, s *ast.Schema) error {
	if q, ok := s.Types["Query"]; ok && q.Description == "" {
		q.Description = "The root of every read. Objects the viewer may not see are null or missing, never an error."
	}
	for _, n := range g.Nodes {
		name := n.Name
		if ant, ok := n.Annotations[entgql.Annotation{}.Name()].(map[string]any); ok {
			if t, ok := ant["Type"].(string); ok && t != "" {
				name = t
			}
		}
		def, ok := s.Types[name]
		if !ok || def.Description != "" {
			continue
		}
		if c, ok := n.Annotations[(&schema.CommentAnnotation{}).Name()].(map[string]any); ok {
			if text, ok := c["Text"].(string); ok {
				def.Description = text
			}
		}
	}
	if def, ok := s.Types["MemberRole"]; ok {
		def.Description = "A member's role in an organization, from most to least privileged."
		for _, v := range def.EnumValues {
			v.Description = roleDescriptions[v.Name]
		}
	}
	for name, def := range s.Types {
		if def.Kind != ast.Enum || !strings.HasSuffix(name, "OrderField") {
			continue
		}
		for _, v := range def.EnumValues {
			if v.Description == "" {
				v.Description = "Order by " + strings.ToLower(strings.ReplaceAll(v.Name, "_", " ")) + "."
			}
		}
	}
	return nil
}
