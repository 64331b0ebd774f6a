package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// An MO reaches a receiver bind as a deliver_sm with esm_class 0 (not a
// receipt), the handset as source (international), the tenant's number as
// destination (international for "+<digits>", network-specific for a
// short code), in the supplier's coding; a text over 254 octets goes in
// message_payload; the ESME's error status and a tenant without a receiver
// bind are errors.
func TestDeliverMOToAReceiverBind(t *testing.T) {
	srv := startServer(t, newFake(), nil)
	ctx := context.Background()
	if err := srv.DeliverMO(ctx, "t-acme", MO{Source: "4917600000001", Dest: "12345", Text: "x"}); !errors.Is(err, ErrNoReceiverBind) {
		t.Fatalf("no bind: %v", err)
	}
	r := bound(t, srv, pdu.Receiver)
	// The bind_resp goes out before the session counts as a receiver.
	waitFor(t, func() bool { return srv.ReceiverBinds("t-acme") == 1 })
	long := strings.Repeat("ünïcødé ", 20) // 160 characters, 320 octets in UCS-2
	for _, tc := range []struct {
		mo       MO
		ton      byte
		dest     string
		payload  bool
		wantText string
	}{
		{MO{Source: "4917600000001", Dest: "+4915112345678", Text: "STOP"}, data.GSM_TON_INTERNATIONAL, "4915112345678", false, "STOP"},
		{MO{Source: "4917600000001", Dest: "12345", Text: "café", DataCoding: 3}, data.GSM_TON_NETWORK, "12345", false, "café"},
		{MO{Source: "4917600000001", Dest: "12345", Text: long, DataCoding: 8}, data.GSM_TON_NETWORK, "12345", true, long},
	} {
		done := make(chan error, 1)
		go func() { done <- srv.DeliverMO(ctx, "t-acme", tc.mo) }()
		d, ok := r.recv().(*pdu.DeliverSM)
		if !ok {
			t.Fatal("no deliver_sm")
		}
		r.send(d.GetResponse())
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		raw, _ := d.Message.GetMessageData()
		if f, has := d.OptionalParameters[pdu.TagMessagePayload]; has != tc.payload {
			t.Errorf("%q: message_payload %v, want %v", tc.mo.Text, has, tc.payload)
		} else if has {
			raw = f.Data
		}
		coding := d.Message.Encoding().DataCoding()
		text, err := decodeText(raw, coding)
		if err != nil || text != tc.wantText || coding != tc.mo.DataCoding {
			t.Errorf("text %q coding %d (%v), want %q coding %d", text, coding, err, tc.wantText, tc.mo.DataCoding)
		}
		if d.EsmClass != 0 || d.SourceAddr.Address() != "4917600000001" || d.SourceAddr.Ton() != data.GSM_TON_INTERNATIONAL ||
			d.DestAddr.Address() != tc.dest || d.DestAddr.Ton() != tc.ton {
			t.Errorf("esm_class 0x%x, %s (ton %d) → %s (ton %d)", d.EsmClass, d.SourceAddr.Address(), d.SourceAddr.Ton(), d.DestAddr.Address(), d.DestAddr.Ton())
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.DeliverMO(ctx, "t-acme", MO{Source: "4917600000001", Dest: "12345", Text: "no"}) }()
	d := r.recv().(*pdu.DeliverSM)
	resp := d.GetResponse().(*pdu.DeliverSMResp)
	resp.CommandStatus = data.ESME_RX_T_APPN
	r.send(resp)
	select {
	case err := <-done:
		if StatusOf(err) != data.ESME_RX_T_APPN {
			t.Fatalf("refused MO: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("DeliverMO did not return")
	}
}
