package console_test

import (
	"net/url"
	"strings"
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

// adminCall makes one admin API call at e and fails the test unless it
// answers want.
func adminCall(t *testing.T, e *env, method, path, body string, want int) {
	t.Helper()
	if st, raw := supplierAPI(t, e, method, path, "application/json", "", body); st != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, st, raw, want)
	}
}

// The deck pages show network rows as networks, and the route table its
// traffic shares and hours.
func TestDeckPagesShowNetworksSharesAndHours(t *testing.T) {
	e := start(t, httpapi.Options{})
	adminCall(t, e, "POST", "/v1/tenants", `{"id":"acme","name":"Acme","currency":"EUR","billing":"on_submit","tier":"standard","credit_limit":"0","tps_limit":0}`, 201)
	adminCall(t, e, "PUT", "/v1/tenants/acme/rates", `[{"prefix":"49","price":"0.05"},{"mccmnc":"26202","price":"0.042"}]`, 200)
	for _, id := range []string{"s1", "s2"} {
		adminCall(t, e, "POST", "/v1/suppliers", `{"id":"`+id+`","name":"S","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s","password":"p","binds":1,"tps_limit":10,"window":10}`, 201)
		adminCall(t, e, "PUT", "/v1/suppliers/"+id+"/costs", `[{"prefix":"49","cost":"0.02"}]`, 200)
	}
	adminCall(t, e, "PUT", "/v1/routes", `[{"prefix":"49","suppliers":["s1","s2"],"weights":[70,30]},{"mccmnc":"26202","suppliers":["s2"],"hours":"22:00-06:00"}]`, 200)
	b := e.signedIn()
	_, page := b.get("/console/routes")
	for _, want := range []string{"network 26202", "70 / 30", "22:00-06:00", "all day"} {
		if !strings.Contains(page, want) {
			t.Errorf("the routes page lacks %q", want)
		}
	}
	_, page = b.get("/console/tenants/acme")
	if !strings.Contains(page, "network 26202") || !strings.Contains(page, "0.042") {
		t.Error("the tenant page does not show its network rate row")
	}
}

// A tenant's numbers and MO price are shown and set on its page, through
// the API.
func TestTenantNumbersAndMOPrice(t *testing.T) {
	e := start(t, httpapi.Options{})
	adminCall(t, e, "POST", "/v1/tenants", `{"id":"acme","name":"Acme","currency":"EUR","billing":"on_submit","tier":"standard","credit_limit":"0","tps_limit":0}`, 201)
	b := e.signedIn()
	_, page := b.get("/console/tenants/acme")
	if !strings.Contains(page, "No numbers.") {
		t.Fatal("a new tenant's page lists numbers")
	}
	res, _ := b.post("/console/tenants/acme/numbers", url.Values{"numbers": {"+4930123456\n12345"}})
	if _, page = b.follow(res); !strings.Contains(page, "2 numbers") || !strings.Contains(page, "4930123456</code>") || !strings.Contains(page, "<code>12345</code>") {
		t.Errorf("after setting numbers:\n%s", page)
	}
	res, _ = b.post("/console/tenants/acme/numbers", url.Values{"numbers": {"+49x"}})
	if _, page = b.follow(res); !strings.Contains(page, `id="error"`) {
		t.Error("a bad number shows no error")
	}
	res, _ = b.post("/console/tenants/acme/limits", url.Values{"mo_price": {"0.003"}, "was_mo_price": {"0"}})
	if _, page = b.follow(res); !strings.Contains(page, `id="tenant-mo-price">0.003<`) {
		t.Errorf("mo_price not saved:\n%s", page)
	}
}
