package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgql/orgql/internal/apperr"
)

// sensitiveFields are the root fields whose attempts are rate-limited: an operation
// may select each at most once, so aliases cannot multiply password guesses or
// token tries within one request.
var sensitiveFields = map[string]bool{
	"signIn":                   true,
	"signUp":                   true,
	"requestPasswordReset":     true,
	"resetPassword":            true,
	"verifyEmail":              true,
	"requestEmailVerification": true,
	"acceptInvitation":         true,
	"rejectInvitation":         true,
	"inviteMember":             true,
	"inviteMembers":            true,
	"resendInvitation":         true,
}

// operationLimits refuses operations that are too deep, use too many aliases, repeat
// a sensitive field, or (over GET) are not queries. It runs after validation, before
// any resolver.
type operationLimits struct {
	maxDepth, maxAliases int
	// introspection: __schema and __type may be queried.
	introspection bool
}

var (
	_ graphql.HandlerExtension        = operationLimits{}
	_ graphql.OperationContextMutator = operationLimits{}
)

func (operationLimits) ExtensionName() string                   { return "OperationLimits" }
func (operationLimits) Validate(graphql.ExecutableSchema) error { return nil }
func registerProtocolCode(code string)                          { errcode.RegisterErrorType(code, errcode.KindProtocol) }
func badRequest(reason, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": string(apperr.BadRequest), "reason": reason}}
}

func (l operationLimits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Operation
	if op == nil {
		return nil
	}
	method := httpMethod(ctx) // "" over a websocket
	switch {
	case method == "GET" && op.Operation != ast.Query:
		return badRequest(apperr.ReasonMutationOverGET, "GET requests may only run queries; send mutations as POST")
	case method != "" && op.Operation == ast.Subscription:
		// Over HTTP a subscription would hold the request open until its first event.
		return badRequest(ReasonSubscriptionOverHTTP, "subscriptions run over a websocket (ws://…/graphql)")
	}
	w := walker{maxDepth: l.maxDepth, introspection: l.introspection, seen: map[string]bool{},
		websocket: method == "", budget: maxSelections}
	w.walk(op.SelectionSet, 1, op.Operation == ast.Mutation, false)
	switch {
	case w.err != nil:
		return w.err
	case w.aliases > l.maxAliases:
		return badRequest(apperr.ReasonTooManyAliases, fmt.Sprintf("the request uses %d aliases; at most %d are allowed", w.aliases, l.maxAliases))
	}
	return nil
}

type walker struct {
	maxDepth      int
	introspection bool
	websocket     bool
	aliases       int
	// budget counts down the selections visited, fragment spreads expanded each
	// time: nested fragments that spread each other twice grow as 2^n, and a 1 KB
	// document must not cost minutes here or in the complexity check after us.
	budget int
	seen   map[string]bool
	err    *gqlerror.Error
}

// maxSelections bounds the expanded size of an operation.
const maxSelections = 10_000

// Reasons of the operation limits.
const (
	ReasonSubscriptionOverHTTP = "SUBSCRIPTION_OVER_HTTP"
	ReasonNotOverWebsocket     = "NOT_OVER_WEBSOCKET"
	ReasonTooManySelections    = "TOO_MANY_SELECTIONS"
)

// httpOnlyFields change the identity of a request (and set its cookie): over a
// websocket they would switch every operation of the connection to another user.
var httpOnlyFields = map[string]bool{"signIn": true, "signUp": true, "signOut": true, "resetPassword": true}

// walk visits a selection set. Inside introspection (__schema, __type) depth is not
// limited, as its queries are deep by nature, but aliases still count.
func (w *walker) walk(set ast.SelectionSet, depth int, root, inIntrospection bool) {
	for _, sel := range set {
		if w.err != nil {
			return
		}
		if w.budget--; w.budget < 0 {
			w.err = badRequest(ReasonTooManySelections, fmt.Sprintf("the operation expands to more than %d selections", maxSelections))
			return
		}
		switch s := sel.(type) {
		case *ast.Field:
			if root && w.websocket && httpOnlyFields[s.Name] {
				w.err = badRequest(ReasonNotOverWebsocket, s.Name+" runs over HTTP only: it changes who the connection is")
				return
			}
			if s.Alias != "" && s.Alias != s.Name {
				w.aliases++
			}
			if root && sensitiveFields[s.Name] {
				if w.seen[s.Name] {
					w.err = badRequest(apperr.ReasonRepeatedSensitive, fmt.Sprintf("%s may appear only once per request", s.Name))
					return
				}
				w.seen[s.Name] = true
			}
			intro := inIntrospection || s.Name == "__schema" || s.Name == "__type"
			if intro && !inIntrospection && !w.introspection {
				w.err = badRequest(apperr.ReasonIntrospectionDenied, "introspection is disabled on this server")
				return
			}
			if len(s.SelectionSet) > 0 {
				if !intro && depth+1 > w.maxDepth {
					w.err = badRequest(apperr.ReasonDepthLimit, fmt.Sprintf("the query nests deeper than %d levels", w.maxDepth))
					return
				}
				w.walk(s.SelectionSet, depth+1, false, intro)
			}
		case *ast.InlineFragment:
			w.walk(s.SelectionSet, depth, root, inIntrospection)
		case *ast.FragmentSpread:
			if s.Definition != nil {
				w.walk(s.Definition.SelectionSet, depth, root, inIntrospection)
			}
		}
	}
}

type methodKey struct{}

// withHTTPMethod records the request method for the GET-only-queries rule.
func withHTTPMethod(ctx context.Context, m string) context.Context {
	return context.WithValue(ctx, methodKey{}, m)
}

func httpMethod(ctx context.Context) string {
	m, _ := ctx.Value(methodKey{}).(string)
	return m
}
