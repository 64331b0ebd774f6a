package main

import (
	"context"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/projections"
)

var _ httpapi.HealthReports = reports{}

// SupplierHealth serves GET /v1/suppliers/{id}/health from the route
// health read model: the supplier's figures over the window ending now,
// and per destination network and route prefix the limit worst.
func (r reports) SupplierHealth(ctx context.Context, supplierID string, window time.Duration, limit int) (any, error) {
	return projections.SupplierHealthDetail(ctx, r.pool, supplierID, time.Now(), window, limit)
}
