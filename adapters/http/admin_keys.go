package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/ledger"
)

// keyAdmin is what the endpoints of API keys and adjustments need of the
// ledger (part of Ledger).
type keyAdmin interface {
	ListAPIKeys(tenantID string) ([]ledger.APIKeyInfo, error)
	RevokeAPIKey(ctx context.Context, tenantID, keyID string) error
	Adjust(ctx context.Context, tenantID string, amount decimal.Decimal, reference, reason string) (ledger.AdjustmentResult, error)
}

// keyAdminRoutes are the admin endpoints of API keys (list, revoke) and adjustments.
func (h *handler) keyAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/tenants/{id}/api-keys", authAdmin, h.listKeys},
		{"DELETE", "/v1/tenants/{id}/api-keys/{key_id}", authAdmin, h.revokeKey},
		{"POST", "/v1/tenants/{id}/adjustments", authAdmin, h.adjust},
	}
}

type apiKeyView struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
}

// listKeys lists a tenant's API keys in force, oldest first: ids and issue
// times, never a secret.
func (h *handler) listKeys(w http.ResponseWriter, r *http.Request, _ string) error {
	keys, err := h.svc.ListAPIKeys(r.PathValue("id"))
	if err != nil {
		return err
	}
	out := make([]apiKeyView, len(keys))
	for i, k := range keys {
		out[i] = apiKeyView{ID: k.ID, CreatedAt: k.CreatedAt.UTC()}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeKey revokes a tenant's API key: 204, and the key is refused (401)
// from then on.
func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := h.svc.RevokeAPIKey(r.Context(), r.PathValue("id"), r.PathValue("key_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// adjust records a signed adjustment of a tenant's balance: 201 (a repeat
// of a reference with the same amount too, naming the same entry); one
// that would take available below zero is 409 insufficient_funds.
func (h *handler) adjust(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		Amount    Amount `json:"amount"`
		Reference string `json:"reference"`
		Reason    string `json:"reason"`
	}
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := required("amount", req.Amount.set); err != nil {
		return err
	}
	if err := required("reference", req.Reference != ""); err != nil {
		return err
	}
	id := r.PathValue("id")
	res, err := h.svc.Adjust(r.Context(), id, req.Amount.Decimal, req.Reference, req.Reason)
	if ledger.CodeOf(err) == ledger.CodeInsufficientFunds {
		return errorf(http.StatusConflict, string(ledger.CodeInsufficientFunds), "the adjustment would take the available balance below zero")
	}
	if err != nil {
		return err
	}
	bal, err := h.svc.Balance(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"entry_id": res.EntryID, "reference": req.Reference,
		"amount": res.Amount.String(), "currency": string(res.Currency), "reason": req.Reason,
		"duplicate": res.Duplicate, "balance": bal})
	return nil
}
