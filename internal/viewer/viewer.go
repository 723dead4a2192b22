// Package viewer carries who is making a request through its context.
package viewer

import (
	"context"
	"sync"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/privacy"
)

// Viewer is the signed-in user of a request and the session that authenticated it.
type Viewer struct {
	User    *ent.User
	Session *ent.Session
}

type ctxKey struct{}

// holder lets the viewer of a request change once the request is under way: after
// signIn or signUp, the rest of the same operation (the payload's viewer-dependent
// fields) runs as the new user.
type holder struct {
	mu sync.RWMutex
	v  *Viewer
}

// NewContext returns ctx carrying v (nil for an anonymous request).
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, &holder{v: v})
}

// FromContext returns the request's viewer, or nil for an anonymous request.
func FromContext(ctx context.Context) *Viewer {
	h, _ := ctx.Value(ctxKey{}).(*holder)
	if h == nil {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.v
}

// Replace makes v the viewer of the rest of the request (nil: anonymous). It is a
// no-op outside a request context made by NewContext.
func Replace(ctx context.Context, v *Viewer) {
	if h, _ := ctx.Value(ctxKey{}).(*holder); h != nil {
		h.mu.Lock()
		h.v = v
		h.mu.Unlock()
	}
}

// UserID returns the viewer's user ID, or "" for an anonymous request.
func UserID(ctx context.Context) string {
	if v := FromContext(ctx); v != nil && v.User != nil {
		return v.User.ID
	}
	return ""
}

// System returns a context that bypasses the data model's read policies. Service code
// uses it for lookups that authorization itself depends on (finding a session by its
// token hash, a user by email at sign-in); it must never reach a resolver's result
// without its own check.
func System(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// Update changes the viewer of the rest of the request by copy: fn edits copies of
// the user and session, which then replace the viewer. Operations that share the
// viewer (those of one websocket) keep reading consistent values, never a struct
// being written.
func Update(ctx context.Context, fn func(u *ent.User, s *ent.Session)) {
	v := FromContext(ctx)
	if v == nil {
		return
	}
	u, s := *v.User, *v.Session
	fn(&u, &s)
	Replace(ctx, &Viewer{User: &u, Session: &s})
}
