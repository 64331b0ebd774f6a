package lifecycle

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
)

// Final DLRs to tenants. A message that reached a final state and whose
// tenant asked for a DLR is forwarded once through the ReceiptSink; its
// DeliveryForwarded event ends it. A tenant without a channel keeps it
// pending in the log, and every pass retries the pending ones whose tenant
// has a channel now. Delivery is at least once: a DLR forwarded whose
// DeliveryForwarded is lost (a crash in between) is sent again after the
// restart.

// queueForward asks a forwarding worker to send id's final DLR; if the
// queue is full a pass finds it in the log.
func (d *Driver) queueForward(id uuid.UUID) {
	select {
	case d.toForward <- id:
	default:
	}
}

// forward sends the final DLR of a message to its tenant, once.
func (d *Driver) forward(ctx context.Context, id uuid.UUID) {
	if !d.loose.startForward(id) {
		return // another worker has it, or it was sent a moment ago
	}
	defer d.loose.endForward(id)
	// The DLR's events were just appended; give the follower a moment to
	// apply them (bounded) rather than leave it to the retry pass.
	w, ok, _ := d.awaitWork(ctx, id, 40, func(w ledger.Work, ok bool) bool { return !ok || w.Message.State.Terminal() })
	if !ok || !w.NeedsForward() {
		return // finished, or still not applied (a pass picks it up)
	}
	r := Receipt{Work: w, Stat: w.Message.ReceiptStatus(), DoneAt: d.now().UTC()}
	err := d.receipts.Deliver(ctx, r, func(o Outcome) { d.forwarded(ctx, w, o) })
	switch {
	case err == nil:
		d.forwarded(ctx, w, Delivered)
	case errors.Is(err, ErrDeliveryPending), errors.Is(err, ErrNoReceiver):
		// The sink reports later, or the DLR waits for a receiver.
	default:
		d.log.Warn("DLR to tenant not delivered; will retry", "message", id, "tenant", w.Message.TenantID, "err", err)
	}
}

// forwarded records the end of a receipt delivery: a delivered (or for good
// refused) DLR becomes DeliveryForwarded, recorded even if the driver is
// stopping (bounded), or a restart would send it again.
func (d *Driver) forwarded(ctx context.Context, w ledger.Work, o Outcome) {
	id := w.Message.ID
	switch o {
	case Delivered:
		d.opts.Observer.DLRForwarded(d.now().Sub(w.AcceptedAt))
	case Refused:
	default:
		return // pending: a pass tries again
	}
	d.loose.markForwarded(id)
	rctx, cancel := detach(ctx)
	defer cancel()
	if _, err := d.ledger.DeliveryForwarded(rctx, id); err != nil {
		// The tenant has it; if this is lost, a restart sends it again
		// (at least once, never silently dropped).
		d.log.Warn("DLR forwarded but not recorded", "message", id, "err", err)
	}
}

// forwardPending retries the DLRs whose tenant has a channel now.
func (d *Driver) forwardPending(ctx context.Context) {
	d.loose.forgetForwarded(d.now())
	for _, w := range d.ledger.Unfinished((*ledger.Work).NeedsForward, d.opts.RecoverMax) {
		if ctx.Err() != nil {
			return
		}
		if !d.receipts.Ready(w.Message.TenantID) {
			continue
		}
		d.forward(ctx, w.Message.ID)
	}
}
