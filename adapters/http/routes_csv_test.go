package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// addSupplier creates supplier id (EUR) with the cost 49 → 0.02 over the
// API, so that routes may name it.
func addSupplier(t *testing.T, c client, id string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"name":"S","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s","password":"p","binds":1,"tps_limit":100,"window":10}`, id)
	if st, m := c.do("POST", "/v1/suppliers", admin, body); st != 201 {
		t.Fatalf("supplier %s: %d %v", id, st, m)
	}
	if st, m := c.do("PUT", "/v1/suppliers/"+id+"/costs", admin, `[{"prefix":"49","cost":"0.02"}]`); st != 200 {
		t.Fatalf("costs of %s: %d %v", id, st, m)
	}
}

func TestRoutesPutCSV(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	setup(t, c)
	addSupplier(t, c, "sup2")
	csvHdr := []string{"Content-Type", "text/csv"}
	routesCSV := func() string {
		t.Helper()
		st, raw := c.raw("GET", "/v1/routes", admin, "", "Accept", "text/csv")
		if st != 200 {
			t.Fatalf("GET /v1/routes as CSV: %d %s", st, raw)
		}
		return string(raw)
	}

	// Good: quoted fields, spaces, CRLF and a blank line are fine; the
	// order of the suppliers is kept.
	body := "\ufeffPrefix, Suppliers\r\n49,\"sup2  sup1\"\r\n\r\n4915, sup1\r\n"
	if st, m := c.do("PUT", "/v1/routes", admin, body, csvHdr...); st != 200 || m["routes"] != 2.0 {
		t.Fatalf("PUT routes CSV: %d %v", st, m)
	}
	want := "prefix,suppliers\n49,sup2 sup1\n4915,sup1\n"
	if got := routesCSV(); got != want {
		t.Fatalf("routes after CSV PUT: %q, want %q", got, want)
	}
	st, m := c.do("GET", "/v1/routes", admin, "")
	routes, _ := m["routes"].([]any)
	if st != 200 || len(routes) != 2 || fmt.Sprint(routes[0].(map[string]any)["suppliers"]) != "[sup2 sup1]" {
		t.Fatalf("routes as JSON: %d %v", st, m)
	}
	// What GET gives, PUT takes back unchanged.
	if st, m := c.do("PUT", "/v1/routes", admin, want, "Content-Type", "text/csv; charset=utf-8"); st != 200 || m["routes"] != 2.0 {
		t.Fatalf("PUT of the GET's CSV: %d %v", st, m)
	}
	if got := routesCSV(); got != want {
		t.Fatalf("routes after the round trip: %q, want %q", got, want)
	}

	for _, tc := range []struct{ body, want string }{
		{"", "line 1"},
		{"49,sup1\n", "line 1"}, // no header line
		{"prefix,cost\n49,sup1\n", "line 1"},
		{"prefix,suppliers,x\n49,sup1\n", "line 1"},
		{"prefix,suppliers\n49,sup1\n4915\n", "line 3"},
		{"prefix,suppliers\n49,sup1,sup2\n", "line 2"},
		{"prefix,suppliers\n,sup1\n", "line 2"},
		{"prefix,suppliers\n49,\n", "line 2"},
		{"prefix,suppliers\n49,\"sup1\n", "line 2"},
		{"prefix,suppliers\n49,sup1\n\n\n4915,x\"y\n", "line 5"},
		{"prefix,suppliers\n49,sup1 ghost\n", `unknown supplier "ghost"`}, // the ledger's check
		{"prefix,suppliers\n4x,sup1\n", "routes"},
		{"prefix,mccmnc,suppliers\n49,26201,sup1\n", "line 2"}, // a prefix or a network, not both
		{"prefix,mccmnc,suppliers\n,,sup1\n", "line 2"},
		{"prefix,mccmnc,suppliers\n,26201\n", "line 2"},
		{"prefix,mccmnc,suppliers\n,2620,sup1\n", "routes"},
	} {
		st, m := c.do("PUT", "/v1/routes", admin, tc.body, csvHdr...)
		e, _ := m["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if st != 400 || errCode(m) != "invalid_request" || !strings.Contains(msg, tc.want) {
			t.Errorf("PUT /v1/routes %q: %d %v, want 400 naming %s", tc.body, st, m, tc.want)
		}
	}
	if got := routesCSV(); got != want {
		t.Fatalf("a refused CSV PUT changed the routes: %q", got)
	}

	many := "prefix,suppliers\n" + strings.Repeat("49,sup1\n", ledger.MaxCardLines+1)
	st, m = c.do("PUT", "/v1/routes", admin, many, csvHdr...)
	if e, _ := m["error"].(map[string]any); st != 400 || !strings.Contains(fmt.Sprint(e["message"]), "at most") {
		t.Fatalf("too many lines: %d %v", st, m)
	}
	big := "prefix,suppliers\n" + strings.Repeat(strings.Repeat("4", 1000)+",sup1\n", httpapi.MaxCardBodyBytes/1000+1)
	if st, _ := c.do("PUT", "/v1/routes", admin, big, csvHdr...); st != 413 {
		t.Fatalf("oversized CSV: %d, want 413", st)
	}
	if st, _ := c.do("PUT", "/v1/routes", admin, want, "Content-Type", "text/plain"); st != 415 {
		t.Fatalf("text/plain: %d, want 415", st)
	}
	if st, _ := c.do("PUT", "/v1/routes", admin+"x", want, csvHdr...); st != 401 {
		t.Fatalf("wrong token: %d, want 401", st)
	}
}

// FuzzRoutesCSV: PUT /v1/routes as CSV (either header form, prefix or
// network rows) never fails the server: it answers 200, 413, or a 400
// invalid_request naming a line (or the ledger's own check of the table);
// a table it takes, read back as CSV and put again, is the same table.
func FuzzRoutesCSV(f *testing.F) {
	for _, s := range []string{
		"prefix,suppliers\n49,sup1\n", "prefix,suppliers\n49,sup1 sup2\n4915,sup2\n", "prefix,suppliers\r\n49,sup1\r\n",
		"\ufeffprefix,suppliers\n49,\"sup2 sup1\"\n", "PREFIX, Suppliers\n\"49\", sup1\n", "prefix,suppliers\n", "",
		"49,sup1\n", "prefix,suppliers\n49\n", "prefix,suppliers\n49,sup1,sup2\n", "prefix,suppliers\n,sup1\n",
		"prefix,suppliers\n49,\n", "prefix,suppliers\n49,\"sup1\n", "prefix,suppliers\n\n\n49,sup1\n",
		"prefix,suppliers\n49,ghost\n", "prefix,suppliers\n49,sup1\n49,sup2\n", "prefix,suppliers\n4x,sup1\n",
		"prefix,suppliers\n49,sup1\tsup2\n", "prefix,price\n49,sup1\n",
		"prefix,mccmnc,suppliers\n49,,sup1\n,26201,sup2 sup1\n", "Prefix, MCCMNC, Suppliers\n,\"310410\",sup2\n",
		"prefix,mccmnc,suppliers\n49,26201,sup1\n", "prefix,mccmnc,suppliers\n,,sup1\n", "prefix,mccmnc,suppliers\n,2620,sup1\n",
		"prefix,mccmnc,suppliers\n,26201,sup1\n,26201,sup2\n",
	} {
		f.Add(s)
	}
	svc := ledgertest.Start(f, ledgertest.MemStore(f), ledger.Options{})
	ledgertest.Setup(f, svc, "acme")
	h := httpapi.NewHandler(svc, httpapi.Options{AdminToken: admin})
	serve := func(method, body, contentType, accept string) (int, []byte) {
		req := httptest.NewRequest(method, "/v1/routes", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code, w.Body.Bytes()
	}
	sup2 := `{"id":"sup2","name":"S","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s","password":"p","binds":1,"tps_limit":100,"window":10}`
	h.ServeHTTP(httptest.NewRecorder(), authed(httptest.NewRequest("POST", "/v1/suppliers", strings.NewReader(sup2))))
	h.ServeHTTP(httptest.NewRecorder(), authed(httptest.NewRequest("PUT", "/v1/suppliers/sup2/costs", strings.NewReader(`[{"prefix":"49","cost":"0.02"}]`))))

	f.Fuzz(func(t *testing.T, body string) {
		st, raw := serve("PUT", body, "text/csv", "")
		switch st {
		case http.StatusOK:
		case http.StatusRequestEntityTooLarge:
			return
		case http.StatusBadRequest:
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(raw, &e); err != nil || e.Error.Code != "invalid_request" ||
				!(strings.Contains(e.Error.Message, "csv line ") || strings.HasPrefix(e.Error.Message, "routes")) {
				t.Fatalf("PUT %q: 400 %s, want invalid_request naming a line or the routes", body, raw)
			}
			return
		default:
			t.Fatalf("PUT %q: %d %s", body, st, raw)
		}
		_, first := serve("GET", "", "", "text/csv")
		if st, raw := serve("PUT", string(first), "text/csv", ""); st != http.StatusOK {
			t.Fatalf("PUT of the GET's CSV %q: %d %s", first, st, raw)
		}
		if _, again := serve("GET", "", "", "text/csv"); !bytes.Equal(first, again) {
			t.Fatalf("taken from %q: %q, then %q", body, first, again)
		}
	})
}

func authed(r *http.Request) *http.Request {
	r.Header.Set("Authorization", "Bearer "+admin)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// Traffic shares and hours on route rows: JSON weights and hours, CSV
// "a:70 b:30 @08:00-20:00"; both read back as they were given and round
// trip; bad ones are a 400.
func TestRouteSharesAndHours(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	setup(t, c)
	if st, m := c.do("POST", "/v1/suppliers", admin, `{"id":"sup2","name":"S","currency":"EUR","host":"127.0.0.1","port":2776,"system_id":"s","password":"p","binds":1,"tps_limit":100,"window":10}`); st != 201 {
		t.Fatalf("supplier: %d %v", st, m)
	}
	if st, m := c.do("PUT", "/v1/suppliers/sup2/costs", admin, `[{"prefix":"49","cost":"0.02"}]`); st != 200 {
		t.Fatalf("costs: %d %v", st, m)
	}
	if st, m := c.do("PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1","sup2"],"weights":[70,30]},{"prefix":"49","suppliers":["sup2"],"hours":"22:00-06:00"}]`); st != 200 {
		t.Fatalf("routes: %d %v", st, m)
	}
	st, m := c.do("GET", "/v1/routes", admin, "")
	routes, _ := m["routes"].([]any)
	if st != 200 || len(routes) != 2 {
		t.Fatalf("get: %d %v", st, m)
	}
	first := routes[0].(map[string]any)
	if w, _ := first["weights"].([]any); len(w) != 2 || w[0] != float64(70) || first["hours"] != nil {
		t.Errorf("first row: %v", first)
	}
	if second := routes[1].(map[string]any); second["hours"] != "22:00-06:00" || second["weights"] != nil {
		t.Errorf("second row: %v", second)
	}
	st, raw := c.raw("GET", "/v1/routes", admin, "", "Accept", "text/csv")
	want := "prefix,suppliers\n49,sup1:70 sup2:30\n49,sup2 @22:00-06:00\n"
	if st != 200 || string(raw) != want {
		t.Fatalf("csv: %d %q, want %q", st, raw, want)
	}
	if st, m := c.do("PUT", "/v1/routes", admin, string(raw), "Content-Type", "text/csv"); st != 200 {
		t.Fatalf("the CSV back: %d %v", st, m)
	}
	if _, again := c.raw("GET", "/v1/routes", admin, "", "Accept", "text/csv"); string(again) != want {
		t.Errorf("round trip: %q", again)
	}
	for _, body := range []string{
		"prefix,suppliers\n49,sup1:70 sup2\n",
		"prefix,suppliers\n49,sup1:x\n",
		"prefix,suppliers\n49,sup1 @1-2\n",
		"prefix,suppliers\n49,sup1 @08:00-20:00 @09:00-10:00\n",
	} {
		if st, m := c.do("PUT", "/v1/routes", admin, body, "Content-Type", "text/csv"); st != 400 {
			t.Errorf("%q: %d %v, want 400", body, st, m)
		}
	}
	if st, _ := c.do("PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1","sup2"],"weights":[100]}]`); st != 400 {
		t.Errorf("weights for one of two suppliers: %d, want 400", st)
	}
}
