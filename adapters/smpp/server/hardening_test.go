package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// expectNack reads a generic_nack with status st and sequence seq.
func (r *rawClient) expectNack(st data.CommandStatusType, seq int32) {
	r.t.Helper()
	p := r.recv()
	g, ok := p.(*pdu.GenericNack)
	if !ok || g.CommandStatus != st || g.SequenceNumber != seq {
		r.t.Fatalf("want generic_nack 0x%x seq %d, got %T status 0x%x seq %d", st, seq, p, p.GetHeader().CommandStatus, p.GetSequenceNumber())
	}
}

// closedWithin reports whether the server closed the connection within d
// (PDUs it sends first are skipped).
func (r *rawClient) closedWithin(d time.Duration) bool {
	end := time.Now().Add(d)
	for i := 0; i < 100 && time.Now().Before(end); i++ {
		_, err := r.recvWithin(time.Until(end))
		if err == nil {
			continue
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
	return false
}

// A connection must bind within BindTimeout of connecting: enquire_link
// before the bind is answered generic_nack ESME_RINVBNDSTS and does not
// extend the deadline.
func TestBindDeadlineNotExtended(t *testing.T) {
	srv := startServer(t, newFake(), func(c *Config) { c.BindTimeout = 400 * time.Millisecond })
	r := dial(t, srv)
	start := time.Now()
	closed := false
	for i := int32(1); i <= 20 && !closed; i++ {
		e := pdu.NewEnquireLink()
		e.SetSequenceNumber(i)
		_ = r.c.SetWriteDeadline(time.Now().Add(time.Second))
		b := pdu.NewBuffer(nil)
		e.Marshal(b)
		if _, err := r.c.Write(b.Bytes()); err != nil {
			closed = true
			break
		}
		p, err := r.recvWithin(time.Second)
		if err != nil {
			closed = true
			break
		}
		if g, ok := p.(*pdu.GenericNack); !ok || g.CommandStatus != data.ESME_RINVBNDSTS {
			t.Fatalf("enquire_link before bind: got %T status 0x%x", p, p.GetHeader().CommandStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !closed && !r.closedWithin(time.Second) {
		t.Fatal("an unbound connection sending enquire_link was not closed")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("closed after %v, bind deadline 400ms", d)
	}
	// Binding in time works; after the bind the deadline is the idle one.
	r = dial(t, srv)
	if st := r.bind(pdu.Transceiver, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("bind: 0x%x", st)
	}
	time.Sleep(500 * time.Millisecond)
	r.send(pdu.NewEnquireLink())
	if _, ok := r.recv().(*pdu.EnquireLinkResp); !ok {
		t.Fatal("bound connection: no enquire_link_resp")
	}
}

// Before the bind every request but a bind gets generic_nack
// ESME_RINVBNDSTS with its sequence number; responses get nothing.
func TestPreBindRequestsNacked(t *testing.T) {
	srv := startServer(t, newFake(), nil)
	r := dial(t, srv)
	reqs := []pdu.PDU{pdu.NewEnquireLink(), submitText(t, "hi", data.GSM7BIT), pdu.NewQuerySM(), pdu.NewUnbind()}
	for i, p := range reqs {
		p.SetSequenceNumber(int32(100 + i))
		r.send(p)
		r.expectNack(data.ESME_RINVBNDSTS, int32(100+i))
	}
	r.write([]byte{0, 0, 0, 16, 0, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 7}) // unknown command
	r.expectNack(data.ESME_RINVBNDSTS, 7)
	resp := pdu.NewEnquireLinkResp() // a response: no answer
	resp.SetSequenceNumber(8)
	r.send(resp)
	if st := r.bind(pdu.Transceiver, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("bind after nacked PDUs: 0x%x", st)
	}
}

// A command_length below 16 or above 64 KiB closes the connection once its
// 4 octets are read, bound or not.
func TestBadLengthClosesAfterFourOctets(t *testing.T) {
	srv := startServer(t, newFake(), func(c *Config) { c.BindTimeout = 30 * time.Second })
	for _, l := range []uint32{0, 8, 15, 65<<10 + 1, 0xFFFFFFFF} {
		for _, bindFirst := range []bool{false, true} {
			r := dial(t, srv)
			if bindFirst {
				r.bind(pdu.Transceiver, "acme", "secret")
			}
			r.write([]byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l)})
			if !r.closedWithin(2 * time.Second) {
				t.Fatalf("length %d (bound %v): not closed after 4 octets", l, bindFirst)
			}
		}
	}
}

// One address holds at most MaxUnboundPerIPConns unbound connections;
// a bind or a close frees its place.
func TestUnboundPerAddressCap(t *testing.T) {
	srv := startServer(t, newFake(), func(c *Config) { c.MaxUnboundPerIPConns = 3 })
	var rs []*rawClient
	for i := 0; i < 3; i++ {
		rs = append(rs, dial(t, srv))
	}
	waitFor(t, func() bool { return srv.Sessions() == 3 })
	extra := dial(t, srv)
	if !extra.closedWithin(2 * time.Second) {
		t.Fatal("a 4th unbound connection from one address was kept")
	}
	// A bind frees a place: a new connection is kept and binds.
	if st := rs[0].bind(pdu.Transceiver, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("bind: 0x%x", st)
	}
	r := dial(t, srv)
	if st := r.bind(pdu.Transceiver, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("bind after a place was freed: 0x%x", st)
	}
	// So does a close.
	_ = rs[1].c.Close()
	waitFor(t, func() bool { return srv.Sessions() == 3 })
	r = dial(t, srv)
	if st := r.bind(pdu.Transmitter, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("bind after a close: 0x%x", st)
	}
}

// A wrong password and an unknown system_id get the same status.
func TestBindRefusalSameStatus(t *testing.T) {
	srv := startServer(t, newFake(), func(c *Config) { c.AuthFailDelay = time.Millisecond })
	for _, cred := range [][2]string{{"acme", "wrong"}, {"nobody", "secret"}} {
		for _, bt := range []pdu.BindingType{pdu.Transmitter, pdu.Transceiver} {
			r := dial(t, srv)
			if st := r.bind(bt, cred[0], cred[1]); st != data.ESME_RINVPASWD {
				t.Fatalf("bind %s/%s: 0x%x, want ESME_RINVPASWD", cred[0], cred[1], st)
			}
			r.expectClosed()
		}
	}
}

// Failure budgets per system_id and per address: beyond them binds are
// refused at once with the same status and no password check; another
// identity's success resets neither; a credential that bound before still
// binds; parallel guesses cannot overshoot a budget.
func TestBindBruteForceBudgets(t *testing.T) {
	tiny := func(c *Config) { c.AuthFailDelay, c.AuthFailMaxDelay = time.Millisecond, time.Millisecond }
	bindAs := func(srv *Server, sys, pw string) data.CommandStatusType {
		t.Helper()
		r := dial(t, srv)
		return r.bind(pdu.Transmitter, sys, pw)
	}

	// Per system_id.
	f := newFake()
	srv := startServer(t, f, func(c *Config) { tiny(c); c.MaxPerSystemIDAuthFails = 3 })
	if st := bindAs(srv, "beta", "pw2"); st != data.ESME_ROK {
		t.Fatalf("beta: 0x%x", st)
	}
	for i := 0; i < 3; i++ {
		if st := bindAs(srv, "acme", "guess"); st != data.ESME_RINVPASWD {
			t.Fatalf("guess %d: 0x%x", i, st)
		}
		if st := bindAs(srv, "beta", "pw2"); st != data.ESME_ROK { // alternating
			t.Fatalf("beta: 0x%x", st)
		}
	}
	checks := f.auths.Load()
	if st := bindAs(srv, "acme", "secret"); st != data.ESME_RINVPASWD {
		t.Fatalf("bind with acme's budget spent: 0x%x, want ESME_RINVPASWD", st)
	}
	if st := bindAs(srv, "acme", "another"); st != data.ESME_RINVPASWD {
		t.Fatalf("guess with acme's budget spent: 0x%x", st)
	}
	if n := f.auths.Load() - checks; n != 0 {
		t.Fatalf("%d password checks with the budget spent", n)
	}
	if st := bindAs(srv, "beta", "pw2"); st != data.ESME_ROK {
		t.Fatalf("beta locked out by guesses at acme: 0x%x", st)
	}

	// Per address, over many system_ids; a known-good credential still binds.
	f = newFake()
	srv = startServer(t, f, func(c *Config) { tiny(c); c.MaxPerIPAuthFails = 3 })
	if st := bindAs(srv, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("acme: 0x%x", st)
	}
	for _, sys := range []string{"x1", "x2", "acme"} {
		bindAs(srv, sys, "guess")
		bindAs(srv, "acme", "secret")
	}
	checks = f.auths.Load()
	if st := bindAs(srv, "x4", "guess"); st != data.ESME_RINVPASWD {
		t.Fatalf("guess with the address's budget spent: 0x%x", st)
	}
	if st := bindAs(srv, "beta", "pw2"); st != data.ESME_RINVPASWD {
		t.Fatalf("new credential from a spent address: 0x%x", st)
	}
	if n := f.auths.Load() - checks; n != 0 {
		t.Fatalf("%d password checks with the address's budget spent", n)
	}
	if st := bindAs(srv, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("known-good credential from a spent address: 0x%x", st)
	}

	// Parallel guesses on separate connections.
	f = newFake()
	srv = startServer(t, f, func(c *Config) { tiny(c); c.MaxPerSystemIDAuthFails = 3 })
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			b := pdu.NewBindTransmitter().(*pdu.BindRequest)
			b.SystemID, b.Password = "acme", "guess"
			buf := pdu.NewBuffer(nil)
			b.Marshal(buf)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write(buf.Bytes())
			_, _ = pdu.Parse(c)
		}()
	}
	wg.Wait()
	if n := f.auths.Load(); n > 3 {
		t.Fatalf("%d parallel guesses checked, budget 3", n)
	}
}

// authorizingFake refuses binds of a tenant beyond max (the hook for
// max_binds / allowed_ips).
type authorizingFake struct {
	*fakeIngress
	max    int
	remote netip.Addr
}

func (a *authorizingFake) AuthorizeBind(_ context.Context, _ Principal, remote netip.Addr, binds int) error {
	a.remote = remote
	if binds > a.max {
		return errors.New("max_binds")
	}
	return nil
}

func TestBindAuthorizer(t *testing.T) {
	in := &authorizingFake{fakeIngress: newFake(), max: 2}
	srv := startServer(t, in, nil)
	a := bound(t, srv, pdu.Transceiver)
	bound(t, srv, pdu.Transmitter)
	r := dial(t, srv)
	if st := r.bind(pdu.Receiver, "acme", "secret"); st != data.ESME_RBINDFAIL {
		t.Fatalf("third bind: 0x%x, want ESME_RBINDFAIL", st)
	}
	if in.remote != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("remote %v", in.remote)
	}
	// An unbind frees its count.
	a.send(pdu.NewUnbind())
	a.expectClosed()
	waitFor(t, func() bool { srv.mu.Lock(); defer srv.mu.Unlock(); return srv.binds["t-acme"] == 1 })
	bound(t, srv, pdu.Receiver)
}

