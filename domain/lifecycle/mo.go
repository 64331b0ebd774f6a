package lifecycle

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
)

// MOs to tenants. A mobile-originated message the ledger recorded
// (ledger.Service.ReceiveMO) waits in the ledger's index of MOs to forward
// until its MOForwarded; it goes to its tenant exactly as a final DLR does:
// through the same per-tenant lanes (fair across tenants, bounded), when
// the tenant has a channel (ReceiptSink.Ready: a webhook or a receiver
// bind), once (the forwarding and forwarded marks of loose.go), and while
// the tenant has none it stays in the index, which every pass looks at. An
// MO delivered whose MOForwarded is lost (a crash in between) is sent
// again after the restart: at least once, normally exactly once.

// MOSink is where MOs go to tenants (Options.MOs).
type MOSink interface {
	// DeliverMO gives mo to its tenant. nil: delivered.
	// ErrDeliveryPending: done is called later (once). ErrNoReceiver: the
	// tenant has no channel up; it waits. Any other error: not delivered,
	// retried by a later pass.
	DeliverMO(ctx context.Context, mo ledger.PendingMO, done func(Outcome)) error
}

// ForwardMO asks for the MO id (just recorded) to be sent to its tenant;
// if the queue is full a pass finds it in the ledger's index.
func (d *Driver) ForwardMO(id uuid.UUID) { d.queueForward(id) }

// moOf returns the MO id waiting for its tenant, when MOs are forwarded.
func (d *Driver) moOf(id uuid.UUID) (ledger.PendingMO, bool) {
	if d.opts.MOs == nil {
		return ledger.PendingMO{}, false
	}
	return d.ledger.MOOf(id)
}

// forwardMO sends an MO to its tenant, once (its lane's worker).
func (d *Driver) forwardMO(ctx context.Context, mo ledger.PendingMO) forwardResult {
	if !d.loose.startForward(mo.ID) {
		return forwardSkipped
	}
	defer d.loose.endForward(mo.ID)
	err := d.opts.MOs.DeliverMO(ctx, mo, func(o Outcome) { d.moForwarded(ctx, mo, o) })
	switch {
	case err == nil:
		d.moForwarded(ctx, mo, Delivered)
	case errors.Is(err, ErrDeliveryPending):
	case errors.Is(err, ErrNoReceiver):
		return forwardNoReceiver
	default:
		d.lanes.failed(mo.TenantID, err)
		return forwardFailed
	}
	return forwardSent
}

// moForwarded records the end of an MO's delivery as forwarded records a
// DLR's: delivered or refused for good becomes MOForwarded (kept for the
// next passes if the store cannot take it now, never sent again
// meanwhile); anything else leaves it waiting for a pass.
func (d *Driver) moForwarded(ctx context.Context, mo ledger.PendingMO, o Outcome) {
	if o != Delivered && o != Refused {
		d.lanes.failed(mo.TenantID, errNotDelivered)
		return
	}
	d.loose.markForwarded(mo.ID)
	record := func(ctx context.Context) (ledger.Transition, error) {
		return ledger.Transition{}, d.ledger.MOForwarded(ctx, mo.ID)
	}
	rctx, cancel := detach(ctx)
	defer cancel()
	if _, err := record(rctx); err != nil {
		kept := d.loose.keep(mo.ID, keptAnswer{forward: true, since: d.now(), record: record})
		d.log.Warn("MO forwarded but not recorded; recording it again on the next pass", "mo", mo.ID, "kept", kept, "err", err)
	}
}

// pendingMOs hands the MOs waiting whose tenant has a channel now to their
// lanes, oldest first (a pass's share of forwardPending); ready caches the
// tenants' readiness for the pass.
func (d *Driver) pendingMOs(ctx context.Context, ready map[string]bool, b *forwardBatch) {
	if d.opts.MOs == nil {
		return
	}
	for _, mo := range d.ledger.PendingMOs(d.opts.RecoverMax) {
		if ctx.Err() != nil {
			return
		}
		up, seen := ready[mo.TenantID]
		if !seen {
			up = d.receipts.Ready(mo.TenantID)
			ready[mo.TenantID] = up
		}
		if up {
			d.lanes.push(ctx, mo.TenantID, mo.ID, b)
		}
	}
}
