package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/internal/org"
	"github.com/orgql/orgql/internal/realtime"
	"github.com/orgql/orgql/internal/role"
)

// selected reports whether the current field's selection reaches a field by a path
// of names, e.g. ("edges", "node", "memberCount"): work a field needs (a count, a
// loader priming) is done only when a query asks for it.
func selected(ctx context.Context, path ...string) bool {
	oc := graphql.GetOperationContext(ctx)
	sels := graphql.GetFieldContext(ctx).Field.Selections
	for _, name := range path {
		var next ast.SelectionSet
		found := false
		for _, f := range graphql.CollectFields(oc, sels, nil) {
			if f.Name == name {
				found = true
				next = append(next, f.Selections...)
			}
		}
		if !found {
			return false
		}
		sels = next
	}
	return true
}

func optionalRole(s *string) *role.Role {
	if s == nil {
		return nil
	}
	r := role.Role(*s)
	return &r
}

// logoURL is where an organization's logo is served.
func (r *Resolver) logoURL(orgID, hash string) string { return org.LogoURL(r.BaseURL, orgID, hash) }

// invitationRef names an invitation by token or ID, from an input with both optional.
func invitationRef(tok, id *string) org.Ref {
	var ref org.Ref
	if tok != nil {
		ref.Token = *tok
	}
	if id != nil {
		ref.ID = *id
	}
	return ref
}

// preloaded returns what the realtime feeds loaded for an event being delivered
// (shared by all its subscribers), so that a fan-out costs no query per subscriber.
// Subscribers are members of the event's organization, which may see its members
// and the users an event names. Queries and mutations never use it, even for an
// event that is being delivered right now: they load through the privacy rules.
func (r *Resolver) preloaded(ctx context.Context, e *ent.Event) (*realtime.Preload, bool) {
	if r.Feeds == nil || !graphql.HasOperationContext(ctx) ||
		graphql.GetOperationContext(ctx).Operation.Operation != ast.Subscription {
		return nil, false
	}
	return r.Feeds.Preloaded(e.ID)
}
