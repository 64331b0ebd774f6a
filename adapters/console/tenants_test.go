package console_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

// tenantAPIRaw calls the HTTP API at e.url directly (not through the
// console) with token, as a client of the platform would.
func tenantAPIRaw(t *testing.T, e *env, method, path, token, contentType, body string) (int, []byte) {
	t.Helper()
	return apiRaw(t, e, method, path, token, contentType, "", body)
}

// tenantAPI is tenantAPIRaw with a JSON body and a JSON object answer (nil
// when the answer is not one).
func tenantAPI(t *testing.T, e *env, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	st, b := tenantAPIRaw(t, e, method, path, token, "application/json", body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return st, m
}

// tenantAPIError is the message of the API's error answer m ("" when it
// is not an error).
func tenantAPIError(status int, m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if status < 400 {
		return ""
	}
	return msg
}

// tenantCreate creates tenant id over the API.
func tenantCreate(t *testing.T, e *env, id string) {
	t.Helper()
	body := `{"id":"` + id + `","name":"Tenant ` + id + `","currency":"EUR","billing":"on_submit","tier":"standard"}`
	if st, m := tenantAPI(t, e, "POST", "/v1/tenants", admin, body); st != http.StatusCreated {
		t.Fatalf("create %s: %d %v", id, st, m)
	}
}

// tenantField reads one field of GET /v1/tenants/{id}.
func tenantField(t *testing.T, e *env, id, field string) any {
	t.Helper()
	st, m := tenantAPI(t, e, "GET", "/v1/tenants/"+id, admin, "")
	if st != http.StatusOK {
		t.Fatalf("GET tenant %s: %d %v", id, st, m)
	}
	return m[field]
}

// tenantPost posts a console form, expects the redirect to want, and
// returns the page it leads to.
func tenantPost(t *testing.T, b *browser, path string, form url.Values, want string) string {
	t.Helper()
	res, _ := b.post(path, form)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
		t.Fatalf("POST %s: %d to %q, want a redirect to %s", path, res.StatusCode, res.Header.Get("Location"), want)
	}
	_, body := b.follow(res)
	return body
}

// tenantElementText is the text of the element with id in page (no nested tags).
func tenantElementText(t *testing.T, page, id string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no element #%s on the page", id)
	}
	return html.UnescapeString(m[1])
}

// tenantWantError checks that page shows msg (the API's message) as the
// one-time error.
func tenantWantError(t *testing.T, page, msg string) {
	t.Helper()
	if msg == "" {
		t.Fatal("the API answered no error to compare with")
	}
	if !strings.Contains(page, `id="error"`) || !strings.Contains(html.UnescapeString(page), msg) {
		t.Errorf("the page does not show the error %q", msg)
	}
}

