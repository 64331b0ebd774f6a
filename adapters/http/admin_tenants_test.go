package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

func TestAdminTenantsListAndGet(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c) // acme, beta
	for _, id := range []string{"c1", "c2", "c3"} {
		if st, m := c.do("POST", "/v1/tenants", admin, fmt.Sprintf(`{"id":%q,"name":"T","currency":"USD","billing":"on_delivery","credit_limit":"2","tier":"economy"}`, id)); st != 201 {
			t.Fatalf("create: %d %v", st, m)
		}
	}
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1.5","reference":"r1"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	if st, m := c.do("PUT", "/v1/tenants/acme/webhook", admin, `{"url":"https://hooks.example.com/dlr","secret":"whsecret-0123456789abcdef0123456789"}`); st != 200 {
		t.Fatalf("webhook: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/tenants/acme/smpp-credentials", admin, `{"system_id":"acme","password":"pw-acme-9"}`); st != 200 {
		t.Fatalf("smpp credentials: %d %v", st, m)
	}
	// Pages of two, by id: acme beta | c1 c2 | c3.
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		path := "/v1/tenants?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		st, m := c.do("GET", path, admin, "")
		if st != 200 {
			t.Fatalf("list: %d %v", st, m)
		}
		list := m["tenants"].([]any)
		if len(list) > 2 {
			t.Fatalf("page of %d", len(list))
		}
		for _, x := range list {
			ids = append(ids, x.(map[string]any)["id"].(string))
		}
		if m["next_cursor"] == nil {
			break
		}
		cursor = m["next_cursor"].(string)
	}
	if strings.Join(ids, ",") != "acme,beta,c1,c2,c3" {
		t.Fatalf("listed %v", ids)
	}
	// One tenant: settings, money, status; never a secret.
	st, raw := c.raw("GET", "/v1/tenants/acme", admin, "")
	if st != 200 {
		t.Fatalf("get: %d %s", st, raw)
	}
	for _, secret := range []string{"hash", "password", "secret", "key", "whsecret", "pw-acme"} {
		if strings.Contains(strings.ToLower(string(raw)), secret) {
			t.Errorf("tenant shows %q: %s", secret, raw)
		}
	}
	_, m := c.do("GET", "/v1/tenants/acme", admin, "")
	for k, want := range map[string]any{"id": "acme", "currency": "EUR", "billing": "on_submit", "tier": "premium",
		"status": "active", "balance": "1.5", "held": "0", "available": "1.5", "credit_limit": "0", "max_binds": 0.0} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v (%v)", k, m[k], want, m)
		}
	}
	if _, ok := m["allowed_ips"].([]any); !ok {
		t.Errorf("allowed_ips: %v", m["allowed_ips"])
	}
	if st, m := c.do("GET", "/v1/tenants/ghost", admin, ""); st != 404 {
		t.Fatalf("unknown tenant: %d %v", st, m)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x"} {
		if st, m := c.do("GET", "/v1/tenants?"+q, admin, ""); st != 400 || errCode(m) != "invalid_request" {
			t.Errorf("%s: %d %v", q, st, m)
		}
	}
	// Admin only.
	if st, _ := c.do("GET", "/v1/tenants", acme, ""); st != 401 {
		t.Fatalf("a tenant key lists tenants: %d", st)
	}
	if st, _ := c.do("PATCH", "/v1/tenants/acme", acme, `{"status":"active"}`); st != 401 {
		t.Fatalf("a tenant key patches: %d", st)
	}
}

