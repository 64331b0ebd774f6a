package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// tenantRoutes registers the pages of tenants: list, detail, create, top-up, adjust, suspend and resume, limits, keys, rate decks.
func (c *Console) tenantRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/tenants", c.signedIn(c.tenantsPage))
	mux.HandleFunc("POST /console/tenants", c.action(c.createTenant))
	mux.HandleFunc("GET /console/tenants/{id}", c.signedIn(c.tenantPage))
	mux.HandleFunc("GET /console/tenants/{id}/rates.csv", c.signedIn(c.tenantRatesCSV))
	mux.HandleFunc("POST /console/tenants/{id}/topup", c.action(c.tenantMoney("/topups", "top-up")))
	mux.HandleFunc("POST /console/tenants/{id}/adjust", c.action(c.tenantMoney("/adjustments", "adjustment")))
	mux.HandleFunc("POST /console/tenants/{id}/suspend", c.action(c.setTenantStatus("suspended", "suspended")))
	mux.HandleFunc("POST /console/tenants/{id}/resume", c.action(c.setTenantStatus("active", "resumed")))
	mux.HandleFunc("POST /console/tenants/{id}/limits", c.action(c.patchTenantLimits))
	mux.HandleFunc("POST /console/tenants/{id}/smpp-credentials", c.action(c.setTenantSMPP))
	mux.HandleFunc("POST /console/tenants/{id}/api-keys", c.action(c.issueTenantKey))
	mux.HandleFunc("POST /console/tenants/{id}/api-keys/{key_id}/revoke", c.action(c.revokeTenantKey))
	mux.HandleFunc("POST /console/tenants/{id}/rates", c.action(c.uploadTenantRates))
	mux.HandleFunc("POST /console/tenants/{id}/numbers", c.action(c.setTenantNumbers))
}

// Choices the forms offer: the values the API takes (ledger.TenantSpec).
var (
	tenantBillings = []string{"on_submit", "on_delivery"}
	tenantTiers    = []string{"standard", "premium", "economy"}
)

// tenantRatesShown bounds the rate table on a tenant's page; the whole deck
// is the CSV download.
const tenantRatesShown = 200

// tenantInfo is a tenant as GET /v1/tenants/{id} answers it (money as the
// API's decimal strings, shown as they are).
type tenantInfo struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	Currency         string   `json:"currency"`
	Billing          string   `json:"billing"`
	TPSLimit         int      `json:"tps_limit"`
	CreditLimit      string   `json:"credit_limit"`
	MOPrice          string   `json:"mo_price"` // charged for each MO to its numbers
	Tier             string   `json:"tier"`
	DefaultValidityS int      `json:"default_validity_s"`
	MaxBinds         int      `json:"max_binds"`
	AllowedIPs       []string `json:"allowed_ips"`
	Status           string   `json:"status"`
	SystemID         string   `json:"system_id"`
	Balance          string   `json:"balance"`
	Held             string   `json:"held"`
	Available        string   `json:"available"`
}

// tenantKey is one API key in force (GET /v1/tenants/{id}/api-keys): an id
// and its issue time, never the secret.
type tenantKey struct {
	ID        string `json:"id"`
	CreatedAt string `json:"created_at"`
}

// tenantBind is one of a tenant's SMPP binds now (GET
// /v1/tenants/{id}/binds).
type tenantBind struct {
	SystemID   string `json:"system_id"`
	Mode       string `json:"mode"`
	RemoteAddr string `json:"remote_addr"`
	BoundAt    string `json:"bound_at"`
}

// tenantRate is one line of a tenant's rate deck.
type tenantRate struct {
	Prefix string `json:"prefix"`
	MCCMNC string `json:"mccmnc"` // a network row (Prefix empty)
	Price  string `json:"price"`
}

// tenantPath is the API path of tenant id (plus suffix).
func tenantPath(id, suffix string) string { return "/v1/tenants/" + url.PathEscape(id) + suffix }

// tenantPageURL is the console page of tenant id.
func tenantPageURL(id string) string { return "/console/tenants/" + url.PathEscape(id) }

