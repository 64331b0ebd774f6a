package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/webhook"
)

// hookReceiver is a tenant's webhook endpoint on 127.0.0.1: it verifies
// each request's signature and keeps the DLRs.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	dlrs   []webhook.DLR
	bad    int
	header http.Header
}

func startHookReceiver(t *testing.T, secret string) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	h.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil {
			h.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var d webhook.DLR
		if err := json.Unmarshal(body, &d); err != nil {
			h.bad++
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.dlrs = append(h.dlrs, d)
		h.header = r.Header.Clone()
		w.WriteHeader(http.StatusNoContent)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Listener = ln
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) got() ([]webhook.DLR, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.DLR(nil), h.dlrs...), h.bad
}

// TestServeWebhookDLR: an HTTP tenant with a webhook sends a message; the
// simulated supplier delivers it; the webhook receives exactly one signed
// DLR with status DELIVRD, and the message's audit trail records it as
// forwarded (DeliveryForwarded) — so it is not sent again.
func TestServeWebhookDLR(t *testing.T) {
	sim := startSim(t, smscsim.Config{SystemID: "s", Password: "p", DLRDelay: 50 * time.Millisecond})
	const admin = testAdminToken
	const secret = "whsec-e2e-0123456789abcdef"
	hook := startHookReceiver(t, secret)
	info, stop := serveInProcess(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--admin-token", admin)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	base := "http://" + info.HTTPAddr
	must := apiMust(t, &base)
	must(201, "POST", "/v1/tenants", admin, `{"id":"acme","name":"Acme","currency":"EUR","billing":"on_delivery","tps_limit":100,"credit_limit":"0","tier":"standard"}`)
	must(200, "PUT", "/v1/tenants/acme/rates", admin, `[{"prefix":"49","price":"0.05"}]`)
	must(201, "POST", "/v1/tenants/acme/topups", admin, `{"amount":"1.00","reference":"wire-1"}`)
	host, port, _ := net.SplitHostPort(sim.Addr())
	must(201, "POST", "/v1/suppliers", admin, fmt.Sprintf(`{"id":"sup1","name":"S","currency":"EUR","host":%q,"port":%s,"system_id":"s","password":"p","binds":1,"tps_limit":100,"window":10}`, host, port))
	must(200, "PUT", "/v1/suppliers/sup1/costs", admin, `[{"prefix":"49","cost":"0.02"}]`)
	must(200, "PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1"]}]`)
	key := mustKey(t, base, admin)

	// The webhook endpoint: admin only, validated, the secret never echoed.
	hookURL := hook.srv.URL + "/dlr"
	must(401, "PUT", "/v1/tenants/acme/webhook", key, fmt.Sprintf(`{"url":%q,"secret":%q}`, hookURL, secret))
	must(400, "PUT", "/v1/tenants/acme/webhook", admin, fmt.Sprintf(`{"url":"ftp://x/dlr","secret":%q}`, secret))
	must(400, "PUT", "/v1/tenants/acme/webhook", admin, fmt.Sprintf(`{"url":%q,"secret":"short"}`, hookURL))
	must(400, "PUT", "/v1/tenants/acme/webhook", admin, fmt.Sprintf(`{"url":%q}`, hookURL))
	must(400, "PUT", "/v1/tenants/acme/webhook", admin, fmt.Sprintf(`{"url":%q,"secret":%q,"extra":1}`, hookURL, secret))
	must(404, "PUT", "/v1/tenants/nobody/webhook", admin, fmt.Sprintf(`{"url":%q,"secret":%q}`, hookURL, secret))
	set := must(200, "PUT", "/v1/tenants/acme/webhook", admin, fmt.Sprintf(`{"url":%q,"secret":%q}`, hookURL, secret))
	if set["url"] != hookURL || set["secret"] != nil {
		t.Fatalf("PUT webhook answered %v", set)
	}

	waitSupplierUp(t, base, "sup1")
	sent := must(202, "POST", "/v1/messages", key, `{"from":"Acme","to":"+4915112345678","text":"hello"}`)
	id, _ := sent["message_id"].(string)
	if id == "" {
		t.Fatalf("send answered %v", sent)
	}

	// Exactly one signed DLR arrives.
	deadline := time.Now().Add(30 * time.Second)
	for {
		dlrs, bad := hook.got()
		if bad != 0 {
			t.Fatalf("%d webhook requests did not verify", bad)
		}
		if len(dlrs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			msg := must(200, "GET", "/v1/messages/"+id, key, "")
			t.Fatalf("no webhook DLR within 30s; message %v", msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	dlrs, _ := hook.got()
	d := dlrs[0]
	if d.MessageID != id || d.Status != "DELIVRD" || d.Parts != 1 || d.Price != "0.05" || d.Currency != "EUR" || d.DoneAt.IsZero() {
		t.Fatalf("webhook DLR %+v", d)
	}
	hook.mu.Lock()
	hdr := hook.header
	hook.mu.Unlock()
	if !strings.HasPrefix(hdr.Get(webhook.HeaderSignature), "v1=") || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("webhook headers %v", hdr)
	}

	// Recorded once as forwarded: the message says so and its audit trail
	// has one DeliveryForwarded.
	for {
		msg := must(200, "GET", "/v1/messages/"+id, key, "")
		if msg["forwarded"] == true {
			if msg["state"] != "delivered" || msg["money"] != "settled" {
				t.Fatalf("message %v", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not recorded as forwarded within 30s: %v", msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
	evs := must(200, "GET", "/v1/messages/"+id+"/events", key, "")
	list, _ := evs["events"].([]any)
	forwarded := 0
	for _, e := range list {
		if e.(map[string]any)["type"] == "DeliveryForwarded" {
			forwarded++
		}
	}
	if forwarded != 1 {
		t.Fatalf("%d DeliveryForwarded events in %v", forwarded, evs)
	}
	// Nothing more arrives (the relay retries pending DLRs every second).
	time.Sleep(2500 * time.Millisecond)
	if dlrs, bad := hook.got(); len(dlrs) != 1 || bad != 0 {
		t.Fatalf("webhook got %d DLRs (%d bad), want exactly 1: %+v", len(dlrs), bad, dlrs)
	}

	// Removing the webhook is recorded and idempotent.
	must(204, "DELETE", "/v1/tenants/acme/webhook", admin, "")
	must(204, "DELETE", "/v1/tenants/acme/webhook", admin, "")
	must(401, "DELETE", "/v1/tenants/acme/webhook", key, "")
}
