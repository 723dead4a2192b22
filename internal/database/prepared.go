package database

import (
	"context"
	"database/sql"
	"sync"

	entsql "entgo.io/ent/dialect/sql"
	lru "github.com/hashicorp/golang-lru/v2"
)

// preparedStatements is how many distinct read statements stay prepared. orgql
// sends a few hundred distinct statements (an IN list of n IDs is its own
// statement); the rarely used ones are evicted.
const preparedStatements = 1024

// withPreparedReads makes the reads that ent sends outside transactions reuse
// prepared statements: database/sql prepares each once per pooled connection and
// keeps it. Used on SQLite, where preparing (parsing and planning) a statement
// costs more than running a small one: 15 % of a { viewer } request's CPU. On
// MySQL statements are interpolated on the client instead (one round trip, no
// prepare), which is as cheap as a prepared execution.
func withPreparedReads(d *entsql.Driver, db *sql.DB, size int) *preparedDriver {
	p := &preparedDriver{Driver: d, db: db}
	p.cache, _ = lru.NewWithEvict(size, func(_ string, st *sql.Stmt) { _ = st.Close() })
	return p
}

type preparedDriver struct {
	*entsql.Driver
	db    *sql.DB
	mu    sync.Mutex // serializes preparing, so one statement is prepared once
	cache *lru.Cache[string, *sql.Stmt]
}

// Query runs a read through its prepared statement; what it cannot (other
// argument or result types) goes to ent's driver as before.
func (d *preparedDriver) Query(ctx context.Context, query string, args, v any) error {
	rows, ok := v.(*entsql.Rows)
	argv, argsOK := args.([]any)
	if !ok || (!argsOK && args != nil) {
		return d.Driver.Query(ctx, query, args, v)
	}
	st, err := d.prepared(ctx, query)
	if err != nil {
		return err
	}
	r, err := st.QueryContext(ctx, argv...)
	if err != nil && err.Error() == stmtClosed {
		// Evicted (and closed) between the lookup and the call.
		return d.Driver.Query(ctx, query, args, v)
	}
	if err != nil {
		return err
	}
	*rows = entsql.Rows{ColumnScanner: r}
	return nil
}

// stmtClosed is database/sql's (unexported) error for a statement used after Close.
const stmtClosed = "sql: statement is closed"

func (d *preparedDriver) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := d.cache.Get(query); ok {
		return st, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.cache.Get(query); ok {
		return st, nil
	}
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	d.cache.Add(query, st)
	return st, nil
}

// Close closes the prepared statements and the pool.
func (d *preparedDriver) Close() error {
	d.cache.Purge()
	return d.Driver.Close()
}
