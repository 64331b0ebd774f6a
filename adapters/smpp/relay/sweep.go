package relay

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/message"
)

// Loose ends at runtime. While the event store is down or answers
// ambiguously (a batch that committed although its caller was told it did
// not), a message can fall between the cracks without a restart to recover
// it: a supplier's answer that could not be recorded leaves it in flight;
// a submit mark that committed unseen leaves it in flight with nothing
// sent; an accept that committed unseen leaves it routed with no dispatch.
// The relay keeps the answers it could not record and retries them, knows
// which messages egress holds and which submit marks it saw fail (an
// attempt the log shows in flight after its mark "failed" was never sent:
// the sweep sends it at once), and a periodic sweep finishes the rest.

const (
	// answersMax bounds the supplier answers kept for another try, and
	// the failed submit marks remembered.
	answersMax = 100_000
	// answerRetryFor is how long an unrecorded answer is retried; after
	// that it is dropped and the sweep treats its message as timed out.
	answerRetryFor = 10 * time.Minute
	// sweepPasses is how many retry passes go by between two sweeps.
	sweepPasses = 2
	// sweepTimeoutsMax bounds the attempts one sweep records as timed out:
	// the sweep runs in the relay's loop and must not hold it for long.
	sweepTimeoutsMax = 512
)

// staleAfter is how long a message may sit routed, or in flight with no
// submit on its way and no answer to record, before the sweep acts. Egress
// reports every attempt it holds within SubmitTimeout of writing it, and
// an attempt it does not hold is only between its submit mark and Enqueue
// for a moment, so one SubmitTimeout is ample.
func (r *Relay) staleAfter() time.Duration { return r.opts.SubmitTimeout }

// attemptKey is one attempt of a message at a supplier.
type attemptKey struct {
	id      uuid.UUID
	attempt int
}

// unsentAttempt is an attempt whose submit mark its dispatcher saw fail.
type unsentAttempt struct {
	since time.Time
	sent  bool // the sweep sent it (the mark had committed after all)
}

// noteUnsent remembers that k's submit mark failed, so nothing was sent.
func (r *Relay) noteUnsent(k attemptKey) {
	r.looseMu.Lock()
	if len(r.unsent) < answersMax {
		r.unsent[k] = unsentAttempt{since: time.Now()}
	}
	r.looseMu.Unlock()
}

// markedToSend is asked by a dispatcher whose submit mark of k committed:
// it may send k unless the sweep already did. That happens when an
// earlier mark of k was reported failed (and had not committed): the sweep
// can see this dispatcher's mark in the log, and the earlier failure's
// note, before this dispatcher gets here.
func (r *Relay) markedToSend(k attemptKey) bool {
	r.looseMu.Lock()
	defer r.looseMu.Unlock()
	if u, ok := r.unsent[k]; ok && u.sent {
		return false
	}
	delete(r.unsent, k)
	return true
}

// sendUnsent sends w's attempt if its submit mark was seen to fail: the log
// shows it in flight, so the mark committed after all, and nothing was
// sent. It claims the attempt first, so that no dispatcher sends it too.
func (r *Relay) sendUnsent(ctx context.Context, w *ledger.Work) bool {
	m := &w.Message
	k := attemptKey{m.ID, m.Attempt}
	r.looseMu.Lock()
	u, ok := r.unsent[k]
	_, held := r.handed[k]
	claim := ok && !u.sent && !held
	if claim {
		u.sent = true
		r.unsent[k] = u
	}
	r.looseMu.Unlock()
	if !claim {
		return false
	}
	r.log.Info("sending an attempt whose submit mark committed although it was reported failed", "message", m.ID, "supplier", m.Supplier().SupplierID, "attempt", m.Attempt)
	r.send(ctx, m.ID, *w, m)
	return true
}

// forgetUnsent drops the failed marks older than answerRetryFor (their
// messages have moved on, or the sweep timed them out).
func (r *Relay) forgetUnsent(now time.Time) {
	r.looseMu.Lock()
	for k, u := range r.unsent {
		if now.Sub(u.since) >= answerRetryFor {
			delete(r.unsent, k)
		}
	}
	r.looseMu.Unlock()
}

// keptAnswer is a supplier answer the ledger could not record yet.
type keptAnswer struct {
	record func(ctx context.Context) (ledger.Transition, error)
	then   bool // continue the message afterwards (failover, tell the tenant)
	since  time.Time
}

