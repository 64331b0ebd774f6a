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

// SupplierTimedOut records that attempt k got no submit_sm_resp within
// SubmitTimeout; the message fails over or fails.
func (d *Driver) SupplierTimedOut(ctx context.Context, k AttemptKey, supplierID string) {
	d.answer(ctx, k, true, func(ctx context.Context) (ledger.Transition, error) {
		return d.ledger.SupplierTimedOut(ctx, k.MessageID, supplierID, k.Attempt, d.opts.SubmitTimeout)
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
	ctx, cancel := detach(ctx)
	defer cancel()
	// A fast supplier's DLR can overtake the recording of its own
	// submit_sm_resp (which indexes the supplier message id): wait for it,
	// briefly and bounded, before calling the id unknown.
	var (
		tr  ledger.Transition
		err error
	)
	for wait := 0; ; wait++ {
		tr, err = d.ledger.DeliveryReported(ctx, r.SupplierID, r.SupplierMessageID, r.Stat, r.Err, r.DoneAt)
		if !errors.Is(err, ledger.ErrNotFound) || wait >= dlrIndexWaits {
			break
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
