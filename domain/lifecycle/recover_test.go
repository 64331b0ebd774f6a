package lifecycle

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/message"
)

// After a crash, a new process rebuilds its view from the log and resumes:
// a submit in flight when the process died is timed out and failed over to
// the next supplier (never resent to the same one); a routed message that
// was never sent is dispatched; a final DLR not yet forwarded goes to the
// tenant.
func TestRecoveryAfterRestart(t *testing.T) {
	w := newWorld(t, twoSuppliers)
	ctx := context.Background()

	inFlight := w.submit()
	w.d.dispatch(ctx, inFlight)
	sentBefore := w.sup.next(t)
	routed := w.submit()
	final := w.delivered(ctx, "SUP-F")

	// Restart: a second ledger over the same log, a new driver.
	svc2 := ledgertest.Start(t, w.store, ledger.Options{Clock: w.clock.Now, Logger: quiet()})
	w.svc = svc2
	w.d = w.driver(svc2)
	w.startRedo()
	w.clock.Advance(time.Millisecond)
	w.d.recover(ctx, w.d.inFlightAtStart())

	got := map[uuid.UUID][]Attempt{}
	for range 2 {
		a := w.sup.next(t)
		got[a.Key.MessageID] = append(got[a.Key.MessageID], a)
	}
	if a := got[inFlight]; len(a) != 1 || a[0].Key.Attempt != 2 || a[0].SupplierID == sentBefore.SupplierID {
		t.Errorf("in-flight message after restart: %+v (was at %s)", a, sentBefore.SupplierID)
	}
	if a := got[routed]; len(a) != 1 || a[0].Key.Attempt != 1 {
		t.Errorf("routed message after restart: %+v", a)
	}
	w.eventually("the final DLR forwarded", func() bool { return w.view(final).Forwarded })
	if n := w.rcpt.count(); n != 1 {
		t.Errorf("%d DLRs forwarded, want 1", n)
	}
}

// A burst larger than the ledger's outbox: the ids it drops are found by
// the resumer and dispatched by the redo workers, every one of them,
// without a second submit of any.
func TestResumerDispatchesWhatTheFullOutboxDropped(t *testing.T) {
	w := newWorld(t, outboxSize(4))
	ctx := context.Background()
	const burst = 60
	for range burst {
		if _, err := w.svc.Submit(ctx, "acme", acceptRequest()); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.svc.OutboxDropped(); got != burst-4 {
		t.Fatalf("outbox dropped %d, want %d", got, burst-4)
	}
	routed := func() int { return len(w.svc.Unfinished((*ledger.Work).NeedsDispatch, burst)) }
	if got := routed(); got != burst {
		t.Fatalf("%d messages waiting for dispatch, want %d", got, burst)
	}
	w.startRedo()
	w.clock.Advance(time.Millisecond)
	w.d.wakeResumer(0)
	w.eventually("every routed message dispatched", func() bool { return routed() == 0 })
	// The last submit recorded may be a moment before its send.
	w.eventually("every attempt sent", func() bool { return len(w.sup.sent()) >= burst })
	if n := len(w.sup.sent()); n != burst {
		t.Fatalf("%d attempts sent, want %d", n, burst)
	}
	for _, wk := range w.svc.Unfinished(func(*ledger.Work) bool { return true }, 2*burst) {
		if wk.Message.Attempt > 1 {
			t.Errorf("message %s at attempt %d", wk.Message.ID, wk.Message.Attempt)
		}
	}
}

// A message a dispatch worker gave up on (the store refused its submit
// mark) a moment after its accept is taken by the resumer's next pass,
// although it is younger than the age the pass looks for.
func TestResumerTakesWhatAWorkerGaveUpOnWhateverItsAge(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.submit()
	w.store.mode.Store(storeRefuses)
	w.d.dispatch(ctx, id)
	w.store.mode.Store(storeOK)
	if !w.d.loose.gaveUpAny() {
		t.Fatal("the driver does not know a worker gave up")
	}
	if len(w.sup.sent()) != 0 {
		t.Fatal("sent although the submit mark was refused")
	}
	w.startRedo()
	w.d.pass(ctx, 1, w.svc.OutboxDropped())
	a := w.sup.next(t)
	if a.Key != (AttemptKey{id, 1}) {
		t.Fatalf("attempt %+v", a)
	}
	if w.d.loose.gaveUpAny() {
		t.Fatal("given-up set not emptied by the pass")
	}
}

// The sweep records as timed out an attempt in flight that nobody holds
// (its submit mark committed although its caller was told otherwise, and
// the process kept running), once seen so for staleAfter; an attempt the
// supplier side holds is left alone.
func TestSweepTimesOutWhatNobodyHolds(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	lost, held := w.submit(), w.submit()
	w.must(w.svc.SubmittedToSupplier(ctx, lost))
	w.d.dispatch(ctx, held)
	w.sup.next(t)

	t0 := w.clock.Now()
	w.d.sweep(ctx, t0)
	w.d.sweep(ctx, t0.Add(w.d.staleAfter()/2))
	if wk, _ := w.svc.WorkOf(lost); !wk.InFlight() {
		t.Fatalf("timed out before staleAfter: %s", wk.Message.State)
	}
	w.d.sweep(ctx, t0.Add(w.d.staleAfter()))
	if v := w.view(lost); v.State != string(message.StateFailed) || v.Money != "released" {
		t.Fatalf("lost submit after the sweep: %+v", v)
	}
	if wk, ok := w.svc.WorkOf(held); !ok || !wk.InFlight() {
		t.Fatalf("held submit touched by the sweep: %v %s", ok, wk.Message.State)
	}
}

// A supplier answer the store could not take is kept (and keeps the sweep
// off its message) and recorded by a later pass; an answer the ledger
// refuses is not kept.
func TestKeptAnswerRecordedLater(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id, a := w.sent(ctx)

	w.store.mode.Store(storeRefuses)
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, "SUP-7", time.Millisecond)
	w.d.retryAnswers(ctx)
	if wk, _ := w.svc.WorkOf(id); !wk.InFlight() {
		t.Fatalf("recorded while the store is down: %s", wk.Message.State)
	}
	// The store is back, the answer not retried yet: the sweep, which would
	// time out an attempt nobody holds, leaves this one alone.
	w.store.mode.Store(storeOK)
	t0 := w.clock.Now()
	w.d.sweep(ctx, t0)
	w.d.sweep(ctx, t0.Add(w.d.staleAfter()))
	if wk, _ := w.svc.WorkOf(id); !wk.InFlight() {
		t.Fatalf("swept while its answer is kept: %s", wk.Message.State)
	}
	w.d.retryAnswers(ctx)
	if v := w.view(id); v.State != string(message.StateSupplierAccepted) || v.SupplierMessageID != "SUP-7" {
		t.Fatalf("after the retry: %+v", v)
	}
	if len(w.d.loose.answers) != 0 {
		t.Fatalf("%d answers still kept", len(w.d.loose.answers))
	}
	// A second answer for the same attempt is refused by the domain, not kept.
	w.d.SupplierRejected(ctx, a.Key, a.SupplierID, 0x58)
	if len(w.d.loose.answers) != 0 {
		t.Fatal("a refused answer was kept")
	}
}

