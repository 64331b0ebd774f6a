package server

import (
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// TestCloseTenant: CloseTenant ends every bind of one tenant (its in-flight
// submit answered first, then unbind, then close) and leaves the others'.
func TestCloseTenant(t *testing.T) {
	f := newFake()
	srv := startServer(t, f, nil)
	a1 := bound(t, srv, pdu.Transmitter)
	a2 := bound(t, srv, pdu.Receiver)
	b := dial(t, srv)
	if st := b.bind(pdu.Transceiver, "beta", "pw2"); st != data.ESME_ROK {
		t.Fatalf("beta bind: 0x%x", st)
	}
	unboundConn := dial(t, srv) // not bound yet: left alone
	f.mu.Lock()
	f.gate = make(chan struct{})
	f.mu.Unlock()
	a1.send(submitText(t, "in flight", data.GSM7BIT))
	time.Sleep(50 * time.Millisecond)
	if n := srv.CloseTenant("t-acme"); n != 2 {
		t.Fatalf("closed %d binds, want 2", n)
	}
	if n := srv.CloseTenant("t-acme"); n != 0 {
		t.Fatalf("closed again: %d", n)
	}
	f.gate <- struct{}{}
	if st := submitResp(t, a1.recv()).CommandStatus; st != data.ESME_ROK {
		t.Fatalf("in-flight submit: 0x%x", st)
	}
	for _, c := range []*rawClient{a1, a2} {
		if _, ok := c.recv().(*pdu.Unbind); !ok {
			t.Fatal("no unbind from the server")
		}
		c.expectClosed()
	}
	// beta's bind and the unbound connection still answer.
	b.send(pdu.NewEnquireLink())
	if _, ok := b.recv().(*pdu.EnquireLinkResp); !ok {
		t.Fatal("beta's bind was touched")
	}
	if st := unboundConn.bind(pdu.Transmitter, "beta", "pw2"); st != data.ESME_ROK {
		t.Fatalf("unbound connection: 0x%x", st)
	}
	if srv.CloseTenant("") != 0 || srv.CloseTenant("t-nobody") != 0 {
		t.Fatal("closed a bind of nobody")
	}
}
