package database

import (
	"context"
	"sync/atomic"

	"entgo.io/ent/dialect"
)

// countStatements wraps an ent driver so that every statement it sends, in or out
// of a transaction, adds one to n: the orgql_sql_statements_total metric, which
// the load command divides by its requests.
func countStatements(d dialect.Driver, n *atomic.Uint64) dialect.Driver {
	return &countingDriver{Driver: d, n: n}
}

type countingDriver struct {
	dialect.Driver
	n *atomic.Uint64
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Query(ctx, query, args, v)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, n: d.n}, nil
}

type countingTx struct {
	dialect.Tx
	n *atomic.Uint64
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.n.Add(1)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.n.Add(1)
	return t.Tx.Query(ctx, query, args, v)
}

// Statements is how many SQL statements the service has sent since the database
// was opened.
func (db *DB) Statements() uint64 { return db.statements.Load() }
