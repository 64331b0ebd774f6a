package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/eventstore/pgstore/pgstoretest"
)

// TestTenantViewHidesSupplier: a message sent, submitted, accepted by the
// supplier and settled. Its tenant's key sees state, price, client_ref and
// every event of the trail (with expires_at, send_at and recorded_at), but
// nowhere the supplier, its message id, the route candidates or a cost; the
// admin token sees the same message of any tenant whole, with the margin.
func TestTenantViewHidesSupplier(t *testing.T) {
	c, svc := start(t, httpapi.Options{})
	acme, beta := setup(t, c)
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1.00","reference":"inv-1"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	sendAt := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	st, m := c.do("POST", "/v1/messages", acme, fmt.Sprintf(`{"from":"ACME","to":"+4915112345678","text":"later","send_at":%q}`, sendAt.Format(time.RFC3339)))
	if st != 202 {
		t.Fatalf("send scheduled: %d %v", st, m)
	}
	scheduled := m["message_id"].(string)
	st, m = c.do("POST", "/v1/messages", acme, `{"from":"ACME","to":"+4915112345678","text":"hello","client_ref":"r-1"}`)
	if st != 202 {
		t.Fatalf("send: %d %v", st, m)
	}
	id := uuid.MustParse(m["message_id"].(string))
	// The message as if its time had come: submitted, accepted (on_submit:
	// settled with the supplier's cost).
	ctx := context.Background()
	if _, err := svc.SubmittedToSupplier(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SupplierAccepted(ctx, id, "sup1", 1, "SMSC-MSG-77", 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	st, m = c.do("GET", "/v1/messages/"+id.String(), acme, "")
	if st != 200 || m["state"] != "supplier_accepted" || m["price"] != "0.07" || m["client_ref"] != "r-1" ||
		m["submitted_at"] == nil || m["supplier_accepted_at"] == nil {
		t.Fatalf("tenant view: %d %v", st, m)
	}
	for _, k := range []string{"supplier", "supplier_message_id", "cost", "cost_currency", "margin", "route_prefix"} {
		if _, ok := m[k]; ok {
			t.Errorf("tenant view shows %s: %v", k, m)
		}
	}
	status, raw := c.raw("GET", "/v1/messages/"+id.String()+"/events", acme, "")
	if status != 200 {
		t.Fatalf("tenant events: %d %s", status, raw)
	}
	for _, secret := range []string{"sup1", "SMSC-MSG-77", "0.02", "candidates", "cost", "winner", "postings"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("tenant's audit trail shows %q: %s", secret, raw)
		}
	}
	type trail struct {
		Events []struct {
			Type       string          `json:"type"`
			RecordedAt time.Time       `json:"recorded_at"`
			Data       json.RawMessage `json:"data"`
		} `json:"events"`
	}
	// What the scenario runner reads: expires_at and send_at of
	// MessageAccepted, every event's type and recorded_at.
	accepted := func(tr trail) (expires, send time.Time) {
		for _, e := range tr.Events {
			if e.Type == "MessageAccepted" {
				var a struct {
					ExpiresAt time.Time `json:"expires_at"`
					SendAt    time.Time `json:"send_at"`
					Price     string    `json:"price"`
				}
				if err := json.Unmarshal(e.Data, &a); err != nil || a.Price != "0.07" {
					t.Errorf("MessageAccepted as the tenant sees it: %s (%v)", e.Data, err)
				}
				return a.ExpiresAt, a.SendAt
			}
		}
		return
	}
	var tr trail
	if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range tr.Events {
		types = append(types, e.Type)
		if e.RecordedAt.IsZero() {
			t.Errorf("%s without recorded_at", e.Type)
		}
	}
	if exp, _ := accepted(tr); exp.IsZero() {
		t.Error("the tenant's MessageAccepted has no expires_at")
	}
	var str trail
	if status, raw := c.raw("GET", "/v1/messages/"+scheduled+"/events", acme, ""); status != 200 || json.Unmarshal(raw, &str) != nil {
		t.Fatalf("scheduled message's events: %d %s", status, raw)
	}
	if _, send := accepted(str); !send.Equal(sendAt) {
		t.Errorf("the tenant's MessageAccepted has send_at %v, want %v", send, sendAt)
	}
	if got := strings.Join(types, ","); !strings.Contains(got, "MessageAccepted,RouteSelected,Held") ||
		!strings.Contains(got, "SubmittedToSupplier") || !strings.Contains(got, "SupplierAccepted") || !strings.Contains(got, "Settled") {
		t.Errorf("tenant's trail: %s", got)
	}

	// The admin token: any tenant's message, whole.
	st, m = c.do("GET", "/v1/messages/"+id.String(), admin, "")
	if st != 200 || m["tenant_id"] != "acme" || m["supplier"] != "sup1" || m["supplier_message_id"] != "SMSC-MSG-77" ||
		m["cost"] != "0.02" || m["margin"] != "0.05" {
		t.Fatalf("admin view: %d %v", st, m)
	}
	status, raw = c.raw("GET", "/v1/messages/"+id.String()+"/events", admin, "")
	if status != 200 || !strings.Contains(string(raw), `"supplier_id":"sup1"`) || !strings.Contains(string(raw), "SMSC-MSG-77") {
		t.Fatalf("admin events: %d %s", status, raw)
	}
	// Another tenant still sees nothing; a wrong token nothing either.
	if st, m := c.do("GET", "/v1/messages/"+id.String(), beta, ""); st != 404 {
		t.Errorf("beta: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/messages/"+id.String(), admin+"x", ""); st != 401 {
		t.Errorf("wrong admin token: %d %v", st, m)
	}
}

// TestAuthFailureLimits: failed authentications are limited per client
// address and per presented API key id: past the limit, 429 with
// Retry-After, even for the right credentials, until the window ends.
func TestAuthFailureLimits(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	store := pgstoretest.Store(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	h := httpapi.NewHandler(svc, httpapi.Options{AdminToken: admin, Now: clock,
		AuthLimits: httpapi.AuthLimits{PerKey: 3, PerAddr: 5, Window: time.Minute}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := client{t: t, url: srv.URL}
	acme, _ := setup(t, c)

	// Per key id: guesses at acme's key id (its secret wrong), each from
	// another address (X-Forwarded-For is not trusted, so through the
	// handler directly).
	guess := acme[:len(acme)-4] + "AAAA"
	call := func(addr, tok string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/balance", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 3 {
		if rec := call(fmt.Sprintf("10.0.0.%d:1000", i), guess); rec.Code != 401 {
			t.Fatalf("guess %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := call("10.0.1.1:1000", acme) // even the right key, from a fresh address
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "too_many_failures") {
		t.Fatalf("key id over its limit: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	// Per address: wrong admin tokens and malformed keys from one address.
	for i := range 5 {
		if rec := call("192.0.2.7:1", fmt.Sprintf("nope-%d", i)); rec.Code != 401 {
			t.Fatalf("failure %d: %d", i, rec.Code)
		}
	}
	if rec := call("192.0.2.7:2", guess); rec.Code != 429 {
		t.Fatalf("address over its limit: %d %s", rec.Code, rec.Body)
	}
	req := httptest.NewRequest("PUT", "/v1/routes", strings.NewReader(`[]`))
	req.RemoteAddr = "192.0.2.7:3"
	req.Header.Set("Authorization", "Bearer "+admin)
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if rr.Code != http.StatusTooManyRequests {
		t.Fatalf("admin token from a blocked address: %d %s", rr.Code, rr.Body)
	}
	// Other addresses and keys are not affected.
	if rec := call("192.0.2.8:1", "nope"); rec.Code != 401 {
		t.Fatalf("another address: %d", rec.Code)
	}
	// The window ends: the key works again.
	mu.Lock()
	now = now.Add(time.Minute + time.Second)
	mu.Unlock()
	if rec := call("10.0.1.1:1000", acme); rec.Code != 200 {
		t.Fatalf("after the window: %d %s", rec.Code, rec.Body)
	}
}

// TestTenantViewShowsNetworkNotRoute: with a numbering plan and network
// rows in every deck, a tenant's message and audit trail show its
// destination's network (mccmnc, country, operator, how it was found) and
// the network row its price came from (rate_mccmnc) — its own — but not
// the network rows of the route or the costs (route_mccmnc, cost_mccmnc),
// which the admin token sees.
func TestTenantViewShowsNetworkNotRoute(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c)
	csv := []string{"Content-Type", "text/csv"}
	for _, put := range []struct{ path, body string }{
		{"/v1/numbering", "prefix,mcc,mnc,country,operator\n4915,262,01,DE,Telekom\n"},
		{"/v1/tenants/acme/rates", "prefix,mccmnc,price\n49,,0.05\n,26201,0.06\n"},
		{"/v1/suppliers/sup1/costs", "prefix,mccmnc,cost\n49,,0.02\n,26201,0.015\n"},
		{"/v1/routes", "prefix,mccmnc,suppliers\n49,,sup1\n,26201,sup1\n"},
	} {
		if st, m := c.do("PUT", put.path, admin, put.body, csv...); st != 200 {
			t.Fatalf("PUT %s: %d %v", put.path, st, m)
		}
	}
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1.00","reference":"inv-1"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	st, m := c.do("POST", "/v1/messages", acme, `{"from":"ACME","to":"+4915112345678","text":"hello"}`)
	if st != 202 {
		t.Fatalf("send: %d %v", st, m)
	}
	id := m["message_id"].(string)

	st, m = c.do("GET", "/v1/messages/"+id, acme, "")
	if st != 200 || m["price"] != "0.06" || m["mccmnc"] != "26201" || m["country"] != "DE" || m["operator"] != "Telekom" {
		t.Fatalf("tenant view: %d %v", st, m)
	}
	if _, ok := m["route_mccmnc"]; ok {
		t.Errorf("tenant view shows route_mccmnc: %v", m)
	}
	status, raw := c.raw("GET", "/v1/messages/"+id+"/events", acme, "")
	if status != 200 {
		t.Fatalf("tenant events: %d %s", status, raw)
	}
	for _, want := range []string{`"rate_mccmnc":"26201"`, `"mccmnc":"26201"`, `"country":"DE"`, `"operator":"Telekom"`, `"network_source":"plan"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("tenant's audit trail lacks %s: %s", want, raw)
		}
	}
	for _, secret := range []string{"route_mccmnc", "cost_mccmnc", "0.015"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("tenant's audit trail shows %q: %s", secret, raw)
		}
	}

	st, m = c.do("GET", "/v1/messages/"+id, admin, "")
	if st != 200 || m["route_mccmnc"] != "26201" || m["mccmnc"] != "26201" {
		t.Fatalf("admin view: %d %v", st, m)
	}
	status, raw = c.raw("GET", "/v1/messages/"+id+"/events", admin, "")
	if status != 200 || !strings.Contains(string(raw), `"route_mccmnc":"26201"`) || !strings.Contains(string(raw), `"cost_mccmnc":"26201"`) {
		t.Fatalf("admin events: %d %s", status, raw)
	}
}
