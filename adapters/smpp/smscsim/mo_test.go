package smscsim_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
)

// POST /mo sends an MO to the bound ESME: 400 without from and to, 503
// while no receiver bind is up, 204 once the ESME acknowledged it (which
// it got as a deliver_sm with esm_class 0).
func TestMOHandler(t *testing.T) {
	sim := simtest.Start(t, smscsim.Config{SystemID: "esme", Password: "pw"})
	h := sim.MOHandler()
	post := func(form url.Values) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/mo", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	mo := url.Values{"from": {"4917600000001"}, "to": {"4915112345678"}, "text": {"STOP"}}
	if c := post(url.Values{"text": {"x"}}); c != http.StatusBadRequest {
		t.Fatalf("no addresses: %d", c)
	}
	if c := post(mo); c != http.StatusServiceUnavailable {
		t.Fatalf("no bind: %d", c)
	}
	got := make(chan *pdu.DeliverSM, 1)
	sess, err := gosmpp.NewSession(gosmpp.RXConnector(gosmpp.NonTLSDialer, gosmpp.Auth{SMSC: sim.Addr(), SystemID: "esme", Password: "pw"}),
		gosmpp.Settings{ReadTimeout: 10 * time.Second, OnPDU: func(p pdu.PDU, _ bool) {
			if d, ok := p.(*pdu.DeliverSM); ok {
				got <- d
			}
		}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if c := post(mo); c != http.StatusNoContent {
		t.Fatalf("MO: %d", c)
	}
	d := <-got
	if text, _ := d.Message.GetMessage(); d.EsmClass != 0 || text != "STOP" || d.DestAddr.Address() != "4915112345678" {
		t.Fatalf("deliver_sm esm_class 0x%x %q → %s", d.EsmClass, text, d.DestAddr.Address())
	}
	if n := sim.MOsSent.Load(); n != 1 {
		t.Fatalf("MOsSent %d", n)
	}
}
