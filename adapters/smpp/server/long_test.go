package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/domain/message"
)

// part builds one submit_sm part carrying raw octets.
func part(t *testing.T, raw []byte, enc data.Encoding, udh pdu.UDH) *pdu.SubmitSM {
	p := submitText(t, "", data.GSM7BIT)
	if err := p.Message.SetMessageDataWithEncoding(raw, enc); err != nil {
		t.Fatal(err)
	}
	if udh != nil {
		p.Message.SetUDH(udh)
		p.EsmClass |= data.SM_UDH_GSM
	}
	return p
}

func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

func TestLongMessages(t *testing.T) {
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8)
	cases := []struct {
		name string
		text string
		enc  data.Encoding
		mk   func(t *testing.T, raw []byte, enc data.Encoding) []*pdu.SubmitSM
	}{
		{"udh8-gsm", long + "€[]", data.GSM7BIT, func(t *testing.T, raw []byte, enc data.Encoding) []*pdu.SubmitSM {
			ch := split(raw, 153)
			var ps []*pdu.SubmitSM
			for i, c := range ch {
				ps = append(ps, part(t, c, enc, pdu.UDH{pdu.NewIEConcatMessage(byte(len(ch)), byte(i+1), 7)}))
			}
			return ps
		}},
		{"udh16-ucs2-out-of-order", "Привет мир 👋 " + long, data.UCS2, func(t *testing.T, raw []byte, enc data.Encoding) []*pdu.SubmitSM {
			ch := split(raw, 133) // odd: a UTF-16 unit is split between parts
			var ps []*pdu.SubmitSM
			for i, c := range ch {
				ie := pdu.InfoElement{ID: data.UDH_CONCAT_MSG_16_BIT_REF, Data: []byte{0x12, 0x34, byte(len(ch)), byte(i + 1)}}
				ps = append(ps, part(t, c, enc, pdu.UDH{ie}))
			}
			ps[0], ps[len(ps)-1] = ps[len(ps)-1], ps[0]
			return ps
		}},
		{"sar-latin1", "Ça coûte 5 £ ? Non: ¡Olé! " + long, data.LATIN1, func(t *testing.T, raw []byte, enc data.Encoding) []*pdu.SubmitSM {
			ch := split(raw, 100)
			var ps []*pdu.SubmitSM
			for i, c := range ch {
				p := part(t, c, enc, nil)
				p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarMsgRefNum, Data: []byte{0xAB, 0xCD}})
				p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarTotalSegments, Data: []byte{byte(len(ch))}})
				p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagSarSegmentSeqnum, Data: []byte{byte(i + 1)}})
				ps = append(ps, p)
			}
			return ps
		}},
		{"message_payload-gsm", long + long, data.GSM7BIT, func(t *testing.T, raw []byte, enc data.Encoding) []*pdu.SubmitSM {
			p := part(t, nil, enc, nil)
			p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: raw})
			return []*pdu.SubmitSM{p}
		}},
		{"message_payload-udh-ucs2", "Ünïcødé " + long, data.UCS2, func(t *testing.T, raw []byte, enc data.Encoding) []*pdu.SubmitSM {
			ch := split(raw, 300)
			var ps []*pdu.SubmitSM
			for i, c := range ch {
				p := part(t, nil, enc, nil)
				p.EsmClass |= data.SM_UDH_GSM
				pl := append([]byte{5, 0, 3, 9, byte(len(ch)), byte(i + 1)}, c...)
				p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: pl})
				ps = append(ps, p)
			}
			return ps
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			srv := startServer(t, f, nil)
			r := bound(t, srv, pdu.Transceiver)
			raw, err := c.enc.Encode(c.text)
			if err != nil {
				t.Fatal(err)
			}
			ps := c.mk(t, raw, c.enc)
			for i, p := range ps {
				r.send(p)
				if i < len(ps)-1 {
					if q, err := r.recvWithin(50 * time.Millisecond); err == nil {
						t.Fatalf("part %d answered before the message was complete: %T", i+1, q)
					}
				}
			}
			ids := map[string]bool{}
			for range ps {
				resp := submitResp(t, r.recv())
				if resp.CommandStatus != 0 {
					t.Fatalf("status 0x%x", resp.CommandStatus)
				}
				ids[resp.MessageID] = true
			}
			if len(ids) != 1 {
				t.Fatalf("parts got different ids: %v", ids)
			}
			got := f.last()
			if got.Text != c.text || got.DataCoding != c.enc.DataCoding() {
				t.Fatalf("text %q (dc %d), want %q", got.Text, got.DataCoding, c.text)
			}
		})
	}
}

func TestConcatTimeoutAndLimits(t *testing.T) {
	srv := startServer(t, newFake(), func(c *Config) { c.ConcatTimeout = 100 * time.Millisecond; c.MaxConcat = 1 })
	r := bound(t, srv, pdu.Transceiver)
	r.send(part(t, []byte("a"), data.GSM7BIT, pdu.UDH{pdu.NewIEConcatMessage(2, 1, 1)}))
	r.send(part(t, []byte("b"), data.GSM7BIT, pdu.UDH{pdu.NewIEConcatMessage(2, 1, 2)}))
	if st := submitResp(t, r.recv()).CommandStatus; st != data.ESME_RMSGQFUL {
		t.Fatalf("second concat beyond MaxConcat: 0x%x", st)
	}
	if st := submitResp(t, r.recv()).CommandStatus; st != data.ESME_RSUBMITFAIL {
		t.Fatalf("incomplete concat: 0x%x", st)
	}
	// Bad concat info.
	r.send(part(t, []byte("c"), data.GSM7BIT, pdu.UDH{pdu.NewIEConcatMessage(2, 3, 2)}))
	if st := submitResp(t, r.recv()).CommandStatus; st != data.ESME_RINVESMCLASS {
		t.Fatalf("bad udh: 0x%x", st)
	}
	// Unsupported data_coding and undecodable UCS-2.
	p := part(t, []byte("abc"), data.UCS2, nil)
	r.send(p)
	if st := submitResp(t, r.recv()).CommandStatus; st != StatusInvalidText {
		t.Fatalf("odd ucs2: 0x%x", st)
	}
	p = part(t, []byte("abc"), data.BINARY8BIT2, nil)
	r.send(p)
	if st := submitResp(t, r.recv()).CommandStatus; st != StatusUnsupportedEncoding {
		t.Fatalf("binary: 0x%x", st)
	}
}