// Reassembly bytes are bounded per bind and per tenant: a part beyond a
// bound is refused ESME_RMSGQFUL; bytes come back when parts go.
func TestConcatBytesBounds(t *testing.T) {
	mk := func(ref uint8, seq uint8) *pdu.SubmitSM {
		return part(t, bytes.Repeat([]byte("a"), 120), data.GSM7BIT, pdu.UDH{pdu.NewIEConcatMessage(2, seq, ref)})
	}
	b := pdu.NewBuffer(nil)
	mk(1, 1).Marshal(b)
	size := len(b.Bytes())

	// Per bind: two parts fit, a third does not.
	srv := startServer(t, newFake(), func(c *Config) { c.MaxConcatPerBindBytes = 2*size + size/2 })
	r := bound(t, srv, pdu.Transceiver)
	r.send(mk(1, 1))
	r.send(mk(2, 1))
	r.send(mk(3, 1))
	if st := submitResp(t, r.recv()).CommandStatus; st != data.ESME_RMSGQFUL {
		t.Fatalf("part beyond the bind's bytes: 0x%x", st)
	}

	// Per tenant, over its binds; an expired message gives its bytes back.
	srv = startServer(t, newFake(), func(c *Config) {
		c.MaxConcatPerTenantBytes = 2*size + size/2
		c.ConcatTimeout = 300 * time.Millisecond
	})
	r1 := bound(t, srv, pdu.Transceiver)
	r2 := bound(t, srv, pdu.Transceiver)
	r1.send(mk(1, 1))
	r1.send(mk(2, 1))
	time.Sleep(50 * time.Millisecond)
	r2.send(mk(3, 1))
	if st := submitResp(t, r2.recv()).CommandStatus; st != data.ESME_RMSGQFUL {
		t.Fatalf("part beyond the tenant's bytes: 0x%x", st)
	}
	for i := 0; i < 2; i++ {
		if st := submitResp(t, r1.recv()).CommandStatus; st != data.ESME_RSUBMITFAIL {
			t.Fatalf("expired part: 0x%x", st)
		}
	}
	r2.send(mk(3, 1))
	r2.send(mk(3, 2))
	for i := 0; i < 2; i++ {
		if st := submitResp(t, r2.recv()).CommandStatus; st != data.ESME_ROK {
			t.Fatalf("message after bytes came back: 0x%x", st)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.concatAll != 0 || len(srv.concatTen) != 0 {
		t.Fatalf("bytes held after all messages ended: %d %v", srv.concatAll, srv.concatTen)
	}
}

// FuzzSessionUnbound feeds arbitrary bytes to a session that has not
// bound (the pre-bind path: framing, generic_nack, bind deadline, binds
// with any credentials): it must neither panic nor hang.
func FuzzSessionUnbound(f *testing.F) {
	seed := func(ps ...pdu.PDU) []byte {
		b := pdu.NewBuffer(nil)
		for _, p := range ps {
			p.Marshal(b)
		}
		return b.Bytes()
	}
	bind := pdu.NewBindRequest(pdu.Transceiver)
	bind.SystemID, bind.Password = "acme", "secret"
	wrong := pdu.NewBindRequest(pdu.Transmitter)
	wrong.SystemID, wrong.Password = "acme", "nope"
	f.Add(seed(pdu.NewEnquireLink(), pdu.NewQuerySM(), bind, pdu.NewUnbind()))
	f.Add(seed(wrong))
	f.Add(seed(pdu.NewEnquireLinkResp(), pdu.NewGenericNack()))
	f.Add([]byte{0, 0, 0, 5})
	f.Add([]byte{0, 1, 0, 1, 0, 0, 0, 2})
	f.Add([]byte{0, 0, 0, 17, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	srv, err := New(Config{Addr: "127.0.0.1:0", Ingress: newFake(), Logger: quietLogger(), BindTimeout: time.Second, IdleTimeout: time.Second,
		AuthFailDelay: time.Millisecond, AuthFailMaxDelay: time.Millisecond, MaxPerIPAuthFails: 1 << 20, MaxPerSystemIDAuthFails: 1 << 20})
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
		_, _ = b.Write(in)
		_ = b.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("session hung")
		}
	})
}