// A tenant created through the console is the API's tenant; the list shows
// it and passes the API's cursor on; bad input shows the API's message.
func TestTenantCreateAndList(t *testing.T) {
	e := start(t, httpapi.Options{})
	b := e.signedIn()
	if res, page := b.get("/console/tenants"); res.StatusCode != http.StatusOK ||
		!strings.Contains(page, `id="create-tenant"`) || !strings.Contains(page, `id="tenants"`) {
		t.Fatalf("tenants page: %d", res.StatusCode)
	}

	form := url.Values{"id": {"acme"}, "name": {"Acme Ltd"}, "currency": {"EUR"}, "billing": {"on_delivery"},
		"tier": {"premium"}, "credit_limit": {"5.5"}, "tps_limit": {"20"}}
	page := tenantPost(t, b, "/console/tenants", form, "/console/tenants/acme")
	if !strings.Contains(page, "Tenant acme created.") || tenantElementText(t, page, "tenant-status") != "active" {
		t.Errorf("the new tenant's page lacks the notice or the status")
	}
	st, m := tenantAPI(t, e, "GET", "/v1/tenants/acme", admin, "")
	if st != http.StatusOK || m["name"] != "Acme Ltd" || m["billing"] != "on_delivery" || m["tier"] != "premium" ||
		m["credit_limit"] != "5.5" || m["tps_limit"] != 20.0 || m["currency"] != "EUR" {
		t.Errorf("the API has %d %v", st, m)
	}
	tenantCreate(t, e, "beta")

	_, page = b.get("/console/tenants")
	for _, want := range []string{`href="/console/tenants/acme"`, "Acme Ltd", `href="/console/tenants/beta"`, `<span class="badge active">active</span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the list lacks %s", want)
		}
	}
	// The cursor of the API goes through: the page after acme.
	_, page = b.get("/console/tenants?cursor=acme")
	if strings.Contains(page, `href="/console/tenants/acme"`) || !strings.Contains(page, `href="/console/tenants/beta"`) || !strings.Contains(page, `id="tenants-first"`) {
		t.Errorf("the page after acme is not the API's")
	}

	// Bad input: the API's own message, once, back on the list.
	bad := url.Values{"id": {"gamma"}, "name": {"Gamma"}, "currency": {"EUR"}, "billing": {"weekly"}, "tier": {"standard"}}
	msg := tenantAPIError(tenantAPI(t, e, "POST", "/v1/tenants", admin, `{"id":"gamma","name":"Gamma","currency":"EUR","billing":"weekly","tier":"standard"}`))
	page = tenantPost(t, b, "/console/tenants", bad, "/console/tenants")
	tenantWantError(t, page, msg)
	if _, again := b.get("/console/tenants"); strings.Contains(again, `id="error"`) {
		t.Error("the error is shown twice")
	}
	msg = tenantAPIError(tenantAPI(t, e, "POST", "/v1/tenants", admin, `{"id":"acme","name":"Again","currency":"EUR","billing":"on_submit","tier":"standard"}`))
	tenantWantError(t, tenantPost(t, b, "/console/tenants", url.Values{"id": {"acme"}, "name": {"Again"}, "currency": {"EUR"}, "billing": {"on_submit"}, "tier": {"standard"}}, "/console/tenants"), msg)
	bad.Set("billing", "on_submit")
	bad.Set("tps_limit", "ten")
	tenantWantError(t, tenantPost(t, b, "/console/tenants", bad, "/console/tenants"), `TPS limit must be a whole number, not "ten"`)
	if st, _ := tenantAPI(t, e, "GET", "/v1/tenants/gamma", admin, ""); st != http.StatusNotFound {
		t.Errorf("gamma was created from bad input: %d", st)
	}
}

// Top-ups and adjustments change the balance the page shows (the API's);
// a bad amount or one below zero shows the API's message.
func TestTenantTopUpAndAdjust(t *testing.T) {
	e := start(t, httpapi.Options{})
	tenantCreate(t, e, "acme")
	b := e.signedIn()
	_, page := b.get("/console/tenants/acme")
	if tenantElementText(t, page, "tenant-balance") != tenantField(t, e, "acme", "balance") {
		t.Fatalf("balance %q, the API has %v", tenantElementText(t, page, "tenant-balance"), tenantField(t, e, "acme", "balance"))
	}

	page = tenantPost(t, b, "/console/tenants/acme/topup", url.Values{"amount": {"10"}, "reference": {"wire-1"}}, "/console/tenants/acme")
	bal := tenantElementText(t, page, "tenant-balance")
	if bal != tenantField(t, e, "acme", "balance") || !strings.HasPrefix(bal, "10") {
		t.Errorf("after a top-up of 10 the page shows %q, the API %v", bal, tenantField(t, e, "acme", "balance"))
	}
	// The same reference again changes nothing, and says so.
	page = tenantPost(t, b, "/console/tenants/acme/topup", url.Values{"amount": {"10"}, "reference": {"wire-1"}}, "/console/tenants/acme")
	if tenantElementText(t, page, "tenant-balance") != bal || !strings.Contains(page, "already recorded") {
		t.Errorf("a repeated top-up: balance %q, want %q and a notice", tenantElementText(t, page, "tenant-balance"), bal)
	}

	msg := tenantAPIError(tenantAPI(t, e, "POST", "/v1/tenants/acme/adjustments", admin, `{"amount":"ten","reference":"fix-0"}`))
	page = tenantPost(t, b, "/console/tenants/acme/adjust", url.Values{"amount": {"ten"}, "reference": {"fix-0"}}, "/console/tenants/acme")
	tenantWantError(t, page, msg)
	if tenantElementText(t, page, "tenant-balance") != bal {
		t.Errorf("a bad adjustment changed the balance")
	}

	page = tenantPost(t, b, "/console/tenants/acme/adjust", url.Values{"amount": {"-2.5"}, "reference": {"fix-1"}, "reason": {"refund"}}, "/console/tenants/acme")
	if got := tenantElementText(t, page, "tenant-balance"); got != tenantField(t, e, "acme", "balance") || !strings.HasPrefix(got, "7.5") {
		t.Errorf("after -2.5 the page shows %q, the API %v", got, tenantField(t, e, "acme", "balance"))
	}
	// Below zero available: the API's 409 message.
	msg = tenantAPIError(tenantAPI(t, e, "POST", "/v1/tenants/acme/adjustments", admin, `{"amount":"-1000","reference":"fix-2"}`))
	tenantWantError(t, tenantPost(t, b, "/console/tenants/acme/adjust", url.Values{"amount": {"-1000"}, "reference": {"fix-2"}}, "/console/tenants/acme"), msg)
}

// Suspend (asked for confirmation) and resume change the API's status, and
// the page offers the other.
func TestTenantSuspendAndResume(t *testing.T) {
	e := start(t, httpapi.Options{})
	tenantCreate(t, e, "acme")
	b := e.signedIn()
	_, page := b.get("/console/tenants/acme")
	if !regexp.MustCompile(`<form[^>]+id="suspend"[^>]+data-confirm="[^"]+"`).MatchString(page) || strings.Contains(page, `id="resume"`) {
		t.Fatal("an active tenant's page wants a suspend form asking for confirmation and no resume form")
	}

	page = tenantPost(t, b, "/console/tenants/acme/suspend", nil, "/console/tenants/acme")
	if got := tenantField(t, e, "acme", "status"); got != "suspended" {
		t.Fatalf("the API says %v after suspend", got)
	}
	if tenantElementText(t, page, "tenant-status") != "suspended" || !strings.Contains(page, `id="resume-submit"`) || strings.Contains(page, `id="suspend"`) {
		t.Errorf("a suspended tenant's page wants its status and a resume form only")
	}

	page = tenantPost(t, b, "/console/tenants/acme/resume", nil, "/console/tenants/acme")
	if got := tenantField(t, e, "acme", "status"); got != "active" {
		t.Fatalf("the API says %v after resume", got)
	}
	if tenantElementText(t, page, "tenant-status") != "active" || !strings.Contains(page, `id="suspend-submit"`) {
		t.Errorf("a resumed tenant's page wants its status and a suspend form")
	}
}

