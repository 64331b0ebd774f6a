package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/ledger"
)

// fakeStates is a SupplierStates with fixed answers.
type fakeStates map[string]ledger.SupplierLive

func (f fakeStates) SupplierState(id string) (ledger.SupplierLive, bool) {
	l, ok := f[id]
	return l, ok
}

func TestSupplierListGetLiveNoSecret(t *testing.T) {
	c, svc := start(t, httpapi.Options{SupplierStates: fakeStates{
		"sup1": {Running: true, BindsUp: 1, Binds: 2, QueueDepth: 7, TPS: 42.5, Up: true, HealthScore: 930},
	}})
	acme, _ := setup(t, c)
	if st, m := c.do("POST", "/v1/suppliers", admin, `{"id":"sup2","name":"Two","currency":"EUR","host":"10.0.0.2","port":2775,"system_id":"two","password":"hunter22pw","binds":2,"tps_limit":50,"window":5}`); st != 201 {
		t.Fatalf("create sup2: %d %v", st, m)
	}
	st, raw := c.raw("GET", "/v1/suppliers", admin, "")
	if st != 200 {
		t.Fatalf("list: %d %s", st, raw)
	}
	sealed, _ := svc.Supplier("sup2")
	for _, secret := range []string{"hunter22pw", "password", sealed.PasswordSealed} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("list shows a secret %q: %s", secret, raw)
		}
	}
	var list struct {
		Suppliers []map[string]any `json:"suppliers"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Suppliers) != 2 || list.Suppliers[0]["id"] != "sup1" || list.Suppliers[1]["id"] != "sup2" {
		t.Fatalf("list: %s", raw)
	}
	if s2 := list.Suppliers[1]; s2["status"] != "active" || s2["host"] != "10.0.0.2" || s2["binds"] != 2.0 || s2["live"] != nil || s2["dlr_grace_s"] != 3600.0 {
		t.Fatalf("sup2 (no live state known): %v", s2)
	}
	live, _ := list.Suppliers[0]["live"].(map[string]any)
	want := map[string]any{"running": true, "binds_up": 1.0, "binds": 2.0, "queue_depth": 7.0, "tps": 42.5, "up": true, "health_score": 930.0}
	for k, v := range want {
		if live[k] != v {
			t.Fatalf("sup1 live %s = %v, want %v (%v)", k, live[k], v, live)
		}
	}
	st, m := c.do("GET", "/v1/suppliers/sup1", admin, "")
	if st != 200 || m["id"] != "sup1" || m["currency"] != "EUR" || m["live"] == nil || m["status"] != "active" {
		t.Fatalf("get: %d %v", st, m)
	}
	if _, ok := m["password"]; ok {
		t.Fatalf("get shows a password: %v", m)
	}
	if st, m := c.do("GET", "/v1/suppliers/ghost", admin, ""); st != 404 {
		t.Fatalf("unknown supplier: %d %v", st, m)
	}
	if st, _ := c.do("GET", "/v1/suppliers", acme, ""); st != 401 && st != 403 {
		t.Fatalf("a tenant key lists suppliers: %d", st)
	}
}

func TestSupplierPatch(t *testing.T) {
	c, svc := start(t, httpapi.Options{})
	setup(t, c)
	st, m := c.do("PATCH", "/v1/suppliers/sup1", admin, `{"name":"Renamed","tps_limit":75,"password":"n3wpass","currency":"EUR"}`)
	if st != 200 || m["name"] != "Renamed" || m["tps_limit"] != 75.0 || m["port"] != 2775.0 || m["status"] != "active" {
		t.Fatalf("patch: %d %v", st, m)
	}
	if _, ok := m["password"]; ok {
		t.Fatalf("patch answer shows a password: %v", m)
	}
	if pw, err := svc.SupplierPassword("sup1"); err != nil || pw != "n3wpass" {
		t.Fatalf("password: %q %v", pw, err)
	}
	st, m = c.do("PATCH", "/v1/suppliers/sup1", admin, `{"status":"disabled"}`)
	if st != 200 || m["status"] != "disabled" || m["name"] != "Renamed" {
		t.Fatalf("disable: %d %v", st, m)
	}
	if sp, _ := svc.Supplier("sup1"); sp.Enabled {
		t.Fatal("still enabled")
	}
	if st, m = c.do("PATCH", "/v1/suppliers/sup1", admin, `{"status":"active"}`); st != 200 || m["status"] != "active" {
		t.Fatalf("enable: %d %v", st, m)
	}
	for body, field := range map[string]string{
		`{"currency":"USD"}`:              "currency",
		`{"status":"paused"}`:             "status",
		`{"port":0}`:                      "port",
		`{"binds":65}`:                    "binds",
		`{"window":0}`:                    "window",
		`{"tps_limit":-1}`:                "tps_limit",
		`{"billing":"monthly"}`:           "billing",
		`{"host":""}`:                     "host",
		`{"name":""}`:                     "name",
		`{"system_id":""}`:                "system_id",
		`{"dlr_grace_s":-1}`:              "dlr_grace_s",
		`{"tls_server_name":"x.example"}`: "tls",
		`{"colour":"red"}`:                "colour",
		`{"port":"2775"}`:                 "port",
	} {
		st, m := c.do("PATCH", "/v1/suppliers/sup1", admin, body)
		e, _ := m["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if st != 400 || !strings.Contains(msg, field) {
			t.Errorf("PATCH %s: %d %v, want 400 naming %s", body, st, m, field)
		}
	}
	if sp, _ := svc.Supplier("sup1"); sp.Name != "Renamed" || sp.Port != 2775 || !sp.Enabled || sp.Currency != "EUR" {
		t.Fatalf("a refused patch changed the supplier: %+v", sp)
	}
	if st, m := c.do("PATCH", "/v1/suppliers/ghost", admin, `{"name":"x"}`); st != 404 {
		t.Fatalf("patch unknown: %d %v", st, m)
	}
}

func TestRoutesRatesCostsJSONAndCSV(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	setup(t, c)
	st, m := c.do("GET", "/v1/routes", admin, "")
	routes, _ := m["routes"].([]any)
	if st != 200 || len(routes) != 1 || routes[0].(map[string]any)["prefix"] != "49" {
		t.Fatalf("routes: %d %v", st, m)
	}
	st, m = c.do("GET", "/v1/tenants/acme/rates", admin, "")
	rates, _ := m["rates"].([]any)
	if st != 200 || m["currency"] != "EUR" || len(rates) != 2 || rates[1].(map[string]any)["price"] != "0.07" {
		t.Fatalf("rates: %d %v", st, m)
	}
	st, m = c.do("GET", "/v1/suppliers/sup1/costs", admin, "")
	costs, _ := m["costs"].([]any)
	if st != 200 || len(costs) != 1 || costs[0].(map[string]any)["cost"] != "0.02" {
		t.Fatalf("costs: %d %v", st, m)
	}
	for path, want := range map[string]string{
		"/v1/routes":               "prefix,suppliers\n49,sup1\n",
		"/v1/tenants/acme/rates":   "prefix,price\n49,0.05\n4915,0.07\n",
		"/v1/suppliers/sup1/costs": "prefix,cost\n49,0.02\n",
	} {
		if st, raw := c.raw("GET", path, admin, "", "Accept", "text/csv"); st != 200 || string(raw) != want {
			t.Errorf("GET %s as CSV: %d %q, want %q", path, st, raw, want)
		}
	}
	for _, path := range []string{"/v1/tenants/ghost/rates", "/v1/suppliers/ghost/costs"} {
		if st, _ := c.do("GET", path, admin, ""); st != 404 {
			t.Errorf("GET %s: %d, want 404", path, st)
		}
	}

	// PUT as CSV, read back.
	csvHdr := []string{"Content-Type", "text/csv"}
	if st, m := c.do("PUT", "/v1/tenants/acme/rates", admin, "prefix,price\n49,0.06\n\"4917\", 0.08\n", csvHdr...); st != 200 || m["rates"] != 2.0 {
		t.Fatalf("PUT rates CSV: %d %v", st, m)
	}
	if st, raw := c.raw("GET", "/v1/tenants/acme/rates", admin, "", "Accept", "text/csv"); st != 200 || string(raw) != "prefix,price\n49,0.06\n4917,0.08\n" {
		t.Fatalf("rates after CSV PUT: %d %q", st, raw)
	}
	if st, m := c.do("PUT", "/v1/suppliers/sup1/costs", admin, "prefix,cost\r\n49,0.025\r\n", "Content-Type", "text/csv; charset=utf-8"); st != 200 || m["costs"] != 1.0 {
		t.Fatalf("PUT costs CSV: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/suppliers/sup1/costs", admin, ""); st != 200 || m["costs"].([]any)[0].(map[string]any)["cost"] != "0.025" {
		t.Fatalf("costs after CSV PUT: %d %v", st, m)
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/tenants/acme/rates", "", "line 1"},
		{"/v1/tenants/acme/rates", "prefix,cost\n49,1\n", "line 1"},
		{"/v1/tenants/acme/rates", "49,0.05\n", "line 1"},
		{"/v1/tenants/acme/rates", "prefix,price\n49,0.05\n4915,abc\n", "line 3"},
		{"/v1/tenants/acme/rates", "prefix,price\n49,0.05\n4915\n", "line 3"},
		{"/v1/tenants/acme/rates", "prefix,price\n49,0.05,x\n", "line 2"},
		{"/v1/tenants/acme/rates", "prefix,price\n,0.05\n", "line 2"},
		{"/v1/tenants/acme/rates", "prefix,price\n49,1e3\n", "line 2"},
		{"/v1/tenants/acme/rates", "prefix,price\n49,\"0.05\n", "line 2"},
		{"/v1/tenants/acme/rates", "prefix,price\n4x,0.05\n", "rates"}, // the ledger's check
		{"/v1/suppliers/sup1/costs", "prefix,price\n49,0.01\n", "line 1"},
		{"/v1/suppliers/sup1/costs", "prefix,cost\n49,0.01\n\n4,-\n", "line 4"},
	} {
		st, m := c.do("PUT", tc.path, admin, tc.body, csvHdr...)
		e, _ := m["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if st != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("PUT %s %q: %d %v, want 400 naming %s", tc.path, tc.body, st, m, tc.want)
		}
	}
	if st, raw := c.raw("GET", "/v1/tenants/acme/rates", admin, "", "Accept", "text/csv"); st != 200 || string(raw) != "prefix,price\n49,0.06\n4917,0.08\n" {
		t.Fatalf("a refused CSV PUT changed the rates: %d %q", st, raw)
	}
	big := "prefix,price\n" + strings.Repeat(strings.Repeat("4", 1000)+",0.05\n", httpapi.MaxCardBodyBytes/1000+1)
	if st, _ := c.do("PUT", "/v1/tenants/acme/rates", admin, big, csvHdr...); st != 413 {
		t.Fatalf("oversized CSV: %d, want 413", st)
	}
	many := "prefix,price\n" + strings.Repeat("49,0.05\n", ledger.MaxCardLines+1)
	if st, m := c.do("PUT", "/v1/tenants/acme/rates", admin, many, csvHdr...); st != 400 || !strings.Contains(m["error"].(map[string]any)["message"].(string), "at most") {
		t.Fatalf("too many lines: %d %v", st, m)
	}
	if st, _ := c.do("PUT", "/v1/tenants/acme/rates", admin, "prefix,price\n", "Content-Type", "text/plain"); st != 415 {
		t.Fatalf("text/plain: %d, want 415", st)
	}
}

// TestDecksWithNetworkRows: rates, costs and routes may name a mobile
// network (mccmnc) instead of a prefix, in JSON and in CSV. A deck without
// network rows reads back in the two-column CSV it always had; one with
// some in the three-column form, which PUT takes back unchanged; a line
// naming both a prefix and a network, or neither, is refused.
func TestDecksWithNetworkRows(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	setup(t, c)
	csvHdr := []string{"Content-Type", "text/csv"}
	getCSV := func(path string) string {
		t.Helper()
		st, raw := c.raw("GET", path, admin, "", "Accept", "text/csv")
		if st != 200 {
			t.Fatalf("GET %s as CSV: %d %s", path, st, raw)
		}
		return string(raw)
	}

	// JSON: a network row beside prefix rows (prefix absent or "").
	if st, m := c.do("PUT", "/v1/tenants/acme/rates", admin, `[{"prefix":"49","price":"0.05"},{"mccmnc":"26201","price":"0.04"},{"prefix":"","mccmnc":"26202","price":"0.045"}]`); st != 200 || m["rates"] != 3.0 {
		t.Fatalf("PUT rates with network rows: %d %v", st, m)
	}
	st, m := c.do("GET", "/v1/tenants/acme/rates", admin, "")
	rates, _ := m["rates"].([]any)
	if st != 200 || len(rates) != 3 || fmt.Sprint(rates[1]) != "map[mccmnc:26201 prefix: price:0.04]" {
		t.Fatalf("rates with network rows as JSON: %d %v", st, m)
	}
	if _, ok := rates[0].(map[string]any)["mccmnc"]; ok {
		t.Errorf("a prefix row shows an mccmnc: %v", rates[0])
	}
	wantRates := "prefix,mccmnc,price\n49,,0.05\n,26201,0.04\n,26202,0.045\n"
	if got := getCSV("/v1/tenants/acme/rates"); got != wantRates {
		t.Fatalf("rates with network rows as CSV: %q, want %q", got, wantRates)
	}
	// What the JSON GET gives, PUT takes back.
	back, _ := json.Marshal(rates)
	if st, m := c.do("PUT", "/v1/tenants/acme/rates", admin, string(back)); st != 200 || getCSV("/v1/tenants/acme/rates") != wantRates {
		t.Fatalf("PUT of the JSON GET's rates: %d %v", st, m)
	}
	// What the CSV GET gives, PUT takes back.
	if st, m := c.do("PUT", "/v1/tenants/acme/rates", admin, wantRates, csvHdr...); st != 200 || m["rates"] != 3.0 || getCSV("/v1/tenants/acme/rates") != wantRates {
		t.Fatalf("PUT of the CSV GET's rates: %d %v", st, m)
	}

	// CSV costs and routes in the three-column form, any case and quoting.
	if st, m := c.do("PUT", "/v1/suppliers/sup1/costs", admin, "\ufeffPrefix, MCCMNC, Cost\r\n49,,0.02\r\n\"\",\"26201\", 0.015\r\n", csvHdr...); st != 200 || m["costs"] != 2.0 {
		t.Fatalf("PUT costs CSV with a network row: %d %v", st, m)
	}
	wantCosts := "prefix,mccmnc,cost\n49,,0.02\n,26201,0.015\n"
	if got := getCSV("/v1/suppliers/sup1/costs"); got != wantCosts {
		t.Fatalf("costs: %q, want %q", got, wantCosts)
	}
	st, m = c.do("GET", "/v1/suppliers/sup1/costs", admin, "")
	if costs, _ := m["costs"].([]any); st != 200 || len(costs) != 2 || fmt.Sprint(costs[1]) != "map[cost:0.015 mccmnc:26201 prefix:]" {
		t.Fatalf("costs as JSON: %d %v", st, m)
	}
	if st, m := c.do("PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1"]},{"mccmnc":"26201","suppliers":["sup1"]}]`); st != 200 || m["routes"] != 2.0 {
		t.Fatalf("PUT routes with a network row: %d %v", st, m)
	}
	wantRoutes := "prefix,mccmnc,suppliers\n49,,sup1\n,26201,sup1\n"
	if got := getCSV("/v1/routes"); got != wantRoutes {
		t.Fatalf("routes: %q, want %q", got, wantRoutes)
	}
	st, m = c.do("GET", "/v1/routes", admin, "")
	if routes, _ := m["routes"].([]any); st != 200 || len(routes) != 2 || fmt.Sprint(routes[1]) != "map[mccmnc:26201 prefix: suppliers:[sup1]]" {
		t.Fatalf("routes as JSON: %d %v", st, m)
	}
	for path, body := range map[string]string{"/v1/suppliers/sup1/costs": wantCosts, "/v1/routes": wantRoutes} {
		if st, m := c.do("PUT", path, admin, body, csvHdr...); st != 200 || getCSV(path) != body {
			t.Errorf("PUT %s of its CSV GET: %d %v", path, st, m)
		}
	}

	// Refused: both keys or neither, in JSON (the ledger's check) and in
	// CSV (the line named); a network that is no MCC-MNC.
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/tenants/acme/rates", `[{"prefix":"49","mccmnc":"26201","price":"0.05"}]`, "one or the other"},
		{"/v1/tenants/acme/rates", `[{"price":"0.05"}]`, "a prefix or an mccmnc"},
		{"/v1/tenants/acme/rates", `[{"mccmnc":"2620","price":"0.05"}]`, "2620"},
		{"/v1/suppliers/sup1/costs", `[{"prefix":"49","mccmnc":"26201","cost":"0.01"}]`, "one or the other"},
		{"/v1/suppliers/sup1/costs", `[{"mccmnc":"","cost":"0.01"}]`, "a prefix or an mccmnc"},
		{"/v1/routes", `[{"prefix":"49","mccmnc":"26201","suppliers":["sup1"]}]`, "one or the other"},
		{"/v1/routes", `[{"suppliers":["sup1"]}]`, "a prefix or an mccmnc"},
	} {
		st, m := c.do("PUT", tc.path, admin, tc.body)
		if st != 400 || errCode(m) != "invalid_request" || !strings.Contains(errMessage(m), tc.want) {
			t.Errorf("PUT %s %s: %d %v, want 400 naming %q", tc.path, tc.body, st, m, tc.want)
		}
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/tenants/acme/rates", "prefix,mccmnc,price\n49,,0.05\n49,26201,0.04\n", "line 3"},
		{"/v1/tenants/acme/rates", "prefix,mccmnc,price\n,,0.05\n", "line 2"},
		{"/v1/tenants/acme/rates", "prefix,mccmnc,price\n49,0.05\n", "line 2"},
		{"/v1/tenants/acme/rates", "prefix,mccmnc,price\n,26201,abc\n", "line 2"},
		{"/v1/tenants/acme/rates", "prefix,price,mccmnc\n49,0.05,\n", "line 1"},
		{"/v1/tenants/acme/rates", "prefix,mccmnc,cost\n49,,0.05\n", "line 1"},
		{"/v1/tenants/acme/rates", "prefix,mccmnc,price\n,2620x,0.05\n", "2620x"}, // the ledger's check
		{"/v1/suppliers/sup1/costs", "prefix,mccmnc,cost\n\n49,26201,0.01\n", "line 3"},
		{"/v1/routes", "prefix,mccmnc,suppliers\n,26201,\n", "line 2"},
		{"/v1/routes", "prefix,mccmnc,suppliers\n4915,26201,sup1\n", "line 2"},
	} {
		st, m := c.do("PUT", tc.path, admin, tc.body, csvHdr...)
		if st != 400 || errCode(m) != "invalid_request" || !strings.Contains(errMessage(m), tc.want) {
			t.Errorf("PUT %s %q: %d %v, want 400 naming %s", tc.path, tc.body, st, m, tc.want)
		}
	}
	if got := getCSV("/v1/tenants/acme/rates"); got != wantRates {
		t.Errorf("refused PUTs changed the rates: %q", got)
	}

	// Back to prefixes only: the two-column CSV again.
	if st, m := c.do("PUT", "/v1/tenants/acme/rates", admin, "prefix,price\n49,0.05\n", csvHdr...); st != 200 || getCSV("/v1/tenants/acme/rates") != "prefix,price\n49,0.05\n" {
		t.Fatalf("rates without network rows: %d %v %q", st, m, getCSV("/v1/tenants/acme/rates"))
	}
}
