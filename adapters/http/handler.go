// Package httpapi is smsledger's HTTP API (adapters/http): the JSON
// endpoints of the product contract for operators (admin token: tenants,
// credentials, API keys, top-ups, rate cards, suppliers, cost cards,
// routes, reconciliation, replay) and tenants (API key: send, message
// state, audit trail, balance, CDRs), plus /healthz, /readyz, /metrics and
// the OpenAPI document at /v1/openapi.json.
//
// Commands and the hot path go through the Ledger interface, the methods of
// ledger.Service it calls (the same use cases SMPP uses); the reports that
// need the projections go through the Reports interface, plugged in by the
// caller. Input is decoded strictly (unknown fields, wrong types, trailing
// data and bad decimals are 400), bodies are size-limited, money is a
// decimal string, and errors are {"error":{"code","message"}}.
//
// A tenant's key sees its messages without supplier identity or cost; the
// admin token sees any tenant's message whole (views.go). /metrics needs
// the admin token (MetricsHandler serves a listener of its own). Failed
// authentications are limited per client address and per API key id, and
// tenant reads go through a bounded pool of their own (limits.go).
package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/smsledger/smsledger/domain/ledger"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document served at /v1/openapi.json.
func OpenAPI() []byte { return openAPIDoc }

// Body size limits.
const (
	MaxBodyBytes     = 64 << 10 // commands and submits
	MaxCardBodyBytes = 8 << 20  // rate cards, cost cards, route tables
)

// CDRQuery selects CDRs: a tenant's, or every tenant's when TenantID is
// empty (the admin token). The filters are exact matches, empty for any.
type CDRQuery struct {
	TenantID    string
	From, To    time.Time // zero: unbounded
	Status      string
	Destination string // E.164 digits as stored (no "+")
	ClientRef   string
	SupplierID  string
	MCCMNC      string // the destination's network
	Cursor      string // opaque, from CDRPage.NextCursor
	Limit       int
}

// CDRPage is one page of CDRs as a table: Rows are Columns' values as
// strings (money as decimal strings). JSON renders each row as an object,
// CSV renders the table.
type CDRPage struct {
	Columns    []string
	Rows       [][]string
	NextCursor string
}

// ErrBadRequest, wrapped by a Reports implementation, makes the answer a
// 400 invalid_request (e.g. a CDR cursor that does not parse).
var ErrBadRequest = errors.New("bad request")

// Reports answers the queries that need the projections. The lead plugs
// the projections package in; a nil Reports makes those endpoints 503
// reports_unavailable.
type Reports interface {
	CDRs(ctx context.Context, q CDRQuery) (CDRPage, error)
	// Reconcile returns a JSON-encodable reconciliation report.
	Reconcile(ctx context.Context, from, to time.Time) (any, error)
	// Replay rebuilds the read models and returns a JSON-encodable result
	// (e.g. checksums per read model).
	Replay(ctx context.Context) (any, error)
	// CompareInvoice compares a supplier's invoice (CSV) with our CDRs of
	// the messages that supplier accepted in [from, to) and returns a
	// JSON-encodable report of the differences. An invoice that does not
	// parse is an error wrapping ErrBadRequest that names the line.
	CompareInvoice(ctx context.Context, supplierID string, from, to time.Time, invoice io.Reader) (any, error)
}

// Options configure the handler.
type Options struct {
	// AdminToken authorises admin endpoints (Bearer). Empty disables them.
	AdminToken string
	Logger     *slog.Logger
	// Registry receives the metrics and is served at /metrics; nil makes a
	// new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// Readiness is checked by /readyz besides the ledger having caught up
	// (e.g. a database ping). Optional.
	Readiness func(ctx context.Context) error
	// Reports serves CDRs, reconciliation and replay. Optional.
	Reports Reports
	// AuthLimits bound failed authentications per API key id and per
	// client address (429 too_many_failures). Zero values: the defaults.
	AuthLimits AuthLimits
	// TenantReads bounds the tenant reads (message views, audit trails,
	// CDR pages) in progress at once, so that heavy reads cannot take the
	// database connections the event store's writers need; 0:
	// DefaultTenantReads.
	TenantReads int
	// Now is the clock of the failure limits (tests); nil: time.Now.
	Now func() time.Time
	// SupplierStates gives the live state of suppliers' binds (the relay in
	// serve) for GET /v1/suppliers; optional (admin_suppliers.go).
	SupplierStates SupplierStates
	// TenantBinds gives a tenant's SMPP binds now (the SMPP server in
	// serve) for GET /v1/tenants/{id}/binds; optional (admin_binds.go).
	TenantBinds TenantBinds
}

