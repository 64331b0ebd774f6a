package server

import (
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// TestTenantBinds: a tenant's binds are listed with their system_id, mode,
// remote address and bind time, oldest first; another tenant's binds and
// connections not bound yet are not; an unbind takes one off, and
// CloseTenant all at once.
func TestTenantBinds(t *testing.T) {
	srv := startServer(t, newFake(), nil)
	if got := srv.TenantBinds("t-acme"); len(got) != 0 {
		t.Fatalf("binds before any: %v", got)
	}
	before := time.Now()
	var acme []*rawClient
	for _, bt := range []pdu.BindingType{pdu.Transmitter, pdu.Receiver, pdu.Transceiver} {
		acme = append(acme, bound(t, srv, bt))
		n := len(acme)
		waitFor(t, func() bool { return len(srv.TenantBinds("t-acme")) == n })
		time.Sleep(2 * time.Millisecond) // distinct bind times: the order is the binds'
	}
	b := dial(t, srv)
	if st := b.bind(pdu.Transceiver, "beta", "pw2"); st != data.ESME_ROK {
		t.Fatalf("beta bind: 0x%x", st)
	}
	dial(t, srv) // connected, not bound: not a bind
	waitFor(t, func() bool { return len(srv.TenantBinds("t-beta")) == 1 })

	got := srv.TenantBinds("t-acme")
	if len(got) != 3 {
		t.Fatalf("acme's binds: %+v", got)
	}
	for i, want := range []string{ModeTransmitter, ModeReceiver, ModeTransceiver} {
		g := got[i]
		if g.Mode != want || g.SystemID != "acme" || g.RemoteAddr != acme[i].c.LocalAddr().String() {
			t.Errorf("bind %d: %+v, want %s from %s", i, g, want, acme[i].c.LocalAddr())
		}
		if g.BoundAt.Before(before) || g.BoundAt.After(time.Now()) {
			t.Errorf("bind %d bound at %v, not during the test", i, g.BoundAt)
		}
	}
	if beta := srv.TenantBinds("t-beta"); beta[0].SystemID != "beta" || beta[0].Mode != ModeTransceiver {
		t.Errorf("beta's bind: %+v", beta)
	}
	if srv.TenantBinds("t-nobody") != nil || srv.TenantBinds("") != nil {
		t.Error("binds of nobody")
	}

	// The receiver unbinds: the others stay, in order.
	acme[1].send(pdu.NewUnbind())
	if _, ok := acme[1].recv().(*pdu.UnbindResp); !ok {
		t.Fatal("no unbind_resp")
	}
	waitFor(t, func() bool { return len(srv.TenantBinds("t-acme")) == 2 })
	if got := srv.TenantBinds("t-acme"); got[0].Mode != ModeTransmitter || got[1].Mode != ModeTransceiver {
		t.Errorf("after the receiver's unbind: %+v", got)
	}

	// Closed binds are gone at once, before their sessions end.
	if n := srv.CloseTenant("t-acme"); n != 2 {
		t.Fatalf("CloseTenant closed %d", n)
	}
	if got := srv.TenantBinds("t-acme"); len(got) != 0 {
		t.Errorf("binds being closed still listed: %+v", got)
	}
	if len(srv.TenantBinds("t-beta")) != 1 {
		t.Error("beta's bind went with acme's")
	}
}
