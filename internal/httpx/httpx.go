// Package httpx holds the HTTP plumbing around the GraphQL endpoint: request IDs,
// access logs, panic recovery, and the guard that refuses requests the endpoint must
// not run (wrong method or content type, oversized bodies).
package httpx

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/orgql/orgql/internal/apperr"
)

// WriteError writes a GraphQL-shaped error response.
func WriteError(w http.ResponseWriter, status int, code apperr.Code, reason, msg string) {
	ext := map[string]any{}
	if reason != "" {
		ext["reason"] = reason
	}
	writeError(w, status, code, msg, ext)
}

func writeError(w http.ResponseWriter, status int, code apperr.Code, msg string, ext map[string]any) {
	ext["code"] = string(code)
	body, _ := json.Marshal(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": ext}},
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type requestIDKey struct{}

// WithRequestIDValue returns ctx carrying a request ID (for contexts that outlive their
// request, such as a websocket's).
func WithRequestIDValue(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request's ID, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// WithRequestID gives every request an ID: the caller's X-Request-ID when it is
// sane (so IDs follow a request across a proxy), a fresh one otherwise. The ID is
// echoed in the response and attached to every log line of the request.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID.MatchString(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// LogHandler adds the request ID of the context to every record.
type LogHandler struct{ slog.Handler }

// Handle adds request_id and passes the record on.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the request ID behaviour on derived handlers.
func (h LogHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(a)}
}

// WithGroup keeps the request ID behaviour on derived handlers.
func (h LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{h.Handler.WithGroup(name)}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack hands the connection to a websocket upgrade (which asserts http.Hijacker).
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// AccessLog logs one line per request; health checks only at debug level.
func AccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			level = slog.LevelDebug
		}
		log.Log(r.Context(), level, "request",
			"method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

// InternalError logs err with a fresh reference and answers 500 with that reference,
// never with the cause.
func InternalError(w http.ResponseWriter, r *http.Request, log *slog.Logger, msg string, err error) {
	ref := apperr.NewReference()
	log.ErrorContext(r.Context(), msg, "ref", ref, "err", err)
	writeError(w, http.StatusInternalServerError, apperr.Internal, "internal server error (reference "+ref+")",
		map[string]any{"reference": ref})
}

// Recover turns a panic in a handler into a logged 500.
func Recover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				InternalError(w, r, log, "panic", fmt.Errorf("%v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// PreflightHeaders are the headers of which a multipart request must carry one. A
// cross-site form cannot set a custom header, and a script that sets one triggers a
// CORS preflight, so a multipart upload cannot be forged by another site (CSRF).
var PreflightHeaders = []string{"GraphQL-Require-Preflight", "Apollo-Require-Preflight"}

// GraphQLGuard admits only what the GraphQL endpoint serves: GET (queries; websocket
// upgrades when enabled), POST with a JSON body of at most maxBody bytes, and
// multipart uploads of at most maxUpload bytes that carry a preflight-forcing header.
// Form and text/plain bodies, which a cross-site page can send without a CORS
// preflight, are refused, so cookie sessions cannot be used by other sites (CSRF).
func GraphQLGuard(maxBody, maxUpload int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			// The GET transport answers undecodable parameters itself, without an
			// error code; check them here so every refusal has one.
			q := r.URL.Query()
			for _, p := range []string{"variables", "extensions"} {
				if v := q.Get(p); v != "" && !json.Valid([]byte(v)) {
					WriteError(w, http.StatusBadRequest, apperr.BadRequest, apperr.ReasonInvalidJSON,
						"the "+p+" parameter is not valid JSON")
					return
				}
			}
			next.ServeHTTP(w, r)
			return
		case http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, POST")
			WriteError(w, http.StatusMethodNotAllowed, apperr.BadRequest, apperr.ReasonMethodNotAllowed,
				"use POST (or GET for queries)")
			return
		}
		limit := maxBody
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch {
		case err == nil && mt == "application/json":
		case err == nil && mt == "multipart/form-data":
			if !hasPreflightHeader(r) {
				WriteError(w, http.StatusBadRequest, apperr.BadRequest, apperr.ReasonCSRFHeaderMissing,
					"multipart requests must carry the header GraphQL-Require-Preflight: 1")
				return
			}
			limit = maxUpload
		default:
			WriteError(w, http.StatusUnsupportedMediaType, apperr.BadRequest, apperr.ReasonUnsupportedType,
				"send the request as Content-Type: application/json")
			return
		}
		if r.ContentLength > limit {
			WriteError(w, http.StatusRequestEntityTooLarge, apperr.BadRequest, apperr.ReasonBodyTooLarge,
				"the request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				WriteError(w, http.StatusRequestEntityTooLarge, apperr.BadRequest, apperr.ReasonBodyTooLarge,
					"the request body is larger than "+strconv.FormatInt(limit, 10)+" bytes")
				return
			}
			WriteError(w, http.StatusBadRequest, apperr.BadRequest, "", "could not read the request body")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func hasPreflightHeader(r *http.Request) bool {
	for _, h := range PreflightHeaders {
		if r.Header.Get(h) != "" {
			return true
		}
	}
	return false
}
