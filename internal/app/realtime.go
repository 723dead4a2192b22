package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/orgql/orgql/internal/auth"
	"github.com/orgql/orgql/internal/config"
	"github.com/orgql/orgql/internal/gqlws"
	"github.com/orgql/orgql/internal/httpx"
	"github.com/orgql/orgql/internal/viewer"
)

// websocket builds the GraphQL-over-WebSocket transport: origin checked against
// the allowed origins, authentication from connection_init or the session cookie.
func (a *App) websocket(cfg config.Config) *gqlws.Transport {
	return &gqlws.Transport{
		Upgrader: websocket.Upgrader{
			// Small read buffers and pooled write buffers keep an idle connection
			// cheap; messages are small.
			ReadBufferSize:  1024,
			WriteBufferSize: 4096,
			WriteBufferPool: &sync.Pool{},
			CheckOrigin:     originAllowed(cfg.AllowedOrigins),
		},
		Authenticate: a.authenticateSocket,
		Hub:          a.Sockets,
		Logger:       a.log,
	}
}

// originAllowed admits same-origin pages, the allowed origins, and clients that
// send no Origin (not browsers, so no cross-site risk).
func originAllowed(allowed []string) func(r *http.Request) bool {
	set := map[string]bool{}
	for _, o := range allowed {
		set[strings.ToLower(o)] = true
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		return strings.EqualFold(u.Host, r.Host) || set[strings.ToLower(origin)]
	}
}

// authenticateSocket takes the session from connection_init's authorization
// ("Bearer <token>") or else from the cookie the upgrade request carried.
func (a *App) authenticateSocket(r *http.Request, payload map[string]any) (gqlws.Session, error) {
	ctx := r.Context()
	v := viewer.FromContext(ctx)
	if raw, ok := payload["authorization"].(string); ok || payload["Authorization"] != nil {
		if !ok {
			raw, _ = payload["Authorization"].(string)
		}
		tok := strings.TrimSpace(raw)
		if scheme, rest, found := strings.Cut(tok, " "); found && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimSpace(rest)
		}
		var err error
		if v, err = a.Sessions.Authenticate(ctx, tok); err != nil {
			return gqlws.Session{}, err
		}
	}
	if v == nil {
		return gqlws.Session{}, gqlws.ErrForbidden
	}
	// The connection's operations run as this viewer for its whole life; the
	// sweep and the sign-out hook close it when the session ends. The context is
	// new, with just what operations need: deriving it from the request's would
	// keep the HTTP server's buffers of the upgrade alive for as long as the socket.
	sctx := httpx.WithRequestIDValue(context.Background(), httpx.RequestID(ctx))
	sctx = auth.WithRequestInfo(sctx, auth.RequestFromContext(ctx))
	sctx = viewer.NewContext(sctx, v)
	return gqlws.Session{Ctx: sctx, ID: v.Session.ID, ExpiresAt: v.Session.ExpiresAt}, nil
}

// sweepSockets closes the sockets of sessions that ended on another instance or
// expired (idle or absolute), and keeps the live ones from going idle.
func (a *App) sweepSockets(ctx context.Context) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ids := a.Sockets.Sessions()
		if len(ids) == 0 {
			continue
		}
		live, err := a.Sessions.Live(ctx, ids)
		if err != nil {
			a.log.WarnContext(ctx, "checking websocket sessions", "err", err)
			continue
		}
		for _, id := range ids {
			if !live[id] {
				a.Sockets.CloseSession(id)
			}
		}
	}
}

// metrics serves Prometheus metrics: the Go runtime and process, the SQL
// statements sent, open sockets and subscribers.
func (a *App) metrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "orgql_sql_statements_total", Help: "SQL statements sent to the database.",
		}, func() float64 { return float64(a.DB.Statements()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orgql_websocket_connections", Help: "Open GraphQL websocket connections.",
		}, func() float64 { return float64(a.Sockets.Connections()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orgql_websocket_operations", Help: "Running operations (subscriptions) on websockets.",
		}, func() float64 { return float64(a.Sockets.Operations()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orgql_organization_feeds", Help: "Organizations with subscribers on this instance.",
		}, func() float64 { n, _, _ := a.Feeds.Stats(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "orgql_subscribers", Help: "organizationEvents and viewerEvents subscribers on this instance.",
		}, func() float64 { _, o, v := a.Feeds.Stats(); return float64(o + v) }),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// RunRealtime runs the event feeds, the websocket pinger and the session sweep
// until ctx is done, then closes every websocket (hijacked connections outlive the
// HTTP server's graceful shutdown).
func (a *App) RunRealtime(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{a.Feeds.Run, a.Sockets.Run, a.sweepSockets} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = run(ctx)
		}()
	}
	<-ctx.Done()
	a.Sockets.CloseAll()
	wg.Wait()
	return nil
}
