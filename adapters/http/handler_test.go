package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/eventstore/pgstore/pgstoretest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const admin = "admin-secret-token"

type client struct {
	t   *testing.T
	url string
}

func (c client) do(method, path, token, body string, hdr ...string) (int, map[string]any) {
	c.t.Helper()
	status, raw := c.raw(method, path, token, body, hdr...)
	var m map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &m); err != nil {
			c.t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
		}
	}
	return status, m
}

func (c client) raw(method, path, token, body string, hdr ...string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func start(t *testing.T, opts httpapi.Options) (client, *ledger.Service) {
	t.Helper()
	store := pgstoretest.Store(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	if opts.AdminToken == "" {
		opts.AdminToken = admin
	}
	srv := httptest.NewServer(httpapi.NewHandler(svc, opts))
	t.Cleanup(srv.Close)
	return client{t: t, url: srv.URL}, svc
}

// setup creates tenants acme and beta with rates, a supplier and a route
// over the API and returns their API keys.
func setup(t *testing.T, c client) (acmeKey, betaKey string) {
	t.Helper()
	for _, id := range []string{"acme", "beta"} {
		if st, m := c.do("POST", "/v1/tenants", admin, fmt.Sprintf(`{"id":%q,"name":"T","currency":"EUR","billing":"on_submit","tps_limit":0,"credit_limit":"0","tier":"premium"}`, id)); st != 201 {
			t.Fatalf("create tenant: %d %v", st, m)
		}
		if st, m := c.do("PUT", "/v1/tenants/"+id+"/rates", admin, `[{"prefix":"49","price":"0.05"},{"prefix":"4915","price":"0.07"}]`); st != 200 {
			t.Fatalf("rates: %d %v", st, m)
		}
	}
	if st, m := c.do("POST", "/v1/suppliers", admin, `{"id":"sup1","name":"S","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s","password":"p","binds":1,"tps_limit":100,"window":10}`); st != 201 {
		t.Fatalf("supplier: %d %v", st, m)
	}
	if st, m := c.do("PUT", "/v1/suppliers/sup1/costs", admin, `[{"prefix":"49","cost":"0.02"}]`); st != 200 {
		t.Fatalf("costs: %d %v", st, m)
	}
	if st, m := c.do("PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1"]}]`); st != 200 {
		t.Fatalf("routes: %d %v", st, m)
	}
	keys := make([]string, 2)
	for i, id := range []string{"acme", "beta"} {
		st, m := c.do("POST", "/v1/tenants/"+id+"/api-keys", admin, "")
		if st != 201 {
			t.Fatalf("api key: %d %v", st, m)
		}
		keys[i] = m["key"].(string)
	}
	return keys[0], keys[1]
}

func TestAuth(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c)
	for _, tc := range []struct{ method, path, token string }{
		{"POST", "/v1/tenants", ""},
		{"POST", "/v1/tenants", "wrong"},
		{"POST", "/v1/tenants", acme}, // a tenant key is not the admin token
		{"PUT", "/v1/routes", admin + "x"},
		{"GET", "/v1/balance", ""},
		{"GET", "/v1/balance", admin}, // the admin token is not a tenant key
		{"GET", "/v1/balance", "sml_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
	} {
		if st, m := c.do(tc.method, tc.path, tc.token, `{}`); st != 401 || errCode(m) != "unauthorized" {
			t.Errorf("%s %s with %q: %d %v", tc.method, tc.path, tc.token, st, m)
		}
	}
	if st, _ := c.do("GET", "/v1/balance", acme, ""); st != 200 {
		t.Errorf("balance with key: %d", st)
	}
	for _, p := range []string{"/healthz", "/readyz", "/v1/openapi.json"} {
		if st, _ := c.raw("GET", p, "", ""); st != 200 {
			t.Errorf("GET %s: %d", p, st)
		}
	}
	// /metrics on the API's address needs the admin token.
	for _, tok := range []string{"", acme, "wrong"} {
		if st, m := c.do("GET", "/metrics", tok, ""); st != 401 || errCode(m) != "unauthorized" {
			t.Errorf("GET /metrics with %q: %d %v", tok, st, m)
		}
	}
	if st, _ := c.raw("GET", "/metrics", admin, ""); st != 200 {
		t.Errorf("GET /metrics with the admin token: %d", st)
	}
}

func TestBadInput(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c)
	cases := []struct{ method, path, token, body, code string }{
		{"POST", "/v1/tenants", admin, `{"id":"x","name":"n","currency":"EUR","billing":"on_submit","bogus":1}`, "invalid_request"},
		{"POST", "/v1/tenants", admin, `{"id":"x","name":"n","currency":"EUR","billing":"on_submit","tps_limit":"fast"}`, "invalid_request"},
		{"POST", "/v1/tenants", admin, `{"id":"x","name":"n","currency":"EUR","billing":"on_submit","credit_limit":"abc"}`, "invalid_request"},
		{"POST", "/v1/tenants", admin, `{"id":"x","name":"n","currency":"EUR","billing":"on_submit","credit_limit":"1e3"}`, "invalid_request"},
		{"POST", "/v1/tenants", admin, `{"id":"x","name":"n","currency":"EUR","billing":"weekly"}`, "invalid_request"},
		{"POST", "/v1/tenants", admin, `{"id":"x"} {"id":"y"}`, "invalid_request"},
		{"POST", "/v1/tenants", admin, `{"id":`, "invalid_request"},
		{"POST", "/v1/tenants", admin, ``, "invalid_request"},
		{"POST", "/v1/tenants", admin, `{"id":"acme","name":"n","currency":"EUR","billing":"on_submit"}`, "already_exists"},
		{"POST", "/v1/tenants/acme/topups", admin, `{"amount":"0.000000001","reference":"r"}`, "invalid_request"},
		{"POST", "/v1/tenants/acme/topups", admin, `{"amount":"-5","reference":"r"}`, "invalid_request"},
		{"POST", "/v1/tenants/acme/topups", admin, `{"reference":"r"}`, "invalid_request"},
		{"POST", "/v1/tenants/ghost/topups", admin, `{"amount":"5","reference":"r"}`, "not_found"},
		{"PUT", "/v1/tenants/acme/rates", admin, `[{"prefix":"4a","price":"1"}]`, "invalid_request"},
		{"PUT", "/v1/tenants/acme/rates", admin, `{"prefix":"49"}`, "invalid_request"},
		{"PUT", "/v1/routes", admin, `[{"prefix":"1","suppliers":["ghost"]}]`, "invalid_request"},
		{"POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"hi","extra":true}`, "invalid_request"},
		{"POST", "/v1/messages", acme, `{"to":"not a number","text":"hi"}`, "invalid_destination"},
		{"POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"hi"}`, "insufficient_funds"},
		{"POST", "/v1/messages", acme, `{"to":"+33612345678","text":"hi"}`, "no_rate"},
		{"GET", "/v1/messages/not-a-uuid", acme, ``, "not_found"},
		{"GET", "/v1/cdrs", acme, ``, "reports_unavailable"},
		{"GET", "/v1/reconciliation", admin, ``, "reports_unavailable"},
		{"POST", "/v1/replay", admin, ``, "reports_unavailable"},
		{"GET", "/v1/nothing", "", ``, "not_found"},
	}
	for _, tc := range cases {
		st, m := c.do(tc.method, tc.path, tc.token, tc.body)
		if errCode(m) != tc.code || st < 400 {
			t.Errorf("%s %s %s: %d %v, want code %s", tc.method, tc.path, tc.body, st, m, tc.code)
		}
		if msg, _ := m["error"].(map[string]any)["message"].(string); msg == "" {
			t.Errorf("%s %s: no error message", tc.method, tc.path)
		}
	}
	big := `{"to":"+4915112345678","text":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`
	if st, m := c.do("POST", "/v1/messages", acme, big); st != 413 || errCode(m) != "body_too_large" {
		t.Errorf("oversized body: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678"}`, "Content-Type", "text/plain"); st != 415 {
		t.Errorf("wrong content type: %d %v", st, m)
	}
}

func TestSendMessageEventsBalanceAndIsolation(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, beta := setup(t, c)
	st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1.00","reference":"inv-1"}`)
	if st != 201 || m["duplicate"] != false {
		t.Fatalf("top-up: %d %v", st, m)
	}
	st, m = c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1.00","reference":"inv-1"}`)
	if st != 200 || m["duplicate"] != true {
		t.Fatalf("repeated top-up: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"2","reference":"inv-1"}`); st != 409 || errCode(m) != "conflict" {
		t.Fatalf("reference reused: %d %v", st, m)
	}
	st, m = c.do("POST", "/v1/messages", acme, `{"from":"ACME","to":"+4915112345678","text":"hello"}`)
	if st != 202 || m["price"] != "0.07" || m["parts"] != float64(1) {
		t.Fatalf("send: %d %v", st, m)
	}
	id := m["message_id"].(string)
	st, m = c.do("GET", "/v1/messages/"+id, admin, "")
	if st != 200 || m["state"] != "routed" || m["supplier"] != "sup1" || m["price"] != "0.07" || m["cost"] != "0.02" || m["margin"] != "0.05" {
		t.Fatalf("message (admin): %d %v", st, m)
	}
	st, m = c.do("GET", "/v1/messages/"+id, acme, "")
	if st != 200 || m["state"] != "routed" || m["supplier"] != nil || m["price"] != "0.07" || m["cost"] != nil {
		t.Fatalf("message (tenant): %d %v", st, m)
	}
	st, m = c.do("GET", "/v1/messages/"+id+"/events", acme, "")
	if evs, _ := m["events"].([]any); st != 200 || len(evs) != 3 {
		t.Fatalf("events: %d %v", st, m)
	}
	st, m = c.do("GET", "/v1/balance", acme, "")
	if st != 200 || m["balance"] != "1" || m["held"] != "0.07" || m["available"] != "0.93" {
		t.Fatalf("balance: %d %v", st, m)
	}
	// Isolation: beta cannot see acme's message.
	for _, p := range []string{"/v1/messages/" + id, "/v1/messages/" + id + "/events"} {
		if st, m := c.do("GET", p, beta, ""); st != 404 || errCode(m) != "not_found" {
			t.Errorf("beta GET %s: %d %v", p, st, m)
		}
	}
	if st, m := c.do("GET", "/v1/balance", beta, ""); st != 200 || m["balance"] != "0" {
		t.Errorf("beta balance: %d %v", st, m)
	}
	// Metrics count the submit.
	_, raw := c.raw("GET", "/metrics", admin, "")
	if !bytes.Contains(raw, []byte(`smsledger_submits_total{channel="http",result="accepted",tier="premium"} 1`)) {
		t.Errorf("metrics lack the accepted submit:\n%s", raw)
	}
}

func TestConcurrentSendsExhaustBalance(t *testing.T) {
	c, svc := start(t, httpapi.Options{})
	acme, _ := setup(t, c)
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1","reference":"r"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	var mu sync.Mutex
	counts := map[int]int{}
	codes := map[string]int{}
	held := decimal.Zero
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"x"}`)
				mu.Lock()
				counts[st]++
				codes[errCode(m)]++
				if st == 202 {
					held = held.Add(decimal.RequireFromString(m["price"].(string)))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counts[202] != 14 || counts[402] != 40-14 || codes["insufficient_funds"] != 26 {
		t.Fatalf("statuses %v codes %v, want 14 accepted and 26 insufficient_funds", counts, codes)
	}
	b, _ := svc.Balance("acme")
	if b.Held != held.String() || b.Available != "0.02" {
		t.Fatalf("balance %+v, accepted prices %s", b, held)
	}
}

type fakeReports struct{}

func (fakeReports) CDRs(ctx context.Context, q httpapi.CDRQuery) (httpapi.CDRPage, error) {
	return httpapi.CDRPage{Columns: []string{"message_id", "tenant_id", "price"}, Rows: [][]string{{"m1", q.TenantID, "0.07"}}, NextCursor: "c2"}, nil
}

type reports struct{ fakeReports }

func (reports) Reconcile(ctx context.Context, from, to time.Time) (any, error) {
	return map[string]bool{"ok": true}, nil
}
func (reports) Replay(ctx context.Context) (any, error) { return map[string]string{"cdrs": "abc"}, nil }

func TestReportsPluggedIn(t *testing.T) {
	c, _ := start(t, httpapi.Options{Reports: reports{}})
	acme, _ := setup(t, c)
	st, m := c.do("GET", "/v1/cdrs?from=2024-01-01&to=2030-01-01T00:00:00Z", acme, "")
	items, _ := m["items"].([]any)
	if st != 200 || len(items) != 1 || m["next_cursor"] != "c2" || items[0].(map[string]any)["tenant_id"] != "acme" {
		t.Fatalf("cdrs: %d %v", st, m)
	}
	st, raw := c.raw("GET", "/v1/cdrs", acme, "", "Accept", "text/csv")
	if st != 200 || string(raw) != "message_id,tenant_id,price\nm1,acme,0.07\n" {
		t.Fatalf("csv: %d %q", st, raw)
	}
	if st, m := c.do("GET", "/v1/cdrs?from=yesterday", acme, ""); st != 400 {
		t.Fatalf("bad from: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/reconciliation?from=2024-01-01&to=2024-02-01", admin, ""); st != 200 || m["ok"] != true {
		t.Fatalf("reconciliation: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/replay", admin, ""); st != 200 || m["cdrs"] != "abc" {
		t.Fatalf("replay: %d %v", st, m)
	}
}

func TestReadinessProbe(t *testing.T) {
	c, _ := start(t, httpapi.Options{Readiness: func(context.Context) error { return fmt.Errorf("database down") }, Registry: prometheus.NewRegistry()})
	if st, m := c.do("GET", "/readyz", "", ""); st != 503 || errCode(m) != "not_ready" {
		t.Fatalf("readyz: %d %v", st, m)
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	described := 0
	for _, rt := range httpapi.Routes() {
		ops, ok := doc.Paths[rt.Path]
		if !ok {
			t.Errorf("route %s %s not in openapi.json", rt.Method, rt.Path)
			continue
		}
		if _, ok := ops[strings.ToLower(rt.Method)]; !ok {
			t.Errorf("route %s %s: method not in openapi.json", rt.Method, rt.Path)
		}
		described++
	}
	n := 0
	for _, ops := range doc.Paths {
		n += len(ops)
	}
	if n != described {
		t.Errorf("openapi.json describes %d operations, the server registers %d", n, described)
	}
}

// TestSendValidity: validity_s sets the message's expires_at (accepted time
// + validity_s), shown by MessageAccepted in the audit trail; absent leaves
// it to the ledger; out of range or not an integer is a 400 naming it.
func TestSendValidity(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c)
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1","reference":"r"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	accepted := func(id string) map[string]any {
		t.Helper()
		st, m := c.do("GET", "/v1/messages/"+id+"/events", acme, "")
		evs, _ := m["events"].([]any)
		if st != 200 || len(evs) == 0 {
			t.Fatalf("events: %d %v", st, m)
		}
		for _, e := range evs {
			if ev := e.(map[string]any); ev["type"] == "MessageAccepted" {
				return ev["data"].(map[string]any)
			}
		}
		t.Fatalf("no MessageAccepted in %v", evs)
		return nil
	}

	before := time.Now()
	st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"hi","validity_s":3600}`)
	after := time.Now()
	if st != 202 {
		t.Fatalf("send with validity_s: %d %v", st, m)
	}
	data := accepted(m["message_id"].(string))
	raw, _ := data["expires_at"].(string)
	exp, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		t.Fatalf("MessageAccepted expires_at %q: %v (%v)", raw, err, data)
	}
	if exp.Before(before.Add(time.Hour).Add(-time.Second)) || exp.After(after.Add(time.Hour).Add(time.Second)) {
		t.Fatalf("expires_at %s, want about an hour after %s", exp, before)
	}
	if at, err := time.Parse(time.RFC3339Nano, data["at"].(string)); err != nil || exp.Sub(at) < time.Hour-2*time.Second || exp.Sub(at) > time.Hour+2*time.Second {
		t.Fatalf("expires_at %s is not accepted time %v + 1h (%v)", exp, data["at"], err)
	}

	for _, v := range []string{`1`, `604800`, `null`} {
		if st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"hi","validity_s":`+v+`}`); st != 202 {
			t.Errorf("validity_s %s: %d %v", v, st, m)
		}
	}

	for _, v := range []string{`0`, `-1`, `604801`, `99999999999999999999`, `"x"`, `"3600"`, `1.5`, `3600.0`, `1e3`, `true`, `[]`, `{}`} {
		st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"hi","validity_s":`+v+`}`)
		msg, _ := m["error"].(map[string]any)["message"].(string)
		if st != 400 || errCode(m) != "invalid_request" || !strings.Contains(msg, "validity_s") {
			t.Errorf("validity_s %s: %d %v, want 400 invalid_request naming validity_s", v, st, m)
		}
	}
}
