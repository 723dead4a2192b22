package graph_test

// Directive coverage: every mutation is guarded by @hasRole unless it is on the
// allowlist below with its reason; a guarded field of an object type is nullable
// (a denial must null that field, not its parent); and the fields the role matrix
// guards by schema (Organization.auditLog and the organization mutations) carry the
// directive with the right least role.

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orgql/orgql/graph"
)

// dirUnguardedMutations are the mutations allowed without @hasRole, each with why.
var dirUnguardedMutations = map[string]string{
	"signUp":                   "account: no organization involved, anonymous by design",
	"signIn":                   "account: no organization involved, anonymous by design",
	"signOut":                  "account: ends the caller's own session(s)",
	"requestEmailVerification": "account: about the signed-in user's own address",
	"verifyEmail":              "account: authorized by the emailed token",
	"requestPasswordReset":     "account: anonymous, same answer whether or not the address exists",
	"resetPassword":            "account: authorized by the emailed token",
	"createOrganization":       "no organization exists yet; the creator becomes its OWNER",
	"setActiveOrganization":    "session state; the service checks membership (NOT_FOUND otherwise)",
	"acceptInvitation":         "the invitee is not a member yet; the token (or verified email) and the email match authorize it",
	"rejectInvitation":         "the invitee is not a member; the token (or verified email) authorizes it",
}

// dirRequiredGuards are fields that GUIDE §2 restricts and that must carry @hasRole
// with this least role.
var dirRequiredGuards = map[string]string{
	"Organization.auditLog":       "ADMIN",
	"Mutation.updateOrganization": "ADMIN",
	"Mutation.deleteOrganization": "OWNER",
	"Mutation.updateMemberRole":   "ADMIN",
	"Mutation.removeMember":       "ADMIN",
	"Mutation.leaveOrganization":  "MEMBER",
	"Mutation.transferOwnership":  "OWNER",
}

// dirRole returns the role argument of the field's @hasRole and whether it has one.
func dirRole(f *ast.FieldDefinition) (string, bool) {
	d := f.Directives.ForName("hasRole")
	if d == nil {
		return "", false
	}
	if a := d.Arguments.ForName("role"); a != nil && a.Value != nil {
		return a.Value.Raw, true
	}
	return "", true
}

// dirProblems lists every violation of the directive rules in s, given the
// allowlist of unguarded mutations and the required guards.
func dirProblems(s *ast.Schema, unguarded, required map[string]string) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if s.Mutation == nil {
		return []string{"no Mutation type"}
	}

	// Every mutation is guarded, or allowlisted with a reason.
	seen := map[string]bool{}
	for _, f := range s.Mutation.Fields {
		if strings.HasPrefix(f.Name, "__") {
			continue
		}
		seen[f.Name] = true
		role, guarded := dirRole(f)
		why, allowed := unguarded[f.Name]
		switch {
		case guarded && role == "":
			add("Mutation.%s: @hasRole without a role", f.Name)
		case guarded && allowed:
			add("Mutation.%s is guarded by @hasRole(role: %s) but allowlisted as unguarded: remove it from the list", f.Name, role)
		case !guarded && !allowed:
			add("Mutation.%s is not guarded by @hasRole: add the directive, or allowlist it with a reason", f.Name)
		case allowed && strings.TrimSpace(why) == "":
			add("Mutation.%s is allowlisted without a reason", f.Name)
		}
	}
	for name := range unguarded {
		if !seen[name] {
			add("the allowlist names %s, which is not a mutation", name)
		}
	}

	// A guarded field of an object type is nullable. Root mutation and subscription
	// fields are the exception: a mutation's payload is non-null by convention
	// (XPayload!), a subscription's event too, and a refusal nulling data is the
	// whole answer of that one operation.
	for name, def := range s.Types {
		if def.Kind != ast.Object || def.BuiltIn || def == s.Mutation || def == s.Subscription {
			continue
		}
		for _, f := range def.Fields {
			if role, guarded := dirRole(f); guarded && f.Type.NonNull {
				add("%s.%s is guarded by @hasRole(role: %s) but non-null (%s): one denial would null its parent", name, f.Name, role, f.Type)
			}
		}
	}

	// The required guards are in place, with the right role.
	for path, want := range required {
		typ, field, _ := strings.Cut(path, ".")
		def := s.Types[typ]
		if def == nil {
			add("%s: no type %s", path, typ)
			continue
		}
		f := def.Fields.ForName(field)
		if f == nil {
			add("%s: no such field", path)
			continue
		}
		if role, guarded := dirRole(f); !guarded || role != want {
			add("%s: @hasRole(role: %q) (present: %v), want @hasRole(role: %s)", path, role, guarded, want)
		}
	}

	// The directive itself: on field definitions, with a required MemberRole.
	d := s.Directives["hasRole"]
	if d == nil {
		add("no @hasRole directive")
	} else {
		if len(d.Locations) != 1 || d.Locations[0] != ast.LocationFieldDefinition {
			add("@hasRole locations = %v, want FIELD_DEFINITION only", d.Locations)
		}
		if a := d.Arguments.ForName("role"); a == nil || a.Type.String() != "MemberRole!" {
			add("@hasRole(role:) is not a MemberRole!")
		}
	}
	sort.Strings(out)
	return out
}

// TestDirectiveCoverage checks the executable schema.
func TestDirectiveCoverage(t *testing.T) {
	s := graph.NewExecutableSchema(graph.Config{}).Schema()
	if s == nil {
		t.Fatal("no schema")
	}
	for _, p := range dirProblems(s, dirUnguardedMutations, dirRequiredGuards) {
		t.Error(p)
	}
	// The guarded Organization field really is auditLog, and nothing readable by a
	// MEMBER per GUIDE §2 is guarded above MEMBER.
	for _, name := range []string{"id", "name", "slug", "viewerRole", "viewerCan", "memberCount", "members"} {
		f := s.Types["Organization"].Fields.ForName(name)
		if f == nil {
			t.Errorf("Organization.%s is missing", name)
			continue
		}
		if role, guarded := dirRole(f); guarded && role != "MEMBER" {
			t.Errorf("Organization.%s is guarded by @hasRole(role: %s), but every member may see it", name, role)
		}
	}
}

// TestDirectiveCoverageFindsViolations makes sure the checks above can fail.
func TestDirectiveCoverageFindsViolations(t *testing.T) {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "bad.graphql", Input: `
		enum MemberRole { OWNER ADMIN MEMBER }
		directive @hasRole(role: MemberRole!) on FIELD_DEFINITION
		type Query { org: Org }
		type Org { secret: String! @hasRole(role: ADMIN) open: String auditLog: String }
		type Mutation {
			signIn: Boolean
			dropEverything: Boolean!
			guardedAndListed: Boolean! @hasRole(role: OWNER)
			fine: Boolean! @hasRole(role: ADMIN)
		}`})
	if err != nil {
		t.Fatal(err)
	}
	got := dirProblems(s,
		map[string]string{"signIn": "account", "guardedAndListed": "oops", "gone": "renamed"},
		map[string]string{"Org.auditLog": "ADMIN", "Mutation.fine": "OWNER"})
	want := []string{
		"Mutation.dropEverything is not guarded",
		"Mutation.guardedAndListed is guarded by @hasRole(role: OWNER) but allowlisted",
		"Mutation.fine: @hasRole(role: \"ADMIN\")",
		"Org.auditLog: @hasRole(role: \"\") (present: false)",
		"Org.secret is guarded by @hasRole(role: ADMIN) but non-null",
		"the allowlist names gone",
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("problems do not report %q:\n%s", w, joined)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), joined)
	}
}
