package projections

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// projector maintains one read model. apply writes the effect of evs (in
// global order, none applied before) inside tx; it must not commit. A
// projector instance may cache facts about its schema (e.g. partitions it
// created) for the life of one pipeline; a failed batch discards it.
type projector interface {
	name() string
	apply(ctx context.Context, tx pgx.Tx, schema string, evs []Event) error
}

// Projector names (checkpoint rows).
const (
	ProjectorBalances    = "balances"
	ProjectorCDRs        = "cdrs"
	ProjectorRouteHealth = "route_health"
	// ProjectorRouteHealthDestinations: route health per supplier ×
	// network and supplier × route prefix (health.go).
	ProjectorRouteHealthDestinations = "route_health_destinations"
)

func projectorNames() []string {
	return []string{ProjectorBalances, ProjectorCDRs, ProjectorRouteHealth, ProjectorRouteHealthDestinations}
}

func newProjectors(schema string) []projector {
	return []projector{&balances{}, newCDRs(), &routeHealth{}, &routeHealthDestinations{}}
}
