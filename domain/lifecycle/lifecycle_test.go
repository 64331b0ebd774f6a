package lifecycle

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/message"
)

func TestAttemptKeyRoundTrip(t *testing.T) {
	k := AttemptKey{uuid.New(), 3}
	got, ok := ParseAttemptKey(k.String())
	if !ok || got != k {
		t.Fatalf("ParseAttemptKey(%q) = %v %v", k.String(), got, ok)
	}
	for _, bad := range []string{"", k.MessageID.String(), k.MessageID.String() + "/x", "nope/1", "/1"} {
		if _, ok := ParseAttemptKey(bad); ok {
			t.Errorf("ParseAttemptKey(%q) accepted", bad)
		}
	}
}

// One message, the whole way, with the driver running: dispatched from the
// outbox, accepted by the supplier, DELIVRD, forwarded to the tenant once,
// and then finished (gone from the tracker).
func TestDriverTakesAMessageFromAcceptToForwardedDLR(t *testing.T) {
	w := newWorld(t)
	w.run()
	acc := w.submitToRunning()
	a := w.sup.next(t)
	if a.Key != (AttemptKey{acc, 1}) || a.SupplierID != "sup1" || a.To != "4915112345678" || a.Text != "hello" || a.Encoding != "gsm7" {
		t.Fatalf("attempt: %+v", a)
	}
	if v := w.view(acc); v.State != string(message.StateSubmitted) {
		t.Fatalf("state after dispatch: %s", v.State)
	}
	ctx := context.Background()
	w.d.SupplierAccepted(ctx, a.Key, "sup1", "SUP-1", 5*time.Millisecond)
	if err := w.d.DeliveryReport(ctx, SupplierDLR{SupplierID: "sup1", SupplierMessageID: "SUP-1", Stat: "DELIVRD", Err: "000", DoneAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	var rc Receipt
	select {
	case rc = <-w.rcpt.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no DLR reached the tenant")
	}
	if rc.Work.Message.ID != acc || rc.Stat != message.DLRDelivered || rc.Work.To != "4915112345678" {
		t.Fatalf("receipt: %+v", rc)
	}
	w.eventually("forwarded and finished", func() bool { _, open := w.svc.WorkOf(acc); return !open })
	v := w.view(acc)
	if v.State != string(message.StateDelivered) || !v.Forwarded || v.Money != "settled" {
		t.Fatalf("view: %+v", v)
	}
	if w.rcpt.count() != 1 || w.forwards.Load() != 1 {
		t.Fatalf("%d receipts, %d counted forwards; want 1, 1", w.rcpt.count(), w.forwards.Load())
	}
}

// submitToRunning submits while the driver runs (its workers take the
// outbox).
func (w *world) submitToRunning() uuid.UUID {
	w.t.Helper()
	acc, err := w.svc.Submit(context.Background(), "acme", acceptRequest())
	if err != nil {
		w.t.Fatal(err)
	}
	return acc.MessageID
}

// A rejection fails over to the next candidate, which gets attempt 2; a
// rejection by the last one fails the message, releases its hold and tells
// the tenant.
func TestRejectionFailsOverThenFails(t *testing.T) {
	w := newWorld(t, twoSuppliers)
	ctx := context.Background()
	id, first := w.sent(ctx)
	w.d.SupplierRejected(ctx, first.Key, first.SupplierID, 0x58)
	second := w.sup.next(t)
	if second.Key != (AttemptKey{id, 2}) || second.SupplierID == first.SupplierID {
		t.Fatalf("failover attempt %+v after %+v", second, first)
	}
	w.d.SupplierRejected(ctx, second.Key, second.SupplierID, 0x58)
	v := w.view(id)
	if v.State != string(message.StateFailed) || v.Money != "released" {
		t.Fatalf("after the last rejection: %+v", v)
	}
	w.forwardQueued(ctx)
	if w.rcpt.count() != 1 {
		t.Fatalf("%d receipts, want 1", w.rcpt.count())
	}
}

// forwardQueued runs the forwarding of whatever the driver queued.
func (w *world) forwardQueued(ctx context.Context) {
	for {
		select {
		case id := <-w.d.toForward:
			w.d.forward(ctx, id)
		default:
			return
		}
	}
}

// A supplier side that cannot take the attempt counts as a rejection
// (ESME_RMSGQFUL): the message fails over without being sent.
func TestSupplierSideRefusalFailsOver(t *testing.T) {
	w := newWorld(t, twoSuppliers)
	ctx := context.Background()
	id := w.submit()
	w.sup.setRefuse(true)
	w.d.dispatch(ctx, id)
	v := w.view(id)
	if v.State != string(message.StateFailed) || v.Attempt != 2 {
		t.Fatalf("after two refusals: %+v", v)
	}
	if len(w.sup.sent()) != 0 {
		t.Fatal("sent although refused")
	}
	if len(w.d.loose.handed) != 0 {
		t.Fatalf("%d attempts still noted as held", len(w.d.loose.handed))
	}
}

// A timed-out submit fails over like a rejection.
func TestTimeoutFailsOver(t *testing.T) {
	w := newWorld(t, twoSuppliers)
	ctx := context.Background()
	id, first := w.sent(ctx)
	w.d.SupplierTimedOut(ctx, first.Key, first.SupplierID)
	if second := w.sup.next(t); second.Key.Attempt != 2 {
		t.Fatalf("after a timeout: %+v", second)
	}
	// The late answer of the timed-out attempt is refused by the domain
	// and not kept for retry.
	w.d.SupplierAccepted(ctx, first.Key, first.SupplierID, "LATE", time.Millisecond)
	if len(w.d.loose.answers) != 0 {
		t.Fatal("a late answer was kept for retry")
	}
	if v := w.view(id); v.State != string(message.StateSubmitted) || v.Attempt != 2 {
		t.Fatalf("late answer changed the message: %+v", v)
	}
}

// A fast supplier's DLR can overtake the recording of its own
// submit_sm_resp: the DLR waits (bounded) for the supplier message id to be
// indexed instead of being refused.
func TestDLRThatOvertakesItsSubmitRespWaits(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id, a := w.sent(ctx)
	dlrErr := make(chan error, 1)
	go func() {
		dlrErr <- w.d.DeliveryReport(ctx, SupplierDLR{SupplierID: "sup1", SupplierMessageID: "FAST", Stat: "DELIVRD", DoneAt: w.clock.Now()})
	}()
	time.Sleep(3 * dlrIndexWait)
	w.d.SupplierAccepted(ctx, a.Key, "sup1", "FAST", time.Millisecond)
	if err := <-dlrErr; err != nil {
		t.Fatalf("DLR refused: %v", err)
	}
	if v := w.view(id); v.State != string(message.StateDelivered) {
		t.Fatalf("state: %s", v.State)
	}
}

// A DLR for a supplier message id nobody knows is refused (so that the
// supplier redelivers it), after the bounded wait: the overtake grace once
// the ledger has applied the log, not the whole 2 s (each refusal holds
// one of the supplier's outstanding deliver_sm).
func TestDLRForUnknownIDIsRefused(t *testing.T) {
	w := newWorld(t)
	start := time.Now()
	err := w.d.DeliveryReport(context.Background(), SupplierDLR{SupplierID: "sup1", SupplierMessageID: "NOPE", Stat: "DELIVRD"})
	took := time.Since(start)
	if !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if full := dlrIndexWait * dlrIndexWaits; took < dlrOvertakeGrace || took >= full*3/4 {
		t.Fatalf("refused after %v, want from %v (the grace) and well before %v (the whole wait)", took, dlrOvertakeGrace, full)
	}
}

// Two workers forwarding one DLR at once deliver it once; a DLR forwarded a
// moment ago is not sent again by a pass.
func TestForwardsOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.delivered(ctx, "SUP-1")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); w.d.forward(ctx, id) }()
	}
	wg.Wait()
	w.d.forwardPending(ctx)
	if n := w.rcpt.count(); n != 1 {
		t.Fatalf("DLR delivered %d times, want 1", n)
	}
	if v := w.view(id); !v.Forwarded {
		t.Fatal("DeliveryForwarded not recorded")
	}
}

