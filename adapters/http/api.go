package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
)

// Amount is a money amount in a request: a decimal string ("0.0125"); a
// JSON number is accepted too and read exactly from its text, never through
// a float.
type Amount struct {
	decimal.Decimal
	set bool
}

type amountError struct{ raw string }

func (e *amountError) Error() string {
	return fmt.Sprintf("amount %s is not a decimal number (use a string like \"0.0125\")", e.raw)
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *Amount) UnmarshalJSON(b []byte) error {
	raw := bytes.TrimSpace(b)
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return &amountError{raw: string(raw)}
		}
	}
	if len(s) == 0 || len(s) > 40 || bytes.ContainsAny([]byte(s), "eE") {
		return &amountError{raw: truncate(string(raw))}
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return &amountError{raw: truncate(string(raw))}
	}
	a.Decimal, a.set = d, true
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func required(field string, ok bool) error {
	if !ok {
		return errorf(http.StatusBadRequest, "invalid_request", "%s is required", field)
	}
	return nil
}

type tenantReq struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Currency    string `json:"currency"`
	Billing     string `json:"billing"`
	TPSLimit    int    `json:"tps_limit"`
	CreditLimit Amount `json:"credit_limit"`
	Tier        string `json:"tier"`
	// DefaultValidityS: 0 or absent is the service's default (172800).
	DefaultValidityS int `json:"default_validity_s"`
	// MaxBinds: SMPP binds at once (0 or absent: no limit); AllowedIPs:
	// CIDRs the tenant's binds and API calls may come from (empty: any).
	MaxBinds   int      `json:"max_binds"`
	AllowedIPs []string `json:"allowed_ips"`
	// MOPrice: what each MO to one of its numbers costs it (absent: 0).
	MOPrice Amount `json:"mo_price"`
}

func (h *handler) createTenant(w http.ResponseWriter, r *http.Request, _ string) error {
	var req tenantReq
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Tier == "" {
		req.Tier = "standard"
	}
	err := h.svc.CreateTenant(r.Context(), ledger.TenantSpec{ID: req.ID, Name: req.Name, Currency: req.Currency,
		Billing: req.Billing, TPSLimit: req.TPSLimit, CreditLimit: req.CreditLimit.Decimal, Tier: req.Tier,
		DefaultValidityS: req.DefaultValidityS, MaxBinds: req.MaxBinds, AllowedIPs: req.AllowedIPs, MOPrice: req.MOPrice.Decimal})
	if err != nil {
		return err
	}
	t, err := h.svc.Tenant(req.ID)
	if err != nil {
		return err
	}
	v, err := h.tenantView(t) // the tenant object of GET /v1/tenants/{id}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, v)
	return nil
}

func (h *handler) setSmpp(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		SystemID string `json:"system_id"`
		Password string `json:"password"`
	}
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := h.svc.SetSmppCredentials(r.Context(), id, req.SystemID, req.Password); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"tenant_id": id, "system_id": req.SystemID})
	return nil
}

func (h *handler) issueKey(w http.ResponseWriter, r *http.Request, _ string) error {
	if r.ContentLength > 0 {
		var req struct{}
		if err := decode(w, r, MaxBodyBytes, &req); err != nil {
			return err
		}
	}
	key, keyID, err := h.svc.IssueAPIKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, map[string]string{"id": keyID, "key": key, "key_id": keyID}) // key_id: the former name of id
	return nil
}

func (h *handler) topUp(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		Amount    Amount `json:"amount"`
		Reference string `json:"reference"`
	}
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := required("amount", req.Amount.set); err != nil {
		return err
	}
	id := r.PathValue("id")
	res, err := h.svc.TopUp(r.Context(), id, req.Amount.Decimal, req.Reference)
	if err != nil {
		return err
	}
	bal, err := h.svc.Balance(id)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if res.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"entry_id": res.EntryID, "reference": req.Reference,
		"amount": req.Amount.Decimal.String(), "duplicate": res.Duplicate, "balance": bal})
	return nil
}

