// Package app assembles orgql: it opens and migrates the database, builds the
// services and the HTTP handler, and runs the background workers. server.go runs it;
// tests start the very same App.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"entgo.io/ent/dialect"
	"github.com/alexedwards/argon2id"
	"github.com/rs/cors"
	"golang.org/x/sync/errgroup"

	"github.com/orgql/orgql/graph"
	"github.com/orgql/orgql/internal/account"
	"github.com/orgql/orgql/internal/auth"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/database"
	"github.com/orgql/orgql/internal/gqlws"
	"github.com/orgql/orgql/internal/graphiql"
	"github.com/orgql/orgql/internal/httpx"
	"github.com/orgql/orgql/internal/mail"
	"github.com/orgql/orgql/internal/org"
	"github.com/orgql/orgql/internal/password"
	"github.com/orgql/orgql/internal/ratelimit"
	"github.com/orgql/orgql/internal/realtime"
)

// Options are the configuration plus the seams tests use.
type Options struct {
	Config config.Config
	Logger *slog.Logger

	// PasswordParams overrides the argon2id cost (tests use a cheap one).
	PasswordParams *argon2id.Params
	// Limits overrides the account rate limits.
	Limits *account.Limits
	// MailSender overrides the sender chosen by the configuration.
	MailSender mail.Sender
	// Driver wraps the database driver (tests count statements with it).
	Driver func(dialect.Driver) dialect.Driver
	// OutboxOptions overrides the outbox timing.
	OutboxOptions *mail.OutboxOptions
}

// App is a running orgql instance without its listener.
type App struct {
	DB       *database.DB
	Handler  http.Handler
	Outbox   *mail.Outbox
	Sessions *auth.Sessions
	Accounts *account.Service
	Orgs     *org.Service
	Feeds    *realtime.Feeds
	Sockets  *gqlws.Hub
	log      *slog.Logger
	redis    io.Closer // the Redis client, when configured
}

// New opens and migrates the database and builds the services and handler.
func New(ctx context.Context, o Options) (*App, error) {
	cfg := o.Config
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Options{MaxOpenConns: cfg.DatabaseMaxConns, Driver: o.Driver})
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}

	sender := o.MailSender
	if sender == nil {
		if cfg.SMTPURL == "" {
			sender = mail.LogSender{Logger: log}
		} else if sender, err = mail.NewSMTPSender(cfg.SMTPURL, cfg.SMTPFrom); err != nil {
			db.Close()
			return nil, err
		}
	}
	oopts := mail.OutboxOptions{Logger: log}
	if o.OutboxOptions != nil {
		oopts = *o.OutboxOptions
		oopts.Logger = log
	}
	outbox := mail.NewOutbox(db.Client, sender, oopts)

	hasher := password.New(password.Options{Params: o.PasswordParams})
	sessions := auth.NewSessions(db.Client, db.Driver, auth.SessionOptions{
		IdleTimeout: cfg.SessionIdleTimeout,
		MaxAge:      cfg.SessionMaxAge,
		TrustProxy:  cfg.TrustProxy,
	}, log)
	var bus realtime.Bus = realtime.Local{}
	var shared *ratelimit.Shared
	var redisClient io.Closer
	if cfg.RedisURL != "" {
		rb, err := realtime.NewRedis(cfg.RedisURL, log)
		if err != nil {
			db.Close()
			return nil, err
		}
		bus, redisClient = rb, rb.Client
		// The same Redis counts the rate limits across instances.
		shared = ratelimit.NewShared(rb.Client, log)
	}
	limits := account.DefaultLimits
	if o.Limits != nil {
		limits = *o.Limits
	}
	accounts := account.New(db, hasher, sessions, outbox.Notify, account.Options{
		PublicURL:       cfg.PublicURL,
		VerificationTTL: cfg.VerificationTTL,
		ResetTTL:        cfg.ResetTTL,
		Limits:          limits,
		SharedLimits:    shared,
	}, log)

	sockets := gqlws.NewHub(cfg.WebsocketPing)
	feeds := realtime.New(db.Client, bus, realtime.Options{
		PollInterval: cfg.RealtimePollInterval,
		Buffer:       cfg.SubscriberBuffer,
		SessionsEnded: func(ids []string) {
			for _, id := range ids {
				sockets.CloseSession(id)
			}
		},
		Logger: log,
	})
	accounts.SetSessionsEnded(feeds.SessionsEnded)

	orgs := org.New(db, org.Options{
		MaxOwned:              cfg.MaxOwnedOrganizations,
		PublicURL:             cfg.PublicURL,
		BaseURL:               cfg.BaseURL,
		InvitationTTL:         cfg.InvitationTTL,
		MaxPendingInvitations: cfg.MaxPendingInvitations,
		InvitesPerHour:        cfg.InvitationsPerHour,
		ResendCooldown:        cfg.InvitationResendCooldown,
		SharedLimits:          shared,
		NotifyMail:            outbox.Notify,
	}, feeds.Committed, log)
	accounts.SetInvitations(orgs)

	a := &App{DB: db, Outbox: outbox, Sessions: sessions, Accounts: accounts, Orgs: orgs,
		Feeds: feeds, Sockets: sockets, log: log, redis: redisClient}
	a.Handler = a.routes(cfg, &graph.Resolver{DB: db, Accounts: accounts, Orgs: orgs, Feeds: feeds, BaseURL: cfg.BaseURL})
	return a, nil
}

