package lifecycle

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// tenantSink is a receipt sink that treats each tenant its own way: the
// stuck tenant's Deliver does not return until release is closed (a
// receiver bind that never answers), the failing tenant's fails at once,
// every other tenant's is delivered.
type tenantSink struct {
	stuck, failing string
	release        chan struct{}
	got            chan Receipt

	mu    sync.Mutex
	calls map[string]int
}

func newTenantSink(stuck, failing string) *tenantSink {
	return &tenantSink{stuck: stuck, failing: failing, release: make(chan struct{}), got: make(chan Receipt, 1024), calls: map[string]int{}}
}

func (s *tenantSink) Ready(string) bool { return true }

func (s *tenantSink) Deliver(_ context.Context, r Receipt, _ func(Outcome)) error {
	tenant := r.Work.Message.TenantID
	s.mu.Lock()
	s.calls[tenant]++
	s.mu.Unlock()
	switch tenant {
	case s.stuck:
		<-s.release
		return errors.New("deliver_sm: no response in time")
	case s.failing:
		return errors.New("deliver_sm: session closed")
	}
	s.got <- r
	return nil
}

func (s *tenantSink) callsOf(tenant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[tenant]
}

// finalFor takes one message of tenant's to DELIVRD (its final DLR queued
// for forwarding, not forwarded) with the driver not running.
func (w *world) finalFor(ctx context.Context, tenant string) uuid.UUID {
	w.t.Helper()
	acc, err := w.svc.Submit(ctx, tenant, acceptRequest())
	if err != nil {
		w.t.Fatal(err)
	}
	select {
	case <-w.svc.Outbox():
	case <-time.After(time.Second):
		w.t.Fatal("accepted message not on the outbox")
	}
	id := acc.MessageID
	w.d.dispatch(ctx, id)
	a := w.sup.next(w.t)
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, id.String(), time.Millisecond)
	if err := w.d.DeliveryReport(ctx, SupplierDLR{SupplierID: a.SupplierID, SupplierMessageID: id.String(), Stat: "DELIVRD", DoneAt: w.clock.Now()}); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// addTenant configures another tenant like acme, with funds.
func (w *world) addTenant(tenant string) {
	w.t.Helper()
	ledgertest.Setup(w.t, w.svc, tenant)
	w.must(w.svc.TopUp(context.Background(), tenant, decimal.RequireFromString("10"), "t-"+tenant))
}

// One tenant's receiver never answers, with more DLRs queued ahead of the
// others than there used to be forwarding workers: the other tenant's DLRs
// are all delivered promptly, and the stuck tenant holds at most its share
// of the deliveries. (The 32 forwarding workers all hung on the stuck
// tenant, and so did the pass, which forwarded one DLR after another.)
func TestStuckTenantDoesNotStallOthers(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.addTenant("slowco")
	sink := newTenantSink("slowco", "")
	w.d = New(w.svc, w.sup, sink, Options{Now: w.clock.Now, SubmitTimeout: time.Second, Workers: 4, Logger: quiet()})
	const stuck, others = 100, 20
	for range stuck {
		w.finalFor(ctx, "slowco")
	}
	want := map[uuid.UUID]bool{}
	for range others {
		want[w.finalFor(ctx, "acme")] = true
	}
	w.run()
	t.Cleanup(func() { close(sink.release) }) // before the driver stops (cleanups run last first)

	deadline := time.After(10 * time.Second)
	for n := 0; n < others; n++ {
		select {
		case r := <-sink.got:
			if !want[r.Work.Message.ID] {
				t.Fatalf("unexpected DLR for %s of %s", r.Work.Message.ID, r.Work.Message.TenantID)
			}
		case <-deadline:
			t.Fatalf("%d of acme's %d DLRs delivered in 10 s while slowco's receiver hangs", n, others)
		}
	}
	for id := range want {
		w.eventually("acme's DLR recorded as forwarded", func() bool { _, open := w.svc.WorkOf(id); return !open })
	}
	if n := sink.callsOf("slowco"); n == 0 || n > forwardPerTenant {
		t.Fatalf("slowco has %d deliveries hanging, want 1..%d", n, forwardPerTenant)
	}
}

// syncBuffer is a bytes.Buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(with string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range strings.Split(s.b.String(), "\n") {
		if strings.Contains(l, with) {
			out = append(out, l)
		}
	}
	return out
}

// A tenant whose deliveries keep failing is logged once per
// forwardFailLogEvery with the number of failures, not once per DLR per
// pass.
func TestRepeatedForwardFailuresLoggedWithACount(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sink := newTenantSink("", "acme")
	var logs syncBuffer
	w.d = New(w.svc, w.sup, sink, Options{Now: w.clock.Now, SubmitTimeout: time.Second, Workers: 4,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const dlrs = 20
	for range dlrs {
		w.finalFor(ctx, "acme")
	}
	passAndWait := func(pass, calls int) {
		t.Helper()
		w.d.pass(ctx, pass, 0)
		w.eventually("the pass's deliveries tried", func() bool { return sink.callsOf("acme") >= calls })
	}
	passAndWait(1, dlrs)   // 20 failures
	passAndWait(2, 2*dlrs) // reported: one line, 20; 20 more
	passAndWait(3, 3*dlrs) // within forwardFailLogEvery: no line; 20 more
	w.clock.Advance(forwardFailLogEvery)
	w.d.pass(ctx, 4, 0) // one line, 40

	lines := logs.lines("not delivered")
	if len(lines) != 2 {
		t.Fatalf("%d log lines about undelivered DLRs, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, n := range []string{"failures=20", "failures=40"} {
		if !strings.Contains(lines[i], "tenant=acme") || !strings.Contains(lines[i], n) || !strings.Contains(lines[i], "session closed") {
			t.Errorf("line %d: %s; want tenant=acme, %s and the last error", i, lines[i], n)
		}
	}
}
