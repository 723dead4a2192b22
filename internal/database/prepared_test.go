package database

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
)

// TestPreparedReads runs more distinct statements than the cache holds, from
// several goroutines at once, so that statements are evicted (and closed) while
// others use them: every read still returns its own answer.
func TestPreparedReads(t *testing.T) {
	db, err := openSQLite("sqlite:" + filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.SQL.Close()
	d := withPreparedReads(entsql.OpenDB("sqlite3", db.SQL), db.SQL, 4)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (i*7 + g) % 10
				var rows entsql.Rows
				q := fmt.Sprintf("SELECT ? + %d", k)
				if err := d.Query(ctx, q, []any{i}, &rows); err != nil {
					errs <- err
					return
				}
				var got int
				if !rows.Next() {
					errs <- fmt.Errorf("%s: no row", q)
					return
				}
				if err := rows.Scan(&got); err != nil {
					errs <- err
					return
				}
				rows.Close()
				if got != i+k {
					errs <- fmt.Errorf("%s with %d = %d, want %d", q, i, got, i+k)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := d.cache.Len(); n > 4 {
		t.Errorf("%d statements cached, want at most 4", n)
	}
}
