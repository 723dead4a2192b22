package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/orgql/orgql/internal/database"
)

// flags maps every Config field to its flag, with the default --help must show.
var flags = []struct{ field, flag, def string }{
	{"Listen", "listen", ":8080"},
	{"DatabaseURL", "database-url", database.DefaultURL},
	{"DatabaseMaxConns", "database-max-conns", "20"},
	{"PublicURL", "public-url", "http://localhost:3000"},
	{"BaseURL", "base-url", "http://localhost:8080"},
	{"MaxOwnedOrganizations", "max-owned-organizations", "10"},
	{"RedisURL", "redis-url", `""`},
	{"RealtimePollInterval", "realtime-poll-interval", "2s"},
	{"SubscriberBuffer", "subscriber-buffer", "64"},
	{"WebsocketPing", "websocket-ping", "25s"},
	{"Metrics", "metrics", "false"},
	{"Pprof", "pprof", "false"},
	{"InvitationTTL", "invitation-ttl", "168h0m0s"},
	{"InvitationResendCooldown", "invitation-resend-cooldown", "1m0s"},
	{"MaxPendingInvitations", "max-pending-invitations", "500"},
	{"InvitationsPerHour", "invitations-per-hour", "100"},
	{"MaxUploadBytes", "max-upload-bytes", "2097152"},
	{"SMTPURL", "smtp-url", `""`},
	{"SMTPFrom", "smtp-from", "orgql <no-reply@localhost>"},
	{"AllowedOrigins", "allowed-origins", `""`},
	{"GraphiQL", "graphiql", "true"},
	{"Introspection", "introspection", "true"},
	{"LogLevel", "log-level", "info"},
	{"LogFormat", "log-format", "text"},
	{"TrustProxy", "trust-proxy", "false"},
	{"SessionIdleTimeout", "session-idle-timeout", "168h0m0s"},
	{"SessionMaxAge", "session-max-age", "720h0m0s"},
	{"VerificationTTL", "verification-ttl", "48h0m0s"},
	{"ResetTTL", "reset-ttl", "1h0m0s"},
	{"MaxBodyBytes", "max-body-bytes", "1048576"},
	{"ComplexityLimit", "complexity-limit", "5000"},
	{"DepthLimit", "depth-limit", "12"},
	{"AliasLimit", "alias-limit", "30"},
	{"ShutdownTimeout", "shutdown-timeout", "30s"},
}

