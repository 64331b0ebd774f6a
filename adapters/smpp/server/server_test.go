package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/pricing"
	"github.com/smsledger/smsledger/domain/routing"
)

func TestBindAuth(t *testing.T) {
	srv := startServer(t, newFake(), func(c *Config) { c.AuthFailDelay = 150 * time.Millisecond })
	for _, bt := range []pdu.BindingType{pdu.Transmitter, pdu.Receiver, pdu.Transceiver} {
		r := dial(t, srv)
		if st := r.bind(bt, "acme", "secret"); st != data.ESME_ROK {
			t.Fatalf("bind %v: 0x%x", bt, st)
		}
		if st := r.bind(bt, "acme", "secret"); st != data.ESME_RALYBND {
			t.Fatalf("second bind: 0x%x", st)
		}
	}
	r := dial(t, srv)
	if st := r.bind(pdu.Transceiver, "acme", "wrong"); st != data.ESME_RINVPASWD {
		t.Fatalf("bad password: 0x%x", st)
	}
	r.expectClosed()
	// The second failure from this address waits AuthFailDelay first.
	r = dial(t, srv)
	start := time.Now()
	if st := r.bind(pdu.Transmitter, "nobody", "x"); st != data.ESME_RINVPASWD {
		t.Fatalf("unknown system_id: 0x%x", st)
	}
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Fatalf("second failure not slowed: %v", d)
	}
	r = dial(t, srv)
	start = time.Now()
	r.bind(pdu.Transmitter, "nobody", "x")
	if d := time.Since(start); d < 290*time.Millisecond {
		t.Fatalf("third failure not slowed more: %v", d)
	}
	// A credential that bound before is not slowed by the address's
	// failures (and its success resets nothing: the next guess waits).
	r = dial(t, srv)
	start = time.Now()
	if st := r.bind(pdu.Transmitter, "acme", "secret"); st != data.ESME_ROK {
		t.Fatalf("known-good bind: 0x%x", st)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("known-good credential slowed: %v", d)
	}
	r = dial(t, srv)
	start = time.Now()
	r.bind(pdu.Transmitter, "nobody", "x")
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("a success reset the address's slowdown: %v", d)
	}
}

func TestSubmitBindState(t *testing.T) {
	srv := startServer(t, newFake(), nil)
	r := dial(t, srv)
	r.send(submitText(t, "hi", data.GSM7BIT))
	if g, ok := r.recv().(*pdu.GenericNack); !ok || g.CommandStatus != data.ESME_RINVBNDSTS {
		t.Fatal("unbound submit: want generic_nack ESME_RINVBNDSTS")
	}
	rx := bound(t, srv, pdu.Receiver)
	rx.send(submitText(t, "hi", data.GSM7BIT))
	if st := submitResp(t, rx.recv()).CommandStatus; st != data.ESME_RINVBNDSTS {
		t.Fatalf("receiver submit: 0x%x", st)
	}
}

func TestSubmitHappyPathOnlyAfterDurable(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	srv := startServer(t, f, nil)
	r := bound(t, srv, pdu.Transmitter)
	p := submitText(t, "Hello @ £ world {}", data.GSM7BIT)
	p.RegisteredDelivery = 1
	r.send(p)
	if q, err := r.recvWithin(150 * time.Millisecond); err == nil {
		t.Fatalf("answered before Submit returned: %T", q)
	}
	f.gate <- struct{}{}
	resp := submitResp(t, r.recv())
	if resp.CommandStatus != data.ESME_ROK || resp.SequenceNumber != p.SequenceNumber {
		t.Fatalf("resp %+v", resp)
	}
	got := f.last()
	if resp.MessageID != got.MessageID.String() || got.Text != "Hello @ £ world {}" || got.From != "ACME" ||
		got.To != "4915112345678" || got.DataCoding != 0 || !got.HasDataCoding || !got.RegisteredDelivery || got.Channel != "smpp" {
		t.Fatalf("request %+v resp id %q", got, resp.MessageID)
	}
}

// registered_delivery's low bits: 0 none, 1 a final receipt, 2 a receipt
// on failure only (3 is reserved: a receipt, as 1).
func TestRegisteredDeliveryBits(t *testing.T) {
	f := newFake()
	srv := startServer(t, f, nil)
	r := bound(t, srv, pdu.Transmitter)
	for _, tc := range []struct {
		field             byte
		receipt, failOnly bool
	}{{0, false, false}, {1, true, false}, {2, true, true}, {3, true, false}, {0x11, true, false}} {
		p := submitText(t, "hi", data.GSM7BIT)
		p.RegisteredDelivery = tc.field
		r.send(p)
		if st := submitResp(t, r.recv()).CommandStatus; st != data.ESME_ROK {
			t.Fatalf("registered_delivery 0x%02x: 0x%x", tc.field, st)
		}
		if got := f.last(); got.RegisteredDelivery != tc.receipt || got.ReceiptOnFailureOnly != tc.failOnly {
			t.Errorf("registered_delivery 0x%02x: receipt %v, failure only %v; want %v, %v", tc.field, got.RegisteredDelivery, got.ReceiptOnFailureOnly, tc.receipt, tc.failOnly)
		}
	}
}

