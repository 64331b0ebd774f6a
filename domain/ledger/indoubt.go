package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
)

// Submits whose outcome is in doubt.
//
// A failed accept append does not say whether the events were written: a
// connection lost at COMMIT leaves them durable although the caller got an
// error. Releasing the hold then would let the tenant spend the same funds
// again while the message, routed in the log, is sent and charged. So
// after a failed append Submit reads the message's stream: found, the
// submit succeeded after all (answered as accepted); not found, it was not
// written (refused, hold released). When the read fails too, the outcome
// is unknown: the submit is answered ErrNotDurable, but the hold stays, and
// the message is kept here until a later read settles it — found, the log
// and the follower own it and it is sent; not found, the hold is released.

const (
	// inDoubtMax bounds the submits kept in doubt; while it is full, new
	// submits are refused before anything is held (the store is failing).
	inDoubtMax = 100_000
	// outcomeReadTimeout bounds one read that learns a submit's outcome.
	outcomeReadTimeout = 2 * time.Second
	// appendTimeout bounds an accept append, which the caller's context
	// does not cancel (its outcome must be learned either way).
	appendTimeout = 30 * time.Second
)

// inDoubtSubmit is what releasing a doubtful submit's hold needs.
type inDoubtSubmit struct {
	tenant   accept.Tenant
	decision accept.Decision
	first    uuid.UUID // the id of its first event
	idem     *idemKey  // the submit's idempotency key, reserved until the outcome is known
}

type inDoubt struct {
	mu sync.Mutex
	m  map[uuid.UUID]inDoubtSubmit
	n  atomic.Int64 // len(m), for Submit's check without the lock
}

// full is Submit's check on every call: an atomic load, not the lock.
func (d *inDoubt) full() bool { return d.n.Load() >= inDoubtMax }

// InDoubt is the number of submits whose outcome is not known yet.
func (s *Service) InDoubt() int { return int(s.doubt.n.Load()) }

// outcome learns whether the accept events of message id, the first with
// event id first, were written after their append failed: true (written),
// false (not written, or the stream is another submit's: a keyed message's
// id is the same on every node), or an error (unknown).
func (s *Service) outcome(ctx context.Context, id, first uuid.UUID, appendErr error) (bool, error) {
	if errors.Is(appendErr, eventstore.ErrWrongExpectedVersion) {
		// The stream exists with other events (a repeat of the same events
		// is not an error: the store answers it with the original result):
		// ours were not written.
		return false, nil
	}
	rec, err := s.firstEventOf(ctx, id)
	switch {
	case errors.Is(err, eventstore.ErrStreamNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return rec.ID == first, nil
}

// firstEventOf reads the first event of message id's stream, bounded by
// outcomeReadTimeout whatever ctx (a submit's outcome must be learned even
// when its caller has gone); a stream with none is ErrStreamNotFound.
func (s *Service) firstEventOf(ctx context.Context, id uuid.UUID) (eventstore.RecordedEvent, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeReadTimeout)
	defer cancel()
	recs, err := s.store.ReadStream(rctx, events.MessageStream(id), 0, 1)
	if err == nil && len(recs) == 0 {
		err = eventstore.ErrStreamNotFound
	}
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("read back message %s: %w", id, err)
	}
	return recs[0], nil
}

// keepInDoubt keeps a submit whose outcome is unknown, with its hold.
func (s *Service) keepInDoubt(id, first uuid.UUID, t *accept.Tenant, d *accept.Decision, idem *idemKey) {
	s.doubt.mu.Lock()
	defer s.doubt.mu.Unlock()
	if s.doubt.m == nil {
		s.doubt.m = make(map[uuid.UUID]inDoubtSubmit)
	}
	s.doubt.m[id] = inDoubtSubmit{tenant: *t, decision: *d, first: first, idem: idem}
	s.doubt.n.Store(int64(len(s.doubt.m)))
}

// resolveInDoubt reads the stream of every submit in doubt: written, it is
// the log's (the follower holds it) and dispatched; not written, its hold
// is released; the read failing, it stays in doubt for the next pass.
func (s *Service) resolveInDoubt(ctx context.Context) {
	if s.doubt.n.Load() == 0 {
		return // the usual case: nothing to read
	}
	s.doubt.mu.Lock()
	firsts := make(map[uuid.UUID]uuid.UUID, len(s.doubt.m)) // message → its first event's id
	for id, sub := range s.doubt.m {
		firsts[id] = sub.first
	}
	s.doubt.mu.Unlock()
	for id, first := range firsts {
		if ctx.Err() != nil {
			return
		}
		written, err := s.outcome(ctx, id, first, nil)
		if err != nil {
			continue
		}
		s.doubt.mu.Lock()
		sub, ok := s.doubt.m[id]
		delete(s.doubt.m, id)
		s.doubt.n.Store(int64(len(s.doubt.m)))
		s.doubt.mu.Unlock()
		if !ok {
			continue
		}
		if written {
			// The log keeps it, and the follower indexes its idempotency
			// key. It is sent now, as Submit sends one it finds written
			// after a failed append: left to the resumer's stuck pass it
			// went ~10 s later (the postgres-restart scenario), its DLR
			// after its customer may have gone. A scheduled one is left to
			// the scheduler by the dispatch itself.
			s.log.Info("ledger: a submit answered as not durable was written after all; the log keeps it and it is sent", "message", id)
			s.dispatch(id)
			continue
		}
		if sub.idem != nil {
			s.idem.forget(*sub.idem)
		}
		if err := s.undo(&sub.tenant, &sub.decision, id, errors.New("not in the log")); err != nil {
			s.log.Info("ledger: a submit in doubt was not written; hold released", "message", id)
		}
	}
}

// resolveLoop resolves submits in doubt every InDoubtRetry until ctx ends.
func (s *Service) resolveLoop(ctx context.Context) {
	tick := time.NewTicker(s.opts.InDoubtRetry)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.resolveInDoubt(ctx)
		}
	}
}
