package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/internal/apperr"
)

// Every error reaches the client through presentError: catalog errors keep their
// code, reason and field; GraphQL parse and validation errors keep the engine's code;
// anything else is an internal error, logged with a reference the client is shown
// instead of the cause, so SQL and driver text never leak.

func init() {
	// BAD_REQUEST is about the request itself, like a parse error: HTTP 422 rather
	// than 200 with data.
	registerProtocolCode(string(apperr.BadRequest))
}

// panicError marks a recovered panic.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

func recoverFunc(_ context.Context, v any) error {
	return &panicError{value: v, stack: debug.Stack()}
}

// resolverError marks an error returned by a resolver that is not in the catalog:
// whatever it says (SQL, driver, bug) is internal. Marking happens in aroundField,
// which wraps every resolver call; errors the engine raises outside resolvers
// (argument coercion, request decoding) are not marked and are the client's fault.
type resolverError struct{ err error }

func (e *resolverError) Error() string { return e.err.Error() }
func (e *resolverError) Unwrap() error { return e.err }

// aroundField is orgql's one field middleware; gqlgen runs it for every field of
// every response (each middleware costs allocations per field, so there is one).
// After the resolver returns, it forgets cached state after mutations
// (forgetAfterMutation) and marks resolver errors (resolverError).
func aroundField(ctx context.Context, next graphql.Resolver) (any, error) {
	res, err := next(ctx)
	forgetAfterMutation(ctx)
	if err != nil {
		if _, ok := apperr.As(err); !ok {
			err = &resolverError{err: err}
		}
	}
	return res, err
}

// presentError maps every error to the catalog. With hideSuggestions (introspection
// off), validation messages lose their "Did you mean ...?" hints, which would
// otherwise reveal the schema piece by piece.
func presentError(log *slog.Logger, hideSuggestions bool) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		if ae, ok := apperr.As(err); ok {
			return catalogError(ctx, ae)
		}
		var (
			re  *resolverError
			pe  *panicError
			gql *gqlerror.Error
		)
		if errors.As(err, &re) || errors.As(err, &pe) || !errors.As(err, &gql) {
			if ent.IsNotFound(err) {
				return catalogError(ctx, apperr.NotFoundf("not found"))
			}
			return internalError(ctx, log, err)
		}
		if code, ok := gql.Extensions["code"]; ok {
			// Parse, validation and limit errors carry their code already.
			if hideSuggestions && code == errcode.ValidationFailed {
				if i := strings.Index(gql.Message, " Did you mean"); i >= 0 {
					gql.Message = gql.Message[:i]
				}
			}
			return gql
		}
		// A GraphQL error without a code comes from the engine: a request it could not
		// decode (no path) or an argument it could not coerce.
		if gql.Extensions == nil {
			gql.Extensions = map[string]any{}
		}
		switch {
		case len(gql.Path) == 0:
			gql.Extensions["code"] = string(apperr.BadRequest)
			if strings.HasPrefix(gql.Message, "json request body could not be decoded") {
				gql.Message = "the request body is not valid JSON"
				gql.Extensions["reason"] = apperr.ReasonInvalidJSON
			}
		case gql.Err != nil:
			// An argument that would not coerce: the engine wraps the cause.
			gql.Extensions["code"] = string(apperr.BadUserInput)
		default:
			// A message of the engine's own during execution ("must not be null"):
			// a fault of ours, not of the input.
			return internalError(ctx, log, gql)
		}
		return gql
	}
}

func catalogError(ctx context.Context, e *apperr.Error) *gqlerror.Error {
	ext := map[string]any{"code": string(e.Code)}
	if e.Reason != "" {
		ext["reason"] = e.Reason
	}
	if e.Field != "" {
		ext["field"] = e.Field
	}
	if e.RetryAfter > 0 {
		ext["retryAfter"] = int(math.Ceil(e.RetryAfter.Seconds()))
	}
	return &gqlerror.Error{Message: e.Message, Path: graphql.GetPath(ctx), Extensions: ext}
}

func internalError(ctx context.Context, log *slog.Logger, err error) *gqlerror.Error {
	ref := apperr.NewReference()
	attrs := []any{"ref", ref, "err", err, "path", graphql.GetPath(ctx).String()}
	var p *panicError
	if errors.As(err, &p) {
		attrs = append(attrs, "stack", string(p.stack))
	}
	if errors.Is(err, context.Canceled) {
		log.DebugContext(ctx, "operation canceled", attrs...)
	} else {
		log.ErrorContext(ctx, "internal error", attrs...)
	}
	return &gqlerror.Error{
		Message: "internal server error (reference " + ref + ")",
		Path:    graphql.GetPath(ctx),
		Extensions: map[string]any{
			"code":      string(apperr.Internal),
			"reference": ref,
		},
	}
}