// The limits form sends what the operator changed (not what someone else
// changed meanwhile); SMPP credentials show their system_id, never the
// password.
func TestTenantLimitsAndSMPP(t *testing.T) {
	e := start(t, httpapi.Options{})
	tenantCreate(t, e, "acme")
	b := e.signedIn()
	_, page := b.get("/console/tenants/acme")
	// The form as shown: each field with the value it was shown with.
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="was_(\w+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		form.Set("was_"+m[1], html.UnescapeString(m[2]))
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if len(form) != 18 {
		t.Fatalf("the limits form shows %d fields: %v", len(form)/2, form)
	}
	// Someone renames the tenant meanwhile; the form leaves the name alone.
	if st, m := tenantAPI(t, e, "PATCH", "/v1/tenants/acme", admin, `{"name":"Renamed"}`); st != http.StatusOK {
		t.Fatalf("rename: %d %v", st, m)
	}
	form.Set("tps_limit", "50")
	form.Set("max_binds", "3")
	form.Set("credit_limit", "12.5")
	form.Set("allowed_ips", "10.0.0.0/8, 192.168.1.1")
	form.Set("tier", "premium")
	page = tenantPost(t, b, "/console/tenants/acme/limits", form, "/console/tenants/acme")
	if !strings.Contains(page, "settings saved") {
		t.Errorf("no notice after saving")
	}
	st, m := tenantAPI(t, e, "GET", "/v1/tenants/acme", admin, "")
	if st != http.StatusOK || m["tps_limit"] != 50.0 || m["max_binds"] != 3.0 || m["credit_limit"] != "12.5" ||
		m["tier"] != "premium" || m["name"] != "Renamed" || len(m["allowed_ips"].([]any)) != 2 {
		t.Errorf("after the limits form the API has %d %v", st, m)
	}

	tenantWantError(t, tenantPost(t, b, "/console/tenants/acme/limits", url.Values{"tps_limit": {"fast"}, "was_tps_limit": {"50"}}, "/console/tenants/acme"),
		`TPS limit must be a whole number, not "fast"`)
	msg := tenantAPIError(tenantAPI(t, e, "PATCH", "/v1/tenants/acme", admin, `{"tps_limit":-5}`))
	tenantWantError(t, tenantPost(t, b, "/console/tenants/acme/limits", url.Values{"tps_limit": {"-5"}, "was_tps_limit": {"50"}}, "/console/tenants/acme"), msg)
	if got := tenantField(t, e, "acme", "tps_limit"); got != 50.0 {
		t.Errorf("a refused patch changed tps_limit to %v", got)
	}

	page = tenantPost(t, b, "/console/tenants/acme/smpp-credentials", url.Values{"system_id": {"acme01"}, "password": {"s3cret"}}, "/console/tenants/acme")
	if got := tenantField(t, e, "acme", "system_id"); got != "acme01" {
		t.Errorf("the API's system_id is %v", got)
	}
	if !strings.Contains(page, "<code>acme01</code>") || strings.Contains(page, "s3cret") {
		t.Errorf("the page wants the system_id and never the password")
	}
}