func TestAdminTenantsPatch(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	setup(t, c)
	st, m := c.do("PATCH", "/v1/tenants/acme", admin, `{"name":"Acme Ltd","tps_limit":20,"credit_limit":"5.25","tier":"economy",
		"billing":"on_delivery","default_validity_s":600,"max_binds":4,"allowed_ips":["10.0.0.0/8","192.0.2.1"]}`)
	if st != 200 {
		t.Fatalf("patch: %d %v", st, m)
	}
	check := func(m map[string]any) {
		t.Helper()
		for k, want := range map[string]any{"name": "Acme Ltd", "tps_limit": 20.0, "credit_limit": "5.25", "tier": "economy",
			"billing": "on_delivery", "default_validity_s": 600.0, "max_binds": 4.0, "available": "5.25", "currency": "EUR", "status": "active"} {
			if m[k] != want {
				t.Errorf("%s = %v, want %v", k, m[k], want)
			}
		}
		if fmt.Sprint(m["allowed_ips"]) != "[10.0.0.0/8 192.0.2.1/32]" {
			t.Errorf("allowed_ips = %v", m["allowed_ips"])
		}
	}
	check(m)
	_, m = c.do("GET", "/v1/tenants/acme", admin, "")
	check(m)
	// Only the fields present change; the currency may be repeated, not changed.
	if st, m = c.do("PATCH", "/v1/tenants/acme", admin, `{"currency":"EUR","allowed_ips":[]}`); st != 200 || fmt.Sprint(m["allowed_ips"]) != "[]" || m["name"] != "Acme Ltd" {
		t.Fatalf("partial patch: %d %v", st, m)
	}
	for _, body := range []string{
		`{"currency":"USD"}`,
		`{"id":"other"}`,
		`{"name":""}`,
		`{"tps_limit":-1}`,
		`{"tps_limit":"5"}`,
		`{"credit_limit":"-1"}`,
		`{"credit_limit":"abc"}`,
		`{"tier":"gold"}`,
		`{"billing":"monthly"}`,
		`{"default_validity_s":99999999}`,
		`{"max_binds":-2}`,
		`{"allowed_ips":["nope"]}`,
		`{"status":"deleted"}`,
		`{"balance":"100"}`,
		`{"secret":"x"}`,
		`not json`,
	} {
		if st, m := c.do("PATCH", "/v1/tenants/acme", admin, body); st != 400 || errCode(m) != "invalid_request" {
			t.Errorf("%s: %d %v", body, st, m)
		}
	}
	if st, m := c.do("PATCH", "/v1/tenants/ghost", admin, `{"name":"x"}`); st != 404 {
		t.Fatalf("unknown tenant: %d %v", st, m)
	}
	_, m = c.do("GET", "/v1/tenants/acme", admin, "")
	if m["tier"] != "economy" || m["currency"] != "EUR" {
		t.Fatalf("refused patches changed something: %v", m)
	}
}

func TestAdminTenantSuspended(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, beta := setup(t, c)
	if st, m := c.do("PATCH", "/v1/tenants/acme", admin, `{"status":"suspended"}`); st != 200 || m["status"] != "suspended" {
		t.Fatalf("suspend: %d %v", st, m)
	}
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/balance", ""},
		{"POST", "/v1/messages", `{"to":"+4915112345678","text":"hi"}`},
		{"GET", "/v1/messages/0190c3a0-0000-7000-8000-000000000000", ""},
	} {
		if st, m := c.do(tc.method, tc.path, acme, tc.body); st != 403 || errCode(m) != "tenant_suspended" {
			t.Errorf("%s %s while suspended: %d %v", tc.method, tc.path, st, m)
		}
	}
	if st, _ := c.do("GET", "/v1/balance", beta, ""); st != 200 {
		t.Fatalf("another tenant: %d", st)
	}
	// A wrong key is still 401, not a hint about the tenant.
	if st, _ := c.do("GET", "/v1/balance", acme+"x", ""); st != 401 {
		t.Fatalf("wrong key: %d", st)
	}
	if st, m := c.do("PATCH", "/v1/tenants/acme", admin, `{"status":"active"}`); st != 200 || m["status"] != "active" {
		t.Fatalf("resume: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/balance", acme, ""); st != 200 {
		t.Fatalf("resumed: %d %v", st, m)
	}
}
