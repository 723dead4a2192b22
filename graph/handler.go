package graph

import (
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/orgql/orgql/internal/gqlws"
)

// HandlerOptions configure the GraphQL endpoint.
type HandlerOptions struct {
	// Introspection allows __schema and __type queries; off also hides field
	// suggestions ("Did you mean ...?") in validation errors.
	Introspection bool
	// ComplexityLimit, DepthLimit and AliasLimit bound what one request may ask for.
	ComplexityLimit int
	DepthLimit      int
	AliasLimit      int
	// TokenLimit bounds the tokens the parser reads, so huge documents are refused
	// before they cost memory.
	TokenLimit int
	// MaxUploadBytes bounds a multipart request (a logo upload).
	MaxUploadBytes int64
	// Websocket serves subscriptions (and any operation) over WebSocket.
	Websocket *gqlws.Transport
	Logger    *slog.Logger
}

// NewHandler returns the GraphQL endpoint: JSON POST, GET (queries only) and
// multipart uploads, with the transports listed explicitly so that no form-encoded
// transport exists (CSRF; httpx.GraphQLGuard also demands a preflight-forcing header
// on multipart requests).
func NewHandler(r *Resolver, o HandlerOptions) http.Handler {
	cfg := Config{Resolvers: r}
	cfg.Directives.HasRole = r.hasRole
	setComplexity(&cfg.Complexity)
	srv := handler.New(NewExecutableSchema(cfg))
	if o.Websocket != nil {
		srv.AddTransport(o.Websocket)
	}
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: o.MaxUploadBytes, MaxMemory: o.MaxUploadBytes})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetErrorPresenter(presentError(o.Logger, !o.Introspection))
	srv.SetRecoverFunc(recoverFunc)
	if o.TokenLimit > 0 {
		srv.SetParserTokenLimit(o.TokenLimit)
	}
	if o.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.SetDisableSuggestion(true)
	}
	srv.Use(operationLimits{maxDepth: o.DepthLimit, maxAliases: o.AliasLimit, introspection: o.Introspection})
	srv.AroundOperations(r.withOperationState)
	srv.AroundResponses(freshPerEvent)
	srv.AroundFields(aroundField)
	srv.Use(extension.FixedComplexityLimit(o.ComplexityLimit))

	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Upgrade") != "" {
			srv.ServeHTTP(w, req) // websocket operations may be of any type
			return
		}
		srv.ServeHTTP(w, req.WithContext(withHTTPMethod(req.Context(), req.Method)))
	})
}
