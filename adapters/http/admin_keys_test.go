package httpapi_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

func startMem(t *testing.T) client {
	t.Helper()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	srv := httptest.NewServer(httpapi.NewHandler(svc, httpapi.Options{AdminToken: admin}))
	t.Cleanup(srv.Close)
	return client{t: t, url: srv.URL}
}

func TestAPIKeysListAndRevoke(t *testing.T) {
	c := startMem(t)
	acme, beta := setup(t, c)
	st, issued := c.do("POST", "/v1/tenants/acme/api-keys", admin, "")
	if st != 201 || issued["id"] == nil || issued["id"] != issued["key_id"] || issued["key"] == nil {
		t.Fatalf("issue: %d %v", st, issued)
	}
	second, secondID := issued["key"].(string), issued["id"].(string)

	st, raw := c.raw("GET", "/v1/tenants/acme/api-keys", admin, "")
	var list []map[string]any
	if err := json.Unmarshal(raw, &list); st != 200 || err != nil || len(list) != 2 {
		t.Fatalf("list: %d %s %v", st, raw, err)
	}
	firstID, _ := list[0]["id"].(string)
	if list[1]["id"] != secondID || firstID == "" || len(list[0]) != 2 {
		t.Fatalf("list: %s", raw)
	}
	for _, k := range list {
		if at, err := time.Parse(time.RFC3339Nano, k["created_at"].(string)); err != nil || time.Since(at) > time.Minute {
			t.Fatalf("created_at %v: %v", k["created_at"], err)
		}
	}
	if st, _ := c.raw("GET", "/v1/tenants/acme/api-keys", acme, ""); st != 401 {
		t.Fatalf("list with a tenant key: %d", st)
	}
	if st, m := c.do("GET", "/v1/tenants/nobody/api-keys", admin, ""); st != 404 {
		t.Fatalf("list of an unknown tenant: %d %v", st, m)
	}

	if st, _ := c.do("GET", "/v1/balance", acme, ""); st != 200 {
		t.Fatalf("balance before revocation: %d", st)
	}
	if st, m := c.do("DELETE", "/v1/tenants/beta/api-keys/"+firstID, admin, ""); st != 404 {
		t.Fatalf("revoking through another tenant: %d %v", st, m)
	}
	if st, raw := c.raw("DELETE", "/v1/tenants/acme/api-keys/"+firstID, admin, ""); st != 204 || len(raw) != 0 {
		t.Fatalf("revoke: %d %s", st, raw)
	}
	// Refused from the answer on (well within 5 s), cached or not.
	if st, m := c.do("GET", "/v1/balance", acme, ""); st != 401 {
		t.Fatalf("revoked key: %d %v", st, m)
	}
	for _, k := range []string{second, beta} {
		if st, _ := c.do("GET", "/v1/balance", k, ""); st != 200 {
			t.Fatalf("a key in force: %d", st)
		}
	}
	if st, _ := c.do("DELETE", "/v1/tenants/acme/api-keys/"+firstID, admin, ""); st != 404 {
		t.Fatalf("revoking twice: %d", st)
	}
	st, raw = c.raw("GET", "/v1/tenants/acme/api-keys", admin, "")
	if err := json.Unmarshal(raw, &list); st != 200 || err != nil || len(list) != 1 || list[0]["id"] != secondID {
		t.Fatalf("list after revocation: %d %s", st, raw)
	}
}

func TestAdjustments(t *testing.T) {
	c := startMem(t)
	acme, _ := setup(t, c)
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1","reference":"t1"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	st, m := c.do("POST", "/v1/tenants/acme/adjustments", admin, `{"amount":"2.5","reference":"a1","reason":"goodwill"}`)
	if st != 201 || m["duplicate"] != false || m["amount"] != "2.5" || m["currency"] != "EUR" || m["reason"] != "goodwill" {
		t.Fatalf("adjustment: %d %v", st, m)
	}
	entry := m["entry_id"]
	if bal := m["balance"].(map[string]any); bal["balance"] != "3.5" || bal["available"] != "3.5" {
		t.Fatalf("balance after the adjustment: %v", bal)
	}
	st, m = c.do("POST", "/v1/tenants/acme/adjustments", admin, `{"amount":"2.5","reference":"a1","reason":"goodwill"}`)
	if st != 201 || m["duplicate"] != true || m["entry_id"] != entry {
		t.Fatalf("repeat: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/tenants/acme/adjustments", admin, `{"amount":"-1","reference":"a1","reason":"goodwill"}`); st != 409 || errCode(m) != "conflict" {
		t.Fatalf("reference reused with another amount: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/tenants/acme/adjustments", admin, `{"amount":"-3.51","reference":"a2","reason":"chargeback"}`); st != 409 || errCode(m) != "insufficient_funds" {
		t.Fatalf("below available: %d %v", st, m)
	}
	st, m = c.do("POST", "/v1/tenants/acme/adjustments", admin, `{"amount":"-3.5","reference":"a2","reason":"chargeback"}`)
	if st != 201 || m["amount"] != "-3.5" {
		t.Fatalf("negative adjustment: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/balance", acme, ""); st != 200 || m["balance"] != "0" || m["available"] != "0" {
		t.Fatalf("balance: %d %v", st, m)
	}
	for _, body := range []string{
		`{"amount":"0","reference":"z"}`,
		`{"amount":"1"}`,
		`{"reference":"z"}`,
		`{"amount":"1.000000001","reference":"z"}`,
		`{"amount":"x","reference":"z"}`,
		`{"amount":"1","reference":"z","extra":1}`,
		`not json`,
	} {
		if st, m := c.do("POST", "/v1/tenants/acme/adjustments", admin, body); st != 400 || errCode(m) != "invalid_request" {
			t.Errorf("%s: %d %v", body, st, m)
		}
	}
	if st, m := c.do("POST", "/v1/tenants/nobody/adjustments", admin, `{"amount":"1","reference":"z"}`); st != 404 {
		t.Fatalf("unknown tenant: %d %v", st, m)
	}
	if st, _ := c.do("POST", "/v1/tenants/acme/adjustments", acme, `{"amount":"1","reference":"z"}`); st != 401 {
		t.Fatalf("with a tenant key: %d", st)
	}
}
