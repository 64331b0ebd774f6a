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
	"strconv"
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

// rateView, costView and routeView are deck lines as the JSON GETs give
// them: a prefix, or (mccmnc set, prefix "") a mobile network.
type rateView struct {
	Prefix string `json:"prefix"`
	MCCMNC string `json:"mccmnc,omitempty"`
	Price  string `json:"price"`
}

type costView struct {
	Prefix string `json:"prefix"`
	MCCMNC string `json:"mccmnc,omitempty"`
	Cost   string `json:"cost"`
}

type routeView struct {
	Prefix    string   `json:"prefix"`
	MCCMNC    string   `json:"mccmnc,omitempty"`
	Suppliers []string `json:"suppliers"`
	Weights   []int    `json:"weights,omitempty"`
	Hours     string   `json:"hours,omitempty"`
}

// getRates: a tenant's rate card (JSON; CSV with Accept: text/csv, in
// writeDeckCSV's form).
func (h *handler) getRates(w http.ResponseWriter, r *http.Request, _ string) error {
	id := r.PathValue("id")
	t, err := h.svc.Tenant(id)
	if err != nil {
		return err
	}
	if wantsCSV(r) {
		return writeDeckCSV(w, "price", len(t.Rates), func(i int) (string, string, string) {
			return t.Rates[i].Prefix, t.Rates[i].MCCMNC, t.Rates[i].Price.String()
		})
	}
	out := make([]rateView, len(t.Rates))
	for i, l := range t.Rates {
		out[i] = rateView{Prefix: l.Prefix, MCCMNC: l.MCCMNC, Price: l.Price.String()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant_id": id, "currency": t.Currency, "rates": out})
	return nil
}

// getCosts: a supplier's cost card (JSON; CSV with Accept: text/csv, in
// writeDeckCSV's form).
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
		return writeDeckCSV(w, "cost", len(costs), func(i int) (string, string, string) {
			return costs[i].Prefix, costs[i].MCCMNC, costs[i].Cost.String()
		})
	}
	out := make([]costView, len(costs))
	for i, l := range costs {
		out[i] = costView{Prefix: l.Prefix, MCCMNC: l.MCCMNC, Cost: l.Cost.String()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"supplier_id": id, "currency": sp.Currency, "costs": out})
	return nil
}

// getRoutes: the route table (JSON; CSV with Accept: text/csv, in
// writeDeckCSV's form, the suppliers in preference order separated by
// spaces).
func (h *handler) getRoutes(w http.ResponseWriter, r *http.Request, _ string) error {
	routes := h.svc.Routes()
	if wantsCSV(r) {
		return writeDeckCSV(w, "suppliers", len(routes), func(i int) (string, string, string) {
			return routes[i].Prefix, routes[i].MCCMNC, routeSuppliersText(routes[i])
		})
	}
	out := make([]routeView, len(routes))
	for i, l := range routes {
		out[i] = routeView{Prefix: l.Prefix, MCCMNC: l.MCCMNC, Suppliers: l.Suppliers, Weights: weightsOf(l), Hours: l.Hours}
	}
	writeJSON(w, http.StatusOK, map[string]any{"routes": out})
	return nil
}

// writeDeckCSV answers with a deck of n lines as CSV: the header
// "prefix,"+value and "prefix,value" lines when no line names a network
// (the form decks had before networks, so that nothing changes for their
// users), else "prefix,mccmnc,"+value with one of prefix and mccmnc
// filled on each line. readDeckCSV takes either form back.
func writeDeckCSV(w http.ResponseWriter, value string, n int, line func(i int) (prefix, mccmnc, v string)) error {
	networks := false
	for i := 0; i < n && !networks; i++ {
		_, mccmnc, _ := line(i)
		networks = mccmnc != ""
	}
	header := []string{"prefix", value}
	if networks {
		header = []string{"prefix", "mccmnc", value}
	}
	rows := make([][]string, n)
	for i := range rows {
		prefix, mccmnc, v := line(i)
		if networks {
			rows[i] = []string{prefix, mccmnc, v}
		} else {
			rows[i] = []string{prefix, v}
		}
	}
	return writeCSV(w, header, rows)
}

// cardLine is one line of a rate or cost card read from CSV: a prefix or
// (MCCMNC set, Prefix empty) a mobile network, and its amount.
type cardLine struct {
	Prefix string
	MCCMNC string
	Value  decimal.Decimal
}