func TestRefusalMapping(t *testing.T) {
	cases := []struct {
		err  error
		want data.CommandStatusType
	}{
		{ErrThrottled, 0x58},
		{fmt.Errorf("x: %w", routing.ErrInvalidDestination), 0x0B},
		{routing.ErrNoRoute, StatusNoRoute},
		{routing.ErrNoEligibleSupplier, StatusNoRoute},
		{pricing.ErrNoRate, StatusNoRate},
		{fmt.Errorf("t: %w", money.ErrInsufficientFunds), StatusInsufficientFunds},
		{pricing.ErrTooLong, data.ESME_RINVMSGLEN},
		{pricing.ErrNotRepresentable, StatusInvalidText},
		{pricing.ErrUnsupportedDataCoding, StatusUnsupportedEncoding},
		{accept.ErrTenantMisconfigured, StatusTenantMisconfigured},
		{ErrNotDurable, data.ESME_RSYSERR},
		{errors.New("append failed"), data.ESME_RSYSERR},
		{&StatusError{Status: 0x61}, 0x61},
	}
	f := newFake()
	srv := startServer(t, f, nil)
	r := bound(t, srv, pdu.Transceiver)
	seen := map[data.CommandStatusType]bool{}
	for _, c := range cases {
		f.mu.Lock()
		f.refuse = c.err
		f.mu.Unlock()
		r.send(submitText(t, "x", data.GSM7BIT))
		resp := submitResp(t, r.recv())
		if resp.CommandStatus != c.want || resp.MessageID != "" {
			t.Errorf("%v: got 0x%x %q, want 0x%x", c.err, resp.CommandStatus, resp.MessageID, c.want)
		}
		seen[c.want] = true
	}
	if len(seen) < 11 {
		t.Fatalf("refusals not distinct: %v", seen)
	}
}

func TestWindowAndThrottle(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	srv := startServer(t, f, func(c *Config) { c.WindowMax = 2 })
	r := bound(t, srv, pdu.Transmitter)
	var ps []*pdu.SubmitSM
	for i := 0; i < 3; i++ {
		p := submitText(t, "w", data.GSM7BIT)
		ps = append(ps, p)
		r.send(p)
	}
	resp := submitResp(t, r.recv())
	if resp.SequenceNumber != ps[2].SequenceNumber || resp.CommandStatus != data.ESME_RTHROTTLED {
		t.Fatalf("beyond window: %+v", resp)
	}
	// enquire_link is answered while the window is full.
	r.send(pdu.NewEnquireLink())
	if _, ok := r.recv().(*pdu.EnquireLinkResp); !ok {
		t.Fatal("enquire_link not answered")
	}
	f.gate <- struct{}{}
	f.gate <- struct{}{}
	for i := 0; i < 2; i++ {
		if st := submitResp(t, r.recv()).CommandStatus; st != data.ESME_ROK {
			t.Fatalf("in window: 0x%x", st)
		}
	}

	// Per-tenant TPS.
	f2 := newFake()
	f2.tps = 1
	srv2 := startServer(t, f2, nil)
	r2 := bound(t, srv2, pdu.Transmitter)
	r2.send(submitText(t, "a", data.GSM7BIT))
	r2.send(submitText(t, "b", data.GSM7BIT))
	got := map[data.CommandStatusType]int{}
	for i := 0; i < 2; i++ {
		got[submitResp(t, r2.recv()).CommandStatus]++
	}
	if got[data.ESME_ROK] != 1 || got[data.ESME_RTHROTTLED] != 1 {
		t.Fatalf("tenant tps: %v", got)
	}
	// Global TPS.
	srv3 := startServer(t, newFake(), func(c *Config) { c.GlobalTPS = 1 })
	r3 := bound(t, srv3, pdu.Transmitter)
	r3.send(submitText(t, "a", data.GSM7BIT))
	r3.send(submitText(t, "b", data.GSM7BIT))
	got = map[data.CommandStatusType]int{}
	for i := 0; i < 2; i++ {
		got[submitResp(t, r3.recv()).CommandStatus]++
	}
	if got[data.ESME_ROK] != 1 || got[data.ESME_RTHROTTLED] != 1 {
		t.Fatalf("global tps: %v", got)
	}
}

