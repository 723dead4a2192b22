// Package auth authenticates requests: it manages sessions (256-bit tokens stored as
// hashes, idle and absolute expiry), reads them from the session cookie or an
// Authorization: Bearer header, and sets and clears the cookie.
package auth

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/viewer"
)

// CookieName is the session cookie.
const CookieName = "orgql_session"

// Request is what the GraphQL layer needs to know about the HTTP request behind an
// operation, and the way to set the session cookie on its response.
type Request struct {
	IP        string
	UserAgent string
	// Secure: the request came over TLS, so cookies get the Secure attribute.
	Secure bool
	// CredentialRejected: the request presented a session token that is unknown,
	// revoked or expired (the UNAUTHENTICATED error then says so).
	CredentialRejected bool
	// FromCookie: the session came from the cookie (not a Bearer header).
	FromCookie bool
	w          http.ResponseWriter
}

type requestKey struct{}

// RequestFromContext returns the HTTP request info, or an empty one outside HTTP.
func RequestFromContext(ctx context.Context) *Request {
	if r, ok := ctx.Value(requestKey{}).(*Request); ok {
		return r
	}
	return &Request{}
}

func withRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// WithRequestInfo carries a request's details (address, agent) into a context that
// outlives it (a websocket's operations); cookies can no longer be set there.
func WithRequestInfo(ctx context.Context, r *Request) context.Context {
	cp := *r
	cp.w = nil
	return withRequest(ctx, &cp)
}

// SetSessionCookie makes the response set the session cookie. HttpOnly keeps it from
// scripts; SameSite=Lax keeps it off cross-site POSTs (CSRF).
func SetSessionCookie(ctx context.Context, tok string, expires time.Time) {
	r := RequestFromContext(ctx)
	if r.w == nil {
		return
	}
	http.SetCookie(r.w, &http.Cookie{
		Name:     CookieName,
		Value:    tok,
		Path:     "/",
		Expires:  expires,
		MaxAge:   int(time.Until(expires).Seconds()),
		HttpOnly: true,
		Secure:   r.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// ClearSessionCookie makes the response delete the session cookie.
func ClearSessionCookie(ctx context.Context) {
	r := RequestFromContext(ctx)
	if r.w == nil {
		return
	}
	http.SetCookie(r.w, &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.Secure,
		SameSite: http.SameSiteLaxMode,
	})
}

// ClientIP returns the address of the client. Behind a reverse proxy (trustProxy),
// it is the last X-Forwarded-For entry: the one our proxy added, which a client
// cannot forge.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if ip := lastHeaderEntry(r, "X-Forwarded-For"); net.ParseIP(ip) != nil {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// isSecure reports whether the client connected over TLS.
func isSecure(r *http.Request, trustProxy bool) bool {
	if r.TLS != nil {
		return true
	}
	return trustProxy && strings.EqualFold(lastHeaderEntry(r, "X-Forwarded-Proto"), "https")
}

// lastHeaderEntry returns the last comma-separated entry over all lines of a header:
// a proxy appends its entry, either to the last line or as a new line, so the last
// entry is the one a client cannot forge.
func lastHeaderEntry(r *http.Request, name string) string {
	lines := r.Header.Values(name)
	if len(lines) == 0 {
		return ""
	}
	parts := strings.Split(lines[len(lines)-1], ",")
	return strings.TrimSpace(parts[len(parts)-1])
}

// tokenFrom returns the session token of the request: the Bearer header wins over
// the cookie.
func tokenFrom(r *http.Request) (tok string, fromCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(rest), false
		}
		return h, false // malformed: rejected as a credential
	}
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// Require returns the signed-in viewer, or UNAUTHENTICATED: SESSION_EXPIRED when the
// request carried a session that is no longer valid, SESSION_REQUIRED when it carried
// none.
func Require(ctx context.Context) (*viewer.Viewer, error) {
	if v := viewer.FromContext(ctx); v != nil {
		return v, nil
	}
	if RequestFromContext(ctx).CredentialRejected {
		return nil, apperr.New(apperr.Unauthenticated, apperr.ReasonSessionExpired, "the session has expired or was revoked; sign in again")
	}
	return nil, apperr.ErrUnauthenticated
}