var tenantNewKey = regexp.MustCompile(`<code id="new-key">([^<]+)</code>`)

// An issued key is shown once in #new-key (never in a URL) and works;
// revoked, it is refused.
func TestTenantAPIKeys(t *testing.T) {
	e := start(t, httpapi.Options{})
	tenantCreate(t, e, "acme")
	b := e.signedIn()
	b.get("/console/tenants/acme")
	res, _ := b.post("/console/tenants/acme/api-keys", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/tenants/acme" {
		t.Fatalf("issue: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, page := b.follow(res)
	m := tenantNewKey.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the new key is not in #new-key")
	}
	key := m[1]
	if st, bal := tenantAPI(t, e, "GET", "/v1/balance", key, ""); st != http.StatusOK {
		t.Fatalf("the new key on GET /v1/balance: %d %v", st, bal)
	}
	if _, again := b.get("/console/tenants/acme"); strings.Contains(again, key) || strings.Contains(again, `id="new-key"`) {
		t.Error("the key is shown a second time")
	}

	st, list := tenantAPIRaw(t, e, "GET", "/v1/tenants/acme/api-keys", admin, "", "")
	var keys []struct{ ID string }
	if err := json.Unmarshal(list, &keys); st != http.StatusOK || err != nil || len(keys) != 1 {
		t.Fatalf("the API lists %s (%d)", list, st)
	}
	keyID := keys[0].ID
	_, page = b.get("/console/tenants/acme")
	if !strings.Contains(page, "<code>"+keyID+"</code>") ||
		!regexp.MustCompile(`<form[^>]+action="/console/tenants/acme/api-keys/`+regexp.QuoteMeta(keyID)+`/revoke"[^>]+class="inline revoke"[^>]+data-confirm=`).MatchString(page) {
		t.Fatalf("the keys table lacks %s and its revoke form", keyID)
	}

	page = tenantPost(t, b, "/console/tenants/acme/api-keys/"+keyID+"/revoke", nil, "/console/tenants/acme")
	if !strings.Contains(page, "API key "+keyID+" revoked.") || strings.Contains(page, "<code>"+keyID+"</code>") {
		t.Errorf("after revoking, the page wants the notice and no longer the key")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := tenantAPI(t, e, "GET", "/v1/balance", key, "")
		if st == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the revoked key still gets %d", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Revoking it again: the API's answer, shown.
	tenantWantError(t, tenantPost(t, b, "/console/tenants/acme/api-keys/"+keyID+"/revoke", nil, "/console/tenants/acme"),
		tenantAPIError(tenantAPI(t, e, "DELETE", "/v1/tenants/acme/api-keys/"+keyID, admin, "")))
}

// A CSV deck uploaded is the one downloaded; a bad line shows the API's
// message naming it, and the deck stays.
func TestTenantRateDeck(t *testing.T) {
	e := start(t, httpapi.Options{})
	tenantCreate(t, e, "acme")
	b := e.signedIn()
	_, page := b.get("/console/tenants/acme")
	if !strings.Contains(page, `enctype="multipart/form-data"`) || !strings.Contains(page, `id="rates-download"`) {
		t.Fatal("the page lacks the deck's upload form or its download link")
	}
	deck := "prefix,price\n49,0.05\n4915,0.07\n"
	res, _ := b.postFile("/console/tenants/acme/rates", nil, "file", "deck.csv", []byte(deck))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/tenants/acme" {
		t.Fatalf("upload: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, page = b.follow(res)
	if !strings.Contains(page, "2 lines") || !strings.Contains(page, "2 prefixes") || !strings.Contains(page, "<td>4915</td><td class=\"num\">0.07</td>") {
		t.Errorf("the page does not show the uploaded deck")
	}

	res, csv := b.get("/console/tenants/acme/rates.csv")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	if strings.ReplaceAll(csv, "\r\n", "\n") != deck {
		t.Errorf("downloaded %q, uploaded %q", csv, deck)
	}

	bad := []byte("prefix,price\n49,0.05\n4915\n")
	st, raw := tenantAPIRaw(t, e, "PUT", "/v1/tenants/acme/rates", admin, "text/csv", string(bad))
	var apiErr map[string]any
	_ = json.Unmarshal(raw, &apiErr)
	msg := tenantAPIError(st, apiErr)
	if !strings.Contains(msg, "line 3") {
		t.Fatalf("the API's message %q does not name line 3", msg)
	}
	res, _ = b.postFile("/console/tenants/acme/rates", nil, "file", "bad.csv", bad)
	_, page = b.follow(res)
	tenantWantError(t, page, msg)
	if !strings.Contains(page, "2 prefixes") {
		t.Error("a refused deck changed the rates")
	}
}

// An unknown tenant is a 404 page.
func TestTenantUnknownIs404(t *testing.T) {
	e := start(t, httpapi.Options{})
	b := e.signedIn()
	res, page := b.get("/console/tenants/nobody")
	if res.StatusCode != http.StatusNotFound || !strings.Contains(page, `id="page-error"`) {
		t.Errorf("unknown tenant: %d", res.StatusCode)
	}
	if res, _ := b.get("/console/tenants/nobody/rates.csv"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown tenant's deck: %d", res.StatusCode)
	}
}

// tenantFakeBinds is a TenantBinds whose answers a test changes, as binds
// come and go on the SMPP server.
type tenantFakeBinds struct {
	mu    sync.Mutex
	binds map[string][]httpapi.Bind
}

func (f *tenantFakeBinds) TenantBinds(id string) []httpapi.Bind {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.binds[id]
}

func (f *tenantFakeBinds) set(id string, binds ...httpapi.Bind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.binds[id] = binds
}

// tenantBindsTable is the #binds table of a tenant's page.
func tenantBindsTable(t *testing.T, page string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<table id="binds">.*?</table>`).FindString(page)
	if m == "" {
		t.Fatal("no #binds table on the page")
	}
	return m
}

// A tenant's page shows its SMPP binds as the API has them now (system_id,
// mode, remote address, bound since), above its API keys, or says it has
// none; an unknown tenant's page is the API's 404.
func TestTenantBinds(t *testing.T) {
	since := time.Date(2025, 3, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	fake := &tenantFakeBinds{binds: map[string][]httpapi.Bind{}}
	e := start(t, httpapi.Options{TenantBinds: fake})
	tenantCreate(t, e, "acme")
	tenantCreate(t, e, "beta")
	if st, m := tenantAPI(t, e, "PATCH", "/v1/tenants/acme", admin, `{"max_binds":3}`); st != http.StatusOK {
		t.Fatalf("max_binds: %d %v", st, m)
	}
	fake.set("acme",
		httpapi.Bind{SystemID: "acme-smpp", Mode: "transmitter", RemoteAddr: "192.0.2.7:40001", BoundAt: since},
		httpapi.Bind{SystemID: "acme-smpp", Mode: "receiver", RemoteAddr: "192.0.2.8:40002", BoundAt: since.Add(90 * time.Second)})
	b := e.signedIn()

	_, page := b.get("/console/tenants/acme")
	table := tenantBindsTable(t, page)
	rows := regexp.MustCompile(`(?s)<tr>\s*<td><code>([^<]*)</code></td>\s*<td>([^<]*)</td>\s*<td><code>([^<]*)</code></td>\s*<td>([^<]*)</td>`).FindAllStringSubmatch(table, -1)
	want := [][]string{
		{"acme-smpp", "transmitter", "192.0.2.7:40001", "2025-03-01 09:00:00"},
		{"acme-smpp", "receiver", "192.0.2.8:40002", "2025-03-01 09:01:30"},
	}
	if len(rows) != len(want) {
		t.Fatalf("the binds table has %d rows, want %d: %s", len(rows), len(want), table)
	}
	for i, w := range want {
		if got := rows[i][1:]; strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("bind %d: %q, want %q", i, got, w)
		}
	}
	if !strings.Contains(page, "2 bound now, at most 3.") {
		t.Error("the page does not count the binds against max_binds")
	}
	if strings.Index(page, `id="binds"`) > strings.Index(page, `id="keys"`) {
		t.Error("the binds are not above the API keys")
	}
	// The same as the API says.
	st, raw := tenantAPIRaw(t, e, "GET", "/v1/tenants/acme/binds", admin, "", "")
	if st != http.StatusOK || !strings.Contains(string(raw), `"remote_addr":"192.0.2.8:40002"`) {
		t.Errorf("the API has %d %s", st, raw)
	}

	_, page = b.get("/console/tenants/beta")
	if table := tenantBindsTable(t, page); !strings.Contains(table, "No binds now.") {
		t.Errorf("beta without binds: %s", table)
	}
	// The binds close (a suspension, an unbind): the page follows.
	fake.set("acme")
	_, page = b.get("/console/tenants/acme")
	if table := tenantBindsTable(t, page); !strings.Contains(table, "No binds now.") || strings.Contains(table, "192.0.2.7") {
		t.Errorf("acme after its binds closed: %s", table)
	}

	msg := tenantAPIError(tenantAPI(t, e, "GET", "/v1/tenants/nobody/binds", admin, ""))
	res, page := b.get("/console/tenants/nobody")
	if res.StatusCode != http.StatusNotFound || msg == "" || !strings.Contains(html.UnescapeString(page), msg) {
		t.Errorf("unknown tenant: %d, want 404 with %q", res.StatusCode, msg)
	}
}
