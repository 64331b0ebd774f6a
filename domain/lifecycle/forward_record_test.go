package lifecycle

import (
	"context"
	"testing"
)

// A DLR delivered to the tenant whose DeliveryForwarded the store refused
// is recorded on a later pass, without being sent again: the message ends
// and leaves the tracker. (Found by the postgres-restart scenario: the
// tracker kept such a message until a restart.)
func TestForwardRecordedLaterWhenTheStoreRefusedIt(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.delivered(ctx, "SUP-R")
	w.store.mode.Store(storeRefuses)
	w.d.forward(ctx, id)
	if w.rcpt.count() != 1 {
		t.Fatalf("%d DLRs delivered, want 1", w.rcpt.count())
	}
	if w.view(id).Forwarded {
		t.Fatal("forwarded recorded although the store refused it")
	}
	w.d.pass(ctx, 1, 0) // the store still refuses: kept
	w.store.mode.Store(storeOK)
	w.d.forwardPending(ctx)
	if n := w.rcpt.count(); n != 1 {
		t.Fatalf("the DLR was sent again while its record was pending: %d deliveries", n)
	}
	w.d.pass(ctx, 2, 0)
	if !w.view(id).Forwarded {
		t.Fatal("DeliveryForwarded not recorded by the next pass")
	}
	w.eventually("the message leaves the tracker", func() bool { _, open := w.svc.WorkOf(id); return !open })
	if n := w.rcpt.count(); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}
