package testenv

import (
	"context"
	"sync"
	"sync/atomic"

	"entgo.io/ent/dialect"
)

// Statements counts the SQL statements sent to the database, so tests can pin the
// cost of a request and catch N+1 queries.
type Statements struct {
	n   atomic.Int64
	mu  sync.Mutex
	log []Statement
}

// Statement is one SQL statement as sent, with its arguments (for EXPLAIN).
type Statement struct {
	Query string
	Args  []any
}

// Reset zeroes the count and forgets the recorded statements.
func (s *Statements) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n.Store(0)
	s.log = nil
}

// Count returns the statements since the last Reset.
func (s *Statements) Count() int { return int(s.n.Load()) }

// Log returns the statements since the last Reset, for failure messages.
func (s *Statements) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.log))
	for i, st := range s.log {
		out[i] = st.Query
	}
	return out
}

// Recorded returns the statements since the last Reset with their arguments.
func (s *Statements) Recorded() []Statement {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Statement(nil), s.log...)
}

func (s *Statements) record(query string, args any) {
	s.n.Add(1)
	a, _ := args.([]any)
	s.mu.Lock()
	s.log = append(s.log, Statement{Query: query, Args: a})
	s.mu.Unlock()
}

// wrap returns a driver that counts into s.
func (s *Statements) wrap(d dialect.Driver) dialect.Driver { return &countingDriver{Driver: d, s: s} }

type countingDriver struct {
	dialect.Driver
	s *Statements
}

func (d *countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.s.record(query, args)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d *countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.s.record(query, args)
	return d.Driver.Query(ctx, query, args, v)
}

func (d *countingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, s: d.s}, nil
}

type countingTx struct {
	dialect.Tx
	s *Statements
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.s.record(query, args)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.s.record(query, args)
	return t.Tx.Query(ctx, query, args, v)
}