// setRates replaces a tenant's rate card: a JSON array of lines naming a
// prefix or (mccmnc) a mobile network, or with Content-Type: text/csv the
// CSV GET gives ("prefix,price" or "prefix,mccmnc,price", readDeckCSV).
func (h *handler) setRates(w http.ResponseWriter, r *http.Request, _ string) error {
	var rates []events.Rate
	if sendsCSV(r) {
		lines, err := parseCardCSV(http.MaxBytesReader(w, r.Body, MaxCardBodyBytes), "price")
		if err != nil {
			return err
		}
		rates = make([]events.Rate, len(lines))
		for i, l := range lines {
			rates[i] = events.Rate{Prefix: l.Prefix, MCCMNC: l.MCCMNC, Price: l.Value}
		}
	} else {
		var req []struct {
			Prefix *string `json:"prefix"`
			MCCMNC string  `json:"mccmnc"`
			Price  Amount  `json:"price"`
		}
		if err := decode(w, r, MaxCardBodyBytes, &req); err != nil {
			return err
		}
		rates = make([]events.Rate, len(req))
		for i, l := range req {
			if !deckKeyGiven(l.Prefix, l.MCCMNC) || !l.Price.set {
				return errorf(http.StatusBadRequest, "invalid_request", "rate %d: a prefix or an mccmnc, and a price, are required", i)
			}
			rates[i] = events.Rate{Prefix: deref(l.Prefix), MCCMNC: l.MCCMNC, Price: l.Price.Decimal}
		}
	}
	id := r.PathValue("id")
	if err := h.svc.SetRates(r.Context(), id, rates); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenant_id": id, "rates": len(rates)})
	return nil
}

// deckKeyGiven tells whether a JSON deck line names where it applies: a
// prefix (even "", which the ledger refuses with its own words) or a
// network. One naming both is the ledger's to refuse.
func deckKeyGiven(prefix *string, mccmnc string) bool { return prefix != nil || mccmnc != "" }

// deref is *p, or "" for nil.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// setWebhook sets the URL a tenant's final DLRs are POSTed to and the
// secret that signs them (sealed in the log; never echoed back).
func (h *handler) setWebhook(w http.ResponseWriter, r *http.Request, _ string) error {
	var req struct {
		URL    *string `json:"url"`
		Secret *string `json:"secret"`
	}
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := required("url", req.URL != nil); err != nil {
		return err
	}
	if err := required("secret", req.Secret != nil); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := h.svc.SetWebhook(r.Context(), id, *req.URL, *req.Secret); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"tenant_id": id, "url": *req.URL})
	return nil
}

// removeWebhook removes a tenant's webhook (idempotent).
func (h *handler) removeWebhook(w http.ResponseWriter, r *http.Request, _ string) error {
	if err := h.svc.RemoveWebhook(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type supplierReq struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	SystemID string `json:"system_id"`
	Password string `json:"password"`
	Binds    int    `json:"binds"`
	TPSLimit int    `json:"tps_limit"`
	Window   int    `json:"window"`
	Billing  string `json:"billing"`     // on_submit (default) | on_delivery: when we owe the supplier its cost
	DLRGrace int    `json:"dlr_grace_s"` // 0 or absent: the default (3600)
	// TLS: bind over TLS, verifying TLSServerName (empty: host) against
	// TLSCAPEM (PEM CA certificates; empty: the system's roots).
	TLS           bool   `json:"tls"`
	TLSServerName string `json:"tls_server_name"`
	TLSCAPEM      string `json:"tls_ca_pem"`
}

func (h *handler) createSupplier(w http.ResponseWriter, r *http.Request, _ string) error {
	var req supplierReq
	if err := decode(w, r, MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Binds == 0 {
		req.Binds = 1
	}
	if req.Window == 0 {
		req.Window = 10
	}
	err := h.svc.CreateSupplier(r.Context(), ledger.SupplierSpec{ID: req.ID, Name: req.Name, Currency: req.Currency,
		Host: req.Host, Port: req.Port, SystemID: req.SystemID, Password: req.Password, Binds: req.Binds,
		TPSLimit: req.TPSLimit, Window: req.Window, Billing: req.Billing, DLRGraceS: req.DLRGrace,
		TLS: req.TLS, TLSServerName: req.TLSServerName, TLSCAPEM: req.TLSCAPEM})
	if err != nil {
		return err
	}
	sp, err := h.svc.Supplier(req.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": sp.ID, "name": sp.Name, "currency": sp.Currency,
		"host": sp.Host, "port": sp.Port, "system_id": sp.SystemID, "binds": sp.Binds,
		"tps_limit": sp.TPSLimit, "window": sp.Window, "billing": sp.Billing, "dlr_grace_s": sp.DLRGraceS,
		"tls": sp.TLS, "tls_server_name": sp.TLSServerName})
	return nil
}

// setCosts replaces a supplier's cost card: a JSON array of lines naming a
// prefix or (mccmnc) a mobile network, or with Content-Type: text/csv the
// CSV GET gives ("prefix,cost" or "prefix,mccmnc,cost", readDeckCSV).
func (h *handler) setCosts(w http.ResponseWriter, r *http.Request, _ string) error {
	var costs []events.Cost
	if sendsCSV(r) {
		lines, err := parseCardCSV(http.MaxBytesReader(w, r.Body, MaxCardBodyBytes), "cost")
		if err != nil {
			return err
		}
		costs = make([]events.Cost, len(lines))
		for i, l := range lines {
			costs[i] = events.Cost{Prefix: l.Prefix, MCCMNC: l.MCCMNC, Cost: l.Value}
		}
	} else {
		var req []struct {
			Prefix *string `json:"prefix"`
			MCCMNC string  `json:"mccmnc"`
			Cost   Amount  `json:"cost"`
		}
		if err := decode(w, r, MaxCardBodyBytes, &req); err != nil {
			return err
		}
		costs = make([]events.Cost, len(req))
		for i, l := range req {
			if !deckKeyGiven(l.Prefix, l.MCCMNC) || !l.Cost.set {
				return errorf(http.StatusBadRequest, "invalid_request", "cost %d: a prefix or an mccmnc, and a cost, are required", i)
			}
			costs[i] = events.Cost{Prefix: deref(l.Prefix), MCCMNC: l.MCCMNC, Cost: l.Cost.Decimal}
		}
	}
	id := r.PathValue("id")
	if err := h.svc.SetCosts(r.Context(), id, costs); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"supplier_id": id, "costs": len(costs)})
	return nil
}