func TestEnquireLinkGenericNackUnbind(t *testing.T) {
	srv := startServer(t, newFake(), nil)
	r := dial(t, srv)
	r.bind(pdu.Transceiver, "acme", "secret")
	r.send(pdu.NewEnquireLink())
	if _, ok := r.recv().(*pdu.EnquireLinkResp); !ok {
		t.Fatal("enquire_link")
	}
	// Unknown command id 0x00000099.
	r.write([]byte{0, 0, 0, 16, 0, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 42})
	n := r.recv()
	if g, ok := n.(*pdu.GenericNack); !ok || g.CommandStatus != data.ESME_RINVCMDID || g.SequenceNumber != 42 {
		t.Fatalf("generic_nack: %#v", n)
	}
	// A submit_sm whose body does not fit its length.
	r.write([]byte{0, 0, 0, 20, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 43, 'a', 'b', 'c', 'd'})
	if g, ok := r.recv().(*pdu.GenericNack); !ok || g.CommandStatus != data.ESME_RINVCMDLEN {
		t.Fatal("malformed body not nacked")
	}
	u := pdu.NewUnbind()
	r.send(u)
	resp := r.recv()
	if _, ok := resp.(*pdu.UnbindResp); !ok || resp.GetSequenceNumber() != u.GetSequenceNumber() {
		t.Fatalf("unbind_resp: %T", resp)
	}
	r.expectClosed()
}

func TestMalformedLengthCloses(t *testing.T) {
	srv := startServer(t, newFake(), nil)
	for _, l := range []uint32{0, 8, 15, 70000, 0xFFFFFFFF} {
		r := bound(t, srv, pdu.Transceiver)
		r.write([]byte{byte(l >> 24), byte(l >> 16), byte(l >> 8), byte(l), 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1})
		r.expectClosed()
	}
}

func TestQuerySM(t *testing.T) {
	f := newFake()
	done := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	f.statuses["t-acme/m1"] = MessageStatus{State: 2, FinalDate: done}
	srv := startServer(t, f, nil)
	r := bound(t, srv, pdu.Transceiver)
	q := pdu.NewQuerySM().(*pdu.QuerySM)
	q.MessageID = "m1"
	r.send(q)
	resp := r.recv().(*pdu.QuerySMResp)
	if resp.CommandStatus != 0 || resp.MessageState != 2 || resp.FinalDate != "240304050607000+" || resp.MessageID != "m1" {
		t.Fatalf("%+v", resp)
	}
	q = pdu.NewQuerySM().(*pdu.QuerySM)
	q.MessageID = "nope"
	r.send(q)
	if st := r.recv().GetHeader().CommandStatus; st != data.ESME_RQUERYFAIL {
		t.Fatalf("unknown: 0x%x", st)
	}
}

func TestShutdownDrainsInFlight(t *testing.T) {
	f := newFake()
	f.gate = make(chan struct{})
	cfg := Config{Addr: "127.0.0.1:0", Ingress: f, Logger: quietLogger()}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	r := bound(t, srv, pdu.Transmitter)
	r.send(submitText(t, "draining", data.GSM7BIT))
	time.Sleep(50 * time.Millisecond)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case <-shut:
		t.Fatal("shutdown did not wait for the in-flight submit")
	default:
	}
	f.gate <- struct{}{}
	if st := submitResp(t, r.recv()).CommandStatus; st != data.ESME_ROK {
		t.Fatalf("drained submit: 0x%x", st)
	}
	if _, ok := r.recv().(*pdu.Unbind); !ok {
		t.Fatal("no unbind from the server")
	}
	r.expectClosed()
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatal(err)
	}
}

