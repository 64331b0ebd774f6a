package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/message"
)

// submitAt accepts a message scheduled for sendAt; it must not reach the
// outbox.
func (w *world) submitAt(sendAt time.Time) uuid.UUID {
	w.t.Helper()
	req := acceptRequest()
	req.SendAt = sendAt
	acc, err := w.svc.Submit(context.Background(), "acme", req)
	if err != nil {
		w.t.Fatal(err)
	}
	select {
	case id := <-w.svc.Outbox():
		w.t.Fatalf("scheduled message %s put on the outbox", id)
	default:
	}
	return acc.MessageID
}

// A scheduled message is held at once, not sent before its time (neither
// by a stray dispatch nor by a restart's recovery), and sent exactly once
// when its time comes — by the scheduler of the process running then.
func TestScheduledMessageIsSentOnceAtItsTimeAcrossARestart(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	sendAt := w.clock.Now().Add(10 * time.Minute)
	id := w.submitAt(sendAt)
	v := w.view(id)
	if v.State != string(message.StateScheduled) || v.Money != "held" {
		t.Fatalf("after accept: state %s money %s", v.State, v.Money)
	}
	if b, _ := w.svc.Balance("acme"); b.Held == "0" {
		t.Fatalf("scheduled message holds nothing: %+v", b)
	}
	w.d.dispatch(ctx, id) // a stray dispatch before the time
	if n := w.d.sendScheduled(ctx, w.clock.Now()); n != 0 {
		t.Fatalf("%d scheduled messages due before their time", n)
	}

	// Restart before the time: a second ledger over the same log.
	svc2 := ledgertest.Start(t, w.store, ledger.Options{Clock: w.clock.Now, Logger: quiet()})
	w.svc = svc2
	w.d = w.driver(svc2)
	w.startRedo()
	w.d.recover(ctx, w.d.inFlightAtStart())
	w.clock.Advance(10*time.Minute - time.Second)
	if n := w.d.sendScheduled(ctx, w.clock.Now()); n != 0 {
		t.Fatalf("%d scheduled messages due a second early", n)
	}
	if sent := w.sup.sent(); len(sent) != 0 {
		t.Fatalf("sent before its time: %+v", sent)
	}

	w.clock.Advance(time.Second)
	if n := w.d.sendScheduled(ctx, w.clock.Now()); n != 1 {
		t.Fatalf("%d scheduled messages due at their time, want 1", n)
	}
	a := w.sup.next(t)
	if a.Key.MessageID != id || a.Key.Attempt != 1 {
		t.Fatalf("attempt %+v", a)
	}
	w.eventually("submitted", func() bool { return w.view(id).State == string(message.StateSubmitted) })
	if n := w.d.sendScheduled(ctx, w.clock.Now().Add(time.Hour)); n != 0 {
		t.Fatalf("a submitted message is still due: %d", n)
	}
	w.d.redispatch(ctx, id) // a second hand-over finds it submitted
	if sent := w.sup.sent(); len(sent) != 1 {
		t.Fatalf("sent %d times", len(sent))
	}
}

// A scheduled message whose validity runs out is expired without being
// sent; one whose expiry would come before its time is refused at accept.
func TestScheduledValidity(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	now := w.clock.Now()

	req := acceptRequest()
	req.SendAt, req.ExpiresAt = now.Add(time.Hour), now.Add(30*time.Minute)
	if _, err := w.svc.Submit(ctx, "acme", req); !errors.Is(err, accept.ErrInvalidExpiry) || ledger.CodeOf(err) != ledger.CodeInvalidExpiry {
		t.Fatalf("expiry before send_at: %v", err)
	}
	req = acceptRequest()
	req.SendAt = now.Add(accept.MaxScheduleAhead + time.Second)
	if _, err := w.svc.Submit(ctx, "acme", req); ledger.CodeOf(err) != ledger.CodeInvalidSchedule {
		t.Fatalf("send_at beyond a week: %v", err)
	}
	if b, _ := w.svc.Balance("acme"); b.Held != "0" {
		t.Fatalf("a refused submit holds %s", b.Held)
	}

	req = acceptRequest()
	req.SendAt = now.Add(time.Minute)
	acc, err := w.svc.Submit(ctx, "acme", req)
	if err != nil {
		t.Fatal(err)
	}
	v := w.view(acc.MessageID)
	if want := now.Add(time.Minute + ledger.DefaultValidityDefault); v.ExpiresAt == nil || !v.ExpiresAt.Equal(want) {
		t.Fatalf("default validity counts from send_at: expires %s, want %s", v.ExpiresAt, want)
	}
	w.clock.Advance(time.Minute + ledger.DefaultValidityDefault)
	w.d.expireDue(ctx, w.clock.Now())
	if n := w.d.sendScheduled(ctx, w.clock.Now()); n != 0 {
		t.Fatalf("an expired scheduled message is still due: %d", n)
	}
	if v := w.view(acc.MessageID); v.State != string(message.StateExpired) || v.Money != "released" {
		t.Fatalf("after its validity: %+v", v)
	}
	if sent := w.sup.sent(); len(sent) != 0 {
		t.Fatalf("an expired message was sent: %+v", sent)
	}
}

// A supplier's own dlr_grace_s replaces the service's DLR grace.
func TestSupplierDLRGrace(t *testing.T) {
	w := newWorld(t, func(w *world, o *ledger.Options) {
		o.DLRGrace = time.Hour
		w.afterSetup = append(w.afterSetup, func() {
			if err := w.svc.CreateSupplier(context.Background(), ledger.SupplierSpec{ID: "quick", Name: "quick", Currency: "EUR",
				Host: "127.0.0.1", Port: 2775, SystemID: "quick", Password: "pw", Binds: 1, Window: 10, DLRGraceS: 60}); err != nil {
				w.t.Fatal(err)
			}
			if err := w.svc.SetCosts(context.Background(), "quick", []events.Cost{{Prefix: "49", Cost: decimal.RequireFromString("0.02")}}); err != nil {
				w.t.Fatal(err)
			}
			w.route("quick")
		})
	})
	ctx := context.Background()
	if sp, err := w.svc.Supplier("quick"); err != nil || sp.DLRGraceS != 60 || sp.Billing != "on_submit" {
		t.Fatalf("supplier: %+v %v", sp, err)
	}
	id := w.submitValid(time.Minute)
	w.d.dispatch(ctx, id)
	a := w.sup.next(t)
	w.d.SupplierAccepted(ctx, a.Key, a.SupplierID, "SUP-Q", 0)
	w.clock.Advance(time.Minute + 59*time.Second)
	w.d.expireDue(ctx, w.clock.Now())
	if v := w.view(id); v.State != string(message.StateSupplierAccepted) {
		t.Fatalf("expired within the supplier's grace: %s", v.State)
	}
	w.clock.Advance(time.Second)
	w.d.expireDue(ctx, w.clock.Now())
	if v := w.view(id); v.State != string(message.StateExpired) {
		t.Fatalf("after the supplier's 60 s grace (the service's is an hour): %s", v.State)
	}
}
