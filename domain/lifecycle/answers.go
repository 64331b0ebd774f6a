package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/message"
)

// The supplier side reports here. Each answer ends an attempt the supplier
// side held (handed back), becomes an event, and moves the message on. An
// answer the store cannot take now is kept and retried by every pass, and
// keeps the sweep off its message meanwhile.

// SupplierAccepted records a successful submit_sm_resp for attempt k.
func (d *Driver) SupplierAccepted(ctx context.Context, k AttemptKey, supplierID, supplierMsgID string, latency time.Duration) {
	d.answer(ctx, k, false, func(ctx context.Context) (ledger.Transition, error) {
		return d.ledger.SupplierAccepted(ctx, k.MessageID, supplierID, k.Attempt, supplierMsgID, latency)
	})
}

// SupplierRejected records an error submit_sm_resp for attempt k; the
// message fails over or fails.
func (d *Driver) SupplierRejected(ctx context.Context, k AttemptKey, supplierID string, commandStatus uint32) {
	d.answer(ctx, k, true, func(ctx context.Context) (ledger.Transition, error) {
		return d.ledger.SupplierRejected(ctx, k.MessageID, supplierID, k.Attempt, commandStatus)
	})
}

// Withdrawn records that attempt k never left this node: the supplier side
// still queued it when this node stopped binding the supplier (a
// cluster's bind share moved). The message is routed again to the same
// supplier and dispatched: handed over to a node with a bind.
func (d *Driver) Withdrawn(ctx context.Context, k AttemptKey, supplierID, reason string) {
	d.answer(ctx, k, true, func(ctx context.Context) (ledger.Transition, error) {
		return d.ledger.SubmitWithdrawn(ctx, k.MessageID, supplierID, k.Attempt, reason)
	})
}

// SupplierTimedOut records that attempt k got no submit_sm_resp within
// SubmitTimeout; the message fails over or fails.
func (d *Driver) SupplierTimedOut(ctx context.Context, k AttemptKey, supplierID string) {
	d.answer(ctx, k, true, func(ctx context.Context) (ledger.Transition, error) {
		return d.ledger.SupplierTimedOut(ctx, k.MessageID, supplierID, k.Attempt, d.opts.SubmitTimeout)
	})
}

// Expired records that attempt k was never sent because its validity ran
// out while the supplier side held it: the message expires, like any other
// answer (kept for retry if the store cannot take it; its DLR forwarded).
func (d *Driver) Expired(ctx context.Context, k AttemptKey) {
	d.answer(ctx, k, true, func(ctx context.Context) (ledger.Transition, error) {
		return d.ledger.Expire(ctx, k.MessageID)
	})
}

// answer takes one supplier outcome of an attempt the supplier side held.
func (d *Driver) answer(ctx context.Context, k AttemptKey, then bool, record func(ctx context.Context) (ledger.Transition, error)) {
	d.loose.handedBack(k)
	ctx, cancel := detach(ctx)
	defer cancel()
	d.recordAnswer(ctx, k.MessageID, then, record)
}

// SupplierDLR is a delivery receipt a supplier sent.
type SupplierDLR struct {
	SupplierID, SupplierMessageID string
	Stat, Err                     string
	DoneAt                        time.Time
}

// DeliveryReport records a supplier's DLR and, when it is final, queues the
// DLR for the tenant. An error means it was not recorded (an unknown
// supplier message id wraps ledger.ErrNotFound): the supplier side should
// refuse the DLR so that the supplier redelivers it.
func (d *Driver) DeliveryReport(ctx context.Context, r SupplierDLR) error {
	// Received and not yet recorded: the node's backlog until it is.
	d.ledger.DLRIntakeStarted()
	defer d.ledger.DLRIntakeEnded()
	ctx, cancel := detach(ctx)
	defer cancel()
	// A fast supplier's DLR can overtake the recording of its own
	// submit_sm_resp (which indexes the supplier message id): wait for it,
	// briefly and bounded, before calling the id unknown.
	var (
		tr      ledger.Transition
		err     error
		applied func() bool // the log as it was when the DLR came is applied
		start   = time.Now()
	)
	for wait := 0; ; wait++ {
		tr, err = d.ledger.DeliveryReported(ctx, r.SupplierID, r.SupplierMessageID, r.Stat, r.Err, r.DoneAt)
		if !errors.Is(err, ledger.ErrNotFound) || wait >= dlrIndexWaits {
			break
		}
		if applied == nil {
			var markErr error
			if applied, markErr = d.ledger.AppliedMark(ctx); markErr != nil {
				applied = func() bool { return false } // the full wait
			}
		}
		if time.Since(start) >= dlrOvertakeGrace && applied() {
			break // err is ErrNotFound
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(dlrIndexWait):
		}
	}
	if errors.Is(err, ledger.ErrNotFound) {
		d.log.Warn("DLR for an unknown supplier message id; refused for redelivery", "supplier", r.SupplierID, "supplier_message_id", r.SupplierMessageID)
		return err
	}
	if err != nil {
		return fmt.Errorf("record DLR from %s: %w", r.SupplierID, err)
	}
	if tr.Message != nil && tr.Message.State.Terminal() {
		d.queueForward(tr.Message.ID)
	}
	return nil
}

