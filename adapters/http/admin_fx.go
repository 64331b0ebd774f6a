package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
)

// fxAdmin is what the FX endpoints need of the ledger (part of Ledger).
type fxAdmin interface {
	SetFX(ctx context.Context, base string, rates []events.FXRate) (ledger.FXInfo, error)
	FX() ledger.FXInfo
}

// fxAdminRoutes: the FX table (least-cost routing across supplier
// currencies, margins in a reporting currency).
func (h *handler) fxAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/fx", authAdmin, h.getFX},
		{"PUT", "/v1/fx", authAdmin, h.putFX},
	}
}

// putFX replaces the FX table: {"base":"EUR","rates":[{"currency":"USD",
// "rate":"0.92","from":"2026-12-01T00:00:00Z"}]}; a rate applies from its
// time until the next of its currency. 200 with the table in force.
func (h *handler) putFX(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		Base  string `json:"base"`
		Rates []struct {
			Currency string     `json:"currency"`
			Rate     Amount     `json:"rate"`
			From     *time.Time `json:"from"`
		} `json:"rates"`
	}
	if err := decode(w, r, MaxCardBodyBytes, &req); err != nil {
		return err
	}
	if err := required("base", req.Base != ""); err != nil {
		return err
	}
	rates := make([]events.FXRate, len(req.Rates))
	for i, l := range req.Rates {
		if !l.Rate.set || l.From == nil || l.Currency == "" {
			return errorf(http.StatusBadRequest, "invalid_request", "rate %d: currency, rate and from are required", i+1)
		}
		rates[i] = events.FXRate{Currency: l.Currency, Rate: l.Rate.Decimal, From: l.From.UTC()}
	}
	info, err := h.svc.SetFX(r.Context(), req.Base, rates)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (h *handler) getFX(w http.ResponseWriter, r *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, h.svc.FX())
	return nil
}
