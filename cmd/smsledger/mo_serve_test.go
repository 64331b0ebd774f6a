package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

// TestServeMORoundTrip: through the real serve, a supplier (the simulator)
// delivers an MO for a number tenant acme owns while acme has no bind —
// acknowledged once durable — and one for a number nobody owns; acme binds
// and gets its MO as a deliver_sm with esm_class 0; the MO's CDR has
// direction mo and its mo_price; /metrics counts both MOs.
func TestServeMORoundTrip(t *testing.T) {
	sim := startSim(t, smscsim.Config{SystemID: "good", Password: "pw"})
	const admin = testAdminToken
	info, stop := serveInProcess(t, "--admin-token", admin)
	base := "http://" + info.HTTPAddr
	must := apiMust(t, &base)
	smppWorld(must, admin, "on_submit", "standard", 10, namedSim{"good", sim})
	must(200, "PATCH", "/v1/tenants/acme", admin, `{"mo_price":"0.01"}`)
	must(200, "PUT", "/v1/tenants/acme/numbers", admin, `{"numbers":["+4915112345678"]}`)
	waitSupplierUp(t, base, "good")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sim.SendMO(ctx, "4917600000001", "4915112345678", "hello acme"); err != nil {
		t.Fatalf("MO for acme: %v", err)
	}
	if err := sim.SendMO(ctx, "4917600000001", "4930000000", "nobody"); err != nil {
		t.Fatalf("MO for nobody's number: %v", err)
	}
	e := dialESME(t, info.SMPPAddr, "acme", "s3cret")
	d := e.next(func(p pdu.PDU) bool { _, ok := p.(*pdu.DeliverSM); return ok }).(*pdu.DeliverSM)
	if text, _ := d.Message.GetMessage(); d.EsmClass != 0 || text != "hello acme" || d.SourceAddr.Address() != "4917600000001" || d.DestAddr.Address() != "4915112345678" {
		t.Fatalf("MO deliver_sm: esm_class 0x%x %q %s → %s", d.EsmClass, text, d.SourceAddr.Address(), d.DestAddr.Address())
	}
	if b := must(200, "GET", "/v1/tenants/acme", admin, ""); b["balance"] != "0.99" {
		t.Fatalf("balance after an MO: %v", b["balance"])
	}
	var cdr map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		page := must(200, "GET", "/v1/cdrs?tenant_id=acme", admin, "")
		for _, c := range page["items"].([]any) {
			if m := c.(map[string]any); m["direction"] == "mo" && m["forwarded_at"] != "" && m["forwarded_at"] != nil {
				cdr = m
			}
		}
		if cdr != nil {
			break
		}
	}
	if cdr == nil || cdr["price"] != "0.01" || cdr["source"] != "4917600000001" || cdr["state"] != "received" {
		t.Fatalf("MO CDR: %v", cdr)
	}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{"smsledger_mo_received_total 1", "smsledger_mo_unknown_total 1", "smsledger_mo_forwarded_total 1"} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
