package lifecycle

import (
	"context"
	"time"

	"github.com/smsledger/smsledger/domain/ledger"
)

// Loose ends at runtime. While the event store is down or answers
// ambiguously (a batch that committed although its caller was told it did
// not), a message can fall between the cracks without a restart to recover
// it: a supplier's answer that could not be recorded leaves it in flight
// (kept and retried, answers.go); a submit mark that committed unseen
// leaves it in flight with nothing sent; an accept that committed unseen
// leaves it routed with no dispatch. The periodic sweep finishes them.

// staleAfter is how long a message may sit routed, or in flight with no
// submit on its way and no answer to record, before the sweep acts. The
// supplier side reports every attempt it holds within SubmitTimeout of
// writing it, and an attempt it does not hold is only between its submit
// mark and Enqueue for a moment, so one SubmitTimeout is ample.
func (d *Driver) staleAfter() time.Duration { return d.opts.SubmitTimeout }

// sweep wakes the resumer for routed messages that missed their dispatch;
// sends attempts in flight whose submit mark was seen to fail (the mark
// committed after all, and nothing was sent); and records as timed out the
// attempts in flight that nobody holds and whose answer is not kept, once
// seen so for staleAfter (the ledger fails them over or fails them).
func (d *Driver) sweep(ctx context.Context, now time.Time) {
	stale := d.staleAfter()
	d.wakeResumer(stale)
	inFlight := d.ledger.Unfinished((*ledger.Work).InFlight, d.opts.RecoverMax)
	seenBefore := d.loose.takeInFlightSeen()
	seen := make(map[AttemptKey]time.Time, len(inFlight))
	anyUnsent := d.loose.anyUnsent()
	timedOut := 0
	for i := range inFlight {
		w := &inFlight[i]
		m := &w.Message
		k := AttemptKey{m.ID, m.Attempt}
		if anyUnsent && ctx.Err() == nil && d.loose.claimUnsent(k) {
			d.log.Info("sending an attempt whose submit mark committed although it was reported failed", "message", m.ID, "supplier", m.Supplier().SupplierID, "attempt", m.Attempt)
			d.send(ctx, *w, m)
			continue
		}
		first, ok := seenBefore[k]
		if !ok {
			first = now
		}
		seen[k] = first
		if now.Sub(first) < stale || ctx.Err() != nil || timedOut >= sweepTimeoutsMax || d.loose.settled(k) {
			continue
		}
		d.log.Warn("message in flight with nothing on its way and no answer to record; recording it as timed out", "message", m.ID, "supplier", m.Supplier().SupplierID, "attempt", m.Attempt)
		tr, err := d.ledger.SupplierTimedOut(ctx, m.ID, m.Supplier().SupplierID, m.Attempt, 0)
		d.after(ctx, m.ID, tr, err)
		delete(seen, k)
		timedOut++
	}
	d.loose.putInFlightSeen(seen)
	d.loose.forgetUnsent(now)
}
