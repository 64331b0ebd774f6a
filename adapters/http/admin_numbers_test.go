package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

// PUT and GET /v1/tenants/{id}/numbers: the list as recorded (normalised,
// sorted, each once); a bad number a 400 naming it; another tenant's
// number a 409 naming it; an unknown tenant a 404; admin only.
func TestTenantNumbersAPI(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c)

	st, m := c.do("PUT", "/v1/tenants/acme/numbers", admin, `{"numbers":["+49 151 12345678","12345","004915199999999","12345"]}`)
	if st != 200 || fmt.Sprint(m["numbers"]) != "[+4915112345678 +4915199999999 12345]" || m["tenant_id"] != "acme" {
		t.Fatalf("PUT numbers: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/tenants/acme/numbers", admin, ""); st != 200 || fmt.Sprint(m["numbers"]) != "[+4915112345678 +4915199999999 12345]" {
		t.Fatalf("GET numbers: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/tenants/beta/numbers", admin, ""); st != 200 || fmt.Sprint(m["numbers"]) != "[]" {
		t.Fatalf("GET no numbers: %d %v", st, m)
	}
	for _, tc := range []struct {
		tenant, body string
		status       int
		code, names  string
	}{
		{"beta", `{"numbers":["+4930123456","015112345678"]}`, 400, "invalid_request", "015112345678"},
		{"beta", `{"numbers":["+4930123456","+4915112345678"]}`, 409, "conflict", "+4915112345678"},
		{"beta", `{}`, 400, "invalid_request", "numbers"},
		{"nobody", `{"numbers":["+4930123456"]}`, 404, "not_found", ""},
	} {
		st, m := c.do("PUT", "/v1/tenants/"+tc.tenant+"/numbers", admin, tc.body)
		msg, _ := m["error"].(map[string]any)["message"].(string)
		if st != tc.status || errCode(m) != tc.code || !strings.Contains(msg, tc.names) {
			t.Errorf("PUT %s %s: %d %v, want %d %s naming %q", tc.tenant, tc.body, st, m, tc.status, tc.code, tc.names)
		}
	}
	if st, _ := c.do("PUT", "/v1/tenants/acme/numbers", acme, `{"numbers":[]}`); st != 401 {
		t.Fatalf("a tenant key: %d", st)
	}
	// An empty list frees them all.
	if st, m := c.do("PUT", "/v1/tenants/acme/numbers", admin, `{"numbers":[]}`); st != 200 || fmt.Sprint(m["numbers"]) != "[]" {
		t.Fatalf("PUT no numbers: %d %v", st, m)
	}
	if st, m := c.do("PUT", "/v1/tenants/beta/numbers", admin, `{"numbers":["+4915112345678"]}`); st != 200 {
		t.Fatalf("a freed number: %d %v", st, m)
	}
}

// mo_price on the tenant object: set at creation, changed by PATCH, "0"
// when never set, a bad one a 400.
func TestTenantMOPrice(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	setup(t, c)
	if st, m := c.do("GET", "/v1/tenants/acme", admin, ""); st != 200 || m["mo_price"] != "0" {
		t.Fatalf("mo_price never set: %d %v", st, m)
	}
	st, m := c.do("POST", "/v1/tenants", admin, `{"id":"gamma","name":"G","currency":"EUR","billing":"on_submit","tier":"standard","mo_price":"0.004"}`)
	if st != 201 || m["mo_price"] != "0.004" {
		t.Fatalf("create with mo_price: %d %v", st, m)
	}
	if st, m := c.do("PATCH", "/v1/tenants/gamma", admin, `{"mo_price":"0.01"}`); st != 200 || m["mo_price"] != "0.01" {
		t.Fatalf("patch mo_price: %d %v", st, m)
	}
	if st, m := c.do("PATCH", "/v1/tenants/gamma", admin, `{"name":"Gamma"}`); st != 200 || m["mo_price"] != "0.01" {
		t.Fatalf("another patch kept mo_price? %d %v", st, m)
	}
	for _, body := range []string{`{"mo_price":"-0.01"}`, `{"mo_price":"abc"}`} {
		if st, m := c.do("PATCH", "/v1/tenants/gamma", admin, body); st != 400 {
			t.Errorf("PATCH %s: %d %v", body, st, m)
		}
	}
}
