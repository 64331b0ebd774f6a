package httpapi_test

import (
	"encoding/json"
	"testing"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

// fakeBinds is a TenantBinds with fixed answers.
type fakeBinds map[string][]httpapi.Bind

func (f fakeBinds) TenantBinds(id string) []httpapi.Bind { return f[id] }

// bindsAnswer is GET /v1/tenants/{id}/binds's body.
type bindsAnswer struct {
	Binds []struct {
		SystemID   string `json:"system_id"`
		Mode       string `json:"mode"`
		RemoteAddr string `json:"remote_addr"`
		BoundAt    string `json:"bound_at"`
	} `json:"binds"`
}

// getBinds reads a tenant's binds over the API and decodes them.
func getBinds(t *testing.T, c client, id, token string) (int, bindsAnswer, []byte) {
	t.Helper()
	st, raw := c.raw("GET", "/v1/tenants/"+id+"/binds", token, "")
	var out bindsAnswer
	if st == 200 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("binds of %s: %s: %v", id, raw, err)
		}
	}
	return st, out, raw
}

// TestTenantBinds: the admin sees a tenant's binds as TenantBinds gives
// them (bind time in UTC), an empty list (not null) for a tenant without
// any, 404 for an unknown tenant; a tenant's own key may not look.
func TestTenantBinds(t *testing.T) {
	since := time.Date(2025, 3, 1, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	c, _ := start(t, httpapi.Options{TenantBinds: fakeBinds{
		"acme": {
			{SystemID: "acme", Mode: "transmitter", RemoteAddr: "192.0.2.7:40001", BoundAt: since},
			{SystemID: "acme", Mode: "receiver", RemoteAddr: "192.0.2.8:40002", BoundAt: since.Add(time.Minute)},
		},
		"ghost": {{SystemID: "ghost", Mode: "transceiver"}}, // binds of a tenant the ledger does not have
	}})
	acme, _ := setup(t, c)

	st, got, raw := getBinds(t, c, "acme", admin)
	if st != 200 || len(got.Binds) != 2 {
		t.Fatalf("acme's binds: %d %s", st, raw)
	}
	first, second := got.Binds[0], got.Binds[1]
	if first.SystemID != "acme" || first.Mode != "transmitter" || first.RemoteAddr != "192.0.2.7:40001" || first.BoundAt != "2025-03-01T09:00:00Z" {
		t.Errorf("first bind: %+v", first)
	}
	if second.Mode != "receiver" || second.RemoteAddr != "192.0.2.8:40002" || second.BoundAt != "2025-03-01T09:01:00Z" {
		t.Errorf("second bind: %+v", second)
	}

	if st, _, raw := getBinds(t, c, "beta", admin); st != 200 || string(raw) != "{\"binds\":[]}\n" {
		t.Errorf("beta without binds: %d %s", st, raw)
	}
	for _, id := range []string{"nobody", "ghost"} {
		if st, m := c.do("GET", "/v1/tenants/"+id+"/binds", admin, ""); st != 404 || errCode(m) == "" {
			t.Errorf("binds of unknown tenant %s: %d %v", id, st, m)
		}
	}
	for _, token := range []string{acme, "", admin + "x"} {
		if st, _, _ := getBinds(t, c, "acme", token); st != 401 {
			t.Errorf("binds with token %q: %d, want 401", token, st)
		}
	}
}

// TestTenantBindsWithoutServer: a process without an SMPP server answers
// an empty list.
func TestTenantBindsWithoutServer(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	setup(t, c)
	if st, got, raw := getBinds(t, c, "acme", admin); st != 200 || got.Binds == nil || len(got.Binds) != 0 {
		t.Errorf("binds without a server: %d %s", st, raw)
	}
}
