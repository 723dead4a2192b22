package graph_test

// GUIDE §4: every type, field, argument, input field and enum value has a
// description (GraphiQL is a user's manual), and names follow the conventions.

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orgql/orgql/graph"
)

var (
	schemaPascalCase     = regexp.MustCompile(`^[A-Z][a-zA-Z0-9]*$`)
	schemaCamelCase      = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	schemaScreamingSnake = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$`)
)

// schemaProblems lists every element of s without a description or with a name that
// breaks the conventions.
func schemaProblems(s *ast.Schema) []string {
	var problems []string
	undocumented := func(what string) { problems = append(problems, what+": no description") }
	misnamed := func(what, want string) { problems = append(problems, what+": name is not "+want) }

	for name, def := range s.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		kind := strings.ToLower(string(def.Kind))
		if strings.TrimSpace(def.Description) == "" {
			undocumented(kind + " " + name)
		}
		if !schemaPascalCase.MatchString(name) {
			misnamed(kind+" "+name, "PascalCase")
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			what := "field " + name + "." + f.Name
			if def.Kind == ast.InputObject {
				what = "input field " + name + "." + f.Name
			}
			if strings.TrimSpace(f.Description) == "" {
				undocumented(what)
			}
			if !schemaCamelCase.MatchString(f.Name) {
				misnamed(what, "camelCase")
			}
			for _, a := range f.Arguments {
				what := "argument " + name + "." + f.Name + "(" + a.Name + ":)"
				if strings.TrimSpace(a.Description) == "" {
					undocumented(what)
				}
				if !schemaCamelCase.MatchString(a.Name) {
					misnamed(what, "camelCase")
				}
			}
		}
		for _, v := range def.EnumValues {
			what := "enum value " + name + "." + v.Name
			if strings.TrimSpace(v.Description) == "" {
				undocumented(what)
			}
			if !schemaScreamingSnake.MatchString(v.Name) {
				misnamed(what, "SCREAMING_SNAKE_CASE")
			}
		}
	}
	sort.Strings(problems)
	return problems
}

func reportSchemaProblems(t *testing.T, s *ast.Schema) {
	t.Helper()
	if len(s.Types) < 10 {
		t.Fatalf("schema has only %d types: not loaded?", len(s.Types))
	}
	if problems := schemaProblems(s); len(problems) > 0 {
		t.Errorf("%d schema problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
}

// TestSchemaDocumented checks the schema the server executes.
func TestSchemaDocumented(t *testing.T) {
	reportSchemaProblems(t, graph.NewExecutableSchema(graph.Config{}).Schema())
}

// TestSchemaFilesDocumented checks the SDL files developers edit (schema/*.graphql),
// which the executable schema is generated from.
func TestSchemaFilesDocumented(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "schema", "*.graphql"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no schema files: %v", err)
	}
	var sources []*ast.Source
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, &ast.Source{Name: p, Input: string(b)})
	}
	s, gerr := gqlparser.LoadSchema(sources...)
	if gerr != nil {
		t.Fatalf("loading the schema files: %v", gerr)
	}
	reportSchemaProblems(t, s)
}

// The checker itself finds what it must.
func TestSchemaProblemsFindsOmissions(t *testing.T) {
	s, gerr := gqlparser.LoadSchema(&ast.Source{Name: "bad.graphql", Input: `
"""Documented."""
type Query {
  """Documented."""
  ok(
    """Documented."""
    first: Int
  ): Int
  bad_field(after: String): Int
}
type undocumented_type { x: Int }
"""Documented."""
enum Color {
  """Documented."""
  RED
  lightBlue
}
"""Documented."""
input FilterInput { q: String }
`})
	if gerr != nil {
		t.Fatal(gerr)
	}
	got := strings.Join(schemaProblems(s), "\n")
	for _, want := range []string{
		"field Query.bad_field: no description",
		"field Query.bad_field: name is not camelCase",
		"argument Query.bad_field(after:): no description",
		"object undocumented_type: no description",
		"object undocumented_type: name is not PascalCase",
		"field undocumented_type.x: no description",
		"enum value Color.lightBlue: no description",
		"enum value Color.lightBlue: name is not SCREAMING_SNAKE_CASE",
		"input field FilterInput.q: no description",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"Query.ok", "RED", "Int", "String", "__"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("unexpected %q in:\n%s", unwanted, got)
		}
	}
}
