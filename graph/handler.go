package graph

import (
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
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
	Logger     *slog.Logger
}

// NewHandler returns the GraphQL endpoint: JSON POST and GET (queries only), with the
// transports listed explicitly so that no form-encoded transport exists (CSRF).
func NewHandler(r *Resolver, o HandlerOptions) http.Handler {
	srv := handler.New(NewExecutableSchema(Config{Resolvers: r}))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})

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
	srv.AroundFields(markResolverErrors)
	srv.Use(extension.FixedComplexityLimit(o.ComplexityLimit))

	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		srv.ServeHTTP(w, req.WithContext(withHTTPMethod(req.Context(), req.Method)))
	})
}