// retryable: the answer was not recorded for a reason that may pass (the
// store), not because the ledger refused it (a late answer after a
// failover, an unknown message).
func retryable(err error) bool {
	return err != nil && !errors.Is(err, message.ErrIllegalTransition) && !errors.Is(err, ledger.ErrNotFound)
}

// recordAnswer records a supplier answer; one the store could not take is
// kept and retried by every pass. then: continue the message afterwards.
func (d *Driver) recordAnswer(ctx context.Context, id uuid.UUID, then bool, record func(ctx context.Context) (ledger.Transition, error)) {
	tr, err := record(ctx)
	if retryable(err) {
		kept := d.loose.keep(id, keptAnswer{record: record, then: then, since: d.now()})
		d.log.Warn("supplier answer not recorded", "message", id, "kept_for_retry", kept, "err", err)
		return
	}
	if then {
		d.after(ctx, id, tr, err)
	}
}

// retryAnswers tries the kept answers again; one still failing after
// answerRetryFor is dropped (the sweep then times its attempt out).
func (d *Driver) retryAnswers(ctx context.Context) {
	recorded := 0
	for id, a := range d.loose.keptAnswers() {
		if ctx.Err() != nil {
			return
		}
		actx, cancel := detach(ctx)
		tr, err := a.record(actx)
		cancel()
		if retryable(err) && d.now().Sub(a.since) < answerRetryFor {
			continue
		}
		d.loose.dropAnswer(id)
		if retryable(err) && a.forward {
			d.log.Error("DLR forward not recorded after retrying; a pass will send the DLR again", "message", id, "retried_for", answerRetryFor, "err", err)
			continue
		}
		if retryable(err) {
			d.log.Error("supplier answer dropped after retrying; the sweep will treat the message as timed out", "message", id, "retried_for", answerRetryFor, "err", err)
			continue
		}
		recorded++
		if a.then {
			d.after(ctx, id, tr, err)
		}
	}
	if recorded > 0 {
		d.log.Info("recorded supplier answers kept for retry", "answers", recorded)
	}
}

// Final DLRs to tenants. A message that reached a final state and whose
// tenant asked for a DLR is forwarded once through the ReceiptSink; its
// DeliveryForwarded event ends it. A tenant without a channel keeps it
// pending in the log, and every pass hands the pending ones whose tenant
// has a channel now to the forwarding lanes. Delivery is at least once: a
// DLR forwarded whose DeliveryForwarded is lost (a crash in between) is
// sent again after the restart.
//
// One slow tenant must not stall the others. A receiver bind that never
// answers holds each deliver_sm for the whole deliver timeout (10 s), so
// DLRs wait in a lane per tenant (forwardLanes, loose.go) and a fair
// scheduler starts them, the tenants in turn, each tenant with at most
// forwardPerTenant deliveries running (forwardPerSlowTenant while its last
// one failed or one has been running for forwardSlowAfter), all tenants
// together with at most forwardWorkers. Nothing is delivered one by one
// inside a pass: the pass only hands the DLRs over. Failures are counted
// per tenant and logged once per forwardFailLogEvery with their number.

// queueForward asks for id's final DLR to be sent; if the queue is full a
// pass finds it in the log.
func (d *Driver) queueForward(id uuid.UUID) {
	select {
	case d.toForward <- id:
	default:
	}
}

// routeForwards moves the queued DLRs into their tenants' lanes until ctx
// ends. It only looks the tenant up in the tracker: it never waits for a
// tenant.
func (d *Driver) routeForwards(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-d.ledger.Owed():
			if w, ok := d.ledger.WorkOf(id); ok {
				d.lanes.push(ctx, w.Message.TenantID, id, nil)
			}
		case id := <-d.toForward:
			if w, ok := d.ledger.WorkOf(id); ok {
				d.lanes.push(ctx, w.Message.TenantID, id, nil)
			} else if mo, ok := d.moOf(id); ok {
				d.lanes.push(ctx, mo.TenantID, id, nil)
			}
		}
	}
}

// forwardResult is how one forward ended, for its lane.
type forwardResult int

