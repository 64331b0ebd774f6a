package httpapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
)

// supplierAdmin is what the administration of suppliers, routes and decks
// uses of the ledger (part of Ledger).
type supplierAdmin interface {
	Suppliers() []ledger.SupplierInfo
	PatchSupplier(ctx context.Context, id string, p ledger.SupplierPatch) (ledger.SupplierInfo, error)
	Routes() []events.Route
	SupplierCosts(id string) ([]events.Cost, error)
}

var _ supplierAdmin = (*ledger.Service)(nil)

// SupplierStates is the live side of suppliers: binds up, queue depth,
// adaptive TPS, health (implemented by the relay in serve). ok is false
// for a supplier it does not know.
type SupplierStates interface {
	SupplierState(id string) (live ledger.SupplierLive, ok bool)
}

// supplierAdminRoutes are the admin endpoints of suppliers (list, get with live state, patch, disable), routes, rates and costs (get; PUT as CSV too).
func (h *handler) supplierAdminRoutes() []Route {
	return []Route{
		{"GET", "/v1/suppliers", authAdmin, h.listSuppliers},
		{"GET", "/v1/suppliers/{id}", authAdmin, h.getSupplier},
		{"PATCH", "/v1/suppliers/{id}", authAdmin, h.patchSupplier},
		{"GET", "/v1/suppliers/{id}/costs", authAdmin, h.getCosts},
		{"GET", "/v1/routes", authAdmin, h.getRoutes},
		{"GET", "/v1/tenants/{id}/rates", authAdmin, h.getRates},
	}
}

// Supplier statuses.
const (
	supplierActive   = "active"
	supplierDisabled = "disabled"
)

// supplierView is a supplier as the admin endpoints show it: its settings,
// status and live state. Never a secret: no password, sealed or not.
type supplierView struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Currency      string    `json:"currency"`
	Host          string    `json:"host"`
	Port          int       `json:"port"`
	SystemID      string    `json:"system_id"`
	Binds         int       `json:"binds"`
	TPSLimit      int       `json:"tps_limit"`
	Window        int       `json:"window"`
	Billing       string    `json:"billing"`
	DLRGraceS     int       `json:"dlr_grace_s"`
	TLS           bool      `json:"tls"`
	TLSServerName string    `json:"tls_server_name"`
	TLSCAPEM      string    `json:"tls_ca_pem,omitempty"` // CA certificates: public
	Status        string    `json:"status"`
	Live          *liveView `json:"live,omitempty"`
}

// liveView is a supplier's live state (present when the process runs the
// suppliers' binds): binds up of those configured, messages queued, the
// adaptive TPS in force, and routing's view (up, health score 0..1000).
type liveView struct {
	Running     bool    `json:"running"`
	BindsUp     int     `json:"binds_up"`
	Binds       int     `json:"binds"`
	QueueDepth  int     `json:"queue_depth"`
	TPS         float64 `json:"tps"`
	Up          bool    `json:"up"`
	HealthScore int     `json:"health_score"`
}

func (h *handler) newSupplierView(sp ledger.SupplierInfo) supplierView {
	v := supplierView{ID: sp.ID, Name: sp.Name, Currency: sp.Currency, Host: sp.Host, Port: sp.Port,
		SystemID: sp.SystemID, Binds: sp.Binds, TPSLimit: sp.TPSLimit, Window: sp.Window, Billing: sp.Billing,
		DLRGraceS: sp.DLRGraceS, TLS: sp.TLS, TLSServerName: sp.TLSServerName, TLSCAPEM: sp.TLSCAPEM, Status: supplierActive}
	if !sp.Enabled {
		v.Status = supplierDisabled
	}
	if h.opts.SupplierStates != nil {
		if l, ok := h.opts.SupplierStates.SupplierState(sp.ID); ok {
			v.Live = &liveView{Running: l.Running, BindsUp: l.BindsUp, Binds: l.Binds, QueueDepth: l.QueueDepth,
				TPS: l.TPS, Up: l.Up, HealthScore: l.HealthScore}
		}
	}
	return v
}

func (h *handler) listSuppliers(w http.ResponseWriter, r *http.Request, _ string) error {
	list := h.svc.Suppliers()
	out := make([]supplierView, 0, len(list))
	for _, sp := range list {
		if full, err := h.svc.Supplier(sp.ID); err == nil { // the DLR grace in force
			sp = full
		}
		out = append(out, h.newSupplierView(sp))
	}
	writeJSON(w, http.StatusOK, map[string]any{"suppliers": out})
	return nil
}

func (h *handler) getSupplier(w http.ResponseWriter, r *http.Request, _ string) error {
	sp, err := h.svc.Supplier(r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.newSupplierView(sp))
	return nil
}