// delivered takes a message to DELIVRD (not forwarded yet) and returns it.
func (w *world) delivered(ctx context.Context, supMsgID string) uuid.UUID {
	w.t.Helper()
	id, a := w.sent(ctx)
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, supMsgID, time.Millisecond)
	if err := w.d.DeliveryReport(ctx, SupplierDLR{SupplierID: a.SupplierID, SupplierMessageID: supMsgID, Stat: "DELIVRD", DoneAt: w.clock.Now()}); err != nil {
		w.t.Fatal(err)
	}
	<-w.d.toForward // taken off the queue: the test forwards it
	return id
}

// A tenant with no receiver keeps its DLR pending; the first pass after a
// receiver is up sends it.
func TestPendingDLRSentWhenAReceiverIsUp(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.rcpt.set(false, false)
	id := w.delivered(ctx, "SUP-1")
	w.d.forward(ctx, id)
	w.d.forwardPending(ctx)
	if w.rcpt.count() != 0 || w.view(id).Forwarded {
		t.Fatal("forwarded without a receiver")
	}
	w.rcpt.set(true, false)
	w.d.forwardPending(ctx)
	if w.rcpt.count() != 1 || !w.view(id).Forwarded {
		t.Fatalf("pending DLR not sent once a receiver is up: %d", w.rcpt.count())
	}
}

