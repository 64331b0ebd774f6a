package httpapi

import (
	"net/http"
	"time"
)

// TenantBinds is the live side of tenants: their SMPP binds now
// (implemented over the SMPP server in serve). A tenant with no bind, or
// one it does not know, has none.
type TenantBinds interface {
	TenantBinds(tenantID string) []Bind
}

// Bind is one SMPP bind of a tenant, as TenantBinds gives it.
type Bind struct {
	SystemID   string
	Mode       string // transmitter, receiver or transceiver
	RemoteAddr string // the ESME's address and port
	BoundAt    time.Time
}

// bindAdminRoutes are the admin endpoints of tenants' SMPP binds.
func (h *handler) bindAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/tenants/{id}/binds", authAdmin, h.getTenantBinds},
	}
}

// bindView is a bind as GET /v1/tenants/{id}/binds shows it.
type bindView struct {
	SystemID   string    `json:"system_id"`
	Mode       string    `json:"mode"`
	RemoteAddr string    `json:"remote_addr"`
	BoundAt    time.Time `json:"bound_at"`
}

// getTenantBinds: a tenant's SMPP binds now (404 for an unknown tenant; an
// empty list when this process runs no SMPP server). The list is bounded
// by the tenant's max_binds and the server's connection cap.
func (h *handler) getTenantBinds(w http.ResponseWriter, r *http.Request, _ string) error {
	id := r.PathValue("id")
	if _, err := h.svc.Tenant(id); err != nil {
		return err
	}
	out := []bindView{}
	if h.opts.TenantBinds != nil {
		for _, b := range h.opts.TenantBinds.TenantBinds(id) {
			out = append(out, bindView{SystemID: b.SystemID, Mode: b.Mode, RemoteAddr: b.RemoteAddr, BoundAt: b.BoundAt.UTC()})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"binds": out})
	return nil
}
