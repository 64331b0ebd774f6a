package main

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
)

// esme is a bare SMPP customer for end-to-end tests: it writes PDUs and
// reads whatever the server sends, answering deliver_sm itself.
type esme struct {
	t    *testing.T
	conn net.Conn
	pdus chan pdu.PDU
}

func dialESME(t *testing.T, addr, systemID, password string) *esme {
	t.Helper()
	return dialESMEAs(t, addr, systemID, password, pdu.NewBindTransceiver())
}

// dialESMEAs binds with the given bind PDU (transmitter, receiver or
// transceiver).
func dialESMEAs(t *testing.T, addr, systemID, password string, bindPDU pdu.PDU) *esme {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e := &esme{t: t, conn: c, pdus: make(chan pdu.PDU, 1024)}
	t.Cleanup(func() { _ = c.Close() })
	go func() {
		defer close(e.pdus)
		for {
			p, err := pdu.Parse(c)
			if err != nil {
				return
			}
			if d, ok := p.(*pdu.DeliverSM); ok {
				e.send(d.GetResponse())
			}
			e.pdus <- p
		}
	}()
	bind := bindPDU.(*pdu.BindRequest)
	bind.SystemID, bind.Password, bind.InterfaceVersion = systemID, password, data.SMPP_V34
	e.send(bind)
	resp := e.next(func(p pdu.PDU) bool { _, ok := p.(*pdu.BindResp); return ok })
	if st := resp.GetHeader().CommandStatus; st != data.ESME_ROK {
		t.Fatalf("bind as %s: status 0x%X", systemID, uint32(st))
	}
	return e
}

func (e *esme) send(p pdu.PDU) {
	buf := pdu.NewBuffer(make([]byte, 0, 256))
	p.Marshal(buf)
	_ = e.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := e.conn.Write(buf.Bytes()); err != nil {
		e.t.Errorf("write %T: %v", p, err)
	}
}

// next returns the next PDU that match accepts, within 20 s.
func (e *esme) next(match func(pdu.PDU) bool) pdu.PDU {
	e.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case p, ok := <-e.pdus:
			if !ok {
				e.t.Fatal("connection closed")
			}
			if match(p) {
				return p
			}
		case <-deadline:
			e.t.Fatal("no matching PDU within 20s")
		}
	}
}

func (e *esme) submit(to, text string) (string, data.CommandStatusType) {
	e.t.Helper()
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	_ = sm.SourceAddr.SetAddress("Acme")
	_ = sm.DestAddr.SetAddress(to)
	if err := sm.Message.SetMessageWithEncoding(text, data.GSM7BIT); err != nil {
		e.t.Fatal(err)
	}
	sm.RegisteredDelivery = 1
	e.send(sm)
	seq := sm.GetSequenceNumber()
	resp := e.next(func(p pdu.PDU) bool {
		r, ok := p.(*pdu.SubmitSMResp)
		return ok && r.GetSequenceNumber() == seq
	}).(*pdu.SubmitSMResp)
	return resp.MessageID, resp.GetHeader().CommandStatus
}

// receipt waits for the DLR deliver_sm about id and returns its text.
func (e *esme) receipt(id string) string {
	e.t.Helper()
	return e.receipts([]string{id})[id]
}

// receipts waits for the DLRs of all ids (in any order) and returns their
// texts; a second DLR for the same id fails the test.
func (e *esme) receipts(ids []string) map[string]string {
	e.t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	got := map[string]string{}
	for len(got) < len(ids) {
		d := e.next(func(p pdu.PDU) bool {
			d, ok := p.(*pdu.DeliverSM)
			return ok && d.EsmClass&0x04 != 0
		}).(*pdu.DeliverSM)
		txt, err := d.Message.GetMessage()
		id := receiptID(txt)
		if os.Getenv("CRASH_TEST_VERBOSE") != "" {
			e.t.Logf("DLR %q (%v) id=%q", txt, err, id)
		}
		if _, dup := got[id]; dup {
			e.t.Fatalf("second DLR for %s: %q", id, txt)
		}
		if want[id] {
			got[id] = txt
		}
	}
	return got
}

func receiptID(txt string) string {
	rest, ok := strings.CutPrefix(txt, "id:")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, " ")
	return id
}

func startSim(t *testing.T, cfg smscsim.Config) *smscsim.Sim {
	t.Helper()
	cfg.Logger = quietLog()
	return simtest.Start(t, cfg)
}