func TestDeliverReceiptToGosmppReceiver(t *testing.T) {
	srv := startServer(t, newFake(), nil)
	ctx := context.Background()
	if err := srv.DeliverReceipt(ctx, "t-acme", DLR{}); !errors.Is(err, ErrNoReceiverBind) {
		t.Fatalf("no bind: %v", err)
	}
	var mu sync.Mutex
	got := make(chan receipt.Receipt, 4)
	var src, dst string
	sess, err := gosmpp.NewSession(gosmpp.RXConnector(gosmpp.NonTLSDialer, gosmpp.Auth{SMSC: srv.Addr().String(), SystemID: "acme", Password: "secret"}),
		gosmpp.Settings{ReadTimeout: 10 * time.Second, OnPDU: func(p pdu.PDU, _ bool) {
			if d, ok := p.(*pdu.DeliverSM); ok {
				r, err := receipt.FromDeliverSM(d)
				if err != nil || d.EsmClass != 0x04 {
					t.Errorf("receipt: %v esm 0x%x", err, d.EsmClass)
				}
				mu.Lock()
				src, dst = d.SourceAddr.Address(), d.DestAddr.Address()
				mu.Unlock()
				got <- r
			}
		}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	waitFor(t, func() bool { return srv.ReceiverBinds("t-acme") == 1 })
	now := time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC)
	d := DLR{Source: "4915112345678", Dest: "ACME", Receipt: receipt.Receipt{ID: "0b1e6f0e-5c2a-4c1e-9d7a-123456789abc", Sub: 1, Dlvrd: 1,
		SubmitDate: now, DoneDate: now.Add(time.Minute), Stat: message.DLRDelivered, Err: "000", Text: "Hello"}}
	if err := srv.DeliverReceipt(ctx, "t-acme", d); err != nil {
		t.Fatal(err)
	}
	r := <-got
	mu.Lock()
	defer mu.Unlock()
	if r.ID != d.Receipt.ID || r.Stat != message.DLRDelivered || r.State != receipt.StateDelivered || !r.DoneDate.Equal(d.Receipt.DoneDate) || src != "4915112345678" || dst != "ACME" {
		t.Fatalf("%+v %s %s", r, src, dst)
	}
}

// TestDeliverReceiptNoAck: an ESME that never answers deliver_sm gives an error.
func TestDeliverReceiptNoAck(t *testing.T) {
	srv := startServer(t, newFake(), func(c *Config) { c.DeliverTimeout = 200 * time.Millisecond })
	r := bound(t, srv, pdu.Receiver)
	go func() { _, _ = r.recvWithin(2 * time.Second) }()
	err := srv.DeliverReceipt(context.Background(), "t-acme", DLR{Receipt: receipt.Receipt{ID: "x", Stat: "DELIVRD"}})
	if err == nil || !errors.Is(err, errNoResponse) {
		t.Fatalf("want no-response error, got %v", err)
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

// FuzzSession feeds arbitrary bytes (after a valid bind) to a session over
// net.Pipe: it must neither panic nor hang.
func FuzzSession(f *testing.F) {
	bind := pdu.NewBindRequest(pdu.Transceiver)
	bind.SystemID, bind.Password = "acme", "secret"
	bb := pdu.NewBuffer(nil)
	bind.Marshal(bb)
	bindBytes := append([]byte(nil), bb.Bytes()...)
	seed := func(ps ...pdu.PDU) []byte {
		b := pdu.NewBuffer(nil)
		for _, p := range ps {
			p.Marshal(b)
		}
		return b.Bytes()
	}
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	_ = sm.Message.SetMessageWithEncoding("hello", data.UCS2)
	sm.Message.SetUDH(pdu.UDH{pdu.NewIEConcatMessage(2, 1, 1)})
	sm.EsmClass = 0x40
	f.Add(seed(sm, pdu.NewEnquireLink(), pdu.NewUnbind()))
	f.Add(seed(pdu.NewQuerySM(), pdu.NewDeliverSMResp()))
	f.Add([]byte{0, 0, 0, 5})
	f.Add([]byte{0, 0, 0, 17, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	srv, err := New(Config{Addr: "127.0.0.1:0", Ingress: newFake(), Logger: quietLogger(), BindTimeout: time.Second, IdleTimeout: time.Second, ConcatTimeout: 50 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		sess := newSession(srv, a)
		srv.mu.Lock()
		srv.sessions[sess] = struct{}{}
		srv.mu.Unlock()
		done := make(chan struct{})
		go func() { sess.run(); close(done) }()
		go func() { _, _ = bytes.NewBuffer(nil).ReadFrom(b) }() // drain answers
		_ = b.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = b.Write(bindBytes)
		_, _ = b.Write(in)
		_ = b.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("session hung")
		}
	})
}
