// Package config reads orgql's configuration from command-line flags and ORGQL_*
// environment variables (a flag wins over its variable).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3"

	"github.com/orgql/orgql/internal/database"
)

// Config is the whole configuration.
type Config struct {
	Listen           string
	DatabaseURL      string
	DatabaseMaxConns int
	PublicURL        string
	BaseURL          string
	SMTPURL          string
	SMTPFrom         string
	AllowedOrigins   []string
	GraphiQL         bool
	Introspection    bool
	LogLevel         slog.Level
	LogFormat        string
	TrustProxy       bool

	SessionIdleTimeout time.Duration
	SessionMaxAge      time.Duration
	VerificationTTL    time.Duration
	ResetTTL           time.Duration

	MaxOwnedOrganizations int

	InvitationTTL            time.Duration
	InvitationResendCooldown time.Duration
	MaxPendingInvitations    int
	InvitationsPerHour       int

	RedisURL             string
	RealtimePollInterval time.Duration
	SubscriberBuffer     int
	WebsocketPing        time.Duration
	Metrics              bool
	Pprof                bool

	MaxBodyBytes    int64
	MaxUploadBytes  int64
	ComplexityLimit int
	DepthLimit      int
	AliasLimit      int
	ShutdownTimeout time.Duration
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Listen:                   ":8080",
		DatabaseURL:              database.DefaultURL,
		DatabaseMaxConns:         20,
		PublicURL:                "http://localhost:3000",
		BaseURL:                  "http://localhost:8080",
		SMTPFrom:                 "orgql <no-reply@localhost>",
		GraphiQL:                 true,
		Introspection:            true,
		LogLevel:                 slog.LevelInfo,
		LogFormat:                "text",
		SessionIdleTimeout:       7 * 24 * time.Hour,
		SessionMaxAge:            30 * 24 * time.Hour,
		VerificationTTL:          48 * time.Hour,
		ResetTTL:                 time.Hour,
		MaxOwnedOrganizations:    10,
		RealtimePollInterval:     2 * time.Second,
		SubscriberBuffer:         64,
		WebsocketPing:            25 * time.Second,
		Metrics:                  false,
		InvitationTTL:            7 * 24 * time.Hour,
		InvitationResendCooldown: time.Minute,
		MaxPendingInvitations:    500,
		InvitationsPerHour:       100,
		MaxBodyBytes:             1 << 20,
		MaxUploadBytes:           2 << 20,
		ComplexityLimit:          5000,
		DepthLimit:               12,
		AliasLimit:               30,
		ShutdownTimeout:          30 * time.Second,
	}
}

// EnvPrefix prefixes the environment variable of each flag: --database-url is
// ORGQL_DATABASE_URL.
const EnvPrefix = "ORGQL"

