package lifecycle

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
)

// moSink is a fake MO channel: it delivers while the world's receipts are
// ready, or, async, keeps the done funcs and (as the webhook sender does)
// takes an MO whose outcome is pending only once.
type moSink struct {
	rcpt    *receipts
	mu      sync.Mutex
	got     []ledger.PendingMO
	dones   []func(Outcome)
	pending map[uuid.UUID]bool
}

func (s *moSink) DeliverMO(_ context.Context, mo ledger.PendingMO, done func(Outcome)) error {
	if !s.rcpt.Ready(mo.TenantID) {
		return ErrNoReceiver
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, mo)
	s.rcpt.mu.Lock()
	async := s.rcpt.async
	s.rcpt.mu.Unlock()
	if async {
		if s.pending[mo.ID] {
			s.got = s.got[:len(s.got)-1]
			return ErrDeliveryPending
		}
		s.pending[mo.ID] = true
		s.dones = append(s.dones, func(o Outcome) {
			s.mu.Lock()
			delete(s.pending, mo.ID)
			s.mu.Unlock()
			done(o)
		})
		return ErrDeliveryPending
	}
	return nil
}

func (s *moSink) delivered() []ledger.PendingMO {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ledger.PendingMO(nil), s.got...)
}

func (s *moSink) takeDones() []func(Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dones
	s.dones = nil
	return d
}

// moWorld is a world whose driver forwards MOs to a moSink, passing every
// 10 ms, with acme owning 12345.
func moWorld(t *testing.T) (*world, *moSink) {
	w := newWorld(t)
	sink := &moSink{rcpt: w.rcpt, pending: map[uuid.UUID]bool{}}
	w.d = New(w.svc, w.sup, w.rcpt, Options{Now: w.clock.Now, SubmitTimeout: time.Second, Workers: 4, Logger: quiet(),
		RetryEvery: 10 * time.Millisecond, MOs: sink})
	if _, err := w.svc.SetTenantNumbers(context.Background(), "acme", []string{"12345"}); err != nil {
		t.Fatal(err)
	}
	return w, sink
}

func (w *world) receiveMO(text string) uuid.UUID {
	w.t.Helper()
	rc, err := w.svc.ReceiveMO(context.Background(), ledger.MOIn{SupplierID: "sup1", From: "4917600000001", To: "12345", Text: text, Encoding: "gsm7"})
	if err != nil {
		w.t.Fatal(err)
	}
	return rc.MessageID
}

// An MO waits while its tenant has no channel, reaches it once it has
// one, exactly once, and is then recorded forwarded.
func TestMOWaitsForItsTenantAndGoesOnce(t *testing.T) {
	w, sink := moWorld(t)
	w.rcpt.set(false, false)
	w.run()
	id := w.receiveMO("STOP")
	w.d.ForwardMO(id)
	time.Sleep(100 * time.Millisecond) // passes go by
	if n := len(sink.delivered()); n != 0 {
		t.Fatalf("%d deliveries without a channel", n)
	}
	if _, ok := w.svc.MOOf(id); !ok {
		t.Fatal("the MO stopped waiting")
	}
	w.rcpt.set(true, false)
	w.eventually("the MO recorded forwarded", func() bool { _, ok := w.svc.MOOf(id); return !ok })
	time.Sleep(100 * time.Millisecond) // more passes
	got := sink.delivered()
	if len(got) != 1 || got[0].ID != id || got[0].Text != "STOP" || got[0].To != "12345" || got[0].From != "4917600000001" {
		t.Fatalf("deliveries: %+v", got)
	}
}

// An MO queued for a tenant that is ready goes at once (not at the next
// pass), and MOs of one tenant keep their order.
func TestMOForwardedAtOnceInOrder(t *testing.T) {
	w, sink := moWorld(t)
	w.d.opts.RetryEvery = time.Hour
	w.run()
	var ids []uuid.UUID
	for _, text := range []string{"one", "two", "three"} {
		id := w.receiveMO(text)
		w.d.ForwardMO(id)
		ids = append(ids, id)
		w.eventually("MO "+text+" delivered", func() bool { return len(sink.delivered()) == len(ids) })
	}
	for i, mo := range sink.delivered() {
		if mo.ID != ids[i] {
			t.Fatalf("delivery %d is %s, want %s", i, mo.ID, ids[i])
		}
	}
}

// A channel that reports later (a webhook): given up for now, the MO waits
// and goes again; delivered, it is recorded; and a delivered MO whose
// record the store refused is recorded on a later pass without being sent
// again.
func TestMOAsyncOutcomesAndTheRecordRetried(t *testing.T) {
	w, sink := moWorld(t)
	w.rcpt.set(true, true)
	w.run()
	id := w.receiveMO("hi")
	w.d.ForwardMO(id)
	w.eventually("the MO handed to the channel", func() bool { return len(sink.delivered()) == 1 })
	for _, done := range sink.takeDones() {
		done(NotDelivered)
	}
	w.eventually("the MO handed over again", func() bool { return len(sink.delivered()) == 2 })
	w.store.mode.Store(storeRefuses)
	dones := sink.takeDones()
	for _, done := range dones {
		done(Delivered)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok := w.svc.MOOf(id); !ok {
		t.Fatal("recorded forwarded while the store refuses")
	}
	w.store.mode.Store(storeOK)
	w.eventually("the MO recorded forwarded", func() bool { _, ok := w.svc.MOOf(id); return !ok })
	if n := len(sink.delivered()); n != 2 {
		t.Fatalf("%d deliveries, want 2 (the record retried, not the delivery)", n)
	}
}
