package graph

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/orgql/orgql/ent"
	"github.com/orgql/orgql/ent/member"
	"github.com/orgql/orgql/ent/user"
	"github.com/orgql/orgql/internal/viewer"
)

// loaders batch the per-object lookups of one operation (dataloadgen): a list of N
// organizations or events costs one query per kind of lookup, not N. They read
// with the viewer's context, so the read policies apply.
type loaders struct {
	memberCount *dataloadgen.Loader[string, int]
	member      *dataloadgen.Loader[string, *ent.Member]
	// eventUser loads the actors and subjects of events past the read policy: the
	// audit log names people who have since left, and only those allowed to read
	// the log (or receive the event) get there.
	eventUser *dataloadgen.Loader[string, *ent.User]
}

type loadersKey struct{}

// batchWait is how long a loader waits for sibling lookups: gqlgen starts a list's
// field resolvers together, so they arrive within microseconds.
const batchWait = 500 * time.Microsecond

func (r *Resolver) newLoaders() *loaders {
	c := r.DB.Client
	opts := []dataloadgen.Option{dataloadgen.WithWait(batchWait), dataloadgen.WithBatchCapacity(100)}
	return &loaders{
		memberCount: dataloadgen.NewMappedLoader(func(ctx context.Context, orgIDs []string) (map[string]int, error) {
			var rows []struct {
				OrganizationID string `json:"organization_id"`
				Count          int    `json:"count"`
			}
			err := c.Member.Query().
				Where(member.OrganizationIDIn(orgIDs...)).
				GroupBy(member.FieldOrganizationID).
				Aggregate(ent.Count()).
				Scan(ctx, &rows)
			out := make(map[string]int, len(orgIDs))
			for _, id := range orgIDs {
				out[id] = 0
			}
			for _, row := range rows {
				out[row.OrganizationID] = row.Count
			}
			return out, err
		}, opts...),
		member: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*ent.Member, error) {
			list, err := c.Member.Query().Where(member.IDIn(ids...)).All(ctx)
			return index(list, err, func(m *ent.Member) string { return m.ID }, ids)
		}, opts...),
		eventUser: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []string) (map[string]*ent.User, error) {
			list, err := c.User.Query().Where(user.IDIn(ids...)).All(viewer.System(ctx))
			return index(list, err, func(u *ent.User) string { return u.ID }, ids)
		}, opts...),
	}
}

// index maps loaded rows by ID; IDs not found (or not visible) map to nil.
func index[T any](list []*T, err error, id func(*T) string, want []string) (map[string]*T, error) {
	if err != nil {
		return nil, err
	}
	out := make(map[string]*T, len(want))
	for _, k := range want {
		out[k] = nil
	}
	for _, v := range list {
		out[id(v)] = v
	}
	return out, nil
}

func (l *loaders) clear() {
	l.memberCount.ClearAll()
	l.member.ClearAll()
	l.eventUser.ClearAll()
}

// loadersFrom returns the operation's loaders (nil outside an operation).
func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

// load returns the operation's loaders, or fresh ones outside an operation.
func (r *Resolver) load(ctx context.Context) *loaders {
	if l := loadersFrom(ctx); l != nil {
		return l
	}
	return r.newLoaders()
}