func envName(flag string) string {
	return "ORGQL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// clearEnv unsets every ORGQL_* variable of the configuration for the test (ff treats
// an empty variable as unset).
func clearEnv(t *testing.T) {
	t.Helper()
	for _, f := range flags {
		t.Setenv(envName(f.flag), "")
	}
}

func parse(t *testing.T, args ...string) Config {
	t.Helper()
	c, err := Parse(args, io.Discard)
	if err != nil {
		t.Fatalf("Parse(%q): %v", args, err)
	}
	return c
}

func TestEveryFieldHasAFlag(t *testing.T) {
	known := map[string]bool{}
	for _, f := range flags {
		known[f.field] = true
	}
	ty := reflect.TypeOf(Config{})
	for i := 0; i < ty.NumField(); i++ {
		if name := ty.Field(i).Name; !known[name] {
			t.Errorf("Config.%s has no entry in this test's flag table (and maybe no flag)", name)
		}
	}
	if len(flags) != ty.NumField() {
		t.Errorf("%d flags in the table, %d Config fields", len(flags), ty.NumField())
	}
}

func TestDefaults(t *testing.T) {
	clearEnv(t)
	d := Default()
	want := Config{
		Listen:                   ":8080",
		DatabaseURL:              "sqlite:orgql.db",
		DatabaseMaxConns:         20,
		PublicURL:                "http://localhost:3000",
		BaseURL:                  "http://localhost:8080",
		MaxOwnedOrganizations:    10,
		RealtimePollInterval:     2 * time.Second,
		SubscriberBuffer:         64,
		WebsocketPing:            25 * time.Second,
		Metrics:                  false,
		InvitationTTL:            7 * 24 * time.Hour,
		InvitationResendCooldown: time.Minute,
		MaxPendingInvitations:    500,
		InvitationsPerHour:       100,
		MaxUploadBytes:           2 << 20,
		SMTPFrom:                 "orgql <no-reply@localhost>",
		GraphiQL:                 true,
		Introspection:            true,
		LogLevel:                 slog.LevelInfo,
		LogFormat:                "text",
		SessionIdleTimeout:       7 * 24 * time.Hour,
		SessionMaxAge:            30 * 24 * time.Hour,
		VerificationTTL:          48 * time.Hour,
		ResetTTL:                 time.Hour,
		MaxBodyBytes:             1 << 20,
		ComplexityLimit:          5000,
		DepthLimit:               12,
		AliasLimit:               30,
		ShutdownTimeout:          30 * time.Second,
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Default() = %+v\nwant        %+v", d, want)
	}
	if err := d.validate(); err != nil {
		t.Errorf("the defaults do not validate: %v", err)
	}
	if got := parse(t); !reflect.DeepEqual(got, d) {
		t.Errorf("Parse(nil) = %+v\nwant Default() %+v", got, d)
	}
}

func TestHelp(t *testing.T) {
	clearEnv(t)
	for _, arg := range []string{"--help", "-h"} {
		var out bytes.Buffer
		_, err := Parse([]string{arg}, &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Parse(%s) error = %v, want flag.ErrHelp", arg, err)
		}
		lines := strings.Split(out.String(), "\n")
		for _, f := range flags {
			var line string
			for _, l := range lines {
				if strings.HasPrefix(l, "--"+f.flag+" ") {
					line = l
				}
			}
			if line == "" {
				t.Errorf("%s: no line for --%s in:\n%s", arg, f.flag, out.String())
				continue
			}
			rest := strings.TrimPrefix(line, "--"+f.flag)
			env := envName(f.flag)
			i := strings.Index(rest, " "+env+" ")
			if i < 0 {
				t.Errorf("%s: --%s does not name %s: %q", arg, f.flag, env, line)
				continue
			}
			if def := strings.TrimSpace(rest[i+len(env)+1:]); !strings.HasPrefix(def, f.def+" ") {
				t.Errorf("%s: --%s does not show the default %s: %q", arg, f.flag, f.def, line)
			}
		}
	}
}

func TestEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("ORGQL_LISTEN", ":9090")
	t.Setenv("ORGQL_DATABASE_URL", "mysql://orgql:secret@tcp(db:3306)/orgql")
	t.Setenv("ORGQL_ALLOWED_ORIGINS", "https://portal.example.com/, https://admin.example.com")
	t.Setenv("ORGQL_INTROSPECTION", "false")
	t.Setenv("ORGQL_LOG_LEVEL", "debug")
	t.Setenv("ORGQL_SESSION_MAX_AGE", "12h")
	t.Setenv("ORGQL_MAX_BODY_BYTES", "4096")
	t.Setenv("ORGQL_DEPTH_LIMIT", "7")

	c := parse(t)
	if c.Listen != ":9090" || c.DatabaseURL != "mysql://orgql:secret@tcp(db:3306)/orgql" || c.Introspection ||
		c.LogLevel != slog.LevelDebug || c.SessionMaxAge != 12*time.Hour || c.MaxBodyBytes != 4096 || c.DepthLimit != 7 {
		t.Errorf("environment not applied: %+v", c)
	}
	if want := []string{"https://portal.example.com", "https://admin.example.com"}; !reflect.DeepEqual(c.AllowedOrigins, want) {
		t.Errorf("AllowedOrigins = %q, want %q", c.AllowedOrigins, want)
	}
	if !c.GraphiQL || c.AliasLimit != 30 {
		t.Errorf("unset variables changed defaults: %+v", c)
	}

	// A flag wins over its variable.
	c = parse(t, "--listen", ":7070", "--introspection=true", "--log-level", "warn", "--allowed-origins", "https://x.example.com", "--depth-limit=3")
	if c.Listen != ":7070" || !c.Introspection || c.LogLevel != slog.LevelWarn || c.DepthLimit != 3 {
		t.Errorf("flags did not win over the environment: %+v", c)
	}
	if want := []string{"https://x.example.com"}; !reflect.DeepEqual(c.AllowedOrigins, want) {
		t.Errorf("AllowedOrigins = %q, want %q", c.AllowedOrigins, want)
	}
	if c.SessionMaxAge != 12*time.Hour {
		t.Errorf("a variable without a flag was lost: SessionMaxAge %v", c.SessionMaxAge)
	}
}

func TestInvalidValues(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{name: "public url", args: []string{"--public-url", "localhost:3000"}, want: []string{"--public-url"}},
		{name: "public url scheme", args: []string{"--public-url", "ftp://portal.example.com"}, want: []string{"--public-url"}},
		{name: "log format", args: []string{"--log-format", "xml"}, want: []string{"--log-format"}},
		{name: "origin", args: []string{"--allowed-origins", "foo"}, want: []string{"--allowed-origins", `"foo"`}},
		{name: "origin with path", args: []string{"--allowed-origins", "https://ok.example.com,https://portal.example.com/app"}, want: []string{"--allowed-origins", "/app"}},
		{name: "body limit", args: []string{"--max-body-bytes", "10"}, want: []string{"--max-body-bytes"}},
		{name: "log level", args: []string{"--log-level", "loud"}, want: []string{"--log-level"}},
		{name: "lifetime", args: []string{"--reset-ttl", "-1h"}, want: []string{"lifetimes"}},
		{name: "from the environment", env: map[string]string{"ORGQL_PUBLIC_URL": "nope"}, want: []string{"--public-url"}},
		{
			name: "all at once",
			args: []string{"--public-url", "nope", "--log-format", "xml", "--allowed-origins", "foo", "--max-body-bytes", "10", "--log-level", "loud"},
			want: []string{"--public-url", "--log-format", "--allowed-origins", "--max-body-bytes", "--log-level"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := Parse(tc.args, io.Discard)
			if err == nil {
				t.Fatalf("Parse(%q) accepted invalid values", tc.args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not report %s: %v", w, err)
				}
			}
		})
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	c := Default()
	c.LogFormat = "json"
	c.Logger(&buf).Info("hello", "k", "v")
	if !strings.HasPrefix(buf.String(), "{") || !strings.Contains(buf.String(), `"k":"v"`) {
		t.Errorf("json logger wrote %q", buf.String())
	}
	buf.Reset()
	c.LogFormat = "text"
	c.LogLevel = slog.LevelWarn
	l := c.Logger(&buf)
	l.Info("hidden")
	l.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "msg=shown") {
		t.Errorf("text logger at warn wrote %q", buf.String())
	}
}
