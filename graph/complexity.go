package graph

import (
	"entgo.io/contrib/entgql"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/graph/model"
	"github.com/orgql/orgql/internal/org"
)

// setComplexity makes a connection cost its page size times the cost of one item,
// so the complexity limit bounds the rows a query can pull, not just its fields.
func setComplexity(c *ComplexityRoot) {
	c.Organization.Members = func(child int, first *int, _ *entgql.Cursor[string], last *int, _ *entgql.Cursor[string], _ *org.MemberOrder, _ *org.MemberFilter) int {
		return connectionCost(child, first, last)
	}
	c.Organization.AuditLog = func(child int, first *int, _ *entgql.Cursor[string], last *int, _ *entgql.Cursor[string]) int {
		return connectionCost(child, first, last)
	}
	c.Organization.Invitations = func(child int, _ *model.InvitationStatus, first *int, _ *entgql.Cursor[string], last *int, _ *entgql.Cursor[string]) int {
		return connectionCost(child, first, last)
	}
	c.User.Organizations = func(child int, first *int, _ *entgql.Cursor[string], last *int, _ *entgql.Cursor[string], _ *ent.OrganizationOrder) int {
		return connectionCost(child, first, last)
	}
	c.Query.Nodes = func(child int, ids []string) int {
		return 1 + child*max(len(ids), 1)
	}
}

func connectionCost(child int, first, last *int) int {
	n := org.DefaultPageSize
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n = *last
	}
	return 1 + child*max(n, 1)
}