// parseCardCSV reads a rate or cost card as CSV in readDeckCSV's form,
// value naming the amount's column (e.g. "price"). Amounts follow the JSON
// API's rules (a decimal number, no exponent). An error is a 400 naming
// the line; a body over its bound is the reader's *http.MaxBytesError.
func parseCardCSV(rd io.Reader, value string) ([]cardLine, error) {
	var out []cardLine
	err := readDeckCSV(rd, value, func(prefix, mccmnc, raw string) error {
		raw = strings.TrimSpace(raw)
		q, _ := json.Marshal(raw)
		var a Amount
		if err := a.UnmarshalJSON(q); err != nil {
			return fmt.Errorf("%s %q is not a decimal number", value, truncate(raw))
		}
		out = append(out, cardLine{Prefix: prefix, MCCMNC: mccmnc, Value: a.Decimal})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseRoutesCSV reads a route table as CSV, the CSV GET /v1/routes gives:
// readDeckCSV's form with the value column "suppliers" ("sup1 sup2", the
// suppliers in preference order separated by spaces). An error is a 400
// naming the line; a body over its bound is the reader's
// *http.MaxBytesError. Whether the suppliers exist is the ledger's check.
func parseRoutesCSV(rd io.Reader) ([]events.Route, error) {
	var out []events.Route
	err := readDeckCSV(rd, "suppliers", func(prefix, mccmnc, raw string) error {
		rt, err := parseRouteSuppliers(raw)
		if err != nil {
			return err
		}
		if len(rt.Suppliers) == 0 {
			if mccmnc != "" {
				return fmt.Errorf("no supplier for network %q", truncate(mccmnc))
			}
			return fmt.Errorf("no supplier for prefix %q", truncate(prefix))
		}
		rt.Prefix, rt.MCCMNC = prefix, mccmnc
		out = append(out, rt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readDeckCSV reads a deck (a rate card, a cost card, the route table) as
// CSV: a header line "prefix,"+value or "prefix,mccmnc,"+value (names
// trimmed, any case, a leading byte-order mark allowed), then one line each
// in the header's form, at most ledger.MaxCardLines; blank lines are
// skipped and fields may be quoted. In the three-column form a line fills
// one of prefix and mccmnc, never both. Each line's prefix, mccmnc
// (trimmed) and raw value go to add. An error (add's too) is a 400 naming
// the line; a body over its bound is the reader's *http.MaxBytesError.
// Whether a prefix or an mccmnc is well formed is the ledger's check.
func readDeckCSV(rd io.Reader, value string, add func(prefix, mccmnc, raw string) error) error {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	bad := func(line int, format string, args ...any) error {
		return errorf(http.StatusBadRequest, "invalid_request", "csv line %d: %s", line, fmt.Sprintf(format, args...))
	}
	two, three := "prefix,"+value, "prefix,mccmnc,"+value
	fields := 0 // per line, once the header line is read
	lines := 0
	for n := 1; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			if n == 1 {
				return bad(1, "the header line %q or %q is required", two, three)
			}
			return nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return mbe
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return bad(pe.Line, "%v", pe.Err)
			}
			return bad(n, "%v", err)
		}
		line, _ := cr.FieldPos(0)
		if n == 1 {
			if fields = deckHeader(rec, value); fields == 0 {
				return bad(line, "the header line must be %q or %q", two, three)
			}
			continue
		}
		if len(rec) != fields {
			form := two
			if fields == 3 {
				form = three
			}
			return bad(line, "want %d fields (%s), got %d", fields, form, len(rec))
		}
		if lines == ledger.MaxCardLines {
			return bad(line, "at most %d lines", ledger.MaxCardLines)
		}
		lines++
		prefix, mccmnc, raw := strings.TrimSpace(rec[0]), "", rec[1]
		if fields == 3 {
			mccmnc, raw = strings.TrimSpace(rec[1]), rec[2]
		}
		switch {
		case prefix == "" && mccmnc == "" && fields == 3:
			return bad(line, "a prefix or an mccmnc is required")
		case prefix == "" && mccmnc == "":
			return bad(line, "empty prefix")
		case prefix != "" && mccmnc != "":
			return bad(line, "prefix %q and mccmnc %q: a line names a prefix or a network, not both", truncate(prefix), truncate(mccmnc))
		}
		if err := add(prefix, mccmnc, raw); err != nil {
			return bad(line, "%v", err)
		}
	}
}

// deckHeader returns how many columns the header line rec gives a deck
// whose value column is value: 2 for "prefix,"+value, 3 for
// "prefix,mccmnc,"+value, 0 for anything else.
func deckHeader(rec []string, value string) int {
	names := make([]string, len(rec))
	for i, f := range rec {
		names[i] = strings.ToLower(strings.TrimSpace(f))
	}
	if len(names) > 0 {
		names[0] = strings.TrimSpace(strings.TrimPrefix(names[0], "\ufeff"))
	}
	switch {
	case len(names) == 2 && names[0] == "prefix" && names[1] == value:
		return 2
	case len(names) == 3 && names[0] == "prefix" && names[1] == "mccmnc" && names[2] == value:
		return 3
	}
	return 0
}

// A route's suppliers field in CSV: the suppliers in preference order
// separated by spaces, each with an optional ":weight" (its traffic share;
// all or none of them), then an optional "@HH:MM-HH:MM" (the row's hours,
// UTC) — "a:70 b:30 @08:00-20:00". routeSuppliersText writes it,
// parseRouteSuppliers reads it back.
func routeSuppliersText(r events.Route) string {
	weights := strings.Fields(r.Weights)
	parts := make([]string, 0, len(r.Suppliers)+1)
	for i, s := range r.Suppliers {
		if i < len(weights) {
			s += ":" + weights[i]
		}
		parts = append(parts, s)
	}
	if r.Hours != "" {
		parts = append(parts, "@"+r.Hours)
	}
	return strings.Join(parts, " ")
}

func parseRouteSuppliers(raw string) (events.Route, error) {
	var rt events.Route
	var weights []string
	for _, f := range strings.Fields(raw) {
		if h, ok := strings.CutPrefix(f, "@"); ok {
			if rt.Hours != "" {
				return rt, fmt.Errorf("hours given twice")
			}
			rt.Hours = h
			continue
		}
		id, w, hasWeight := strings.Cut(f, ":")
		if hasWeight {
			if _, err := strconv.Atoi(w); err != nil {
				return rt, fmt.Errorf("supplier %q: the weight after ':' must be an integer", truncate(f))
			}
			weights = append(weights, w)
		}
		rt.Suppliers = append(rt.Suppliers, id)
	}
	if len(weights) > 0 && len(weights) != len(rt.Suppliers) {
		return rt, fmt.Errorf("weights for %d of %d suppliers: give all or none", len(weights), len(rt.Suppliers))
	}
	rt.Weights = strings.Join(weights, " ")
	return rt, nil
}

// weightsOf is a route row's traffic shares as the API lists them (the
// ledger keeps no row whose weights do not read).
func weightsOf(r events.Route) []int {
	w, _ := r.WeightList()
	return w
}
