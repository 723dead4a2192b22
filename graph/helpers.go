package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/orgql/orgql/internal/org"
	"github.com/orgql/orgql/internal/role"
)

// selects reports whether the current field's selection includes a field by name
// (such as a connection's totalCount, which costs a query).
func selects(ctx context.Context, name string) bool {
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		if f.Name == name {
			return true
		}
	}
	return false
}

// defaultFirst checks page arguments for an entgql connection and fills in the
// default page size when neither first nor last is given.
func defaultFirst(p org.PageArgs) (*int, error) {
	n, backward, err := p.Limit()
	if err != nil {
		return nil, err
	}
	if backward {
		return nil, nil
	}
	return &n, nil
}

func optionalRole(s *string) *role.Role {
	if s == nil {
		return nil
	}
	r := role.Role(*s)
	return &r
}

// logoURL is where an organization's logo is served: its content hash is part of
// the path, so the URL changes with the logo and can be cached forever.
func (r *Resolver) logoURL(orgID, hash string) string {
	if len(hash) > 16 {
		hash = hash[:16]
	}
	return strings.TrimSuffix(r.BaseURL, "/") + "/logos/" + orgID + "/" + hash
}
