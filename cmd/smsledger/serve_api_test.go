package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

// apiMust returns a call to serve's API at *base that fails the test unless
// the answer has the wanted status (base may change: a restarted serve).
func apiMust(t *testing.T, base *string) func(want int, method, path, token, body string) map[string]any {
	return func(want int, method, path, token, body string) map[string]any {
		t.Helper()
		st, m := apiCall(t, method, *base+path, token, body)
		if st != want {
			t.Fatalf("%s %s: status %d, want %d: %v", method, path, st, want, m)
		}
		return m
	}
}

// apiCall sends one JSON request to a running serve and decodes the answer.
func apiCall(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// TestServeAPIEndToEnd drives serve's HTTP API on its embedded PostgreSQL:
// configure a tenant, a supplier and a route, send a message, read its
// state and the balance; then restart serve on the same data and check that
// the ledger rebuilt the same balance from the log.
func TestServeAPIEndToEnd(t *testing.T) {
	sim := startSim(t, smscsim.Config{SystemID: "s", Password: "p"})
	dataDir := filepath.Join(t.TempDir(), "data")
	const admin = testAdminToken
	info, stop := serveInProcess(t, "--data-dir", dataDir, "--admin-token", admin)
	base := "http://" + info.HTTPAddr

	must := apiMust(t, &base)
	must(201, "POST", "/v1/tenants", admin, `{"id":"acme","name":"Acme","currency":"EUR","billing":"on_submit","tps_limit":100,"credit_limit":"0","tier":"standard"}`)
	must(200, "PUT", "/v1/tenants/acme/rates", admin, `[{"prefix":"49","price":"0.05"}]`)
	host, port, _ := net.SplitHostPort(sim.Addr())
	must(201, "POST", "/v1/suppliers", admin, fmt.Sprintf(`{"id":"sup1","name":"S","currency":"EUR","host":%q,"port":%s,"system_id":"s","password":"p","binds":1,"tps_limit":100,"window":10}`, host, port))
	must(200, "PUT", "/v1/suppliers/sup1/costs", admin, `[{"prefix":"49","cost":"0.02"}]`)
	must(200, "PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1"]}]`)
	key, _ := must(201, "POST", "/v1/tenants/acme/api-keys", admin, "")["key"].(string)
	if key == "" {
		t.Fatal("no api key returned")
	}
	waitSupplierUp(t, base, "sup1")
	// No money yet: refused, nothing held.
	must(402, "POST", "/v1/messages", key, `{"from":"Acme","to":"+4915112345678","text":"hello"}`)
	must(201, "POST", "/v1/tenants/acme/topups", admin, `{"amount":"1.00","reference":"wire-1"}`)
	sent := must(202, "POST", "/v1/messages", key, `{"from":"Acme","to":"+4915112345678","text":"hello"}`)
	id, _ := sent["message_id"].(string)
	if sent["price"] != "0.05" || id == "" {
		t.Fatalf("send answered %v", sent)
	}
	// The supplier (a simulator) accepts it and reports it delivered; with
	// on_submit billing the price is settled at the supplier's acceptance.
	deadline := time.Now().Add(20 * time.Second)
	for {
		msg := must(200, "GET", "/v1/messages/"+id, key, "")
		if msg["state"] == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not delivered within 20s: %v", msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var balance map[string]any
	for {
		balance = must(200, "GET", "/v1/balance", key, "")
		if balance["held"] == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hold not settled within 20s: %v", balance)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if balance["available"] != "0.95" || balance["balance"] != "0.95" {
		t.Fatalf("balance after one 0.05 message: %v", balance)
	}
	checkReports(t, base, admin, key, id)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// Restart on the same data: the ledger rebuilds from the log.
	info, stop = serveInProcess(t, "--data-dir", dataDir, "--admin-token", admin)
	base = "http://" + info.HTTPAddr
	again := must(200, "GET", "/v1/balance", key, "")
	if again["available"] != balance["available"] || again["held"] != balance["held"] {
		t.Fatalf("balance after restart %v, before %v", again, balance)
	}
	must(200, "GET", "/v1/messages/"+id, key, "")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// checkReports exercises the endpoints served from the read models: the
// tenant's CDRs (JSON and CSV), the audit trail, reconciliation and replay.
func checkReports(t *testing.T, base, admin, key, id string) {
	t.Helper()
	// The projections follow the log asynchronously: wait for the CDR.
	deadline := time.Now().Add(20 * time.Second)
	var items []any
	for {
		st, m := apiCall(t, "GET", base+"/v1/cdrs", key, "")
		if st != 200 {
			t.Fatalf("GET /v1/cdrs: %d %v", st, m)
		}
		items, _ = m["items"].([]any)
		if len(items) == 1 && items[0].(map[string]any)["state"] == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CDRs after 20s: %v", m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cdr := items[0].(map[string]any)
	_, hasSupplier := cdr["supplier_id"]
	_, hasCost := cdr["cost"]
	if cdr["message_id"] != id || cdr["price"] != "0.05" || hasSupplier || hasCost {
		t.Fatalf("a tenant's CDR (no supplier, no cost): %v", cdr)
	}
	// The admin token sees the whole row.
	st, m := apiCall(t, "GET", base+"/v1/cdrs?tenant_id=acme", admin, "")
	if all, _ := m["items"].([]any); st != 200 || len(all) != 1 || all[0].(map[string]any)["supplier_id"] != "sup1" || all[0].(map[string]any)["cost"] != "0.02" {
		t.Fatalf("the admin's CDRs: %d %v", st, m)
	}
	if st, m := apiCall(t, "GET", base+"/v1/cdrs?cursor=not-a-cursor!", key, ""); st != 400 {
		t.Fatalf("CDRs with a bad cursor: %d %v", st, m)
	}

	req, _ := http.NewRequest("GET", base+"/v1/cdrs", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || len(rows) != 2 || rows[0][0] != "message_id" || rows[1][0] != id {
		t.Fatalf("CDR CSV: %v (%v)", rows, err)
	}

	st, m = apiCall(t, "GET", base+"/v1/messages/"+id+"/events", key, "")
	if st != 200 {
		t.Fatalf("audit trail: %d %v", st, m)
	}

	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	st, rec := apiCall(t, "GET", base+"/v1/reconciliation?from="+from+"&to="+to, admin, "")
	if st != 200 || rec["ok"] != true {
		t.Fatalf("reconciliation: %d %v", st, rec)
	}
	if st, m := apiCall(t, "GET", base+"/v1/reconciliation?from="+from+"&to="+to, key, ""); st != 401 && st != 403 {
		t.Fatalf("reconciliation with a tenant key: %d %v", st, m)
	}
	st, rep := apiCall(t, "POST", base+"/v1/replay", admin, "")
	if st != 200 {
		t.Fatalf("replay: %d %v", st, rep)
	}
	if diffs, _ := rep["differences"].([]any); len(diffs) != 0 {
		t.Fatalf("replay differs from the live read models: %v", rep)
	}
}

// testAdminToken is the admin token of the tests' serves (at least 16
// characters, as serve requires).
const testAdminToken = "admin-secret-0123456789"

// waitSupplierUp waits (bounded) until serve reports a bind up to the
// supplier: routing skips a supplier whose binds are down.
func waitSupplierUp(t *testing.T, base, supplier string) {
	t.Helper()
	want := fmt.Sprintf(`smsledger_smpp_binds{side="supplier",supplier=%q} 1`, supplier)
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				// The routing snapshot is refreshed every second.
				time.Sleep(1100 * time.Millisecond)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("supplier %s not bound within 20s", supplier)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
