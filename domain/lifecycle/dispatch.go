package lifecycle

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/message"
)

// dispatch sends a routed message from the outbox to its current supplier:
// the submit is recorded durably first, so after a crash the log shows it
// in flight.
//
// The ledger's tracker supplies the payload (it has the message from its
// accept event on); whether the message is really ready to send is decided
// by the domain on the message's stream, not by the tracker, which may lag
// the log by a moment.
func (d *Driver) dispatch(ctx context.Context, id uuid.UUID) {
	// The follower may not have applied the accept yet (the outbox fires
	// right after the append): wait for it, up to a second.
	w, ok, _ := d.awaitWork(ctx, id, 200, func(_ ledger.Work, ok bool) bool { return ok })
	if !ok {
		d.log.Warn("accepted message not seen in the log yet; the retry pass will send it", "message", id)
		d.loose.giveUp(id)
		return
	}
	d.submit(ctx, id, w)
}

// redispatch sends a message the resumer found stuck. It was in the
// ledger's unfinished set a moment ago; if it is not any more, it has
// finished meanwhile (another dispatch sent it) and there is nothing to do.
func (d *Driver) redispatch(ctx context.Context, id uuid.UUID) {
	if w, ok := d.ledger.WorkOf(id); ok {
		d.submit(ctx, id, w)
	}
}

// submit records the submit to the message's current supplier and sends
// it — unless its validity has run out: then it expires, never sent.
func (d *Driver) submit(ctx context.Context, id uuid.UUID, w ledger.Work) {
	if w.Message.State.Terminal() {
		return
	}
	if d.expired(&w) {
		d.expire(ctx, id)
		return
	}
	if w.Message.State == message.StateScheduled && d.now().Before(w.Message.SendAt) {
		return // the scheduler sends it at its time
	}
	// In a cluster, a node without a bind of the supplier (it has fewer
	// binds than there are nodes) gives the message to one that has.
	if handed, err := d.ledger.HandOver(ctx, &w); errors.Is(err, ledger.ErrHandOverWait) {
		d.loose.giveUp(id) // the resumer's next pass (RetryEvery) tries again
		return
	} else if err != nil {
		d.log.Warn("message not handed over to a node with a bind of its supplier; retried", "message", id, "err", err)
		d.loose.giveUp(id)
		return
	} else if handed {
		return
	}
	tr, err := d.ledger.SubmittedToSupplier(ctx, id)
	if errors.Is(err, message.ErrIllegalTransition) {
		return // not routed: already sent (a duplicate dispatch or a recovery pass)
	}
	if errors.Is(err, message.ErrTooEarly) {
		return // the log says scheduled for later than the copy did: the scheduler sends it
	}
	if err != nil {
		// The mark may have committed all the same (the connection was
		// lost at COMMIT); then the log shows the attempt in flight and
		// nothing was sent: the sweep sends it (sweep.go).
		d.loose.noteUnsent(AttemptKey{id, w.Message.Attempt}, d.now())
		d.log.Warn("submit not recorded; the message stays routed and is retried", "message", id, "err", err)
		d.loose.giveUp(id)
		return
	}
	if len(tr.Events) == 0 {
		return // someone else submitted it
	}
	if !d.loose.markedToSend(AttemptKey{id, tr.Message.Attempt}) {
		return // the sweep sent it already
	}
	d.send(ctx, w, tr.Message)
}

// send hands the message's current attempt to the supplier side. A
// supplier that cannot take it counts as a rejection: the ledger fails
// over.
func (d *Driver) send(ctx context.Context, w ledger.Work, m *message.Message) {
	sup := m.Supplier()
	a := Attempt{
		Key: AttemptKey{m.ID, m.Attempt}, SupplierID: sup.SupplierID,
		From: w.From, To: w.To, Text: w.Text, Encoding: w.Encoding, ExpiresAt: w.ExpiresAt,
	}
	d.loose.hand(a.Key)
	err := d.suppliers.Enqueue(ctx, a)
	if err == nil {
		return
	}
	d.loose.handedBack(a.Key)
	d.log.Warn("supplier cannot take the message; failing over", "message", m.ID, "supplier", sup.SupplierID, "err", err)
	tr, rerr := d.ledger.SupplierRejected(ctx, m.ID, sup.SupplierID, m.Attempt, statusQueueFull)
	d.after(ctx, m.ID, tr, rerr)
}

// after continues a message after a supplier failure: failed over → send
// to the next candidate; failed → tell the tenant.
func (d *Driver) after(ctx context.Context, id uuid.UUID, tr ledger.Transition, err error) {
	if err != nil {
		d.log.Warn("supplier outcome not recorded", "message", id, "err", err)
		return
	}
	if tr.Message == nil {
		return
	}
	switch {
	case tr.Message.State == message.StateRouted:
		if d.stopping.Load() {
			return // routed in the log: the next start dispatches it
		}
		d.dispatch(ctx, id)
	case tr.Message.State.Terminal():
		d.queueForward(id)
	}
}
