package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

// startBinary runs serve as a separate process (this test binary
// re-executed as smsledger, through the scenario runner's launcher), so
// that it can be killed with SIGKILL.
func startBinary(t *testing.T, dataDir, admin string) *processServe {
	t.Helper()
	s, err := startServeProcess(context.Background(),
		[]string{"--http-addr", "127.0.0.1:0", "--smpp-addr", "127.0.0.1:0"},
		[]string{asBinaryEnv + "=1", "SMSLEDGER_DATA_DIR=" + dataDir, "SMSLEDGER_ADMIN_TOKEN=" + admin},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Kill() })
	return s
}

// TestServeCrashRecovery kills serve with SIGKILL while accepted messages
// are in flight at a supplier that never answers, restarts it on the same
// data, and checks: every acknowledged message is still there, the lost
// submits are failed over to the second supplier and delivered, each DLR
// reaches the customer once, and the tenant is charged exactly once per
// message.
func TestServeCrashRecovery(t *testing.T) {
	mute := startSim(t, smscsim.Config{SystemID: "mute", Password: "pw", NoResponseRate: 1})
	good := startSim(t, smscsim.Config{SystemID: "good", Password: "pw", DLRDelay: 20 * time.Millisecond})
	dataDir := filepath.Join(t.TempDir(), "data")
	const admin = testAdminToken

	b := startBinary(t, dataDir, admin)
	base := "http://" + b.httpAddr
	must := apiMust(t, &base)
	smppWorld(must, admin, "on_delivery", "standard", 50, namedSim{"mute", mute}, namedSim{"good", good})
	key := mustKey(t, base, admin)

	// Let the supplier binds come up, so the messages go to "mute" first.
	time.Sleep(1500 * time.Millisecond)
	e := dialESME(t, b.smppAddr, "acme", "s3cret")
	const n = 5
	var ids []string
	for i := range n {
		id, st := e.submit("+4915112345678", fmt.Sprintf("message %d", i))
		if st != data.ESME_ROK {
			t.Fatalf("submit %d: status 0x%X", i, uint32(st))
		}
		ids = append(ids, id)
	}
	// Wait until every message is in flight at the mute supplier.
	deadline := time.Now().Add(20 * time.Second)
	for {
		inFlight := 0
		for _, id := range ids {
			if v := must(200, "GET", "/v1/messages/"+id, admin, ""); v["state"] == "submitted" && v["supplier"] == "mute" {
				inFlight++
			}
		}
		if inFlight == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages in flight at the mute supplier", inFlight, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := must(200, "GET", "/v1/balance", key, "")

	_ = b.Kill() // SIGKILL: no drain, no shutdown, submits in flight lost
	_ = e.conn.Close()

	b = startBinary(t, dataDir, admin)
	base = "http://" + b.httpAddr
	// Every acknowledged message survived the crash.
	for _, id := range ids {
		must(200, "GET", "/v1/messages/"+id, key, "")
	}
	if after := must(200, "GET", "/v1/balance", key, ""); after["held"] != before["held"] && after["held"] != "0" {
		t.Logf("held before the crash %v, after %v", before["held"], after["held"])
	}
	// The customer binds again and gets each DLR once.
	e = dialESME(t, b.smppAddr, "acme", "s3cret")
	for id, txt := range e.receipts(ids) {
		if !strings.Contains(txt, "stat:DELIVRD") {
			t.Fatalf("DLR of %s after recovery: %q", id, txt)
		}
	}
	for _, id := range ids {
		v := must(200, "GET", "/v1/messages/"+id, admin, "")
		if v["state"] != "delivered" || v["supplier"] != "good" {
			t.Fatalf("message %s after recovery: %v", id, v)
		}
	}
	// Charged once each: 1.00 − 5 × 0.05, nothing held.
	deadline = time.Now().Add(10 * time.Second)
	for {
		bal := must(200, "GET", "/v1/balance", key, "")
		if bal["balance"] == "0.75" && bal["held"] == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance after recovery %v, want balance 0.75 and nothing held", bal)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// No DLR twice: nothing more arrives for these messages.
	select {
	case p := <-e.pdus:
		t.Fatalf("unexpected PDU after all DLRs: %T %+v", p, p)
	case <-time.After(1500 * time.Millisecond):
	}
}