const (
	// forwardSkipped: nothing sent (another worker has it, it was sent a
	// moment ago, it is finished, or the tracker has not applied it yet).
	forwardSkipped forwardResult = iota
	// forwardSent: delivered, or taken by a channel that reports later.
	forwardSent
	// forwardNoReceiver: the tenant has no channel up; pending in the log.
	forwardNoReceiver
	// forwardFailed: the channel failed; pending, a pass hands it over again.
	forwardFailed
)

// errNotDelivered is counted when a channel that reports later (a
// webhook) gave the DLR up for now.
var errNotDelivered = errors.New("the tenant's channel gave up on the DLR for now")

// forward sends the final DLR of a message (or an MO, mo.go) to its
// tenant, once.
func (d *Driver) forward(ctx context.Context, id uuid.UUID) forwardResult {
	if mo, ok := d.moOf(id); ok {
		return d.forwardMO(ctx, mo)
	}
	if !d.loose.startForward(id) {
		return forwardSkipped // another worker has it, or it was sent a moment ago
	}
	defer d.loose.endForward(id)
	// The DLR's events were just appended; give the follower a moment to
	// apply them (bounded) rather than leave it to the retry pass.
	w, ok, _ := d.awaitWork(ctx, id, 40, func(w ledger.Work, ok bool) bool { return !ok || w.Message.State.Terminal() })
	if !ok || !w.NeedsForward() {
		return forwardSkipped // finished, or still not applied (a pass picks it up)
	}
	if !d.ledger.Forwards(&w) {
		return forwardSkipped // another node of the cluster forwards it (its pass)
	}
	r := Receipt{Work: w, Stat: w.Message.ReceiptStatus(), DoneAt: d.now().UTC()}
	err := d.receipts.Deliver(ctx, r, func(o Outcome) { d.forwarded(ctx, w, o) })
	switch {
	case err == nil:
		d.ledger.ReceiverReady(w.Message.TenantID, true)
		d.forwarded(ctx, w, Delivered)
	case errors.Is(err, ErrDeliveryPending):
		// The sink reports later.
		d.ledger.ReceiverReady(w.Message.TenantID, true)
	case errors.Is(err, ErrNoReceiver):
		// Its DLRs wait durably for a receiver: not the node's backlog.
		d.ledger.ReceiverReady(w.Message.TenantID, false)
		return forwardNoReceiver // waits for a receiver
	default:
		// Counted, and logged once per tenant per forwardFailLogEvery.
		d.lanes.failed(w.Message.TenantID, err)
		return forwardFailed
	}
	return forwardSent
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
		d.lanes.failed(w.Message.TenantID, errNotDelivered)
		return // pending: a pass tries again
	}
	d.loose.markForwarded(id)
	rctx, cancel := detach(ctx)
	defer cancel()
	if _, err := d.ledger.DeliveryForwarded(rctx, id); err != nil {
		// The tenant has it: record it on the next passes (retryAnswers),
		// without sending it again. If that is lost too (a restart, the
		// retries run out), a later pass sends it again: at least once,
		// never silently dropped, and the message always ends.
		kept := d.loose.keep(id, keptAnswer{forward: true, since: d.now(),
			record: func(ctx context.Context) (ledger.Transition, error) { return d.ledger.DeliveryForwarded(ctx, id) }})
		d.log.Warn("DLR forwarded but not recorded; recording it again on the next pass", "message", id, "kept", kept, "err", err)
	}
}

// forwardPending logs the tenants' delivery failures counted since the last
// report (at most once per forwardFailLogEvery each), then hands the DLRs
// still pending whose tenant has a channel now to their lanes. It waits for
// what it handed over at most forwardPassWait, so that a pass normally ends
// with the responsive tenants' DLRs forwarded, while a tenant that does not
// answer holds the pass back by no more than that: its DLRs go on in their
// lane (or stay pending in the log when the lane is full).
func (d *Driver) forwardPending(ctx context.Context) {
	now := d.now()
	d.loose.forgetForwarded(now)
	d.lanes.report(now, d.log)
	ready := map[string]bool{}
	b := newForwardBatch()
	for _, w := range d.ledger.Unfinished((*ledger.Work).NeedsForward, d.opts.RecoverMax) {
		if ctx.Err() != nil {
			break
		}
		tenant := w.Message.TenantID
		up, seen := ready[tenant]
		if !seen {
			up = d.receipts.Ready(tenant)
			ready[tenant] = up
			// Only the DLRs of a tenant that can take them are the
			// node's backlog (ledger/backlog.go).
			d.ledger.ReceiverReady(tenant, up)
		}
		if up {
			d.lanes.push(ctx, tenant, w.Message.ID, b)
		}
	}
	d.pendingMOs(ctx, ready, b)
	b.finish() // the hander's own count
	t := time.NewTimer(forwardPassWait)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
	case <-ctx.Done():
	}
}
