package lifecycle

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// A supplier's repeated final DLR for a message already finished is
// acknowledged and changes nothing — also after a restart, which rebuilds
// what was final from the log. (It used to wait 2 s and be refused, so the
// supplier redelivered it for ever.)
func TestRepeatedFinalDLRIsAcknowledged(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.delivered(ctx, "SUP-1")
	w.d.forward(ctx, id)
	w.eventually("finished", func() bool { _, open := w.svc.WorkOf(id); return !open })
	before := w.view(id)
	repeat := SupplierDLR{SupplierID: "sup1", SupplierMessageID: "SUP-1", Stat: "UNDELIV", DoneAt: w.clock.Now()}
	if err := w.d.DeliveryReport(ctx, repeat); err != nil {
		t.Fatalf("repeated final DLR: %v", err)
	}
	if after := w.view(id); after.Version != before.Version || after.State != before.State {
		t.Fatalf("a repeated DLR changed the message: %+v → %+v", before, after)
	}

	svc2 := ledgertest.Start(t, w.store, ledger.Options{Clock: w.clock.Now, Logger: quiet()})
	if err := w.driver(svc2).DeliveryReport(ctx, repeat); err != nil {
		t.Fatalf("repeated final DLR after a restart: %v", err)
	}
	// An id never seen is still refused, for redelivery.
	if _, err := svc2.DeliveryReported(ctx, "sup1", "NEVER", "DELIVRD", "", w.clock.Now()); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
}

// Near the bound of unfinished messages the ledger tracks, new submits are
// refused (throttled) instead of acknowledged and left untracked and
// unsent; when a message finishes, there is room again.
func TestSubmitsRefusedAtTheUnfinishedBound(t *testing.T) {
	w := newWorld(t, func(_ *world, o *ledger.Options) { o.UnfinishedMax = 3 })
	ctx := context.Background()
	first := w.submit()
	w.submit()
	w.submit()
	if _, err := w.svc.Submit(ctx, "acme", acceptRequest()); !errors.Is(err, ledger.ErrThrottled) {
		t.Fatalf("fourth submit at a bound of 3: %v, want ErrThrottled", err)
	}
	w.d.dispatch(ctx, first)
	a := w.sup.next(t)
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, "SUP-B", 0)
	if err := w.d.DeliveryReport(ctx, SupplierDLR{SupplierID: a.SupplierID, SupplierMessageID: "SUP-B", Stat: "DELIVRD", DoneAt: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	w.forwardQueued(ctx)
	w.eventually("the first message finished", func() bool { _, open := w.svc.WorkOf(first); return !open })
	if _, err := w.svc.Submit(ctx, "acme", acceptRequest()); err != nil {
		t.Fatalf("submit once a message finished: %v", err)
	}
}

// registered_delivery 2 (a receipt on failure only): a message delivered
// sends no DLR and finishes; one that fails gets its DLR.
func TestReceiptOnFailureOnly(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	req := acceptRequest()
	req.ReceiptOnFailureOnly = true
	submitted := func() uuid.UUID {
		acc, err := w.svc.Submit(ctx, "acme", req)
		if err != nil {
			t.Fatal(err)
		}
		<-w.svc.Outbox()
		w.d.dispatch(ctx, acc.MessageID)
		return acc.MessageID
	}
	delivered, failed := submitted(), submitted()
	for range 2 {
		a := w.sup.next(t)
		w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, a.Key.MessageID.String(), 0)
		stat := map[bool]string{true: "DELIVRD", false: "UNDELIV"}[a.Key.MessageID == delivered]
		if err := w.d.DeliveryReport(ctx, SupplierDLR{SupplierID: a.SupplierID, SupplierMessageID: a.Key.MessageID.String(), Stat: stat, DoneAt: w.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	w.forwardQueued(ctx)
	w.d.forwardPending(ctx)
	w.eventually("both finished", func() bool {
		_, open1 := w.svc.WorkOf(delivered)
		_, open2 := w.svc.WorkOf(failed)
		return !open1 && !open2
	})
	if n := w.rcpt.count(); n != 1 {
		t.Fatalf("%d DLRs sent, want 1 (the failed message's)", n)
	}
	if got := w.rcpt.delivered[0].Work.Message.ID; got != failed {
		t.Fatalf("DLR sent for %s, want the failed message %s", got, failed)
	}
	if w.view(delivered).Forwarded || !w.view(failed).Forwarded {
		t.Fatal("forwarded flags wrong")
	}
}
