// Package database opens orgql's database (embedded SQLite or MySQL/MariaDB), migrates
// its schema and runs transactions with the locking each database needs.
package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite" // the pure-Go "sqlite" driver

	"github.com/orgql/orgql/ent"
	_ "github.com/orgql/orgql/ent/runtime" // registers schema defaults, hooks and policies
)

// DefaultURL is the embedded database used when none is configured.
const DefaultURL = "sqlite:orgql.db"

// Options tune the connection pool.
type Options struct {
	// MaxOpenConns caps the pool on MySQL (SQLite uses its own fixed pool).
	MaxOpenConns int
	// Driver, when set, wraps the ent driver (tests use it to count statements).
	Driver func(dialect.Driver) dialect.Driver
}

// DB is an open database.
type DB struct {
	// Client is the ent client over the pool.
	Client *ent.Client
	// Driver is the ent driver Client runs on, for the few hot statements that
	// are written by hand (they are counted and logged like all others).
	Driver dialect.Driver
	// SQL is the underlying pool.
	SQL *sql.DB
	// Dialect is dialect.SQLite or dialect.MySQL.
	Dialect string
	// statements counts what the service sends (see Statements).
	statements *atomic.Uint64
	// writeMu serializes write transactions on SQLite, which allows one writer at a
	// time: waiting here is cheaper and fairer than SQLite's busy-retry loop.
	writeMu *sync.Mutex
}

// Open connects to the database named by rawURL:
//
//	sqlite:PATH                     embedded SQLite file (created if missing)
//	mysql://DSN                     MySQL/MariaDB; DSN in go-sql-driver form,
//	                                e.g. mysql://orgql:secret@tcp(127.0.0.1:3306)/orgql
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "sqlite:"), strings.HasPrefix(rawURL, "file:"):
		db, err = openSQLite(rawURL)
	case strings.HasPrefix(rawURL, "mysql://"):
		db, err = openMySQL(strings.TrimPrefix(rawURL, "mysql://"), opts)
	default:
		return nil, fmt.Errorf("database URL %q: want sqlite:PATH or mysql://DSN", redact(rawURL))
	}
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.SQL.PingContext(pingCtx); err != nil {
		db.SQL.Close()
		return nil, fmt.Errorf("connecting to %s database: %w", db.Dialect, err)
	}
	db.statements = new(atomic.Uint64)
	var base dialect.Driver = entsql.OpenDB(db.Dialect, db.SQL)
	if db.Dialect == dialect.SQLite {
		base = withPreparedReads(base.(*entsql.Driver), db.SQL, preparedStatements)
	}
	drv := countStatements(base, db.statements)
	if opts.Driver != nil {
		drv = opts.Driver(drv)
	}
	db.Driver = drv
	db.Client = ent.NewClient(ent.Driver(drv))
	return db, nil
}

// unicodeLower replaces SQLite's LOWER, which folds ASCII letters only, so that
// case-insensitive search and ordering treat "Émile" like "émile" as MySQL does.
// ent's case-insensitive predicates on SQLite are LOWER(column) LIKE lowered-text.
var unicodeLower = sync.OnceValue(func() error {
	return sqlite.RegisterDeterministicScalarFunction("lower", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return []byte(strings.ToLower(string(v))), nil
		}
		return args[0], nil
	})
})

func openSQLite(rawURL string) (*DB, error) {
	if err := unicodeLower(); err != nil {
		return nil, fmt.Errorf("registering lower(): %w", err)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "file:")
	path = strings.TrimPrefix(path, "//")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		return nil, errors.New("database URL: sqlite: needs a file path, e.g. sqlite:orgql.db")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating database directory: %w", err)
		}
	}
	q := url.Values{}
	q.Set("_foreign_keys", "1")
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "10000")
	// BEGIN IMMEDIATE: a write transaction takes the write lock when it starts, so
	// read-then-write logic inside it cannot be invalidated by another writer (SQLite
	// has no SELECT ... FOR UPDATE).
	q.Set("_txlock", "immediate")
	// The path is URI-escaped: a "#" or "?" in a directory name is part of the path.
	sqldb, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	// WAL lets readers run beside the one writer.
	sqldb.SetMaxOpenConns(8)
	sqldb.SetMaxIdleConns(8)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{SQL: sqldb, Dialect: dialect.SQLite, writeMu: &sync.Mutex{}}, nil
}

// MySQLConfig parses a go-sql-driver DSN and applies the settings orgql relies on:
// utf8mb4, parseTime, UTC, and client-side interpolation (one round trip per statement).
func MySQLConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL: invalid MySQL DSN: %w", err)
	}
	cfg.ParseTime = true
	cfg.InterpolateParams = true
	cfg.Loc = time.UTC
	if err := cfg.Apply(mysql.Charset("utf8mb4", "utf8mb4_unicode_ci")); err != nil {
		return nil, err
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	return cfg, nil
}

func openMySQL(dsn string, opts Options) (*DB, error) {
	cfg, err := MySQLConfig(dsn)
	if err != nil {
		return nil, err
	}
	if cfg.DBName == "" {
		return nil, errors.New("database URL: the MySQL DSN names no database, e.g. mysql://user:pass@tcp(host:3306)/orgql")
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	sqldb := sql.OpenDB(conn)
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 20
	}
	sqldb.SetMaxOpenConns(n)
	sqldb.SetMaxIdleConns(n)
	sqldb.SetConnMaxLifetime(30 * time.Minute)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{SQL: sqldb, Dialect: dialect.MySQL}, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.SQL.PingContext(ctx) }

// Close closes the pool.
func (db *DB) Close() error { return db.Client.Close() }

// redact hides a password in a URL for error messages.
func redact(s string) string {
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			return s[:i+3] + "***" + s[at:]
		}
	}
	return s
}
