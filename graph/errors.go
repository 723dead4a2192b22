package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
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

func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		if ae, ok := apperr.As(err); ok {
			return catalogError(ctx, ae)
		}
		var gerr *gqlerror.Error
		if errors.As(err, &gerr) && !isInternal(gerr.Err) {
			if _, ok := gerr.Extensions["code"]; ok {
				return gerr
			}
			// A GraphQL error without a code comes from the engine: a request it
			// could not decode (no path) or an argument it could not coerce.
			if gerr.Extensions == nil {
				gerr.Extensions = map[string]any{}
			}
			if len(gerr.Path) == 0 {
				gerr.Extensions["code"] = apperr.BadRequest
				if strings.HasPrefix(gerr.Message, "json request body could not be decoded") {
					gerr.Message = "the request body is not valid JSON"
					gerr.Extensions["reason"] = apperr.ReasonInvalidJSON
				}
			} else {
				gerr.Extensions["code"] = apperr.BadUserInput
			}
			return gerr
		}
		if ent.IsNotFound(err) {
			return catalogError(ctx, apperr.NotFoundf("not found"))
		}
		return internalError(ctx, log, err)
	}
}

// isInternal reports whether the cause wrapped in a GraphQL error is one of ours
// (rather than an input coercion message from the engine).
func isInternal(err error) bool {
	if err == nil {
		return false
	}
	var p *panicError
	return errors.As(err, &p) || ent.IsNotFound(err) || ent.IsConstraintError(err) ||
		ent.IsNotSingular(err) || ent.IsValidationError(err) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

func catalogError(ctx context.Context, e *apperr.Error) *gqlerror.Error {
	ext := map[string]any{"code": e.Code}
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
	ref := newReference()
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
			"code":      apperr.Internal,
			"reference": ref,
		},
	}
}

// newReference returns a short random ID linking a client's error to a log line.
func newReference() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
