// Package viewer carries who is making a request through its context.
package viewer

import (
	"context"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/privacy"
)

// Viewer is the signed-in user of a request and the session that authenticated it.
type Viewer struct {
	User    *ent.User
	Session *ent.Session
}

type ctxKey struct{}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v *Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the request's viewer, or nil for an anonymous request.
func FromContext(ctx context.Context) *Viewer {
	v, _ := ctx.Value(ctxKey{}).(*Viewer)
	return v
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