// TestServeSMPPEndToEnd: a customer binds over SMPP, submits; the message
// goes to the first supplier, which rejects every submit, fails over to the
// second, which accepts and reports it delivered; the customer gets a DLR
// with stat:DELIVRD; the balance shows the price settled; and the CDR has
// the second supplier.
func TestServeSMPPEndToEnd(t *testing.T) {
	bad := startSim(t, smscsim.Config{SystemID: "bad", Password: "pw", ErrorRate: 1})
	good := startSim(t, smscsim.Config{SystemID: "good", Password: "pw", DLRDelay: 50 * time.Millisecond})

	const admin = testAdminToken
	info, stop := serveInProcess(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--admin-token", admin)
	base := "http://" + info.HTTPAddr
	must := apiMust(t, &base)
	smppWorld(must, admin, "on_delivery", "premium", 10, namedSim{"bad", bad}, namedSim{"good", good})

	// A wrong password is refused.
	c, err := net.DialTimeout("tcp", info.SMPPAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wrong := &esme{t: t, conn: c, pdus: make(chan pdu.PDU, 8)}
	go func() {
		for {
			p, err := pdu.Parse(c)
			if err != nil {
				close(wrong.pdus)
				return
			}
			wrong.pdus <- p
		}
	}()
	b := pdu.NewBindTransceiver().(*pdu.BindRequest)
	b.SystemID, b.Password, b.InterfaceVersion = "acme", "nope", data.SMPP_V34
	wrong.send(b)
	if st := wrong.next(func(p pdu.PDU) bool { _, ok := p.(*pdu.BindResp); return ok }).GetHeader().CommandStatus; st != data.ESME_RINVPASWD {
		t.Fatalf("bind with a wrong password: status 0x%X, want ESME_RINVPASWD", uint32(st))
	}
	_ = c.Close()

	// The suppliers' binds come up in the background; until the first
	// supplier's is up, routing skips it. Submit until a message has gone
	// through the failover (bounded).
	e := dialESME(t, info.SMPPAddr, "acme", "s3cret")
	failedOver := false
	for try := 0; try < 40 && !failedOver; try++ {
		errorsBefore := bad.Errors.Load()
		id, st := e.submit("+4915112345678", "hello over smpp")
		if st != data.ESME_ROK || id == "" {
			t.Fatalf("submit_sm: status 0x%X id %q", uint32(st), id)
		}
		txt := e.receipt(id)
		if !strings.Contains(txt, "stat:DELIVRD") {
			t.Fatalf("DLR: %q, want stat:DELIVRD", txt)
		}
		if bad.Errors.Load() == errorsBefore {
			time.Sleep(250 * time.Millisecond) // went straight to "good"
			continue
		}
		failedOver = true
		view := must(200, "GET", "/v1/messages/"+id, admin, "") // the admin view names the supplier
		if view["supplier"] != "good" || view["state"] != "delivered" || view["attempt"] != float64(2) {
			t.Fatalf("message after failover: %v", view)
		}
	}
	if !failedOver {
		t.Fatal("no message went through the rejecting supplier and failed over")
	}
	if bad.Errors.Load() == 0 {
		t.Fatal("the rejecting supplier never saw a submit")
	}
	if good.DLRsSent.Load() == 0 {
		t.Fatal("the second supplier sent no DLR")
	}
	// The traffic shows on /metrics (the health scores once the health
	// feed's one-second tick has seen both suppliers' egress).
	scrape := func() string {
		req, _ := http.NewRequest("GET", base+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := scrape()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(body, `smsledger_supplier_health_score{supplier="bad"}`) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		body = scrape()
	}
	for _, series := range []string{
		`smsledger_smpp_submits_total{result="ok"}`,
		`smsledger_dlr_total{status="DELIVRD",supplier="good"}`,
		`smsledger_smpp_binds{side="supplier",supplier="good"} 1`,
		`smsledger_projection_lag_events{projector=`,
		`smsledger_eventstore_batch_events_count`,
		`smsledger_dlr_delay_seconds_count`,
		`smsledger_supplier_health_score{supplier="bad"}`,
		`smsledger_smpp_submit_duration_seconds_bucket`,
	} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// smppWorld configures, through the admin API, tenant acme (SMPP system_id
// acme / s3cret, 0.05 per part to 49…, top-up 1.00) and one supplier per
// simulator (cost 0.02), routed in the given order.
func smppWorld(must func(int, string, string, string, string) map[string]any, admin, billing, tier string, window int, sims ...namedSim) {
	must(201, "POST", "/v1/tenants", admin, fmt.Sprintf(`{"id":"acme","name":"Acme","currency":"EUR","billing":%q,"tps_limit":0,"credit_limit":"0","tier":%q}`, billing, tier))
	must(200, "PUT", "/v1/tenants/acme/rates", admin, `[{"prefix":"49","price":"0.05"}]`)
	must(200, "POST", "/v1/tenants/acme/smpp-credentials", admin, `{"system_id":"acme","password":"s3cret"}`)
	must(201, "POST", "/v1/tenants/acme/topups", admin, `{"amount":"1","reference":"t1"}`)
	ids := make([]string, len(sims))
	for i, sp := range sims {
		host, port, _ := net.SplitHostPort(sp.sim.Addr())
		must(201, "POST", "/v1/suppliers", admin, fmt.Sprintf(`{"id":%q,"name":%q,"currency":"EUR","host":%q,"port":%s,"system_id":%q,"password":"pw","binds":1,"tps_limit":100,"window":%d}`, sp.id, sp.id, host, port, sp.id, window))
		must(200, "PUT", "/v1/suppliers/"+sp.id+"/costs", admin, `[{"prefix":"49","cost":"0.02"}]`)
		ids[i] = fmt.Sprintf("%q", sp.id)
	}
	must(200, "PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":[`+strings.Join(ids, ",")+`]}]`)
}

// namedSim is a simulated supplier and the id (and system_id) it has.
type namedSim struct {
	id  string
	sim *smscsim.Sim
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustKey(t *testing.T, base, admin string) string {
	t.Helper()
	st, m := apiCall(t, "POST", base+"/v1/tenants/acme/api-keys", admin, "")
	key, _ := m["key"].(string)
	if st != 201 || key == "" {
		t.Fatalf("api key: %d %v", st, m)
	}
	return key
}
