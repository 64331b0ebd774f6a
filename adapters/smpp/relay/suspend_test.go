package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// A suspended tenant (contract): its new binds are refused ESME_RBINDFAIL,
// its open binds are unbound and closed within 5 s (the relay's default
// tick), and the messages it had accepted still finish. Resumed, it binds
// again. Real sockets on 127.0.0.1, the ledger on the in-memory store.
func TestSuspendedTenantLosesItsBinds(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	sim := simtest.Start(t, smscsim.Config{SystemID: "sup1", Password: "pw", Latency: 300 * time.Millisecond, DLRDelay: 300 * time.Millisecond})
	addSimSupplier(t, svc, "sup1", sim.Addr(), "0.02")
	ledgertest.Setup(t, svc, "acme")
	ledgertest.Setup(t, svc, "beta")
	if err := svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"sup1"}}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"acme", "beta"} {
		if _, err := svc.TopUp(ctx, id, decimal.RequireFromString("10"), "t1"); err != nil {
			t.Fatal(err)
		}
		if err := svc.SetSmppCredentials(ctx, id, id, "pw-"+id); err != nil {
			t.Fatal(err)
		}
	}
	r := New(svc, Options{Logger: slog.New(slog.DiscardHandler)}) // RetryEvery: the default, 1 s
	srv := serveRelay(t, r)

	acme := smppDial(t, srv)
	if st := acme.bind("acme", "pw-acme"); st != data.ESME_ROK {
		t.Fatalf("acme bind: 0x%x", st)
	}
	beta := smppDial(t, srv)
	if st := beta.bind("beta", "pw-beta"); st != data.ESME_ROK {
		t.Fatalf("beta bind: 0x%x", st)
	}
	// Accepted before the suspension, on the bind and through the ledger.
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	_ = sm.SourceAddr.SetAddress("Acme")
	_ = sm.DestAddr.SetAddress("4915112345678")
	_ = sm.Message.SetMessageWithEncoding("before", data.GSM7BIT)
	acme.send(sm)
	resp, ok := acme.recv().(*pdu.SubmitSMResp)
	if !ok || resp.CommandStatus != data.ESME_ROK {
		t.Fatalf("submit before the suspension: %+v", resp)
	}
	acc, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "before too"})
	if err != nil {
		t.Fatal(err)
	}

	suspended := time.Now()
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{Status: ptr(ledger.TenantSuspended)}); err != nil {
		t.Fatal(err)
	}
	// A submit that reaches the ledger before the bind is closed is refused
	// with the vendor status of a suspended tenant.
	if _, err := r.Ingress().Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "during"}); server.StatusOf(err) != server.StatusTenantSuspended {
		t.Fatalf("submit while suspended: %v (0x%x), want 0x406", err, server.StatusOf(err))
	}
	// The open bind: unbind, then closed, within 5 s.
	acme.expectUnbindAndClose(5 * time.Second)
	if took := time.Since(suspended); took > 5*time.Second {
		t.Fatalf("the open bind ended %v after the suspension", took)
	}
	// A new bind: ESME_RBINDFAIL.
	if st := smppDial(t, srv).bind("acme", "pw-acme"); st != data.ESME_RBINDFAIL {
		t.Fatalf("a suspended tenant's bind: 0x%x, want ESME_RBINDFAIL", st)
	}
	// Another tenant's bind is untouched.
	beta.send(pdu.NewEnquireLink())
	if _, ok := beta.recv().(*pdu.EnquireLinkResp); !ok {
		t.Fatal("beta's bind was touched")
	}
	// The accepted messages still finish.
	waitFor(t, "the messages accepted before the suspension delivered", func() bool {
		v, err := svc.Message(ctx, "acme", acc.MessageID)
		if err != nil || v.State != "delivered" {
			return false
		}
		v2, err := svc.Message(ctx, "acme", uuidOf(t, resp.MessageID))
		return err == nil && v2.State == "delivered"
	})
	// Resumed: it binds again.
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{Status: ptr(ledger.TenantActive)}); err != nil {
		t.Fatal(err)
	}
	again := smppDial(t, srv)
	if st := again.bind("acme", "pw-acme"); st != data.ESME_ROK {
		t.Fatalf("a resumed tenant's bind: 0x%x", st)
	}
	time.Sleep(1500 * time.Millisecond) // a relay tick or more: the bind stays
	again.send(pdu.NewEnquireLink())
	if _, ok := again.recv().(*pdu.EnquireLinkResp); !ok {
		t.Fatal("the resumed tenant's bind was closed")
	}
}

func TestAuthorizeBindRefusesSuspended(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	in := ingress{svc: svc}
	p := server.Principal{TenantID: "acme"}
	if err := in.AuthorizeBind(ctx, p, netip0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{Status: ptr(ledger.TenantSuspended)}); err != nil {
		t.Fatal(err)
	}
	err := in.AuthorizeBind(ctx, p, netip0, 1)
	var se *server.StatusError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("suspended: %v (a StatusError would not be ESME_RBINDFAIL)", err)
	}
}

func ptr[T any](v T) *T { return &v }

var netip0 = netip.MustParseAddr("127.0.0.1")

func uuidOf(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatalf("message id %q: %v", s, err)
	}
	return id
}

type smppConn struct {
	t *testing.T
	c net.Conn
}

func smppDial(t *testing.T, srv *server.Server) *smppConn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &smppConn{t: t, c: c}
}

func (s *smppConn) send(p pdu.PDU) {
	s.t.Helper()
	buf := pdu.NewBuffer(nil)
	p.Marshal(buf)
	if _, err := s.c.Write(buf.Bytes()); err != nil {
		s.t.Fatal(err)
	}
}

func (s *smppConn) recvWithin(d time.Duration) (pdu.PDU, error) {
	_ = s.c.SetReadDeadline(time.Now().Add(d))
	return pdu.Parse(s.c)
}

func (s *smppConn) recv() pdu.PDU {
	s.t.Helper()
	p, err := s.recvWithin(5 * time.Second)
	if err != nil {
		s.t.Fatalf("recv: %v", err)
	}
	return p
}

func (s *smppConn) bind(sys, pw string) data.CommandStatusType {
	s.t.Helper()
	b := pdu.NewBindRequest(pdu.Transceiver)
	b.SystemID, b.Password = sys, pw
	s.send(b)
	resp, ok := s.recv().(*pdu.BindResp)
	if !ok {
		s.t.Fatal("no bind_resp")
	}
	return resp.CommandStatus
}

// expectUnbindAndClose reads until the server's unbind, then expects the
// connection closed, all within d.
func (s *smppConn) expectUnbindAndClose(d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	sawUnbind := false
	for {
		_ = s.c.SetReadDeadline(deadline)
		p, err := pdu.Parse(s.c)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				s.t.Fatalf("still open after %v (unbind seen: %v)", d, sawUnbind)
			}
			if !sawUnbind {
				s.t.Fatalf("closed without an unbind: %v", err)
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.t.Logf("closed: %v", err)
			}
			return
		}
		if _, ok := p.(*pdu.Unbind); ok {
			sawUnbind = true
		}
	}
}