// A channel that finishes later (a webhook) reports its outcome: delivered
// and refused-for-good are recorded as forwarded, not delivered stays
// pending for another pass.
func TestAsyncReceiptOutcomes(t *testing.T) {
	for _, tc := range []struct {
		outcome   Outcome
		forwarded bool
		counted   int64
	}{{Delivered, true, 1}, {Refused, true, 0}, {NotDelivered, false, 0}} {
		w := newWorld(t)
		ctx := context.Background()
		w.rcpt.set(true, true)
		id := w.delivered(ctx, "SUP-1")
		w.d.forward(ctx, id)
		if len(w.rcpt.dones) != 1 {
			t.Fatalf("%d deliveries pending, want 1", len(w.rcpt.dones))
		}
		w.rcpt.dones[0](tc.outcome)
		if got := w.view(id).Forwarded; got != tc.forwarded {
			t.Errorf("outcome %d: forwarded = %v, want %v", tc.outcome, got, tc.forwarded)
		}
		if got := w.forwards.Load(); got != tc.counted {
			t.Errorf("outcome %d: %d forwards counted, want %d", tc.outcome, got, tc.counted)
		}
		// Not delivered: the next pass hands it to the channel again.
		w.d.forwardPending(ctx)
		if want := map[bool]int{true: 1, false: 2}[tc.forwarded]; len(w.rcpt.dones) != want {
			t.Errorf("outcome %d: %d deliveries after a pass, want %d", tc.outcome, len(w.rcpt.dones), want)
		}
	}
}

// A DLR delivered whose DeliveryForwarded could not be recorded (the store
// down) is not sent again while its record is retried; once the retries
// ran out and the memory of it is gone, and the store is back, it is sent
// again (at least once, never dropped) and recorded.
func TestForwardedButNotRecordedIsNotResentAtOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.delivered(ctx, "SUP-1")
	w.d.loose.forgetForwarded(w.clock.Now())
	w.store.mode.Store(storeRefuses)
	w.d.forward(ctx, id)
	if w.rcpt.count() != 1 || w.view(id).Forwarded {
		t.Fatalf("%d receipts, forwarded %v; want 1, not recorded", w.rcpt.count(), w.view(id).Forwarded)
	}
	w.d.forwardPending(ctx)
	w.clock.Advance(forwardedFor)
	w.d.retryAnswers(ctx)
	w.d.forwardPending(ctx)
	if n := w.rcpt.count(); n != 1 {
		t.Fatalf("sent again while its record was retried: %d receipts", n)
	}
	w.clock.Advance(answerRetryFor)
	w.d.retryAnswers(ctx) // still refused: the retries run out
	w.store.mode.Store(storeOK)
	w.clock.Advance(forwardedFor)
	w.d.forwardPending(ctx)
	w.clock.Advance(forwardedFor)
	w.d.forwardPending(ctx)
	if n := w.rcpt.count(); n != 2 || !w.view(id).Forwarded {
		t.Fatalf("after the retries ran out and forgetting: %d receipts, forwarded %v; want 2, recorded", n, w.view(id).Forwarded)
	}
}

// Once the driver is stopping (its suppliers are stopping too), an answer
// that fails a message over is recorded, but the message is left routed for
// the next start instead of being dispatched.
func TestStoppingDriverLeavesAFailoverRouted(t *testing.T) {
	w := newWorld(t, twoSuppliers)
	ctx := context.Background()
	id, a := w.sent(ctx)
	w.d.stopping.Store(true)
	w.d.SupplierTimedOut(ctx, a.Key, a.SupplierID)
	if v := w.view(id); v.State != string(message.StateRouted) || v.Attempt != 2 {
		t.Fatalf("after the timeout: %+v", v)
	}
	if n := len(w.sup.sent()); n != 1 {
		t.Fatalf("%d attempts sent while stopping, want the first only", n)
	}
}
