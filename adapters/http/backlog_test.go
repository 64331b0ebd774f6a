package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// A submit refused because the lifecycle is behind (the backlog bound,
// ledger/backlog.go) is 429 throttled with Retry-After: 1; nothing drains
// here, so the accepted messages stay the node's backlog.
func TestBacklogRefusalIs429WithRetryAfter(t *testing.T) {
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{BacklogMax: 10})
	srv := httptest.NewServer(httpapi.NewHandler(svc, httpapi.Options{AdminToken: admin}))
	t.Cleanup(srv.Close)
	c := client{t: t, url: srv.URL}
	acme, _ := setup(t, c) // premium: refused from 9 while it holds its tier's whole backlog
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"10","reference":"t1"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	submit := func() *http.Response {
		req, err := http.NewRequest("POST", srv.URL+"/v1/messages", strings.NewReader(`{"from":"Acme","to":"+4915112345678","text":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+acme)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for i := range 9 {
		if resp := submit(); resp.StatusCode != 202 {
			t.Fatalf("submit %d under the bound: %d", i, resp.StatusCode)
		}
	}
	resp := submit()
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err != nil || resp.StatusCode != 429 || body.Error.Code != "throttled" || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("submit at the bound: %d Retry-After %q %s (%v)", resp.StatusCode, resp.Header.Get("Retry-After"), b, err)
	}
	if n := svc.Backlog().Throttled["premium"]; n != 1 {
		t.Fatalf("throttled counted %d, want 1", n)
	}
}
