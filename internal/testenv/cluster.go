package testenv

import (
	"testing"

	"github.com/orgql/orgql/internal/app"
)

// Cluster is several orgql instances sharing one database, like replicas behind a
// load balancer: each has its own HTTP server, realtime feeds, bus connection,
// mailbox, clock and statement counter. Mail queued by any instance is delivered by
// whichever instance's Mailbox reads it.
type Cluster struct {
	T    testing.TB
	Kind string
	// Envs are the instances, in the order they started.
	Envs []*Env

	opts  []Option
	dbURL string
}

// NewCluster starts n instances (n >= 1) of orgql on one fresh database of the given
// kind, each with opts. Use Add for instances with options of their own (another
// Redis URL, another poll interval).
func NewCluster(t testing.TB, kind string, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("NewCluster: want at least one instance, got %d", n)
	}
	c := &Cluster{T: t, Kind: kind, opts: opts}
	capture := func(o *app.Options) { c.dbURL = o.Config.DatabaseURL }
	c.Envs = append(c.Envs, New(t, kind, append(append([]Option(nil), opts...), capture)...))
	for i := 1; i < n; i++ {
		c.Add()
	}
	return c
}

// Add starts one more instance on the cluster's database, with the cluster's
// options followed by extra, and returns it.
func (c *Cluster) Add(extra ...Option) *Env {
	c.T.Helper()
	// New prepares a database of its own first (an empty one it drops at the end);
	// pointing the configuration at the shared database keeps New the one place
	// that knows how to start an instance.
	shared := func(o *app.Options) { o.Config.DatabaseURL = c.dbURL }
	opts := append(append(append([]Option(nil), c.opts...), extra...), shared)
	e := New(c.T, c.Kind, opts...)
	c.Envs = append(c.Envs, e)
	return e
}
