package httpapi

import (
	"context"
	"net/http"
	"time"
)

// HealthReports is the optional part of a Reports implementation that
// serves GET /v1/suppliers/{id}/health (serve's reports read the route
// health read model). Without it the endpoint answers 503
// reports_unavailable, as the other reports do without Reports.
type HealthReports interface {
	// SupplierHealth returns a JSON-encodable report of a supplier's
	// health over the window ending now, at each level routing uses:
	// {"supplier": {...}, "networks": [...], "prefixes": [...]}, each list
	// worst first and at most limit long.
	SupplierHealth(ctx context.Context, supplierID string, window time.Duration, limit int) (any, error)
}

// The health report's window is routing's (serve feeds routing the last
// 15 minutes), and its lists are bounded.
const (
	HealthWindow    = 15 * time.Minute
	HealthListLimit = 100
)

// healthAdminRoutes are the admin endpoints of route health.
func (h *handler) healthAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/suppliers/{id}/health", authAdmin, h.getSupplierHealth},
	}
}

// getSupplierHealth: a supplier's health over HealthWindow, for the
// supplier and per destination network and route prefix (404 for an
// unknown supplier), so an operator sees where a supplier fails.
func (h *handler) getSupplierHealth(w http.ResponseWriter, r *http.Request, _ string) error {
	id := r.PathValue("id")
	if _, err := h.svc.Supplier(id); err != nil {
		return err
	}
	rep, err := h.reports()
	if err != nil {
		return err
	}
	hr, ok := rep.(HealthReports)
	if !ok {
		return errorf(http.StatusServiceUnavailable, "reports_unavailable", "route health reports are not available on this server")
	}
	out, err := hr.SupplierHealth(r.Context(), id, HealthWindow, HealthListLimit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