func (a *App) routes(cfg config.Config, r *graph.Resolver) http.Handler {
	gql := graph.NewHandler(r, graph.HandlerOptions{
		Introspection:   cfg.Introspection,
		ComplexityLimit: cfg.ComplexityLimit,
		DepthLimit:      cfg.DepthLimit,
		AliasLimit:      cfg.AliasLimit,
		TokenLimit:      15000,
		MaxUploadBytes:  cfg.MaxUploadBytes,
		Websocket:       a.websocket(cfg),
		Logger:          a.log,
	})
	api := httpx.GraphQLGuard(cfg.MaxBodyBytes, cfg.MaxUploadBytes, a.Sessions.Middleware(gql))
	// Without configured origins there is no CORS at all: only same-origin pages
	// (GraphiQL, a front-end served behind the same host) can call the API.
	// (rs/cors would read an empty list as "*".)
	if len(cfg.AllowedOrigins) > 0 {
		api = cors.New(cors.Options{
			AllowedOrigins:   cfg.AllowedOrigins,
			AllowedMethods:   []string{http.MethodGet, http.MethodPost},
			AllowedHeaders:   []string{"Authorization", "Content-Type", "X-Request-ID", "Apollo-Require-Preflight", "GraphQL-Require-Preflight"},
			ExposedHeaders:   []string{"X-Request-ID"},
			AllowCredentials: true,
			MaxAge:           600,
		}).Handler(api)
	}

	mux := http.NewServeMux()
	mux.Handle("/graphql", api)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		if err := a.DB.Ping(ctx); err != nil {
			a.log.WarnContext(ctx, "readiness check failed", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /logos/{org}/{hash}", a.serveLogo)
	if cfg.Metrics {
		mux.Handle("GET /metrics", a.metrics())
	}
	if cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	if cfg.GraphiQL {
		mux.Handle("GET /{$}", graphiql.Page("orgql", "/graphql"))
		mux.Handle("GET "+graphiql.Prefix, graphiql.Assets())
	}
	var h http.Handler = mux
	h = httpx.Recover(a.log, h)
	h = httpx.AccessLog(a.log, h)
	return httpx.WithRequestID(h)
}

// serveLogo serves an organization's logo at its content-addressed URL (see
// Organization.logoUrl): cacheable forever, never sniffed as another type, and
// inert if opened directly.
func (a *App) serveLogo(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if len(hash) < 16 || len(hash) > 64 {
		http.NotFound(w, r)
		return
	}
	l, err := a.Orgs.Logo(r.Context(), r.PathValue("org"), hash)
	if err != nil {
		httpx.InternalError(w, r, a.log, "serving logo", err)
		return
	}
	if l == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", l.ContentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("ETag", `"`+l.Sha256+`"`)
	if r.Header.Get("If-None-Match") == `"`+l.Sha256+`"` {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write(l.Data)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Run runs the background workers (mail outbox, cleanup) until ctx is done.
func (a *App) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Outbox.Run(ctx) })
	g.Go(func() error { return a.janitor(ctx) })
	g.Go(func() error { return a.RunRealtime(ctx) })
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// janitor deletes expired sessions and tokens every hour, so the tables stay small
// and nothing expired lingers.
func (a *App) janitor(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.Sessions.DeleteExpired(ctx); err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "deleting expired sessions", "err", err)
		} else if n > 0 {
			a.log.InfoContext(ctx, "deleted expired sessions", "count", n)
		}
		if _, err := a.Accounts.DeleteExpiredTokens(ctx); err != nil && ctx.Err() == nil {
			a.log.WarnContext(ctx, "deleting expired tokens", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Close closes the database and the Redis client.
func (a *App) Close() error {
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if err := a.DB.Close(); err != nil {
		return fmt.Errorf("closing database: %w", err)
	}
	return nil
}