// supplierPatchReq is the body of PATCH /v1/suppliers/{id}: only the
// fields present change. currency may be given only unchanged.
type supplierPatchReq struct {
	Name          *string `json:"name"`
	Currency      *string `json:"currency"`
	Host          *string `json:"host"`
	Port          *int    `json:"port"`
	SystemID      *string `json:"system_id"`
	Password      *string `json:"password"`
	Binds         *int    `json:"binds"`
	TPSLimit      *int    `json:"tps_limit"`
	Window        *int    `json:"window"`
	Billing       *string `json:"billing"`
	DLRGraceS     *int    `json:"dlr_grace_s"`
	TLS           *bool   `json:"tls"`
	TLSServerName *string `json:"tls_server_name"`
	TLSCAPEM      *string `json:"tls_ca_pem"`
	Status        *string `json:"status"`
}

func (h *handler) patchSupplier(w http.ResponseWriter, r *http.Request, _ string) error {
	var req supplierPatchReq
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	cur, err := h.svc.Supplier(id)
	if err != nil {
		return err
	}
	if req.Currency != nil && *req.Currency != cur.Currency {
		return errorf(http.StatusBadRequest, "invalid_request", "currency: cannot change (%s)", cur.Currency)
	}
	p := ledger.SupplierPatch{Name: req.Name, Host: req.Host, Port: req.Port, SystemID: req.SystemID, Password: req.Password,
		Binds: req.Binds, TPSLimit: req.TPSLimit, Window: req.Window, Billing: req.Billing, DLRGraceS: req.DLRGraceS,
		TLS: req.TLS, TLSServerName: req.TLSServerName, TLSCAPEM: req.TLSCAPEM}
	if req.Status != nil {
		switch *req.Status {
		case supplierActive:
			p.Enabled = new(bool)
			*p.Enabled = true
		case supplierDisabled:
			p.Enabled = new(bool)
		default:
			return errorf(http.StatusBadRequest, "invalid_request", "status: must be %q or %q", supplierActive, supplierDisabled)
		}
	}
	sp, err := h.svc.PatchSupplier(r.Context(), id, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h.newSupplierView(sp))
	return nil
}

// wantsCSV tells whether the client asked for text/csv (Accept).
func wantsCSV(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "text/csv" {
			return true
		}
	}
	return false
}

// sendsCSV tells whether the request body is text/csv (Content-Type).
func sendsCSV(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "text/csv"
}

// writeCSV answers with a CSV document: header, then the rows.
func writeCSV(w http.ResponseWriter, header []string, rows [][]string) error {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
	return nil
}

type rateView struct {
	Prefix string `json:"prefix"`
	Price  string `json:"price"`
}

type costView struct {
	Prefix string `json:"prefix"`
	Cost   string `json:"cost"`
}

type routeView struct {
	Prefix    string   `json:"prefix"`
	Suppliers []string `json:"suppliers"`
}

// getRates: a tenant's rate card (JSON; CSV "prefix,price" with Accept:
// text/csv).
func (h *handler) getRates(w http.ResponseWriter, r *http.Request, _ string) error {
	id := r.PathValue("id")
	t, err := h.svc.Tenant(id)
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		rows := make([][]string, len(t.Rates))
		for i, l := range t.Rates {
			rows[i] = []string{l.Prefix, l.Price.String()}
		}
		return writeCSV(w, []string{"prefix", "price"}, rows)
	}
	out := make([]rateView, len(t.Rates))
	for i, l := range t.Rates {
		out[i] = rateView{Prefix: l.Prefix, Price: l.Price.String()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant_id": id, "currency": t.Currency, "rates": out})
	return nil
}

// getCosts: a supplier's cost card (JSON; CSV "prefix,cost" with Accept:
// text/csv).
func (h *handler) getCosts(w http.ResponseWriter, r *http.Request, _ string) error {
	id := r.PathValue("id")
	sp, err := h.svc.Supplier(id)
	if err != nil {
		return err
	}
	costs, err := h.svc.SupplierCosts(id)
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		rows := make([][]string, len(costs))
		for i, l := range costs {
			rows[i] = []string{l.Prefix, l.Cost.String()}
		}
		return writeCSV(w, []string{"prefix", "cost"}, rows)
	}
	out := make([]costView, len(costs))
	for i, l := range costs {
		out[i] = costView{Prefix: l.Prefix, Cost: l.Cost.String()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"supplier_id": id, "currency": sp.Currency, "costs": out})
	return nil
}

