// Command orgql serves the orgql GraphQL API: organizations, members, roles and
// invitations for API developer portals. Run `orgql --help` for its settings.
package main

//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run -mod=mod github.com/99designs/gqlgen generate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/orgql/orgql/internal/app"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/httpx"
)

func main() {
	cfg, err := config.Parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "orgql:", err)
		os.Exit(2)
	}
	log := slog.New(httpx.LogHandler{Handler: cfg.Logger(os.Stderr).Handler()})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log, nil); err != nil {
		log.Error("orgql stopped", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is canceled (SIGINT or SIGTERM), then stops accepting
// connections, lets in-flight requests finish within the shutdown timeout, stops
// the background workers and closes the database. listening, if not nil, receives
// the bound address.
func run(ctx context.Context, cfg config.Config, log *slog.Logger, listening chan<- net.Addr) error {
	a, err := app.New(ctx, app.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()

	srv := &http.Server{
		Addr:              cfg.Listen,
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	workers, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	workersDone := make(chan error, 1)
	go func() { workersDone <- a.Run(workers) }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if listening != nil {
		listening <- ln.Addr()
	}
	log.Info("orgql listening", "addr", ln.Addr().String(), "database", a.DB.Dialect,
		"graphiql", cfg.GraphiQL, "mail", mailMode(cfg))
	if cfg.GraphiQL {
		log.Info("GraphiQL at " + localURL(ln.Addr()))
	}

	select {
	case err := <-serveErr:
		stopWorkers()
		<-workersDone
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	stopWorkers()
	if werr := <-workersDone; werr != nil {
		log.Warn("background workers", "err", werr)
	}
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func mailMode(cfg config.Config) string {
	if cfg.SMTPURL == "" {
		return "log (no SMTP configured: emails are printed here)"
	}
	return "smtp"
}

func localURL(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok && (tcp.IP.IsUnspecified() || tcp.IP.IsLoopback()) {
		return fmt.Sprintf("http://localhost:%d/", tcp.Port)
	}
	return "http://" + addr.String() + "/"
}