// setRoutes replaces the route table: a JSON array of lines naming a
// prefix or (mccmnc) a mobile network, or with Content-Type: text/csv the
// CSV GET /v1/routes gives ("prefix,suppliers" or
// "prefix,mccmnc,suppliers", the suppliers in preference order separated
// by spaces).
func (h *handler) setRoutes(w http.ResponseWriter, r *http.Request, _ string) error {
	var routes []events.Route
	if sendsCSV(r) {
		var err error
		if routes, err = parseRoutesCSV(http.MaxBytesReader(w, r.Body, MaxCardBodyBytes)); err != nil {
			return err
		}
	} else {
		var req []struct {
			Prefix    *string  `json:"prefix"`
			MCCMNC    string   `json:"mccmnc"`
			Suppliers []string `json:"suppliers"`
			Weights   []int    `json:"weights"`
			Hours     string   `json:"hours"`
		}
		if err := decode(w, r, MaxCardBodyBytes, &req); err != nil {
			return err
		}
		routes = make([]events.Route, len(req))
		for i, l := range req {
			if !deckKeyGiven(l.Prefix, l.MCCMNC) || len(l.Suppliers) == 0 {
				return errorf(http.StatusBadRequest, "invalid_request", "route %d: a prefix or an mccmnc, and suppliers, are required", i)
			}
			routes[i] = events.Route{Prefix: deref(l.Prefix), MCCMNC: l.MCCMNC, Suppliers: l.Suppliers,
				Weights: events.FormatWeights(l.Weights), Hours: l.Hours}
		}
	}
	if err := h.svc.SetRoutes(r.Context(), routes); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"routes": len(routes)})
	return nil
}

// SendRequest is the body of POST /v1/messages.
type SendRequest struct {
	From      string   `json:"from"`
	To        string   `json:"to"`
	Text      string   `json:"text"`
	ValidityS Validity `json:"validity_s"`
	// SendAt schedules the message (RFC 3339, at most a week ahead); its
	// validity then counts from it.
	SendAt    string `json:"send_at"`
	ClientRef string `json:"client_ref"`
}

// IdempotencyKeyHeader names the header that makes POST /v1/messages
// idempotent: a repeat within 24 h with the same key and body gets the
// same 202 body and holds nothing more.
const IdempotencyKeyHeader = "Idempotency-Key"

// Validity bounds, in seconds, of validity_s on POST /v1/messages.
const (
	MinValiditySeconds = 1
	MaxValiditySeconds = 7 * 24 * 3600 // 604800
)

// Validity is validity_s of a send request: a JSON integer number of
// seconds in [MinValiditySeconds, MaxValiditySeconds]. Absent or null
// leaves it unset (the ledger applies the tenant's default). Anything else
// (a string, a fraction, an exponent, a value out of range) is a decode
// error naming validity_s, so a decoded Validity that is set is in range.
type Validity struct {
	Seconds int
	set     bool
}

// Set reports whether the request gave validity_s.
func (v Validity) Set() bool { return v.set }

type validityError struct{ raw string }

func (e *validityError) Error() string {
	return fmt.Sprintf("validity_s must be an integer number of seconds from %d to %d, not %s",
		MinValiditySeconds, MaxValiditySeconds, e.raw)
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Validity) UnmarshalJSON(b []byte) error {
	raw := bytes.TrimSpace(b)
	if string(raw) == "null" {
		return nil
	}
	// JSON has already checked the syntax: a number literal that ParseInt
	// refuses is a fraction, an exponent or too large; a string, bool,
	// object or array is refused here too.
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n < MinValiditySeconds || n > MaxValiditySeconds {
		return &validityError{raw: truncate(string(raw))}
	}
	v.Seconds, v.set = int(n), true
	return nil
}

