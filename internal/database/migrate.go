package database

import (
	"context"
	"fmt"
	"sync"

	"entgo.io/ent/dialect"
)

var migrateMu sync.Mutex

// Migrate brings the schema up to date. It only adds tables, columns and indexes and
// never drops data, so a new binary can start on an old database and an old binary
// keeps working during a rolling upgrade. On MySQL a named lock makes replicas that
// start together migrate one after another.
func (db *DB) Migrate(ctx context.Context) error {
	// ent's migration mutates package-level table descriptions: two migrations in
	// one process (tests start several servers) must not overlap.
	migrateMu.Lock()
	defer migrateMu.Unlock()
	if db.Dialect == dialect.MySQL {
		conn, err := db.SQL.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		var got int
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('orgql_migrate', 120)").Scan(&got); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if got != 1 {
			return fmt.Errorf("another instance held the migration lock for 120 s")
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('orgql_migrate')")
	}
	if err := db.Client.Schema.Create(ctx); err != nil {
		return fmt.Errorf("migrating the schema: %w", err)
	}
	// Data migrations: each is idempotent and cheap when there is nothing to do.
	// organizations.name_key (the order-by-name key) arrived after organizations.
	if _, err := db.SQL.ExecContext(ctx, "UPDATE organizations SET name_key = LOWER(name) WHERE name_key = ''"); err != nil {
		return fmt.Errorf("filling organizations.name_key: %w", err)
	}
	return nil
}
