package httpapi

import (
	"context"
	"net/http"

	"github.com/smsledger/smsledger/domain/ledger"
)

// MaxNumbersBodyBytes bounds a tenant's number list upload: a list of
// ledger.MaxTenantNumbers numbers is ~2 MB of JSON.
const MaxNumbersBodyBytes = 4 << 20

// numbersAdmin is what the administration of tenants' numbers uses of the
// ledger (part of Ledger).
type numbersAdmin interface {
	TenantNumbers(id string) ([]string, error)
	SetTenantNumbers(ctx context.Context, id string, numbers []string) ([]string, error)
}

var _ numbersAdmin = (*ledger.Service)(nil)

// numbersAdminRoutes are the admin endpoints of the numbers a tenant owns:
// the MSISDNs and short codes whose mobile-originated messages (MOs) a
// supplier delivers go to it.
func (h *handler) numbersAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/tenants/{id}/numbers", authAdmin, h.getNumbers},
		{"PUT", "/v1/tenants/{id}/numbers", authAdmin, h.setNumbers},
	}
}

// numbersView is a tenant's numbers: E.164 MSISDNs as "+<digits>" and
// short codes as their digits, sorted.
type numbersView struct {
	TenantID string   `json:"tenant_id"`
	Numbers  []string `json:"numbers"`
}

// getNumbers: GET /v1/tenants/{id}/numbers.
func (h *handler) getNumbers(w http.ResponseWriter, r *http.Request, _ string) error {
	id := r.PathValue("id")
	numbers, err := h.svc.TenantNumbers(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, numbersView{TenantID: id, Numbers: numbers})
	return nil
}

// setNumbers: PUT /v1/tenants/{id}/numbers {"numbers": [...]} replaces the
// tenant's list and answers it as recorded (normalised, sorted, each once).
// A number that is neither an E.164 MSISDN nor a 3-8 digit short code is a
// 400 naming it, a number another tenant owns a 409 naming it.
func (h *handler) setNumbers(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		Numbers *[]string `json:"numbers"`
	}
	if err := decode(w, r, MaxNumbersBodyBytes, &req); err != nil {
		return err
	}
	if req.Numbers == nil {
		return errorf(http.StatusBadRequest, "invalid_request", "numbers is required (an empty list removes them all)")
	}
	id := r.PathValue("id")
	numbers, err := h.svc.SetTenantNumbers(r.Context(), id, *req.Numbers)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, numbersView{TenantID: id, Numbers: numbers})
	return nil
}
