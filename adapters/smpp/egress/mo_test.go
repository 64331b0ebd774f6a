package egress

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

// A supplier's MO (deliver_sm, esm_class 0) reaches the Reporter with its
// addresses, text and coding, and the supplier gets ESME_ROK only once the
// Reporter took it; when the Reporter could not store it, ESME_RSYSERR,
// so the supplier delivers it again. Real sockets, the simulator as the
// supplier.
func TestMOFromTheSupplier(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	_, r := startSupplier(t, sim, func(c *Config) { c.Binds = 1 })
	ctx := context.Background()
	for _, text := range []string{"STOP", "Привет"} {
		if err := sim.SendMO(ctx, "4917600000001", "4915112345678", text); err != nil {
			t.Fatalf("MO %q: %v", text, err)
		}
	}
	r.mu.Lock()
	got := append([]MO(nil), r.mos...)
	r.mu.Unlock()
	want := []MO{{From: "4917600000001", To: "4915112345678", Text: "STOP", DataCoding: 0},
		{From: "4917600000001", To: "4915112345678", Text: "Привет", DataCoding: 8}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("MOs %+v, want %+v", got, want)
	}

	r.mu.Lock()
	r.moErr = errors.New("store down")
	r.mu.Unlock()
	err := sim.SendMO(ctx, "4917600000001", "4915112345678", "again")
	if server.StatusOf(err) != data.ESME_RSYSERR {
		t.Fatalf("MO the reporter could not store: %v (0x%x), want ESME_RSYSERR", err, server.StatusOf(err))
	}
	if n := sim.MOsSent.Load(); n != 2 {
		t.Fatalf("the simulator counts %d MOs acknowledged, want 2", n)
	}
}

// moOf decodes the codings a handset's text comes in (IA5 is passed on as
// Latin-1, which holds it), a text in message_payload, and refuses binary
// data and undecodable text.
func TestMODecoding(t *testing.T) {
	mk := func(raw []byte, enc data.Encoding, payload bool) *pdu.DeliverSM {
		p := pdu.NewDeliverSM().(*pdu.DeliverSM)
		_ = p.SourceAddr.SetAddress("4917600000001")
		_ = p.DestAddr.SetAddress("12345")
		if payload {
			_ = p.Message.SetMessageDataWithEncoding(nil, enc)
			p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: raw})
		} else {
			_ = p.Message.SetMessageDataWithEncoding(raw, enc)
		}
		// Through the wire format, as a supplier's PDU arrives.
		b := pdu.NewBuffer(nil)
		p.Marshal(b)
		back, err := pdu.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		return back.(*pdu.DeliverSM)
	}
	long := strings.Repeat("long text ", 40)
	ucs2, _ := data.UCS2.Encode("ünï")
	latin, _ := data.LATIN1.Encode("café")
	for _, tc := range []struct {
		q      *pdu.DeliverSM
		text   string
		coding byte
	}{
		{mk([]byte("hello"), data.GSM7BIT, false), "hello", 0},
		{mk([]byte("plain ascii"), data.ASCII, false), "plain ascii", 3},
		{mk(latin, data.LATIN1, false), "café", 3},
		{mk(ucs2, data.UCS2, false), "ünï", 8},
		{mk([]byte(long), data.GSM7BIT, true), long, 0},
	} {
		mo, err := moOf(tc.q)
		if err != nil || mo.Text != tc.text || mo.DataCoding != tc.coding || mo.From != "4917600000001" || mo.To != "12345" {
			t.Errorf("%+v %v, want %q coding %d", mo, err, tc.text, tc.coding)
		}
	}
	for _, q := range []*pdu.DeliverSM{
		mk([]byte{0x01, 0x02, 0xff}, data.BINARY8BIT2, false),
		mk([]byte{0xd8, 0x00, 0x00}, data.UCS2, false),
		mk([]byte{0x80}, data.ASCII, false),
	} {
		if mo, err := moOf(q); !errors.Is(err, errMOCoding) {
			t.Errorf("%+v %v, want refused", mo, err)
		}
	}
}