// getRoutes: the route table (JSON; CSV "prefix,suppliers", the suppliers
// in preference order separated by spaces, with Accept: text/csv).
func (h *handler) getRoutes(w http.ResponseWriter, r *http.Request, _ string) error {
	routes := h.svc.Routes()
	if wantsCSV(r) {
		rows := make([][]string, len(routes))
		for i, l := range routes {
			rows[i] = []string{l.Prefix, strings.Join(l.Suppliers, " ")}
		}
		return writeCSV(w, []string{"prefix", "suppliers"}, rows)
	}
	out := make([]routeView, len(routes))
	for i, l := range routes {
		out[i] = routeView{Prefix: l.Prefix, Suppliers: l.Suppliers}
	}
	writeJSON(w, http.StatusOK, map[string]any{"routes": out})
	return nil
}

// cardLine is one line of a rate or cost card read from CSV.
type cardLine struct {
	Prefix string
	Value  decimal.Decimal
}

// parseCardCSV reads a rate or cost card as CSV: a header line "prefix,"+
// value (e.g. "prefix,price"), then one "prefix,amount" line each, at most
// ledger.MaxCardLines. Amounts follow the JSON API's rules (a decimal
// number, no exponent). An error is a 400 naming the line; a body over
// its bound is the reader's *http.MaxBytesError.
func parseCardCSV(rd io.Reader, value string) ([]cardLine, error) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	bad := func(line int, format string, args ...any) error {
		return errorf(http.StatusBadRequest, "invalid_request", "csv line %d: %s", line, fmt.Sprintf(format, args...))
	}
	var out []cardLine
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			if n == 1 {
				return nil, bad(1, "the header line %q is required", "prefix,"+value)
			}
			return out, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, mbe
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, bad(pe.Line, "%v", pe.Err)
			}
			return nil, bad(n, "%v", err)
		}
		line, _ := cr.FieldPos(0)
		if n == 1 {
			if len(rec) != 2 || !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")), "prefix") ||
				!strings.EqualFold(strings.TrimSpace(rec[1]), value) {
				return nil, bad(line, "the header line must be %q", "prefix,"+value)
			}
			continue
		}
		if len(rec) != 2 {
			return nil, bad(line, "want 2 fields (prefix,%s), got %d", value, len(rec))
		}
		if len(out) == ledger.MaxCardLines {
			return nil, bad(line, "at most %d lines", ledger.MaxCardLines)
		}
		prefix := strings.TrimSpace(rec[0])
		if prefix == "" {
			return nil, bad(line, "empty prefix")
		}
		raw := strings.TrimSpace(rec[1])
		q, _ := json.Marshal(raw)
		var a Amount
		if err := a.UnmarshalJSON(q); err != nil {
			return nil, bad(line, "%s %q is not a decimal number", value, truncate(raw))
		}
		out = append(out, cardLine{Prefix: prefix, Value: a.Decimal})
	}
}

// parseRoutesCSV reads a route table as CSV, the CSV GET /v1/routes gives:
// a header line "prefix,suppliers", then one "prefix,sup1 sup2" line each
// (the suppliers in preference order, separated by spaces), at most
// ledger.MaxCardLines, with parseCardCSV's rules for quoting, blank lines
// and the header. An error is a 400 naming the line; a body over its bound
// is the reader's *http.MaxBytesError. Whether the suppliers exist is the
// ledger's check.
func parseRoutesCSV(rd io.Reader) ([]events.Route, error) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	bad := func(line int, format string, args ...any) error {
		return errorf(http.StatusBadRequest, "invalid_request", "csv line %d: %s", line, fmt.Sprintf(format, args...))
	}
	var out []events.Route
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			if n == 1 {
				return nil, bad(1, "the header line %q is required", "prefix,suppliers")
			}
			return out, nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, mbe
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, bad(pe.Line, "%v", pe.Err)
			}
			return nil, bad(n, "%v", err)
		}
		line, _ := cr.FieldPos(0)
		if n == 1 {
			if len(rec) != 2 || !strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")), "prefix") ||
				!strings.EqualFold(strings.TrimSpace(rec[1]), "suppliers") {
				return nil, bad(line, "the header line must be %q", "prefix,suppliers")
			}
			continue
		}
		if len(rec) != 2 {
			return nil, bad(line, "want 2 fields (prefix,suppliers), got %d", len(rec))
		}
		if len(out) == ledger.MaxCardLines {
			return nil, bad(line, "at most %d lines", ledger.MaxCardLines)
		}
		prefix := strings.TrimSpace(rec[0])
		if prefix == "" {
			return nil, bad(line, "empty prefix")
		}
		suppliers := strings.Fields(rec[1])
		if len(suppliers) == 0 {
			return nil, bad(line, "no supplier for prefix %q", truncate(prefix))
		}
		out = append(out, events.Route{Prefix: prefix, Suppliers: suppliers})
	}
}
