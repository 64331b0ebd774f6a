package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/smsledger/smsledger/domain/ledger"
)

// tenantAdmin is what the tenant administration uses of the ledger (part
// of Ledger).
type tenantAdmin interface {
	ListTenants(after string, limit int) ([]ledger.TenantInfo, string)
	TenantDetail(id string) (ledger.TenantInfo, error)
	PatchTenant(ctx context.Context, id string, p ledger.TenantPatch) (ledger.TenantInfo, error)
	TenantSuspended(id string) bool
}

var _ tenantAdmin = (*ledger.Service)(nil)

// tenantAdminRoutes are the admin endpoints of tenants: list, get, patch (status, limits, billing, validity, access).
func (h *handler) tenantAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/tenants", authAdmin, h.listTenants},
		{"GET", "/v1/tenants/{id}", authAdmin, h.getTenant},
		{"PATCH", "/v1/tenants/{id}", authAdmin, h.patchTenant},
	}
}

// suspended reports whether tenant id is suspended.
func (h *handler) suspended(id string) bool { return h.svc.TenantSuspended(id) }

// tenantView is a tenant as the admin endpoints show it: its settings and
// its money. Never a secret (no password, key or webhook secret).
type tenantView struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Currency         string   `json:"currency"`
	Billing          string   `json:"billing"`
	TPSLimit         int      `json:"tps_limit"`
	CreditLimit      string   `json:"credit_limit"`
	Tier             string   `json:"tier"`
	DefaultValidityS int      `json:"default_validity_s"`
	MaxBinds         int      `json:"max_binds"`
	AllowedIPs       []string `json:"allowed_ips"`
	Status           string   `json:"status"`
	SystemID         string   `json:"system_id,omitempty"`
	Balance          string   `json:"balance"`
	Held             string   `json:"held"`
	Available        string   `json:"available"`
	MOPrice          string   `json:"mo_price"`
}

func (h *handler) tenantView(t ledger.TenantInfo) (tenantView, error) {
	b, err := h.svc.Balance(t.ID)
	if err != nil {
		return tenantView{}, err
	}
	return tenantView{ID: t.ID, Name: t.Name, Currency: t.Currency, Billing: t.Billing, TPSLimit: t.TPSLimit,
		CreditLimit: t.CreditLimit, Tier: t.Tier, DefaultValidityS: t.DefaultValidityS, MaxBinds: t.MaxBinds,
		AllowedIPs: orEmpty(t.AllowedIPs), Status: t.Status, SystemID: t.SystemID,
		Balance: b.Balance, Held: b.Held, Available: b.Available, MOPrice: orZero(t.MOPrice)}, nil
}

// listTenants: GET /v1/tenants?cursor=&limit= (limit 1..1000, default
// 100), by id; next_cursor is null on the last page.
func (h *handler) listTenants(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	limit := ledger.DefaultTenantPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > ledger.MaxTenantPage {
			return errorf(http.StatusBadRequest, "invalid_request", "limit must be an integer from 1 to %d", ledger.MaxTenantPage)
		}
		limit = n
	}
	list, next := h.svc.ListTenants(q.Get("cursor"), limit)
	out := make([]tenantView, 0, len(list))
	for _, t := range list {
		v, err := h.tenantView(t)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	var nc *string
	if next != "" {
		nc = &next
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": out, "next_cursor": nc})
	return nil
}

func (h *handler) getTenant(w http.ResponseWriter, r *http.Request, _ string) error {
	t, err := h.svc.TenantDetail(r.PathValue("id"))
	if err != nil {
		return err
	}
	v, err := h.tenantView(t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// tenantPatchReq: only the fields present change (null is the same as
// absent). id and currency may be given only unchanged.
type tenantPatchReq struct {
	ID               *string   `json:"id"`
	Currency         *string   `json:"currency"`
	Name             *string   `json:"name"`
	TPSLimit         *int      `json:"tps_limit"`
	CreditLimit      Amount    `json:"credit_limit"`
	Tier             *string   `json:"tier"`
	Billing          *string   `json:"billing"`
	DefaultValidityS *int      `json:"default_validity_s"`
	MaxBinds         *int      `json:"max_binds"`
	AllowedIPs       *[]string `json:"allowed_ips"`
	Status           *string   `json:"status"`
	MOPrice          Amount    `json:"mo_price"`
}

func (h *handler) patchTenant(w http.ResponseWriter, r *http.Request, _ string) error {
	var req tenantPatchReq
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	cur, err := h.svc.TenantDetail(id)
	if err != nil {
		return err
	}
	if req.ID != nil && *req.ID != id {
		return errorf(http.StatusBadRequest, "invalid_request", "id cannot be changed")
	}
	if req.Currency != nil && *req.Currency != cur.Currency {
		return errorf(http.StatusBadRequest, "invalid_request", "currency cannot be changed (it is %s)", cur.Currency)
	}
	p := ledger.TenantPatch{Name: req.Name, TPSLimit: req.TPSLimit, Tier: req.Tier, Billing: req.Billing,
		DefaultValidityS: req.DefaultValidityS, MaxBinds: req.MaxBinds, AllowedIPs: req.AllowedIPs, Status: req.Status}
	if req.CreditLimit.set {
		p.CreditLimit = &req.CreditLimit.Decimal
	}
	if req.MOPrice.set {
		p.MOPrice = &req.MOPrice.Decimal
	}
	t, err := h.svc.PatchTenant(r.Context(), id, p)
	if err != nil {
		return err
	}
	v, err := h.tenantView(t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// orZero is a decimal string, "0" when empty (a stand-in ledger's).
func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}
