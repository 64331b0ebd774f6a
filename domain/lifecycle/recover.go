package lifecycle

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/smsledger/smsledger/domain/ledger"
)

// Recovery and the resumer.
//
// After a restart the tracker, rebuilt from the log, holds every
// unfinished message. recover resumes them: a submit whose answer was lost
// with the process is treated as timed out (the domain fails over or fails
// it and releases the hold, so nothing is charged twice and nothing is
// silently resent to the same supplier); routed messages are dispatched;
// pending DLRs are forwarded.
//
// At runtime a routed message can miss its dispatch: the outbox was full
// (the ledger drops the id and counts it), a worker gave up on it (the
// store refused its submit mark; those are taken at the next pass whatever
// their age), or its accept committed although Submit was told otherwise.
// It is still in the tracker, and the resumer finds it there. The resumer
// runs on its own goroutine and feeds its own redo workers, oldest message
// first, so that a backlog of dropped dispatches drains at the workers'
// pace.

// inFlightAtStart lists the attempts in flight when the driver starts:
// sent by an earlier process, whose answers were lost with it.
func (d *Driver) inFlightAtStart() []ledger.Work {
	return d.ledger.Unfinished((*ledger.Work).InFlight, d.opts.RecoverMax)
}

// recover resumes what the log says is unfinished (see above); inFlight
// is inFlightAtStart, taken before this driver dispatched anything.
func (d *Driver) recover(ctx context.Context, inFlight []ledger.Work) {
	for _, w := range inFlight {
		m := &w.Message
		tr, err := d.ledger.SupplierTimedOut(ctx, m.ID, m.Supplier().SupplierID, m.Attempt, 0)
		d.after(ctx, m.ID, tr, err)
	}
	// At start nothing is in the outbox yet: every routed message is
	// stuck, however recent.
	stuck := d.resumeStuck(ctx, d.now(), d.opts.RecoverMax)
	if len(inFlight)+stuck > 0 {
		d.log.Info("resumed unfinished messages from the log", "in_flight_failed_over", len(inFlight), "resumed", stuck)
	}
	d.forwardPending(ctx)
}

// wakeResumer asks the resumer for a pass over routed messages older than
// age (wakes while it is busy make one pass, with the smallest age).
func (d *Driver) wakeResumer(age time.Duration) {
	for {
		cur := d.resumeAge.Load()
		if int64(age) >= cur || d.resumeAge.CompareAndSwap(cur, int64(age)) {
			break
		}
	}
	select {
	case d.resumeNow <- struct{}{}:
	default:
	}
}

// resumeLoop makes a resumer pass each time it is woken, and another right
// away while a pass found as many messages as it may take.
func (d *Driver) resumeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.resumeNow:
		}
		age := time.Duration(d.resumeAge.Swap(math.MaxInt64))
		if d.resumeStuck(ctx, d.now().Add(-age), d.opts.RecoverMax) >= d.opts.RecoverMax {
			d.wakeResumer(age)
		}
	}
}

// resumeStuck hands up to limit routed messages accepted before cutoff (or
// given up by a worker, whatever their age) to the redo workers, oldest
// first. It returns how many it took, once they are all handed over (or ctx
// ends). The redo workers must be running.
//
// A message the tracker shows as submit_failed is not stuck: a supplier's
// failure and its consequence (failover or failure) are appended together,
// so that state is only the tracker between applying the two. (The relay
// used to "complete the failover" of such a message, which, decided again
// on the stream, skipped the candidate it had just failed over to.)
func (d *Driver) resumeStuck(ctx context.Context, cutoff time.Time, limit int) int {
	gaveUp := d.loose.takeGaveUp()
	stuck := d.ledger.Unfinished(func(w *ledger.Work) bool {
		if !w.NeedsDispatch() {
			return false
		}
		_, given := gaveUp[w.Message.ID]
		return given || w.AcceptedAt.Before(cutoff)
	}, limit)
	slices.SortFunc(stuck, func(a, b ledger.Work) int { return a.AcceptedAt.Compare(b.AcceptedAt) })
	for i := range stuck {
		select {
		case d.redo <- stuck[i].Message.ID:
		case <-ctx.Done():
			return i
		}
	}
	return len(stuck)
}