// tenantsPage lists the tenants, one API page (up to 1,000) at a time; the
// next page's link carries the API's cursor.
func (c *Console) tenantsPage(w http.ResponseWriter, r *http.Request, s *session) {
	cursor := r.URL.Query().Get("cursor")
	q := url.Values{"limit": {"1000"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var page struct {
		Tenants    []tenantInfo `json:"tenants"`
		NextCursor *string      `json:"next_cursor"`
	}
	if err := c.getJSON(r, s, "/v1/tenants?"+q.Encode(), &page); err != nil {
		c.renderError(w, r, s, "tenants", err)
		return
	}
	data := struct {
		Tenants        []tenantInfo
		Cursor, Next   string
		Billings, Tier []string
	}{Tenants: page.Tenants, Cursor: cursor, Billings: tenantBillings, Tier: tenantTiers}
	if page.NextCursor != nil {
		data.Next = *page.NextCursor
	}
	c.render(w, r, s, http.StatusOK, "tenants", "Tenants", "tenants", data)
}

// tenantPageData is what tenant.html shows.
type tenantPageData struct {
	T         tenantInfo
	Binds     []tenantBind // its SMPP binds now
	Keys      []tenantKey
	Rates     []tenantRate // the first tenantRatesShown lines
	RateCount int
	Numbers   []string // the MSISDNs and short codes whose MOs it gets
	// NewKeyID and NewKey: the key issued by the POST that led here, shown
	// this once (the API cannot show it again).
	NewKeyID, NewKey string
	Billings, Tiers  []string
}

// tenantPage shows one tenant: its money, settings, SMPP binds now, keys
// and rate deck, with the forms that change them.
func (c *Console) tenantPage(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	d := tenantPageData{Billings: tenantBillings, Tiers: tenantTiers}
	if err := c.getJSON(r, s, tenantPath(id, ""), &d.T); err != nil {
		c.renderError(w, r, s, "tenants", err)
		return
	}
	var binds struct {
		Binds []tenantBind `json:"binds"`
	}
	if err := c.getJSON(r, s, tenantPath(id, "/binds"), &binds); err != nil {
		c.renderError(w, r, s, "tenants", err)
		return
	}
	d.Binds = binds.Binds
	if err := c.getJSON(r, s, tenantPath(id, "/api-keys"), &d.Keys); err != nil {
		c.renderError(w, r, s, "tenants", err)
		return
	}
	var deck struct {
		Rates []tenantRate `json:"rates"`
	}
	if err := c.getJSON(r, s, tenantPath(id, "/rates"), &deck); err != nil {
		c.renderError(w, r, s, "tenants", err)
		return
	}
	d.RateCount = len(deck.Rates)
	d.Rates = deck.Rates[:min(len(deck.Rates), tenantRatesShown)]
	var numbers struct {
		Numbers []string `json:"numbers"`
	}
	if err := c.getJSON(r, s, tenantPath(id, "/numbers"), &numbers); err != nil {
		c.renderError(w, r, s, "tenants", err)
		return
	}
	d.Numbers = numbers.Numbers
	d.NewKeyID, d.NewKey = c.takeNewKey(s)
	c.render(w, r, s, http.StatusOK, "tenant", "Tenant "+id, "tenants", d)
}

// tenantRatesCSV downloads the tenant's whole rate deck as the API's CSV
// (prefix,price), the format the upload takes back.
func (c *Console) tenantRatesCSV(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	c.download(w, r, s, tenantPath(id, "/rates"), "text/csv", id+"-rates.csv")
}

// tenantCreateReq is POST /v1/tenants's body as the create form fills it;
// an empty credit limit is left to the API's default.
type tenantCreateReq struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Currency    string `json:"currency"`
	Billing     string `json:"billing"`
	Tier        string `json:"tier"`
	CreditLimit string `json:"credit_limit,omitempty"`
	TPSLimit    int    `json:"tps_limit"`
}

// createTenant creates a tenant and goes to its page.
func (c *Console) createTenant(r *http.Request, s *session) (string, string, error) {
	const back = "/console/tenants"
	req := tenantCreateReq{
		ID: strings.TrimSpace(r.PostFormValue("id")), Name: r.PostFormValue("name"),
		Currency: strings.TrimSpace(r.PostFormValue("currency")), Billing: r.PostFormValue("billing"),
		Tier: r.PostFormValue("tier"), CreditLimit: strings.TrimSpace(r.PostFormValue("credit_limit")),
	}
	tps, err := formInt(r, "tps_limit", "TPS limit")
	if err != nil {
		return back, "", err
	}
	if tps != nil {
		req.TPSLimit = *tps
	}
	var t tenantInfo
	if err := c.sendJSON(r, s, http.MethodPost, "/v1/tenants", req, &t); err != nil {
		return back, "", err
	}
	return tenantPageURL(t.ID), fmt.Sprintf("Tenant %s created.", t.ID), nil
}

// tenantMoneyReq is the body of a top-up or an adjustment. An empty amount
// is left out, so that the API answers that it is required; a top-up takes
// no reason (its form has none).
type tenantMoneyReq struct {
	Amount    string `json:"amount,omitempty"`
	Reference string `json:"reference"`
	Reason    string `json:"reason,omitempty"`
}

// tenantMoney records a top-up (endpoint /topups) or a signed adjustment
// (/adjustments) of the tenant's balance; both are idempotent by
// reference, and a repeat is said to have changed nothing.
func (c *Console) tenantMoney(endpoint, what string) func(r *http.Request, s *session) (string, string, error) {
	return func(r *http.Request, s *session) (string, string, error) {
		id := r.PathValue("id")
		back := tenantPageURL(id)
		req := tenantMoneyReq{Amount: strings.TrimSpace(r.PostFormValue("amount")),
			Reference: strings.TrimSpace(r.PostFormValue("reference")), Reason: r.PostFormValue("reason")}
		var res struct {
			Amount    string `json:"amount"`
			Duplicate bool   `json:"duplicate"`
		}
		if err := c.sendJSON(r, s, http.MethodPost, tenantPath(id, endpoint), req, &res); err != nil {
			return back, "", err
		}
		if res.Duplicate {
			return back, fmt.Sprintf("The %s with reference %q was already recorded; nothing changed.", what, req.Reference), nil
		}
		return back, fmt.Sprintf("Recorded the %s of %s.", what, res.Amount), nil
	}
}

// setTenantStatus suspends or resumes a tenant (PATCH status); the API
// closes a suspended tenant's binds and refuses its keys.
func (c *Console) setTenantStatus(status, done string) func(r *http.Request, s *session) (string, string, error) {
	return func(r *http.Request, s *session) (string, string, error) {
		id := r.PathValue("id")
		back := tenantPageURL(id)
		var t tenantInfo
		if err := c.sendJSON(r, s, http.MethodPatch, tenantPath(id, ""), map[string]string{"status": status}, &t); err != nil {
			return back, "", err
		}
		return back, fmt.Sprintf("Tenant %s %s.", id, done), nil
	}
}

// patchTenantLimits sends the settings the operator changed: each field
// whose value differs from the one the form was shown with (its was_
// twin), so that a field someone else changed meanwhile is left alone.
func (c *Console) patchTenantLimits(r *http.Request, s *session) (string, string, error) {
	id := r.PathValue("id")
	back := tenantPageURL(id)
	patch := map[string]any{}
	for _, f := range []string{"name", "tier", "billing"} {
		if v, ok := tenantFieldChanged(r, f); ok {
			patch[f] = v
		}
	}
	for _, f := range []string{"credit_limit", "mo_price"} {
		if v, ok := tenantFieldChanged(r, f); ok {
			patch[f] = strings.TrimSpace(v)
		}
	}
	for _, f := range []struct{ name, label string }{
		{"tps_limit", "TPS limit"}, {"max_binds", "max binds"}, {"default_validity_s", "default validity"},
	} {
		if _, ok := tenantFieldChanged(r, f.name); !ok {
			continue
		}
		n, err := formInt(r, f.name, f.label)
		if err != nil {
			return back, "", err
		}
		if n == nil {
			return "", "", fmt.Errorf("%s: enter a whole number (0 for none)", f.label)
		}
		patch[f.name] = *n
	}
	if ips := splitTenantIPs(r.PostFormValue("allowed_ips")); strings.Join(ips, ",") != strings.Join(splitTenantIPs(r.PostFormValue("was_allowed_ips")), ",") {
		patch["allowed_ips"] = ips
	}
	if len(patch) == 0 {
		return back, "Nothing changed.", nil
	}
	var t tenantInfo
	if err := c.sendJSON(r, s, http.MethodPatch, tenantPath(id, ""), patch, &t); err != nil {
		return back, "", err
	}
	return back, fmt.Sprintf("Tenant %s: settings saved.", id), nil
}

// tenantFieldChanged returns form field name's value and whether it differs from the
// value the form was shown with (field was_<name>).
func tenantFieldChanged(r *http.Request, name string) (string, bool) {
	v := r.PostFormValue(name)
	return v, strings.TrimSpace(v) != strings.TrimSpace(r.PostFormValue("was_"+name))
}

// splitTenantIPs splits an allowed_ips field: addresses or CIDRs separated by
// commas or white space (the API checks each).
func splitTenantIPs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// setTenantSMPP sets (or replaces) the tenant's SMPP system_id and password.
func (c *Console) setTenantSMPP(r *http.Request, s *session) (string, string, error) {
	id := r.PathValue("id")
	back := tenantPageURL(id)
	req := map[string]string{"system_id": strings.TrimSpace(r.PostFormValue("system_id")), "password": r.PostFormValue("password")}
	if err := c.sendJSON(r, s, http.MethodPost, tenantPath(id, "/smpp-credentials"), req, nil); err != nil {
		return back, "", err
	}
	return back, fmt.Sprintf("SMPP credentials of %s set (system_id %s).", id, req["system_id"]), nil
}

// issueTenantKey issues an API key. Its secret goes to the tenant's page
// through the session's one-time notice (never a URL), where tenantPage
// takes it out and shows it this once.
func (c *Console) issueTenantKey(r *http.Request, s *session) (string, string, error) {
	id := r.PathValue("id")
	back := tenantPageURL(id)
	var res struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := c.sendJSON(r, s, http.MethodPost, tenantPath(id, "/api-keys"), nil, &res); err != nil {
		return back, "", err
	}
	return back, newKeyNotice(res.ID, res.Key), nil
}

// newKeyPrefix starts the notice of an issued key; the notice reads well
// even when another page (in another tab) shows it first.
const newKeyPrefix = "New API key "

// newKeyNotice is the one-time notice carrying key id and its secret.
func newKeyNotice(id, key string) string {
	return newKeyPrefix + id + ": " + key + " (copy it now: it cannot be shown again)"
}

// takeNewKey takes an issued key out of the session's pending notice for
// the tenant page to show in #new-key; any other notice or error stays for
// the layout.
func (c *Console) takeNewKey(s *session) (id, key string) {
	notice, errMsg := c.sessions.takeFlash(s)
	rest, ok := strings.CutPrefix(notice, newKeyPrefix)
	if ok {
		var fields []string
		if id, rest, ok = strings.Cut(rest, ": "); ok {
			fields = strings.Fields(rest)
		}
		if len(fields) > 0 {
			c.sessions.setFlash(s, "", errMsg)
			return id, fields[0]
		}
	}
	c.sessions.setFlash(s, notice, errMsg)
	return "", ""
}

// revokeTenantKey revokes one API key: calls with it are refused from then
// on.
func (c *Console) revokeTenantKey(r *http.Request, s *session) (string, string, error) {
	id, keyID := r.PathValue("id"), r.PathValue("key_id")
	back := tenantPageURL(id)
	if _, err := c.call(r, s, http.MethodDelete, tenantPath(id, "/api-keys/"+url.PathEscape(keyID)), nil, "", ""); err != nil {
		return back, "", err
	}
	return back, fmt.Sprintf("API key %s revoked.", keyID), nil
}

// uploadTenantRates replaces the tenant's rate deck with an uploaded CSV
// (prefix,price header line); the API names a bad line.
func (c *Console) uploadTenantRates(r *http.Request, s *session) (string, string, error) {
	id := r.PathValue("id")
	back := tenantPageURL(id)
	b, err := formFile(r, "file")
	if err != nil {
		return back, "", err
	}
	res, err := c.call(r, s, http.MethodPut, tenantPath(id, "/rates"), b, "text/csv", "")
	if err != nil {
		return back, "", err
	}
	var out struct {
		Rates int `json:"rates"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		return "", "", fmt.Errorf("console: PUT rates: %w", err)
	}
	return back, fmt.Sprintf("Rate deck of %s replaced: %d lines.", id, out.Rates), nil
}

// setTenantNumbers replaces the numbers whose MOs the tenant gets (PUT
// /v1/tenants/{id}/numbers): one per line, or separated by commas or
// spaces; the API checks each and names a bad or taken one.
func (c *Console) setTenantNumbers(r *http.Request, s *session) (string, string, error) {
	id := r.PathValue("id")
	numbers := strings.FieldsFunc(r.PostFormValue("numbers"), func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	})
	if numbers == nil {
		numbers = []string{}
	}
	var out struct {
		Numbers []string `json:"numbers"`
	}
	if err := c.sendJSON(r, s, http.MethodPut, tenantPath(id, "/numbers"), map[string]any{"numbers": numbers}, &out); err != nil {
		return tenantPageURL(id), "", err
	}
	return tenantPageURL(id), fmt.Sprintf("Tenant %s: %d numbers.", id, len(out.Numbers)), nil
}
