package relay

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
)

// Resuming stuck messages. A routed message normally reaches a dispatch
// worker through the ledger's outbox. It can miss it: the outbox was full
// (a burst beyond what the suppliers take: the ledger drops the id and
// counts it), a worker gave up on it (the store refused its submit mark;
// those are taken at the next pass whatever their age), or its accept
// committed although Submit was told otherwise. The message
// is still in the ledger's unfinished set, and the resumer finds it there.
//
// The resumer runs on its own goroutine and feeds its own dispatch workers
// (redoWorkers), oldest message first, so that a backlog of dropped
// dispatches drains at the workers' pace. (It used to dispatch in
// the relay's loop, one message after another: after a burst of 100,000
// messages, 12,000 whose ids the full outbox had dropped took a minute,
// and held the loop's other duties meanwhile.)

const (
	// redoQueueMax bounds the stuck messages queued for the workers; the
	// resumer waits while it is full.
	redoQueueMax = 4096
	// redoWorkers dispatch the stuck messages (the outbox has its own,
	// Options.Workers).
	redoWorkers = 16
	// droppedAfter is how old a routed message must be before the resumer
	// takes it as stuck once the outbox dropped some: a younger one is most
	// likely still in the outbox. Taking one that is not stuck is harmless
	// (the ledger refuses its second submit mark) but wasted work; the
	// sweep, which looks for lost ones without a sign, waits staleAfter.
	droppedAfter = 2 * time.Second
)

// giveUp hands a routed message a dispatch worker could not send to the
// resumer's next pass (woken by the relay's next retry pass).
func (r *Relay) giveUp(id uuid.UUID) {
	r.looseMu.Lock()
	if len(r.gaveUp) < answersMax {
		r.gaveUp[id] = struct{}{}
	}
	r.looseMu.Unlock()
}

// gaveUpAny reports whether a dispatch worker gave up on a message since
// the resumer's last pass.
func (r *Relay) gaveUpAny() bool {
	r.looseMu.Lock()
	defer r.looseMu.Unlock()
	return len(r.gaveUp) > 0
}

// wakeResumer asks the resumer for a pass over routed messages older than
// age (wakes while it is busy make one pass, with the smallest age).
func (r *Relay) wakeResumer(age time.Duration) {
	for {
		cur := r.resumeAge.Load()
		if int64(age) >= cur || r.resumeAge.CompareAndSwap(cur, int64(age)) {
			break
		}
	}
	select {
	case r.resumeNow <- struct{}{}:
	default:
	}
}

// resumeLoop makes a resumer pass each time it is woken, and another right
// away while a pass found as many messages as it may take.
func (r *Relay) resumeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.resumeNow:
		}
		age := time.Duration(r.resumeAge.Swap(math.MaxInt64))
		if r.resumeStuck(ctx, time.Now().Add(-age), r.opts.RecoverMax) >= r.opts.RecoverMax {
			r.wakeResumer(age)
		}
	}
}

// resumeStuck hands up to limit routed messages accepted before cutoff to
// the redo workers, oldest first, and completes interrupted failovers
// itself. It returns how many it took, once they are all handed over (or
// ctx ends). The redo workers must be running.
func (r *Relay) resumeStuck(ctx context.Context, cutoff time.Time, limit int) int {
	// The messages workers gave up on are taken whatever their age (one
	// given up a moment after its accept would otherwise wait for the
	// sweep's staleAfter); one given up again comes back for the next pass.
	r.looseMu.Lock()
	gaveUp := r.gaveUp
	r.gaveUp = make(map[uuid.UUID]struct{})
	r.looseMu.Unlock()
	stuck := r.svc.Unfinished(func(w *ledger.Work) bool {
		if !w.NeedsDispatch() && !w.NeedsFailover() {
			return false
		}
		_, given := gaveUp[w.Message.ID]
		return given || w.AcceptedAt.Before(cutoff)
	}, limit)
	slices.SortFunc(stuck, func(a, b ledger.Work) int { return a.AcceptedAt.Compare(b.AcceptedAt) })
	for i := range stuck {
		id := stuck[i].Message.ID
		if stuck[i].NeedsFailover() {
			tr, err := r.svc.Failover(ctx, id, "recovered after restart")
			r.after(ctx, id, tr, err)
			continue
		}
		select {
		case r.redo <- id:
		case <-ctx.Done():
			return i
		}
	}
	return len(stuck)
}