func TestManyConcurrentBinds(t *testing.T) {
	srv := startServer(t, newFake(), nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := bound(t, srv, pdu.Transceiver)
			for j := 0; j < 50; j++ {
				r.send(submitText(t, strings.Repeat("x", j+1), data.GSM7BIT))
			}
			for j := 0; j < 50; j++ {
				if st := submitResp(t, r.recv()).CommandStatus; st != 0 {
					t.Errorf("0x%x", st)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// validity_period sets the request's ExpiresAt (relative or absolute, SMPP
// v3.4 §7.1.1); a malformed or past one is ESME_RINVEXPIRY, a malformed
// schedule_delivery_time ESME_RINVSCHED, both without a Submit.
func TestSubmitValidityPeriod(t *testing.T) {
	f := newFake()
	srv := startServer(t, f, func(c *Config) { c.WindowMax = 2 }) // refusals must release their slot
	r := bound(t, srv, pdu.Transmitter)
	count := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.submitted)
	}
	send := func(schedule, validity string) data.CommandStatusType {
		t.Helper()
		p := submitText(t, "hi", data.GSM7BIT)
		p.ScheduleDeliveryTime, p.ValidityPeriod = schedule, validity
		r.send(p)
		return submitResp(t, r.recv()).CommandStatus
	}
	near := func(got, want time.Time) bool {
		d := got.Sub(want)
		return d > -5*time.Second && d < 5*time.Second
	}

	// Relative: hh=01 is an hour, DD=01 a day.
	before := time.Now()
	if st := send("", "000000010000000R"); st != data.ESME_ROK {
		t.Fatalf("relative validity: 0x%x", st)
	}
	if got := f.last().ExpiresAt; !near(got, before.Add(time.Hour)) || got.Location() != time.UTC {
		t.Fatalf("relative hour: ExpiresAt %v, want about %v, UTC", got, before.Add(time.Hour))
	}
	before = time.Now()
	if st := send("", "000001000000000R"); st != data.ESME_ROK {
		t.Fatalf("relative validity: 0x%x", st)
	}
	if got := f.last().ExpiresAt; !near(got, before.AddDate(0, 0, 1)) {
		t.Fatalf("relative day: ExpiresAt %v, want about %v", got, before.AddDate(0, 0, 1))
	}

	// Absolute, with its offset: 12:00:00.3 at 3 h behind UTC, 12:00 at 2 h ahead.
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"990615120000312-", time.Date(2099, 6, 15, 15, 0, 0, 300e6, time.UTC)},
		{"990615120000008+", time.Date(2099, 6, 15, 10, 0, 0, 0, time.UTC)},
	} {
		if st := send("", tc.in); st != data.ESME_ROK {
			t.Fatalf("absolute validity %q: 0x%x", tc.in, st)
		}
		if got := f.last().ExpiresAt; !got.Equal(tc.want) {
			t.Fatalf("absolute validity %q: ExpiresAt %v, want %v", tc.in, got, tc.want)
		}
	}

	// None: zero (the ledger applies its default); a schedule sets
	// SendAt, absolute or relative.
	if st := send("990615120000000+", ""); st != data.ESME_ROK {
		t.Fatalf("scheduled: 0x%x", st)
	}
	if got := f.last(); !got.ExpiresAt.IsZero() || !got.SendAt.Equal(time.Date(2099, 6, 15, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("absolute schedule, no validity: SendAt %v ExpiresAt %v", got.SendAt, got.ExpiresAt)
	}
	before = time.Now()
	if st := send("000000000500000R", "000000010000000R"); st != data.ESME_ROK {
		t.Fatalf("relative schedule: 0x%x", st)
	}
	if got := f.last(); !near(got.SendAt, before.Add(5*time.Minute)) || got.SendAt.Location() != time.UTC || !near(got.ExpiresAt, before.Add(time.Hour)) {
		t.Fatalf("relative schedule in 5 min, validity an hour: SendAt %v ExpiresAt %v", got.SendAt, got.ExpiresAt)
	}
	if st := send("", ""); st != data.ESME_ROK || !f.last().SendAt.IsZero() {
		t.Fatalf("no schedule: 0x%x SendAt %v", st, f.last().SendAt)
	}

	n := count()
	for _, tc := range []struct {
		schedule, validity string
		want               data.CommandStatusType
	}{
		{"", "tomorrow", data.ESME_RINVEXPIRY},
		{"", "251315143000108+", data.ESME_RINVEXPIRY}, // month 13
		{"", "000001000000100R", data.ESME_RINVEXPIRY}, // relative with tenths
		{"", "00000100000000R", data.ESME_RINVEXPIRY},  // 15 characters
		{"", "200101000000000+", data.ESME_RINVEXPIRY}, // past
		{"", "000000000000000R", data.ESME_RINVEXPIRY}, // now: not after now
		{"991231246000000+", "", data.ESME_RINVSCHED},  // hour 24
		{"x", "000000010000000R", data.ESME_RINVSCHED},
		{"000000010000000Z", "garbage", data.ESME_RINVSCHED}, // the schedule is checked first
	} {
		if st := send(tc.schedule, tc.validity); st != tc.want {
			t.Errorf("schedule %q validity %q: 0x%x, want 0x%x", tc.schedule, tc.validity, st, tc.want)
		}
	}
	if c := count(); c != n {
		t.Fatalf("%d refused submits reached Ingress.Submit", c-n)
	}
	// The window slots (2) were released: the bind still accepts.
	if st := send("", "000000010000000R"); st != data.ESME_ROK {
		t.Fatalf("after refusals: 0x%x", st)
	}
}
