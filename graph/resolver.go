// Package graph is orgql's GraphQL layer: the gqlgen-generated executor, thin
// resolvers that call the domain services, the error presenter and the handler.
package graph

import (
	"github.com/orgql/orgql/internal/account"
	"github.com/orgql/orgql/internal/database"
	"github.com/orgql/orgql/internal/org"
	"github.com/orgql/orgql/internal/realtime"
)

// Resolver holds the services the resolvers call.
type Resolver struct {
	DB       *database.DB
	Accounts *account.Service
	Orgs     *org.Service
	Feeds    *realtime.Feeds
	// BaseURL is where this server is reachable, for absolute URLs (logos).
	BaseURL string
}
