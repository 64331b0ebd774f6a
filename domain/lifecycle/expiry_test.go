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

// submitValid accepts a message valid for validity (and takes it off the
// outbox).
func (w *world) submitValid(validity time.Duration) uuid.UUID {
	w.t.Helper()
	req := acceptRequest()
	req.ExpiresAt = w.clock.Now().Add(validity)
	acc, err := w.svc.Submit(context.Background(), "acme", req)
	if err != nil {
		w.t.Fatal(err)
	}
	<-w.svc.Outbox()
	return acc.MessageID
}

// A message in flight that gets no answer by its expires_at expires: its
// hold released, the tenant told EXPIRED, the tracker rid of it; a late
// answer changes nothing.
func TestExpiryEndsAMessageInFlight(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.submitValid(time.Minute)
	w.d.dispatch(ctx, id)
	a := w.sup.next(t)
	w.d.expireDue(ctx, w.clock.Now())
	if v := w.view(id); v.State != string(message.StateSubmitted) {
		t.Fatalf("expired before its time: %s", v.State)
	}
	w.clock.Advance(time.Minute)
	w.d.expireDue(ctx, w.clock.Now())
	v := w.view(id)
	if v.State != string(message.StateExpired) || v.Money != "released" {
		t.Fatalf("after expires_at: %+v", v)
	}
	w.forwardQueued(ctx)
	if w.rcpt.count() != 1 || w.rcpt.delivered[0].Stat != message.DLRExpired {
		t.Fatalf("receipts: %+v", w.rcpt.delivered)
	}
	w.eventually("finished", func() bool { _, open := w.svc.WorkOf(id); return !open })
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, "LATE", 0)
	if v := w.view(id); v.State != string(message.StateExpired) {
		t.Fatalf("a late answer changed an expired message: %s", v.State)
	}
	if due := w.svc.ExpiryDue(w.clock.Now().Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("%d messages still due", len(due))
	}
}

// A message a supplier accepted gets the DLR grace beyond its expires_at;
// then it expires, and its supplier message id leaves the DLR index: the
// supplier's DLR after that is acknowledged and changes nothing.
func TestExpiryWaitsTheDLRGraceOnceASupplierAccepted(t *testing.T) {
	w := newWorld(t, func(_ *world, o *ledger.Options) { o.DLRGrace = 10 * time.Minute })
	ctx := context.Background()
	id := w.submitValid(time.Minute)
	w.d.dispatch(ctx, id)
	a := w.sup.next(t)
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, "SUP-G", 0)
	w.clock.Advance(time.Minute)
	w.d.expireDue(ctx, w.clock.Now())
	if v := w.view(id); v.State != string(message.StateSupplierAccepted) {
		t.Fatalf("expired within the grace: %s", v.State)
	}
	w.clock.Advance(10 * time.Minute)
	w.d.expireDue(ctx, w.clock.Now())
	if v := w.view(id); v.State != string(message.StateExpired) {
		t.Fatalf("after the grace: %s", v.State)
	}
	w.eventually("unindexed", func() bool {
		return w.d.DeliveryReport(ctx, SupplierDLR{SupplierID: a.SupplierID, SupplierMessageID: "SUP-G", Stat: "DELIVRD", DoneAt: w.clock.Now()}) == nil
	})
	if v := w.view(id); v.State != string(message.StateExpired) {
		t.Fatalf("a DLR after the expiry changed the message: %s", v.State)
	}
}

// A message whose validity ran out before its dispatch (a backlog, a
// failover) is never sent: it expires instead.
func TestNeverSentAfterItsValidity(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.submitValid(time.Second)
	w.clock.Advance(2 * time.Second)
	w.d.dispatch(ctx, id)
	if n := len(w.sup.sent()); n != 0 {
		t.Fatalf("%d attempts sent after the validity", n)
	}
	if v := w.view(id); v.State != string(message.StateExpired) || v.Money != "released" {
		t.Fatalf("view: %+v", v)
	}
}

// A submit without a validity gets the ledger's default; the expiry's
// events are the same whoever decides them (derived ids): expiring twice,
// or from a second process over the same log, appends nothing more.
func TestDefaultValidityAndIdempotentExpiry(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.submit()
	wk, _ := w.svc.WorkOf(id)
	if want := w.clock.Now().Add(ledger.DefaultValidityDefault); !wk.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at %s, want %s", wk.ExpiresAt, want)
	}
	w.clock.Advance(ledger.DefaultValidityDefault)
	if due := w.svc.ExpiryDue(w.clock.Now(), 10); len(due) != 1 || due[0] != id {
		t.Fatalf("due: %v", due)
	}
	other := ledgertest.Start(t, w.store, ledger.Options{Clock: w.clock.Now, Logger: quiet()})
	tr1, err1 := w.svc.Expire(ctx, id)
	tr2, err2 := other.Expire(ctx, id)
	// The second is a no-op: decided on the stream it finds the message
	// expired, or, deciding on a copy a moment behind, it appends the same
	// events with the same ids, which the store takes as a repeat.
	if err1 != nil || err2 != nil || len(tr1.Events) == 0 {
		t.Fatalf("expiries: %d events (%v), then %d (%v)", len(tr1.Events), err1, len(tr2.Events), err2)
	}
	evs, err := w.svc.MessageEvents(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	expired := 0
	for _, e := range evs {
		if e.Type == "MessageExpired" {
			expired++
		}
	}
	if expired != 1 {
		t.Fatalf("%d MessageExpired events", expired)
	}
}

// The supplier side reports an attempt expired in its queue (never
// written): the attempt is no longer held and the message expires; the
// attempt carried the message's expires_at for that.
func TestAttemptExpiredInTheSupplierQueue(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	id := w.submitValid(time.Minute)
	w.d.dispatch(ctx, id)
	a := w.sup.next(t)
	if want := w.clock.Now().Add(time.Minute); !a.ExpiresAt.Equal(want) {
		t.Fatalf("attempt expires_at %s, want %s", a.ExpiresAt, want)
	}
	w.clock.Advance(time.Minute)
	w.d.Expired(ctx, a.Key)
	if v := w.view(id); v.State != string(message.StateExpired) || v.Money != "released" {
		t.Fatalf("view: %+v", v)
	}
	if w.d.loose.settled(a.Key) {
		t.Fatal("the attempt is still noted as held")
	}
	w.forwardQueued(ctx)
	if w.rcpt.count() != 1 || w.rcpt.delivered[0].Stat != message.DLRExpired {
		t.Fatalf("receipts: %+v", w.rcpt.delivered)
	}
}
