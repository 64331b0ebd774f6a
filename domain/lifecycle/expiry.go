package lifecycle

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
)

// Expiry. Every message ends: one with no final outcome by its expires_at
// (plus the DLR grace once a supplier accepted it) is expired — its hold
// released (an on_submit settlement stands), its DLR (stat EXPIRED)
// forwarded when the tenant asked for one, the tracker and the DLR index
// rid of it — and never sent afterwards: submit checks before every
// attempt, failovers included.
//
// The ledger's tracker keeps its unfinished messages in a heap by due time
// (ledger.Service.ExpiryDue): no goroutine, timer or query per message,
// memory bounded by the tracker's. Each pass expires what is due, at most
// expireMaxPerPass; a message whose expiry cannot be recorded (the store)
// stays due for the next pass. The expiry's events have ids derived from
// the message id, so that a replay or a second process agrees on them.

// expireMaxPerPass bounds the expiries one pass records.
const expireMaxPerPass = 10_000

// expired reports whether w is past its validity: no attempt may start.
func (d *Driver) expired(w *ledger.Work) bool {
	return !w.ExpiresAt.IsZero() && !d.now().Before(w.ExpiresAt)
}

// expireDue expires the messages due at now.
func (d *Driver) expireDue(ctx context.Context, now time.Time) {
	expired := 0
	for _, id := range d.ledger.ExpiryDue(now, expireMaxPerPass) {
		if ctx.Err() != nil {
			return
		}
		if d.expire(ctx, id) {
			expired++
		}
	}
	if expired > 0 {
		d.log.Info("messages expired", "count", expired)
	}
}

// expire records that message id ran out of validity and queues its DLR;
// it reports whether the message is now expired.
func (d *Driver) expire(ctx context.Context, id uuid.UUID) bool {
	tr, err := d.ledger.Expire(ctx, id)
	if err != nil {
		d.log.Warn("expiry not recorded; the next pass tries again", "message", id, "err", err)
		return false
	}
	if tr.Message == nil || !tr.Message.State.Terminal() || len(tr.Events) == 0 {
		return false // finished meanwhile
	}
	d.queueForward(id)
	return true
}
