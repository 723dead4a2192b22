package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"

	"github.com/orgql/orgql/ent"
)

// maxAttempts bounds how often a transaction that lost a deadlock is run again.
const maxAttempts = 4

// Tx runs fn in one transaction and commits it when fn returns nil. Every write
// that must be atomic (a change and its event row, a token and its email) goes
// through here. On SQLite write transactions run one at a time; on MySQL a
// transaction chosen as a deadlock victim is retried from the start, so fn must
// not have effects outside the transaction.
func (db *DB) Tx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		err = db.tx(ctx, fn)
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

func (db *DB) tx(ctx context.Context, fn func(tx *ent.Tx) error) (err error) {
	if db.writeMu != nil {
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
	}
	tx, err := db.Client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("starting transaction: %w", err)
	}
	defer func() {
		if v := recover(); v != nil {
			_ = tx.Rollback()
			panic(v)
		}
	}()
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("rolling back: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// retryable reports whether err is a MySQL deadlock or lock-wait timeout: the
// transaction was rolled back by the server and running it again is safe.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	return false
}