// hand notes that egress holds the attempt (before Enqueue: its answer
// can come back before Enqueue returns).
func (r *Relay) hand(k attemptKey) {
	r.looseMu.Lock()
	r.handed[k] = struct{}{}
	r.looseMu.Unlock()
}

// handedBack notes that egress gave the attempt's outcome (or refused it).
func (r *Relay) handedBack(k attemptKey) {
	r.looseMu.Lock()
	delete(r.handed, k)
	r.looseMu.Unlock()
}

// retryable: the answer was not recorded for a reason that may pass (the
// store), not because the ledger refused it (a late answer after a
// failover, an unknown message).
func retryable(err error) bool {
	return err != nil && !errors.Is(err, message.ErrIllegalTransition) && !errors.Is(err, ledger.ErrNotFound)
}

// recordAnswer records a supplier answer; one the store could not take is
// kept and retried by every pass.
func (r *Relay) recordAnswer(ctx context.Context, id uuid.UUID, then bool, record func(ctx context.Context) (ledger.Transition, error)) {
	tr, err := record(ctx)
	if retryable(err) {
		r.looseMu.Lock()
		kept := len(r.answers) < answersMax
		if kept {
			r.answers[id] = keptAnswer{record: record, then: then, since: time.Now()}
		}
		r.looseMu.Unlock()
		r.log.Warn("supplier answer not recorded", "message", id, "kept_for_retry", kept, "err", err)
		return
	}
	if then {
		r.after(ctx, id, tr, err)
	}
}

// retryAnswers tries the kept answers again.
func (r *Relay) retryAnswers(ctx context.Context) {
	r.looseMu.Lock()
	if len(r.answers) == 0 {
		r.looseMu.Unlock()
		return
	}
	batch := make(map[uuid.UUID]keptAnswer, len(r.answers))
	for id, a := range r.answers {
		batch[id] = a
	}
	r.looseMu.Unlock()
	recorded := 0
	for id, a := range batch {
		if ctx.Err() != nil {
			return
		}
		actx, cancel := detach(ctx)
		tr, err := a.record(actx)
		cancel()
		if retryable(err) && time.Since(a.since) < answerRetryFor {
			continue
		}
		r.looseMu.Lock()
		delete(r.answers, id)
		r.looseMu.Unlock()
		if retryable(err) {
			r.log.Error("supplier answer dropped after retrying; the sweep will treat the message as timed out", "message", id, "retried_for", answerRetryFor, "err", err)
			continue
		}
		recorded++
		if a.then {
			r.after(ctx, id, tr, err)
		}
	}
	if recorded > 0 {
		r.log.Info("recorded supplier answers kept for retry", "answers", recorded)
	}
}

// sweep finishes what fell between the cracks (see above): the resumer is
// woken for routed messages that missed their dispatch (resume.go);
// attempts in flight whose submit mark was seen to fail are sent; and
// attempts in flight that egress does not hold and whose answer is not
// kept, seen so for staleAfter, are recorded as timed out (the ledger
// fails them over or fails them).
func (r *Relay) sweep(ctx context.Context, now time.Time) {
	stale := r.staleAfter()
	r.wakeResumer(stale)
	inFlight := r.svc.Unfinished((*ledger.Work).InFlight, r.opts.RecoverMax)
	seen := make(map[attemptKey]time.Time, len(inFlight))
	r.looseMu.Lock()
	anyUnsent := len(r.unsent) > 0 // almost always none: skip the lock per message
	r.looseMu.Unlock()
	timedOut := 0
	for i := range inFlight {
		w := &inFlight[i]
		m := &w.Message
		k := attemptKey{m.ID, m.Attempt}
		if anyUnsent && ctx.Err() == nil && r.sendUnsent(ctx, w) {
			continue
		}
		first, ok := r.inFlightSeen[k]
		if !ok {
			first = now
		}
		seen[k] = first
		if now.Sub(first) < stale || ctx.Err() != nil || timedOut >= sweepTimeoutsMax {
			continue
		}
		r.looseMu.Lock()
		_, held := r.handed[k]
		_, kept := r.answers[k.id]
		r.looseMu.Unlock()
		if held || kept {
			continue
		}
		r.log.Warn("message in flight with nothing on its way and no answer to record; recording it as timed out", "message", m.ID, "supplier", m.Supplier().SupplierID, "attempt", m.Attempt)
		tr, err := r.svc.SupplierTimedOut(ctx, m.ID, m.Supplier().SupplierID, m.Attempt, 0)
		r.after(ctx, m.ID, tr, err)
		delete(seen, k)
		timedOut++
	}
	r.inFlightSeen = seen
	r.forgetUnsent(now)
}