type handler struct {
	svc        Ledger
	opts       Options
	log        *slog.Logger
	adminHash  [32]byte
	metrics    *metrics
	mux        *http.ServeMux
	routesList []Route
	keyFails   *failureLimiter // per presented API key id
	addrFails  *failureLimiter // per client address
	reads      readGate
}

// Route is one registered endpoint.
type Route struct {
	Method, Path string
	auth         authKind
	h            func(w http.ResponseWriter, r *http.Request, tenant string) error
}

type authKind int

const (
	authNone authKind = iota
	authAdmin
	authTenant
	// authTenantOrAdmin: a tenant's API key (its own data, the tenant's
	// view) or the admin token (any tenant's, the whole view; tenant "").
	authTenantOrAdmin
)

// NewHandler returns the HTTP API over svc (a *ledger.Service in
// production).
func NewHandler(svc Ledger, opts Options) http.Handler {
	return newHandler(svc, opts)
}

// Routes lists the method and path pattern of every registered endpoint.
func Routes() []Route { return newHandler(nil, Options{}).routesList }

func newHandler(svc Ledger, opts Options) *handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.AuthLimits.setDefaults()
	if opts.TenantReads <= 0 {
		opts.TenantReads = DefaultTenantReads
	}
	h := &handler{svc: svc, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	al := opts.AuthLimits
	h.keyFails = newFailureLimiter(al.PerKey, al.Window, al.MaxEntries, opts.Now)
	h.addrFails = newFailureLimiter(al.PerAddr, al.Window, al.MaxEntries, opts.Now)
	h.reads = make(readGate, opts.TenantReads)
	h.adminHash = sha256.Sum256([]byte(opts.AdminToken))
	h.metrics = newMetrics(opts.Registry, svc)
	h.routesList = []Route{
		{"GET", "/healthz", authNone, h.healthz},
		{"GET", "/readyz", authNone, h.readyz},
		{"GET", "/metrics", authAdmin, h.metricsHandler()},
		{"GET", "/v1/openapi.json", authNone, h.openapi},
		{"POST", "/v1/tenants", authAdmin, h.createTenant},
		{"POST", "/v1/tenants/{id}/smpp-credentials", authAdmin, h.setSmpp},
		{"POST", "/v1/tenants/{id}/api-keys", authAdmin, h.issueKey},
		{"POST", "/v1/tenants/{id}/topups", authAdmin, h.topUp},
		{"PUT", "/v1/tenants/{id}/rates", authAdmin, h.setRates},
		{"PUT", "/v1/tenants/{id}/webhook", authAdmin, h.setWebhook},
		{"DELETE", "/v1/tenants/{id}/webhook", authAdmin, h.removeWebhook},
		{"POST", "/v1/suppliers", authAdmin, h.createSupplier},
		{"PUT", "/v1/suppliers/{id}/costs", authAdmin, h.setCosts},
		{"PUT", "/v1/routes", authAdmin, h.setRoutes},
		{"GET", "/v1/reconciliation", authAdmin, h.reconcile},
		{"POST", "/v1/reconciliation/invoice", authAdmin, h.reconcileInvoice},
		{"POST", "/v1/replay", authAdmin, h.replay},
		{"POST", "/v1/messages", authTenant, h.send},
		{"GET", "/v1/messages/{id}", authTenantOrAdmin, h.message},
		{"GET", "/v1/messages/{id}/events", authTenantOrAdmin, h.messageEvents},
		{"GET", "/v1/balance", authTenant, h.balance},
		{"GET", "/v1/cdrs", authTenantOrAdmin, h.cdrs},
	}
	// The administration of tenants, keys and adjustments, and suppliers,
	// routes and decks (admin_*.go).
	h.routesList = append(h.routesList, h.tenantAdminRoutes()...)
	h.routesList = append(h.routesList, h.keyAdminRoutes()...)
	h.routesList = append(h.routesList, h.fxAdminRoutes()...)
	h.routesList = append(h.routesList, h.supplierAdminRoutes()...)
	h.routesList = append(h.routesList, h.bindAdminRoutes()...)
	h.routesList = append(h.routesList, h.numberingAdminRoutes()...)
	h.routesList = append(h.routesList, h.numbersAdminRoutes()...)
	h.routesList = append(h.routesList, h.healthAdminRoutes()...)
	h.routesList = append(h.routesList, h.controlsAdminRoutes()...)
	for _, rt := range h.routesList {
		h.mux.Handle(rt.Method+" "+rt.Path, h.wrap(rt))
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// apiError is an error with an HTTP status and code.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) error {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// noWriteDeadline lifts the server's write timeout for an answer that may
// take long to compute (reconciliation, replay).
func noWriteDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (h *handler) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		err := h.serve(sw, r, rt)
		if err != nil {
			status, code, msg := h.classify(err)
			if status >= 500 {
				h.log.Error("http: request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
			}
			if status == http.StatusTooManyRequests && sw.Header().Get("Retry-After") == "" {
				// Throttled (TPS, or the backlog behind the accepts): a
				// second is when trying again makes sense; a limit that
				// knows better has set its own.
				sw.Header().Set("Retry-After", "1")
			}
			writeErrorOf(sw, err, status, code, msg) // a refused message's id too (admin_controls.go)
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		h.metrics.observe(rt.Method+" "+rt.Path, sw.status, time.Since(start))
	})
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, rt Route) error {
	if rt.auth == authNone {
		return rt.h(w, r, "")
	}
	tenant, err := h.authenticate(w, r, rt.auth)
	if err != nil {
		return err
	}
	return rt.h(w, r, tenant)
}

// authenticate checks a request's Bearer credentials for an endpoint of
// kind auth and returns its tenant ("" for the admin token). Failures are
// counted per client address and per presented API key id; one over its
// limit is refused (429) before its credentials are looked at, so that
// guessing costs time.
func (h *handler) authenticate(w http.ResponseWriter, r *http.Request, auth authKind) (string, error) {
	tok, ok := bearer(r)
	addr := clientAddr(r)
	keyID := apiKeyID(tok)
	if left, blocked := h.addrFails.blocked(addr); blocked {
		return "", tooManyFailures(w, left)
	}
	if keyID != "" {
		if left, blocked := h.keyFails.blocked(keyID); blocked {
			return "", tooManyFailures(w, left)
		}
	}
	fail := func(msg string) (string, error) {
		h.addrFails.fail(addr)
		if keyID != "" {
			h.keyFails.fail(keyID)
		}
		h.metrics.authFailed()
		return "", errorf(http.StatusUnauthorized, "unauthorized", "%s", msg)
	}
	if auth == authAdmin || (auth == authTenantOrAdmin && keyID == "") {
		got := sha256.Sum256([]byte(tok))
		if !ok || h.opts.AdminToken == "" || subtle.ConstantTimeCompare(got[:], h.adminHash[:]) != 1 {
			if auth == authTenantOrAdmin {
				return fail("missing or wrong Bearer API key or admin token")
			}
			return fail("admin endpoint: missing or wrong Bearer admin token")
		}
		return "", nil
	}
	if !ok {
		return fail("missing Bearer API key")
	}
	id, err := h.svc.AuthenticateAPIKey(r.Context(), tok)
	if err != nil {
		if ledger.CodeOf(err) != ledger.CodeBadCredentials {
			return "", err // e.g. not ready: not the caller's failure
		}
		return fail("invalid API key")
	}
	if err := h.fromAllowedAddr(r, id); err != nil {
		return "", err
	}
	if h.suspended(id) {
		return "", errorf(http.StatusForbidden, "tenant_suspended", "tenant %s is suspended", id)
	}
	return id, nil
}

// fromAllowedAddr refuses (403) a tenant's call from outside its
// allowed_ips (the peer address; X-Forwarded-For is not trusted).
func (h *handler) fromAllowedAddr(r *http.Request, tenantID string) error {
	a, err := h.svc.TenantAccess(tenantID)
	if err != nil || len(a.AllowedIPs) == 0 {
		return err
	}
	addr, host, ok := peerIP(r.RemoteAddr)
	if !ok || !a.Allows(addr) {
		return errorf(http.StatusForbidden, "forbidden_address", "tenant %s: calls from %s are outside its allowed_ips", tenantID, host)
	}
	return nil
}

func bearer(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(a, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// statusOf maps ledger codes to HTTP statuses.
var statusOf = map[ledger.Code]int{
	ledger.CodeInvalid:               http.StatusBadRequest,
	ledger.CodeNotFound:              http.StatusNotFound,
	ledger.CodeAlreadyExists:         http.StatusConflict,
	ledger.CodeConflict:              http.StatusConflict,
	ledger.CodeBadCredentials:        http.StatusUnauthorized,
	ledger.CodeUnknownSystemID:       http.StatusUnauthorized,
	ledger.CodeUnknownTenant:         http.StatusNotFound,
	ledger.CodeThrottled:             http.StatusTooManyRequests,
	ledger.CodeNotReady:              http.StatusServiceUnavailable,
	ledger.CodeInvalidDestination:    http.StatusBadRequest,
	ledger.CodeNoRoute:               http.StatusUnprocessableEntity,
	ledger.CodeNoRate:                http.StatusUnprocessableEntity,
	ledger.CodeInsufficientFunds:     http.StatusPaymentRequired,
	ledger.CodeTooLong:               http.StatusBadRequest,
	ledger.CodeInvalidText:           http.StatusBadRequest,
	ledger.CodeUnsupportedEncoding:   http.StatusBadRequest,
	ledger.CodeInvalidSchedule:       http.StatusBadRequest,
	ledger.CodeInvalidExpiry:         http.StatusBadRequest,
	ledger.CodeIdempotencyConflict:   http.StatusConflict,
	ledger.CodeIdempotencyInProgress: http.StatusConflict,

	// The controls before a message is accepted (admin_controls.go).
	ledger.CodeSenderNotAllowed:       http.StatusBadRequest,
	ledger.CodeContentBlocked:         http.StatusUnprocessableEntity,
	ledger.CodeDestinationRateLimited: http.StatusTooManyRequests,
	ledger.CodeDuplicateMessage:       http.StatusConflict,
}

func (h *handler) classify(err error) (int, string, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.code, ae.message
	}
	if errors.Is(err, ErrBadRequest) {
		return http.StatusBadRequest, "invalid_request", err.Error()
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body over %d bytes", mbe.Limit)
	}
	code := ledger.CodeOf(err)
	if st, ok := statusOf[code]; ok {
		msg := err.Error()
		var ve *ledger.ValidationError
		if errors.As(err, &ve) {
			msg = ve.Field + ": " + ve.Message
		}
		return st, string(code), msg
	}
	if errors.Is(err, ledger.ErrNotDurable) {
		return http.StatusServiceUnavailable, string(ledger.CodeSystemError), "the message could not be made durable; it was not accepted"
	}
	return http.StatusInternalServerError, "internal_error", "internal error"
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads exactly one JSON value into v, strictly.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	return decodeJSON(http.MaxBytesReader(w, r.Body, limit), v)
}

// decodeJSON decodes one JSON value from rd into v: unknown fields, wrong
// types, trailing data and invalid amounts are 400 invalid_request errors.
func decodeJSON(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "invalid_request", "request body must hold exactly one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var ae *amountError
	var ve *validityError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.As(err, &ae):
		return errorf(http.StatusBadRequest, "invalid_request", "%s", ae.Error())
	case errors.As(err, &ve):
		return errorf(http.StatusBadRequest, "invalid_request", "%s", ve.Error())
	case errors.As(err, &se):
		return errorf(http.StatusBadRequest, "invalid_request", "malformed JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		if te.Field != "" {
			return errorf(http.StatusBadRequest, "invalid_request", "field %q must be %s, not %s", te.Field, te.Type, te.Value)
		}
		return errorf(http.StatusBadRequest, "invalid_request", "body must be %s, not %s", te.Type, te.Value)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "invalid_request", "empty request body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "invalid_request", "truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "invalid_request", "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return errorf(http.StatusBadRequest, "invalid_request", "invalid JSON: %v", err)
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request, _ string) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request, _ string) error {
	if !h.svc.Ready() {
		return errorf(http.StatusServiceUnavailable, "not_ready", "ledger is still catching up with the event log")
	}
	if h.opts.Readiness != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := h.opts.Readiness(ctx); err != nil {
			return errorf(http.StatusServiceUnavailable, "not_ready", "%v", err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// MetricsHandler serves reg's metrics without authentication: for a
// listener of its own (serve's --metrics-addr); on the API's address
// /metrics needs the admin token.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func (h *handler) metricsHandler() func(http.ResponseWriter, *http.Request, string) error {
	ph := MetricsHandler(h.opts.Registry)
	return func(w http.ResponseWriter, r *http.Request, _ string) error {
		ph.ServeHTTP(w, r)
		return nil
	}
}

func (h *handler) openapi(w http.ResponseWriter, r *http.Request, _ string) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
	return nil
}

func parseMessageID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, errorf(http.StatusNotFound, "not_found", "no such message")
	}
	return id, nil
}

