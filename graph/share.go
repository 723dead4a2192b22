package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/internal/gqlws"
	"github.com/orgql/orgql/internal/ttlmap"
)

// Shared rendering of subscription events. An organization event goes to every
// subscribed member; most run the same subscription document, and when it selects
// nothing that depends on who is looking, the result is the same for all of them.
// It is then rendered once per event and document and the bytes are reused, so a
// fan-out to thousands costs one GraphQL execution, not thousands.

// viewerDependent are the fields whose value differs between two members of the
// same organization; a document that selects any of them is rendered per
// subscriber.
var viewerDependent = map[string]bool{
	"invitation": true, "invitations": true, "auditLog": true,
	"viewerRole": true, "viewerCan": true, "viewerCanChangeRole": true, "viewerCanRemove": true,
	"organizations": true, "activeOrganization": true, "pendingInvitations": true,
}

// rendered holds, by event and document, the result rendered for the first
// subscriber; the others wait for it rather than render it again.
var rendered = ttlmap.New[string, *render](time.Minute)

// render is one shared rendering; ready closes when resp is set (nil when the
// result had errors: each subscriber then renders its own).
type render struct {
	ready chan struct{}
	resp  *graphql.Response
}

// eventStream sits between a feed and gqlgen for one subscription: for each event
// the transport first calls take, which answers from a shared rendering when one is
// ready; otherwise the event goes on out for gqlgen, and the response middleware
// (sharedEvent) shares what gqlgen rendered if this subscriber was the first.
type eventStream struct {
	in  <-chan *ent.Event
	out chan *ent.Event
	key string // the document's identity
	// fill is the shared rendering this subscriber owes the others for the event
	// now on out, or nil.
	fill *render
	ctx  context.Context // the subscription's
}

// shareWait bounds how long a subscriber waits for another's rendering before it
// renders its own: a safety net, the renderer settles the entry in every case.
const shareWait = 2 * time.Second

type streamKey struct{}

// shareStream wraps a feed channel for shared rendering when the subscription runs
// on a websocket with on-demand delivery and its document can be shared; otherwise
// it returns the feed channel as is.
func shareStream(ctx context.Context, in <-chan *ent.Event) <-chan *ent.Event {
	h, _ := ctx.Value(streamKey{}).(*streamHolder)
	if h == nil || !gqlws.OnDemand(ctx) {
		return in
	}
	oc := graphql.GetOperationContext(ctx)
	if selectsAny(oc, oc.Operation.SelectionSet, viewerDependent) {
		return in
	}
	vars, err := json.Marshal(oc.Variables)
	if err != nil {
		return in
	}
	sum := sha256.Sum256([]byte(oc.RawQuery + "\x00" + oc.OperationName + "\x00" + string(vars)))
	s := &eventStream{in: in, out: make(chan *ent.Event, 1), key: hex.EncodeToString(sum[:16])}
	h.mu.Lock()
	h.s = s
	h.mu.Unlock()
	s.ctx = ctx
	gqlws.Shortcut(ctx, s.take, s.abandon)
	return s.out
}

// take consumes the next event: it returns the shared result when one is ready, or
// puts the event on out for gqlgen (taking on the shared rendering if it is the
// first subscriber to get there).
func (s *eventStream) take() (*graphql.Response, bool) {
	e, ok := <-s.in
	if !ok {
		close(s.out) // gqlgen reads the end
		return nil, false
	}
	key := e.ID + "|" + s.key
	r, found := rendered.Load(key)
	if !found {
		r, found = rendered.LoadOrStore(key, &render{ready: make(chan struct{})})
	}
	s.fill = nil
	if found {
		select {
		case <-r.ready:
			if r.resp != nil {
				return r.resp, true
			}
			// The shared rendering failed: this subscriber renders its own.
		case <-s.ctx.Done():
		case <-time.After(shareWait):
		}
	} else {
		s.fill = r
	}
	s.out <- e
	return nil, false
}

// abandon settles the shared rendering this subscriber owed when its operation
// ended before rendering (the others then render their own).
func (s *eventStream) abandon() {
	if r := s.fill; r != nil {
		s.fill = nil
		close(r.ready)
	}
}

// streamHolder lets the subscription resolver hand its stream to the response
// middleware of the same operation.
type streamHolder struct {
	mu sync.Mutex
	s  *eventStream
}

// selectsAny reports whether a selection set reaches any of the named fields.
func selectsAny(oc *graphql.OperationContext, set ast.SelectionSet, names map[string]bool) bool {
	for _, f := range graphql.CollectFields(oc, set, nil) {
		if names[f.Name] || selectsAny(oc, f.Selections, names) {
			return true
		}
	}
	// Fragments on other types are skipped by CollectFields without a type list;
	// look into every inline fragment and spread as well.
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.InlineFragment:
			if selectsAny(oc, s.SelectionSet, names) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && selectsAny(oc, s.Definition.SelectionSet, names) {
				return true
			}
		}
	}
	return false
}

// sharedEvent renders an event that take left for gqlgen and, when this subscriber
// was the first to reach it, shares the result with the others. ok is false when
// the operation is not a shared subscription.
func sharedEvent(ctx context.Context, next graphql.ResponseHandler) (*graphql.Response, bool) {
	h, _ := ctx.Value(streamKey{}).(*streamHolder)
	if h == nil {
		return nil, false
	}
	h.mu.Lock()
	s := h.s
	h.mu.Unlock()
	if s == nil {
		return nil, false
	}
	resp := next(ctx)
	if r := s.fill; r != nil {
		s.fill = nil
		if resp != nil && len(resp.Errors) == 0 {
			gqlws.MarkShared(resp)
			r.resp = resp
		}
		close(r.ready)
	}
	return resp, true
}
