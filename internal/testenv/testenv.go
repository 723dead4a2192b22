// Package testenv starts orgql for black-box tests: the real App and HTTP handler on
// a fresh database (SQLite always, MariaDB/MySQL too when ORGQL_TEST_MYSQL_DSN is
// set, one database per test, dropped afterwards), with a GraphQL client, captured
// email, a movable clock and a SQL statement counter.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/go-sql-driver/mysql"

	"github.com/orgql/orgql/internal/account"
	"github.com/orgql/orgql/internal/app"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/database"
	"github.com/orgql/orgql/internal/httpx"
	"github.com/orgql/orgql/internal/mail"
)

// MySQLEnv names the variable holding the MySQL/MariaDB DSN for tests, e.g.
// root@unix(/run/mysqld/mysqld.sock)/test. Each test creates and drops its own
// database on that server.
const MySQLEnv = "ORGQL_TEST_MYSQL_DSN"

// Kinds returns the databases the suite runs on: "sqlite", and "mysql" when
// ORGQL_TEST_MYSQL_DSN is set.
func Kinds() []string {
	if os.Getenv(MySQLEnv) != "" {
		return []string{"sqlite", "mysql"}
	}
	return []string{"sqlite"}
}

// Each runs fn as a subtest on every database of Kinds, each with a fresh Env.
func Each(t *testing.T, fn func(t *testing.T, e *Env), opts ...Option) {
	t.Helper()
	for _, kind := range Kinds() {
		t.Run(kind, func(t *testing.T) {
			fn(t, New(t, kind, opts...))
		})
	}
}

// Cheap argon2id parameters: the suite signs up hundreds of users. One test checks
// the production parameters.
var cheapParams = argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Option adjusts an Env before it starts.
type Option func(*app.Options)

// WithConfig edits the configuration.
func WithConfig(f func(*config.Config)) Option { return func(o *app.Options) { f(&o.Config) } }

// WithLimits sets the account rate limits (the default Env has none).
func WithLimits(l account.Limits) Option { return func(o *app.Options) { o.Limits = &l } }

// WithMailSender replaces the captured-mail sender (e.g. with real SMTP).
func WithMailSender(s mail.Sender) Option { return func(o *app.Options) { o.MailSender = s } }

// WithPasswordParams sets the argon2id parameters.
func WithPasswordParams(p *argon2id.Params) Option {
	return func(o *app.Options) { o.PasswordParams = p }
}

// Env is one running orgql with its own database.
type Env struct {
	T      testing.TB
	Kind   string
	App    *app.App
	Server *httptest.Server
	Mail   *Mailbox
	SQL    *Statements
	Logs   *LogBuffer

	clockMu sync.Mutex
	offset  time.Duration
}

// New starts orgql on a fresh database of the given kind ("sqlite" or "mysql").
func New(t testing.TB, kind string, opts ...Option) *Env {
	t.Helper()
	e := &Env{T: t, Kind: kind, Mail: &Mailbox{}, SQL: &Statements{}, Logs: &LogBuffer{}}
	e.Mail.env = e
	cfg := config.Default()
	cfg.DatabaseURL = databaseURL(t, kind)
	cfg.PublicURL = "https://portal.example.test"
	limits := account.Limits{}
	o := app.Options{
		Config:         cfg,
		Logger:         slog.New(httpx.LogHandler{Handler: slog.NewTextHandler(io.MultiWriter(e.Logs), &slog.HandlerOptions{Level: slog.LevelDebug})}),
		PasswordParams: &cheapParams,
		Limits:         &limits,
		MailSender:     e.Mail,
		Driver:         e.SQL.wrap,
	}
	for _, opt := range opts {
		opt(&o)
	}
	a, err := app.New(context.Background(), o)
	if err != nil {
		t.Fatalf("starting orgql on %s: %v", kind, err)
	}
	a.Sessions.SetClock(e.Now)
	a.Orgs.SetClock(e.Now)
	e.App = a
	e.Server = httptest.NewServer(a.Handler)
	// The realtime workers run as in production; the mail outbox does not: tests
	// deliver mail when they read it (Mailbox), so they see exactly what was sent.
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.RunRealtime(ctx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		e.Server.Close()
		// Whatever the test did, every counter and copied sort key must agree with
		// the rows it is derived from.
		if t.Failed() {
			// The server's errors explain an INTERNAL_SERVER_ERROR's reference.
			for _, line := range strings.Split(e.Logs.String(), "\n") {
				if strings.Contains(line, "level=ERROR") {
					t.Log(line)
				}
			}
		} else if _, ok := t.(*testing.T); ok && a.DB.Ping(context.Background()) == nil {
			if err := a.DB.CheckDerived(context.Background()); err != nil {
				t.Error(err)
			}
		}
		a.Close()
	})
	e.SQL.Reset()
	return e
}

// Now is the Env's clock: real time plus what Advance added.
func (e *Env) Now() time.Time {
	e.clockMu.Lock()
	defer e.clockMu.Unlock()
	return time.Now().UTC().Add(e.offset)
}

// Advance moves the Env's clock forward (to expire sessions and tokens).
func (e *Env) Advance(d time.Duration) {
	e.clockMu.Lock()
	defer e.clockMu.Unlock()
	e.offset += d
}

func databaseURL(t testing.TB, kind string) string {
	switch kind {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "orgql.db")
	case "mysql":
		return mysqlDatabase(t)
	}
	t.Fatalf("unknown database kind %q", kind)
	return ""
}

// mysqlDatabase creates a database for one test on the server named by
// ORGQL_TEST_MYSQL_DSN and drops it when the test ends.
func mysqlDatabase(t testing.TB) string {
	dsn := os.Getenv(MySQLEnv)
	if dsn == "" {
		t.Skipf("%s is not set", MySQLEnv)
	}
	cfg, err := database.MySQLConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "orgql_test_" + hex.EncodeToString(b)
	admin := cfg.Clone()
	admin.DBName = ""
	conn, err := mysql.NewConnector(admin)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	if _, err := db.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		db.Close()
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP DATABASE " + name); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
		db.Close()
	})
	cfg.DBName = name
	return "mysql://" + cfg.FormatDSN()
}

// LogBuffer keeps the server's log lines for assertions.
type LogBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	return len(p), nil
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