// Parse reads the configuration from args and the environment. With -h or --help it
// prints every setting and returns flag.ErrHelp.
func Parse(args []string, out io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("orgql", flag.ContinueOnError)
	fs.SetOutput(out)
	var origins, level string
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to serve HTTP on")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "database: sqlite:PATH (embedded) or mysql://USER:PASS@tcp(HOST:3306)/DB")
	fs.IntVar(&c.DatabaseMaxConns, "database-max-conns", c.DatabaseMaxConns, "MySQL connection pool size")
	fs.StringVar(&c.PublicURL, "public-url", c.PublicURL, "URL of the portal front-end that email links point to")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "URL where this server is reachable by browsers and mail clients (logo URLs)")
	fs.IntVar(&c.MaxOwnedOrganizations, "max-owned-organizations", c.MaxOwnedOrganizations, "how many organizations one user may own (0: no limit)")
	fs.DurationVar(&c.InvitationTTL, "invitation-ttl", c.InvitationTTL, "lifetime of invitation links")
	fs.DurationVar(&c.InvitationResendCooldown, "invitation-resend-cooldown", c.InvitationResendCooldown, "least time between two sendings of one invitation")
	fs.IntVar(&c.MaxPendingInvitations, "max-pending-invitations", c.MaxPendingInvitations, "most pending invitations per organization (0: no cap)")
	fs.IntVar(&c.InvitationsPerHour, "invitations-per-hour", c.InvitationsPerHour, "most invitations (and resends) one user may send an hour (0: no limit)")
	fs.StringVar(&c.SMTPURL, "smtp-url", c.SMTPURL, "SMTP server: smtp://USER:PASS@HOST:587 (STARTTLS) or smtps://...:465; empty logs emails instead of sending them")
	fs.StringVar(&c.SMTPFrom, "smtp-from", c.SMTPFrom, "From address of outgoing email")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated origins allowed for CORS and websockets, e.g. https://portal.example.com (same-origin is always allowed)")
	fs.BoolVar(&c.GraphiQL, "graphiql", c.GraphiQL, "serve GraphiQL at /")
	fs.BoolVar(&c.Introspection, "introspection", c.Introspection, "allow schema introspection (off also turns off field suggestions in errors)")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", c.TrustProxy, "behind a reverse proxy: take client address and scheme from X-Forwarded-For/-Proto")
	fs.DurationVar(&c.SessionIdleTimeout, "session-idle-timeout", c.SessionIdleTimeout, "end sessions unused for this long")
	fs.DurationVar(&c.SessionMaxAge, "session-max-age", c.SessionMaxAge, "end sessions this long after sign-in")
	fs.DurationVar(&c.VerificationTTL, "verification-ttl", c.VerificationTTL, "lifetime of email verification links")
	fs.DurationVar(&c.ResetTTL, "reset-ttl", c.ResetTTL, "lifetime of password reset links")
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "Redis for realtime events and rate limits across instances, e.g. redis://localhost:6379/0; empty: this instance only")
	fs.DurationVar(&c.RealtimePollInterval, "realtime-poll-interval", c.RealtimePollInterval, "how often active event feeds read the event table without a notice (the delay bound when Redis is down)")
	fs.IntVar(&c.SubscriberBuffer, "subscriber-buffer", c.SubscriberBuffer, "undelivered events a subscriber may have before it is ended (it resumes from a cursor)")
	fs.DurationVar(&c.WebsocketPing, "websocket-ping", c.WebsocketPing, "a websocket quiet this long is pinged (keep-alive)")
	fs.BoolVar(&c.Metrics, "metrics", c.Metrics, "serve Prometheus metrics at /metrics (on the public listener: expose it to your scraper only)")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve Go profiles at /debug/pprof/ (for diagnosis; keep it off where the port is reachable)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest accepted GraphQL request body")
	fs.Int64Var(&c.MaxUploadBytes, "max-upload-bytes", c.MaxUploadBytes, "largest accepted multipart (file upload) request")
	fs.IntVar(&c.ComplexityLimit, "complexity-limit", c.ComplexityLimit, "largest accepted query complexity (a field costs 1, a list its page size times its fields)")
	fs.IntVar(&c.DepthLimit, "depth-limit", c.DepthLimit, "deepest accepted selection nesting (introspection excepted)")
	fs.IntVar(&c.AliasLimit, "alias-limit", c.AliasLimit, "most aliased fields in one request")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long in-flight requests may take to finish on SIGTERM")
	fs.Usage = func() { usage(fs) }

	if err := ff.Parse(fs, args, ff.WithEnvVarPrefix(EnvPrefix)); err != nil {
		return c, err
	}
	var levelErr error
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		levelErr = fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, strings.TrimSuffix(o, "/"))
		}
	}
	return c, errors.Join(levelErr, c.validate())
}

func (c Config) validate() error {
	var errs []error
	for _, f := range [][2]string{{"--public-url", c.PublicURL}, {"--base-url", c.BaseURL}} {
		if u, err := url.Parse(f[1]); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q: want an absolute http(s) URL", f[0], f[1]))
		}
	}
	if c.MaxOwnedOrganizations < 0 {
		errs = append(errs, errors.New("--max-owned-organizations must not be negative"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			errs = append(errs, fmt.Errorf("--allowed-origins: %q is not an origin like https://portal.example.com", o))
		}
	}
	if c.SessionIdleTimeout <= 0 || c.SessionMaxAge <= 0 || c.VerificationTTL <= 0 || c.ResetTTL <= 0 || c.InvitationTTL <= 0 {
		errs = append(errs, errors.New("session and token lifetimes must be positive"))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, errors.New("--max-body-bytes must be at least 1024"))
	}
	if c.MaxUploadBytes < 1024 {
		errs = append(errs, errors.New("--max-upload-bytes must be at least 1024"))
	}
	return errors.Join(errs...)
}

// usage lists every setting with its environment variable and default.
func usage(fs *flag.FlagSet) {
	w := tabwriter.NewWriter(fs.Output(), 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Usage: orgql [flags]\n\nEvery flag can also be set by its environment variable; a flag wins.\n\n")
	fmt.Fprintf(w, "FLAG\tENVIRONMENT\tDEFAULT\tMEANING\n")
	fs.VisitAll(func(f *flag.Flag) {
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		def := f.DefValue
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "--%s\t%s\t%s\t%s\n", f.Name, env, def, f.Usage)
	})
	w.Flush()
}

// Logger returns the logger the configuration asks for.
func (c Config) Logger(out io.Writer) *slog.Logger {
	if out == nil {
		out = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}
