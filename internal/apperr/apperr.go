// Package apperr is orgql's error catalog: every error a client can see has one of
// the codes below in extensions.code, a specific rule in extensions.reason and, for
// input errors, the offending input field in extensions.field.
package apperr

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Code is the general class of an error (extensions.code).
type Code string

// The catalog. GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED and
// COMPLEXITY_LIMIT_EXCEEDED also occur; they come from the GraphQL engine.
const (
	Unauthenticated Code = "UNAUTHENTICATED"
	Forbidden       Code = "FORBIDDEN"
	NotFound        Code = "NOT_FOUND"
	BadUserInput    Code = "BAD_USER_INPUT"
	Conflict        Code = "CONFLICT"
	RateLimited     Code = "RATE_LIMITED"
	Internal        Code = "INTERNAL_SERVER_ERROR"
	// BadRequest is a request the GraphQL endpoint refuses before running it: wrong
	// content type, a body too large, a mutation over GET, too many aliases.
	BadRequest Code = "BAD_REQUEST"
)

// Reasons name the specific rule that refused a request (extensions.reason).
const (
	ReasonInvalidEmail        = "INVALID_EMAIL"
	ReasonPasswordTooShort    = "PASSWORD_TOO_SHORT"
	ReasonPasswordTooLong     = "PASSWORD_TOO_LONG"
	ReasonInvalidName         = "INVALID_NAME"
	ReasonEmailTaken          = "EMAIL_TAKEN"
	ReasonInvalidCredentials  = "INVALID_CREDENTIALS"
	ReasonSessionRequired     = "SESSION_REQUIRED"
	ReasonSessionExpired      = "SESSION_EXPIRED"
	ReasonInvalidToken        = "INVALID_TOKEN"
	ReasonAlreadyVerified     = "ALREADY_VERIFIED"
	ReasonTooManyRequests     = "TOO_MANY_REQUESTS"
	ReasonServerBusy          = "SERVER_BUSY"
	ReasonBodyTooLarge        = "BODY_TOO_LARGE"
	ReasonUnsupportedType     = "UNSUPPORTED_CONTENT_TYPE"
	ReasonMethodNotAllowed    = "METHOD_NOT_ALLOWED"
	ReasonMutationOverGET     = "MUTATION_OVER_GET"
	ReasonTooManyAliases      = "TOO_MANY_ALIASES"
	ReasonRepeatedSensitive   = "REPEATED_SENSITIVE_FIELD"
	ReasonDepthLimit          = "DEPTH_LIMIT_EXCEEDED"
	ReasonInvalidJSON         = "INVALID_JSON"
	ReasonCSRFHeaderMissing   = "CSRF_HEADER_MISSING"
	ReasonIntrospectionDenied = "INTROSPECTION_DISABLED"
)

// Error is an error meant for the client.
type Error struct {
	Code    Code
	Reason  string
	Field   string // input path, e.g. "input.email"; only for BAD_USER_INPUT
	Message string
	// RetryAfter tells a RATE_LIMITED client when to try again.
	RetryAfter time.Duration
	// Err is an underlying cause, logged but never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s (%v)", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error with a code, a reason (may be empty) and a message.
func New(code Code, reason, message string) *Error {
	return &Error{Code: code, Reason: reason, Message: message}
}

// Input returns a BAD_USER_INPUT error about one input field.
func Input(field, reason, message string) *Error {
	return &Error{Code: BadUserInput, Reason: reason, Field: field, Message: message}
}

// As returns the catalog error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Is reports whether err carries the given code and, if reason is not empty, reason.
func Is(err error, code Code, reason string) bool {
	e, ok := As(err)
	return ok && e.Code == code && (reason == "" || e.Reason == reason)
}

// Common errors.
var (
	// ErrUnauthenticated: the operation needs a signed-in user.
	ErrUnauthenticated = New(Unauthenticated, ReasonSessionRequired, "sign in to do this")
)

// NotFoundf returns a NOT_FOUND error. Objects the viewer may not see are reported
// with this too, so that their existence is not revealed.
func NotFoundf(format string, args ...any) *Error {
	return New(NotFound, "", fmt.Sprintf(format, args...))
}

// Limited returns a RATE_LIMITED error.
func Limited(retryAfter time.Duration) *Error {
	return &Error{
		Code:       RateLimited,
		Reason:     ReasonTooManyRequests,
		Message:    "too many attempts; try again later",
		RetryAfter: retryAfter,
	}
}

// NewReference returns a short random ID that links an internal error shown to a
// client with the log line that holds its cause.
func NewReference() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
