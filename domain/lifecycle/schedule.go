package lifecycle

import (
	"context"
	"time"
)

// Scheduled delivery. A message accepted with a send_at in the future is
// held at once but routed into the state "scheduled" and not put on the
// outbox. The ledger's tracker keeps scheduled messages in a heap by send
// time (ledger.Service.SendDue): no goroutine, timer or query per message,
// memory bounded by the tracker's, rebuilt from the log after a restart.
// On each pass (Options.RetryEvery) the scheduler hands those whose time
// has come to the redo workers, which dispatch them like any routed
// message; the domain refuses a submit before send_at (message.ErrTooEarly),
// so a lagging copy cannot send one early. A scheduled message whose
// validity runs out first expires, never sent.

// scheduleMaxPerPass bounds the scheduled messages one pass hands over;
// more due at once wait for the next pass.
const scheduleMaxPerPass = 10_000

// wakeScheduler asks the scheduler for a pass (wakes while it is busy are
// one pass).
func (d *Driver) wakeScheduler() {
	select {
	case d.scheduleNow <- struct{}{}:
	default:
	}
}

// scheduleLoop makes a scheduler pass each time it is woken, until ctx
// ends.
func (d *Driver) scheduleLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.scheduleNow:
		}
		d.sendScheduled(ctx, d.now())
	}
}

// sendScheduled hands the scheduled messages due at now to the redo
// workers, earliest first as the index gives them, and returns how many it
// handed over (fewer when ctx ends). One still queued from the previous
// pass may be handed again; its second dispatch finds it submitted and does
// nothing.
func (d *Driver) sendScheduled(ctx context.Context, now time.Time) int {
	due := d.ledger.SendDue(now, scheduleMaxPerPass)
	for i, id := range due {
		if d.stopping.Load() {
			return i
		}
		select {
		case d.redo <- id:
		case <-ctx.Done():
			return i
		}
	}
	if len(due) > 0 {
		d.log.Debug("scheduled messages due", "count", len(due))
	}
	return len(due)
}