func parseTime(q, name string) (time.Time, error) {
	if q == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, q)
	if err != nil {
		if d, err2 := time.Parse("2006-01-02", q); err2 == nil {
			return d, nil
		}
		return time.Time{}, errorf(http.StatusBadRequest, "invalid_request", "%s must be an RFC 3339 time or a date (YYYY-MM-DD)", name)
	}
	return t, nil
}

func (h *handler) reports() (Reports, error) {
	if h.opts.Reports == nil {
		return nil, errorf(http.StatusServiceUnavailable, "reports_unavailable", "reports (CDRs, reconciliation, replay) are not available on this server")
	}
	return h.opts.Reports, nil
}

// cdrs: a page of CDRs (JSON, or CSV with Accept: text/csv). A tenant's
// key reads its own; the admin token every tenant's (cdrQuery).
func (h *handler) cdrs(w http.ResponseWriter, r *http.Request, tenant string) error {
	rep, err := h.reports()
	if err != nil {
		return err
	}
	if err := h.reads.enter(r.Context()); err != nil {
		return err
	}
	defer h.reads.leave()
	q, err := cdrQuery(r, tenant)
	if err != nil {
		return err
	}
	page, err := rep.CDRs(r.Context(), q)
	if err != nil {
		return err
	}
	if tenant != "" {
		page = tenantCDRPage(page)
	}
	if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		if page.NextCursor != "" {
			w.Header().Set("X-Next-Cursor", page.NextCursor)
		}
		cw := csv.NewWriter(w)
		_ = cw.Write(page.Columns)
		for _, row := range page.Rows {
			_ = cw.Write(row)
		}
		cw.Flush()
		return nil
	}
	items := make([]map[string]string, len(page.Rows))
	for i, row := range page.Rows {
		m := make(map[string]string, len(page.Columns))
		for j, c := range page.Columns {
			if j < len(row) {
				m[c] = row[j]
			}
		}
		items[i] = m
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": page.NextCursor})
	return nil
}

func (h *handler) reconcile(w http.ResponseWriter, r *http.Request, _ string) error {
	rep, err := h.reports()
	if err != nil {
		return err
	}
	noWriteDeadline(w)
	from, err := parseTime(r.URL.Query().Get("from"), "from")
	if err != nil {
		return err
	}
	to, err := parseTime(r.URL.Query().Get("to"), "to")
	if err != nil {
		return err
	}
	res, err := rep.Reconcile(r.Context(), from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request, _ string) error {
	rep, err := h.reports()
	if err != nil {
		return err
	}
	noWriteDeadline(w)
	res, err := rep.Replay(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
