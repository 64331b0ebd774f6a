package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/numbering"
)

// MaxNumberingBodyBytes bounds a numbering plan or a portability table
// upload: a world plan of ~200,000 ranges is ~8 MB of CSV, and a load of
// ledger.MaxPortedPerLoad numbers ~50 MB.
const MaxNumberingBodyBytes = 64 << 20

// numberingAdmin is what the administration of the numbering plan and the
// portability table uses of the ledger (part of Ledger).
type numberingAdmin interface {
	SetNumberingPlan(ctx context.Context, rows []numbering.Row) (ledger.NumberingInfo, error)
	SetPortability(ctx context.Context, numbers []numbering.PortedNumber) (ledger.NumberingInfo, error)
	Numbering() ledger.NumberingInfo
	LookupNetwork(number string) (ledger.NetworkView, error)
}

var _ numberingAdmin = (*ledger.Service)(nil)

// numberingAdminRoutes are the admin endpoints of mobile networks: the
// numbering plan (prefix → network) and the portability table (number →
// the network it moved to), each replaced whole from CSV, and the lookup
// of a number's network as the hot path resolves it.
func (h *handler) numberingAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/numbering", authAdmin, h.getNumbering},
		{"PUT", "/v1/numbering", authAdmin, h.setNumberingPlan},
		{"PUT", "/v1/portability", authAdmin, h.setPortability},
		{"GET", "/v1/numbering/lookup", authAdmin, h.lookupNetwork},
	}
}

// getNumbering: what numbering tables are in force (rows, networks, ported
// numbers, when each was loaded).
func (h *handler) getNumbering(w http.ResponseWriter, r *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, h.svc.Numbering())
	return nil
}

// setNumberingPlan replaces the numbering plan with a CSV body (header
// numbering.PlanHeader, at most numbering.MaxPlanRows rows).
func (h *handler) setNumberingPlan(w http.ResponseWriter, r *http.Request, _ string) error {
	body, err := numberingBody(w, r)
	if err != nil {
		return err
	}
	rows, err := numbering.ReadPlanCSV(body, numbering.MaxPlanRows)
	if err != nil {
		return numberingCSVError("numbering plan", err)
	}
	info, err := h.svc.SetNumberingPlan(r.Context(), rows)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// setPortability replaces the portability table with a CSV body (header
// numbering.PortedHeader, at most ledger.MaxPortedPerLoad numbers).
func (h *handler) setPortability(w http.ResponseWriter, r *http.Request, _ string) error {
	body, err := numberingBody(w, r)
	if err != nil {
		return err
	}
	numbers, err := numbering.ReadPortedCSV(body, ledger.MaxPortedPerLoad)
	if err != nil {
		return numberingCSVError("portability table", err)
	}
	info, err := h.svc.SetPortability(r.Context(), numbers)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

// lookupNetwork: the network of ?number= (any form a destination may take)
// and how it was found: the portability table, the plan, or neither.
func (h *handler) lookupNetwork(w http.ResponseWriter, r *http.Request, _ string) error {
	v, err := h.svc.LookupNetwork(r.URL.Query().Get("number"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// numberingBody is the request's CSV body, bounded by
// MaxNumberingBodyBytes; anything but text/csv is a 415.
func numberingBody(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	if !sendsCSV(r) {
		return nil, errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be text/csv")
	}
	return http.MaxBytesReader(w, r.Body, MaxNumberingBodyBytes), nil
}

// numberingCSVError is the answer to a table that did not read: a body
// over its bound stays the *http.MaxBytesError (413); anything else is a
// 400 whose message names the line (numbering's CSV readers do).
func numberingCSVError(table string, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return mbe
	}
	return errorf(http.StatusBadRequest, "invalid_request", "%s: %v", table, err)
}