// A kept answer still failing after answerRetryFor is dropped; the sweep
// then times its attempt out.
func TestKeptAnswerDroppedAfterRetryingFor(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id, a := w.sent(ctx)
	w.store.mode.Store(storeRefuses)
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, "SUP-8", time.Millisecond)
	w.clock.Advance(answerRetryFor)
	w.d.retryAnswers(ctx)
	if len(w.d.loose.answers) != 0 {
		t.Fatal("answer kept past answerRetryFor")
	}
	w.store.mode.Store(storeOK)
	t0 := w.clock.Now()
	w.d.sweep(ctx, t0)
	w.d.sweep(ctx, t0.Add(w.d.staleAfter()))
	if v := w.view(id); v.State != string(message.StateFailed) {
		t.Fatalf("after the sweep: %s", v.State)
	}
}

// A submit mark that committed although its dispatcher was told it failed
// (the connection lost at COMMIT): the log shows the attempt in flight and
// nothing was sent. A second dispatch sends nothing (the message is not
// routed any more); the sweep sends it at once — once — instead of timing
// it out after staleAfter and failing it over.
func TestSweepSendsAnAttemptWhoseFailedMarkCommitted(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.submit()
	w.store.mode.Store(storeAmbiguous)
	w.d.dispatch(ctx, id)
	w.store.mode.Store(storeOK)
	w.eventually("the mark applied", func() bool { wk, _ := w.svc.WorkOf(id); return wk.InFlight() })
	w.d.redispatch(ctx, id)
	if n := len(w.sup.sent()); n != 0 {
		t.Fatalf("%d sent before the sweep", n)
	}
	t0 := w.clock.Now()
	w.d.sweep(ctx, t0)
	a := w.sup.next(t)
	if a.Key != (AttemptKey{id, 1}) {
		t.Fatalf("sweep sent %+v", a)
	}
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, "SUP-9", time.Millisecond)
	w.d.sweep(ctx, t0)
	w.d.sweep(ctx, t0.Add(w.d.staleAfter()))
	if n := len(w.sup.sent()); n != 1 {
		t.Fatalf("the supplier side got %d attempts, want 1", n)
	}
	if v := w.view(id); v.State != string(message.StateSupplierAccepted) || v.Attempt != 1 {
		t.Fatalf("after more sweeps: %+v", v)
	}
}

// An attempt this driver sent after it started is not taken for one a
// crashed process left in flight, however late recovery runs (the relay's
// test saw every message of a burst accepted at start-up timed out 3 ms
// after its submit and sent again elsewhere).
func TestRecoveryLeavesThisDriversAttemptsAlone(t *testing.T) {
	w := newWorld(t, twoSuppliers)
	ctx := context.Background()
	atStart := w.d.inFlightAtStart()
	id, a := w.sent(ctx) // sent by this driver before recovery ran
	w.d.recover(ctx, atStart)
	if v := w.view(id); v.State != string(message.StateSubmitted) || v.Attempt != 1 {
		t.Fatalf("recovery touched this driver's own attempt: %+v", v)
	}
	if sent := w.sup.sent(); len(sent) != 1 || sent[0].Key != a.Key {
		t.Fatalf("sent again: %+v", sent)
	}
}