func (h *handler) send(w http.ResponseWriter, r *http.Request, tenant string) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	key := r.Header.Get(IdempotencyKeyHeader)
	if len(key) > ledger.MaxIdempotencyKeyLen {
		return errorf(http.StatusBadRequest, "invalid_request", "%s is longer than %d bytes", IdempotencyKeyHeader, ledger.MaxIdempotencyKeyLen)
	}
	// The body is read whole (it is small and bounded) so that an
	// idempotent repeat is recognised by its bytes.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return jsonError(err)
	}
	var req SendRequest
	if err := decodeJSON(bytes.NewReader(body), &req); err != nil {
		return err
	}
	if req.To == "" {
		return errorf(http.StatusBadRequest, "invalid_request", "to is required")
	}
	if len(req.From) > 64 {
		return errorf(http.StatusBadRequest, "invalid_request", "from is longer than 64 bytes")
	}
	if len(req.ClientRef) > accept.MaxClientRefLen {
		return errorf(http.StatusBadRequest, "invalid_request", "client_ref is longer than %d bytes", accept.MaxClientRefLen)
	}
	var sendAt time.Time // zero: at once
	if req.SendAt != "" {
		if sendAt, err = time.Parse(time.RFC3339, req.SendAt); err != nil {
			return errorf(http.StatusBadRequest, "invalid_request", "send_at must be an RFC 3339 time like 2026-12-24T18:00:00Z, not %q", truncate(req.SendAt))
		}
	}
	// A tenant with a DLR webhook gets the final status of what it sends
	// over HTTP pushed there.
	_, _, dlr := h.svc.Webhook(tenant)
	start := time.Now()
	var expires time.Time // zero: the ledger applies the tenant's default validity
	if req.ValidityS.set {
		from := start
		if sendAt.After(start) {
			from = sendAt
		}
		expires = from.UTC().Add(time.Duration(req.ValidityS.Seconds) * time.Second)
	}
	sub := accept.Request{Channel: "http", From: req.From, To: req.To, Text: req.Text,
		RegisteredDelivery: dlr, ExpiresAt: expires, SendAt: sendAt, ClientRef: req.ClientRef}
	if key != "" {
		sum := sha256.Sum256(body)
		sub.IdempotencyKey, sub.RequestHash = key, hex.EncodeToString(sum[:16])
	}
	acc, err := h.svc.Submit(r.Context(), tenant, sub)
	h.metrics.submitted(h.svc, tenant, err, time.Since(start))
	if err != nil {
		return err
	}
	resp := map[string]any{"message_id": acc.MessageID, "parts": acc.Parts,
		"price": acc.Price.String(), "currency": acc.Currency}
	if req.ClientRef != "" {
		resp["client_ref"] = req.ClientRef
	}
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}

// message: with a tenant's key, its own message in the tenant's view (no
// supplier, no cost); with the admin token (tenant ""), any tenant's
// message, whole, with the margin. See views.go.
func (h *handler) message(w http.ResponseWriter, r *http.Request, tenant string) error {
	id, err := parseMessageID(r)
	if err != nil {
		return err
	}
	if err := h.reads.enter(r.Context()); err != nil {
		return err
	}
	v, err := h.svc.Message(r.Context(), tenant, id)
	h.reads.leave()
	if err != nil {
		return err
	}
	if tenant == "" {
		writeJSON(w, http.StatusOK, adminView(v))
		return nil
	}
	writeJSON(w, http.StatusOK, tenantMessage(v))
	return nil
}

// messageEvents: the audit trail; a tenant's key gets each event's data
// filtered to what the tenant may see, the admin token all of it.
func (h *handler) messageEvents(w http.ResponseWriter, r *http.Request, tenant string) error {
	id, err := parseMessageID(r)
	if err != nil {
		return err
	}
	if err := h.reads.enter(r.Context()); err != nil {
		return err
	}
	evs, err := h.svc.MessageEvents(r.Context(), tenant, id)
	h.reads.leave()
	if err != nil {
		return err
	}
	if tenant != "" {
		evs = tenantEvents(evs)
	}
	writeJSON(w, http.StatusOK, map[string]any{"message_id": id, "events": evs})
	return nil
}

func (h *handler) balance(w http.ResponseWriter, r *http.Request, tenant string) error {
	b, err := h.svc.Balance(tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// orEmpty is s, or an empty list instead of nil (JSON [] rather than null).
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
