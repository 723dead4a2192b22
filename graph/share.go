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

// docShare holds the renderings of one subscription document (query, operation
// name and variables) for its subscribers: by event, the result rendered for the
// first subscriber to get there; the others wait for it rather than render it again.
// Subscribers hold their group, so a delivery costs one map lookup and no
// allocation.
type docShare struct {
	key  string
	refs int // subscribers holding the group; guarded by sharesMu

	mu      sync.Mutex
	renders map[string]*render // by event ID
	order   []string           // event IDs, oldest first, at most keepRenders
}

// keepRenders is how many recent events a group remembers: twice the default
// subscriber buffer, so that a subscriber lagging behind the others still finds the
// rendering of what it is behind on (one further behind renders its own). It bounds
// the memory a group holds, whatever the event rate.
const keepRenders = 128

var (
	sharesMu sync.Mutex
	shares   = map[string]*docShare{}
)

// joinShare returns the group of a document, counting one more subscriber in it.
func joinShare(key string) *docShare {
	sharesMu.Lock()
	defer sharesMu.Unlock()
	g := shares[key]
	if g == nil {
		g = &docShare{key: key, renders: map[string]*render{}}
		shares[key] = g
	}
	g.refs++
	return g
}

// leave forgets the group when its last subscriber leaves.
func (g *docShare) leave() {
	sharesMu.Lock()
	defer sharesMu.Unlock()
	if g.refs--; g.refs == 0 && shares[g.key] == g {
		delete(shares, g.key)
	}
}

// renderOf returns the rendering of an event, and whether another subscriber had
// already taken it on (otherwise the caller owes it).
func (g *docShare) renderOf(eventID string) (*render, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r := g.renders[eventID]; r != nil {
		return r, true
	}
	r := &render{ready: make(chan struct{})}
	g.renders[eventID] = r
	g.order = append(g.order, eventID)
	if len(g.order) > keepRenders {
		delete(g.renders, g.order[0])
		g.order = g.order[1:]
	}
	return r, false
}

// render is one shared rendering, encoded once for every subscriber; ready closes
// when payload is set (nil when the result had errors: each subscriber then renders
// its own).
type render struct {
	ready   chan struct{}
	payload json.RawMessage
}

// eventStream sits between a feed and gqlgen for one subscription: for each event
// the transport first calls take, which answers from a shared rendering when one is
// ready; otherwise the event goes on out for gqlgen, and the response middleware
// (sharedEvent) shares what gqlgen rendered if this subscriber was the first.
type eventStream struct {
	in    <-chan *ent.Event
	out   chan *ent.Event
	group *docShare
	done  <-chan struct{} // the subscription's context's
	// fill is the shared rendering this subscriber owes the others for the event
	// now on out, or nil.
	fill *render
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
	g := joinShare(hex.EncodeToString(sum[:16]))
	context.AfterFunc(ctx, g.leave)
	s := &eventStream{in: in, out: make(chan *ent.Event, 1), group: g, done: ctx.Done()}
	h.mu.Lock()
	h.s = s
	h.mu.Unlock()
	gqlws.Shortcut(ctx, s.take, s.abandon)
	return s.out
}

// take consumes the next event: it returns the shared result when one is ready, or
// puts the event on out for gqlgen (taking on the shared rendering if it is the
// first subscriber to get there).
func (s *eventStream) take() (json.RawMessage, bool) {
	e, ok := <-s.in
	if !ok {
		close(s.out) // gqlgen reads the end
		return nil, false
	}
	r, found := s.group.renderOf(e.ID)
	s.fill = nil
	if found {
		if payload, ok := s.wait(r); ok {
			return payload, true
		}
		// The shared rendering failed or is late: this subscriber renders its own.
	} else {
		s.fill = r
	}
	s.out <- e
	return nil, false
}

// wait returns a shared rendering once it is ready and succeeded.
func (s *eventStream) wait(r *render) (json.RawMessage, bool) {
	select {
	case <-r.ready: // the common case in a fan-out: no timer needed
		return r.payload, r.payload != nil
	default:
	}
	t := time.NewTimer(shareWait)
	defer t.Stop()
	select {
	case <-r.ready:
		return r.payload, r.payload != nil
	case <-s.done:
	case <-t.C:
	}
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
			if b, err := json.Marshal(resp); err == nil {
				r.payload = b
			}
		}
		close(r.ready)
	}
	return resp, true
}
