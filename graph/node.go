package graph

import (
	"context"
	"fmt"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/event"
	"github.com/orgql/orgql/ent/invitation"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/organization"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/apperr"
	"github.com/orgql/orgql/internal/ids"
)

// maxNodes caps nodes(ids:), like the page size of connections.
const maxNodes = 100

// nodeLoaders load the Node objects of one type by ID, through the read policies
// of the data model, with the fields the query selects. Adding a Node type means
// adding its prefix here.
var nodeLoaders = map[string]func(ctx context.Context, c *ent.Client, ids []string) (map[string]ent.Noder, error){
	ids.User: func(ctx context.Context, c *ent.Client, idList []string) (map[string]ent.Noder, error) {
		q, err := c.User.Query().Where(user.IDIn(idList...)).CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		return byID(q.All(ctx))(func(u *ent.User) string { return u.ID })
	},
	ids.Organization: func(ctx context.Context, c *ent.Client, idList []string) (map[string]ent.Noder, error) {
		q, err := c.Organization.Query().Where(organization.IDIn(idList...)).CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		return byID(q.All(ctx))(func(o *ent.Organization) string { return o.ID })
	},
	ids.Member: func(ctx context.Context, c *ent.Client, idList []string) (map[string]ent.Noder, error) {
		q, err := c.Member.Query().Where(member.IDIn(idList...)).CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		return byID(q.All(ctx))(func(m *ent.Member) string { return m.ID })
	},
	ids.Invitation: func(ctx context.Context, c *ent.Client, idList []string) (map[string]ent.Noder, error) {
		q, err := c.Invitation.Query().Where(invitation.IDIn(idList...)).CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		return byID(q.All(ctx))(func(i *ent.Invitation) string { return i.ID })
	},
	ids.Event: func(ctx context.Context, c *ent.Client, idList []string) (map[string]ent.Noder, error) {
		q, err := c.Event.Query().Where(event.IDIn(idList...)).CollectFields(ctx)
		if err != nil {
			return nil, err
		}
		return byID(q.All(ctx))(func(e *ent.Event) string { return e.ID })
	},
}

// byID indexes loaded nodes by their ID.
func byID[T ent.Noder](list []T, err error) func(id func(T) string) (map[string]ent.Noder, error) {
	return func(id func(T) string) (map[string]ent.Noder, error) {
		if err != nil {
			return nil, err
		}
		m := make(map[string]ent.Noder, len(list))
		for _, n := range list {
			m[id(n)] = n
		}
		return m, nil
	}
}

// node resolves one ID; see nodes.
func (r *Resolver) node(ctx context.Context, id string) (ent.Noder, error) {
	list, err := r.nodes(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	return list[0], nil
}

// nodes resolves IDs with one query per type. What the viewer may not see, what does
// not exist and what is not an ID at all are all null, without an error, so that a
// response never tells them apart.
func (r *Resolver) nodes(ctx context.Context, idList []string) ([]ent.Noder, error) {
	if len(idList) > maxNodes {
		return nil, apperr.Input("ids", "TOO_MANY_IDS", fmt.Sprintf("at most %d IDs per request", maxNodes))
	}
	byPrefix := map[string][]string{}
	for _, id := range idList {
		p := ids.Prefix(id)
		if _, ok := nodeLoaders[p]; ok {
			byPrefix[p] = append(byPrefix[p], id)
		}
	}
	found := make(map[string]ent.Noder, len(idList))
	for p, group := range byPrefix {
		m, err := nodeLoaders[p](ctx, r.DB.Client, group)
		if err != nil {
			return nil, fmt.Errorf("loading nodes: %w", err)
		}
		for id, n := range m {
			found[id] = n
		}
	}
	out := make([]ent.Noder, len(idList))
	for i, id := range idList {
		out[i] = found[id]
	}
	return out, nil
}
