//go:build ignore

// entc.go generates the ent code and, through entgql, schema/ent.graphql.
// Run through `go generate ./...` from the repository root.
package main

import (
	"log"

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

// describeTypes copies each entity's schema.Comment into its GraphQL type description,
// so that GraphiQL documents every type (entgql leaves object types undescribed).
func describeTypes(g *gen.Graph, s *ast.Schema) error {
	if q, ok := s.Types["Query"]; ok && q.Description == "" {
		q.Description = "The root of every read. Objects the viewer may not see are null or missing, never an error."
	}
	for _, n := range g.Nodes {
		def, ok := s.Types[n.Name]
		if !ok || def.Description != "" {
			continue
		}
		if c, ok := n.Annotations[(&schema.CommentAnnotation{}).Name()].(map[string]any); ok {
			if text, ok := c["Text"].(string); ok {
				def.Description = text
			}
		}
	}
	return nil
}
