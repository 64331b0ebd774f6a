package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/domain/accept"
)

// fakeIngress is the application side for tests.
type fakeIngress struct {
	mu        sync.Mutex
	users     map[string]string // system_id → password
	tps       float64
	submitted []accept.Request
	refuse    error         // returned by Submit when set
	gate      chan struct{} // when set, Submit waits for a token
	statuses  map[string]MessageStatus
	auths     atomic.Int64 // AuthenticateSMPP calls (password checks)
}

func newFake() *fakeIngress {
	return &fakeIngress{users: map[string]string{"acme": "secret", "beta": "pw2"}, statuses: map[string]MessageStatus{}}
}

func (f *fakeIngress) AuthenticateSMPP(_ context.Context, sys, pw string) (Principal, error) {
	f.auths.Add(1)
	want, ok := f.users[sys]
	if !ok {
		return Principal{}, ErrUnknownSystemID
	}
	if want != pw {
		return Principal{}, fmt.Errorf("tenant %s: %w", sys, ErrInvalidPassword)
	}
	return Principal{TenantID: "t-" + sys, TPS: f.tps}, nil
}

func (f *fakeIngress) Submit(ctx context.Context, tenant string, req accept.Request) (Accepted, error) {
	f.mu.Lock()
	gate, refuse := f.gate, f.refuse
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return Accepted{}, ctx.Err()
		}
	}
	if refuse != nil {
		return Accepted{}, refuse
	}
	f.mu.Lock()
	f.submitted = append(f.submitted, req)
	f.mu.Unlock()
	return Accepted{MessageID: req.MessageID.String(), Parts: 1}, nil
}

func (f *fakeIngress) QueryMessage(_ context.Context, tenant, id string) (MessageStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.statuses[tenant+"/"+id]
	if !ok {
		return MessageStatus{}, ErrMessageNotFound
	}
	return st, nil
}

func (f *fakeIngress) last() accept.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submitted[len(f.submitted)-1]
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startServer(t testing.TB, in Ingress, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{Addr: "127.0.0.1:0", Ingress: in, Logger: quietLogger(), AuthFailDelay: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	return srv
}

// rawClient is a bare SMPP peer for precise protocol tests.
type rawClient struct {
	t testing.TB
	c net.Conn
}

func dial(t testing.TB, srv *Server) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, c: c}
}

func (r *rawClient) send(p pdu.PDU) {
	r.t.Helper()
	b := pdu.NewBuffer(nil)
	p.Marshal(b)
	r.write(b.Bytes())
}

func (r *rawClient) write(b []byte) {
	r.t.Helper()
	_ = r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) recvWithin(d time.Duration) (pdu.PDU, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(d))
	return pdu.Parse(r.c)
}

func (r *rawClient) recv() pdu.PDU {
	r.t.Helper()
	p, err := r.recvWithin(5 * time.Second)
	if err != nil {
		r.t.Fatalf("recv: %v", err)
	}
	return p
}

func (r *rawClient) expectClosed() {
	r.t.Helper()
	for i := 0; i < 10; i++ {
		_, err := r.recvWithin(5 * time.Second)
		if err == nil {
			continue // a last PDU (nack, unbind) before the close
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.t.Fatal("connection not closed")
		}
		return
	}
	r.t.Fatal("connection not closed")
}

func (r *rawClient) bind(bt pdu.BindingType, sys, pw string) data.CommandStatusType {
	r.t.Helper()
	b := pdu.NewBindRequest(bt)
	b.SystemID, b.Password = sys, pw
	r.send(b)
	resp := r.recv()
	if _, ok := resp.(*pdu.BindResp); !ok {
		r.t.Fatalf("bind: got %T", resp)
	}
	return resp.GetHeader().CommandStatus
}

func bound(t testing.TB, srv *Server, bt pdu.BindingType) *rawClient {
	t.Helper()
	r := dial(t, srv)
	if st := r.bind(bt, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("bind status 0x%x", st)
	}
	return r
}

func submitText(t testing.TB, text string, enc data.Encoding) *pdu.SubmitSM {
	t.Helper()
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	p.SourceAddr, _ = pdu.NewAddressWithAddr("ACME")
	p.DestAddr, _ = pdu.NewAddressWithAddr("4915112345678")
	if err := p.Message.SetMessageWithEncoding(text, enc); err != nil {
		t.Fatal(err)
	}
	return p
}

func submitResp(t testing.TB, p pdu.PDU) *pdu.SubmitSMResp {
	t.Helper()
	r, ok := p.(*pdu.SubmitSMResp)
	if !ok {
		t.Fatalf("want submit_sm_resp, got %T (status 0x%x)", p, p.GetHeader().CommandStatus)
	}
	return r
}
