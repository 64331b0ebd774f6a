package lifecycle

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
)

// loose is the driver's bookkeeping of what the log cannot tell yet: which
// attempts the supplier side holds, answers kept for another try, submit
// marks seen to fail, dispatches given up, and DLRs being or just
// forwarded. It is one state under one mutex, held only for map operations
// (never across a call to the ledger or a port). The log stays the truth:
// after a restart all of this starts empty and recovery rebuilds the work
// from the tracker.
type loose struct {
	mu sync.Mutex
	// handed: attempts the supplier side holds (noted before Enqueue: the
	// answer can come back before Enqueue returns). Bounded by what the
	// supplier side holds: its queues and windows, every attempt of which
	// it reports (or, when it stops one, hands back as refused).
	handed map[AttemptKey]struct{}
	// answers: supplier answers the store could not take, by message (at
	// most answersMax).
	answers map[uuid.UUID]keptAnswer
	// unsent: attempts whose submit mark their dispatcher saw fail (at most
	// answersMax).
	unsent map[AttemptKey]unsentAttempt
	// gaveUp: routed messages a dispatch worker gave up on, for the
	// resumer's next pass whatever their age (at most answersMax).
	gaveUp map[uuid.UUID]struct{}
	// inFlightSeen: when the sweep first saw each attempt in flight.
	inFlightSeen map[AttemptKey]time.Time
	// forwarding: DLRs a worker is forwarding now. forwarded: DLRs
	// delivered lately, until the tracker has applied their
	// DeliveryForwarded — two generations, each forwardedFor long, so that
	// forgetting is a swap, not a scan under the lock (at most
	// forwardedMax each).
	forwarding     map[uuid.UUID]struct{}
	forwarded      map[uuid.UUID]struct{}
	forwardedOld   map[uuid.UUID]struct{}
	forwardedSince time.Time // when forwarded became the current generation
}

// forwardedMax bounds the forwarded DLRs remembered (a minute at ~16,000
// DLRs/s). Past it one is not remembered: a pass may forward it again, at
// least once as always.
const forwardedMax = 1_000_000

// keptAnswer is a supplier answer the ledger could not record yet.
type keptAnswer struct {
	record func(ctx context.Context) (ledger.Transition, error)
	then   bool // continue the message afterwards (failover, tell the tenant)
	since  time.Time
	// forward: the answer is a DeliveryForwarded (the tenant has its DLR);
	// otherwise a supplier's answer.
	forward bool
}

// unsentAttempt is an attempt whose submit mark its dispatcher saw fail.
type unsentAttempt struct {
	since time.Time
	sent  bool // the sweep sent it (the mark had committed after all)
}

func newLoose() loose {
	return loose{
		handed: map[AttemptKey]struct{}{}, answers: map[uuid.UUID]keptAnswer{},
		unsent: map[AttemptKey]unsentAttempt{}, gaveUp: map[uuid.UUID]struct{}{},
		inFlightSeen: map[AttemptKey]time.Time{},
		forwarding:   map[uuid.UUID]struct{}{},
		forwarded:    map[uuid.UUID]struct{}{}, forwardedOld: map[uuid.UUID]struct{}{},
	}
}

// hand notes that the supplier side holds k.
func (l *loose) hand(k AttemptKey) {
	l.mu.Lock()
	l.handed[k] = struct{}{}
	l.mu.Unlock()
}

// handedBack notes that the supplier side gave k's outcome (or refused it).
func (l *loose) handedBack(k AttemptKey) {
	l.mu.Lock()
	delete(l.handed, k)
	l.mu.Unlock()
}

// settled reports whether k is accounted for: the supplier side holds it,
// or an answer for its message is kept for retry.
func (l *loose) settled(k AttemptKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, held := l.handed[k]
	_, kept := l.answers[k.MessageID]
	return held || kept
}

// keep keeps an answer for retry; false when answersMax are kept already.
func (l *loose) keep(id uuid.UUID, a keptAnswer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.answers) >= answersMax {
		return false
	}
	l.answers[id] = a
	return true
}

// keptAnswers returns a copy of the kept answers.
func (l *loose) keptAnswers() map[uuid.UUID]keptAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.answers) == 0 {
		return nil
	}
	out := make(map[uuid.UUID]keptAnswer, len(l.answers))
	for id, a := range l.answers {
		out[id] = a
	}
	return out
}

func (l *loose) dropAnswer(id uuid.UUID) {
	l.mu.Lock()
	delete(l.answers, id)
	l.mu.Unlock()
}

// noteUnsent remembers that k's submit mark failed, so nothing was sent.
func (l *loose) noteUnsent(k AttemptKey, now time.Time) {
	l.mu.Lock()
	if len(l.unsent) < answersMax {
		l.unsent[k] = unsentAttempt{since: now}
	}
	l.mu.Unlock()
}

// anyUnsent reports whether a submit mark was seen to fail (almost never:
// the sweep skips the per-message look then).
func (l *loose) anyUnsent() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.unsent) > 0
}

// markedToSend is asked by a dispatcher whose submit mark of k committed:
// it may send k unless the sweep already did. That happens when an
// earlier mark of k was reported failed (and had not committed): the sweep can
// see this dispatcher's mark in the log, and the earlier failure's note,
// before this dispatcher gets here.
func (l *loose) markedToSend(k AttemptKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u, ok := l.unsent[k]; ok && u.sent {
		return false
	}
	delete(l.unsent, k)
	return true
}

// claimUnsent claims k for the sweep to send: its mark was seen to fail,
// nobody sent it since, and the supplier side does not hold it.
func (l *loose) claimUnsent(k AttemptKey) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.unsent[k]
	_, held := l.handed[k]
	if !ok || u.sent || held {
		return false
	}
	u.sent = true
	l.unsent[k] = u
	return true
}

// forgetUnsent drops the failed marks older than answerRetryFor (their
// messages have moved on, or the sweep timed them out).
func (l *loose) forgetUnsent(now time.Time) {
	l.mu.Lock()
	for k, u := range l.unsent {
		if now.Sub(u.since) >= answerRetryFor {
			delete(l.unsent, k)
		}
	}
	l.mu.Unlock()
}

// giveUp hands a routed message a dispatch worker could not send to the
// resumer's next pass.
func (l *loose) giveUp(id uuid.UUID) {
	l.mu.Lock()
	if len(l.gaveUp) < answersMax {
		l.gaveUp[id] = struct{}{}
	}
	l.mu.Unlock()
}

// gaveUpAny reports whether a worker gave up on a message since the last
// takeGaveUp.
func (l *loose) gaveUpAny() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.gaveUp) > 0
}

// takeGaveUp empties the given-up set and returns what it held.
func (l *loose) takeGaveUp() map[uuid.UUID]struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.gaveUp
	l.gaveUp = make(map[uuid.UUID]struct{})
	return g
}

// startForward claims id's DLR for one forwarder: false while another
// forwards it, or when it was forwarded in the last forwardedFor.
func (l *loose) startForward(id uuid.UUID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, busy := l.forwarding[id]; busy {
		return false
	}
	if a, kept := l.answers[id]; kept && a.forward {
		return false // delivered; only its record is retried
	}
	if _, done := l.forwarded[id]; done {
		return false
	}
	if _, done := l.forwardedOld[id]; done {
		return false
	}
	l.forwarding[id] = struct{}{}
	return true
}

func (l *loose) endForward(id uuid.UUID) {
	l.mu.Lock()
	delete(l.forwarding, id)
	l.mu.Unlock()
}

// markForwarded remembers that id's DLR reached the tenant.
func (l *loose) markForwarded(id uuid.UUID) {
	l.mu.Lock()
	if len(l.forwarded) < forwardedMax {
		l.forwarded[id] = struct{}{}
	}
	l.mu.Unlock()
}

// forgetForwarded starts a new generation of forwarded DLRs once the
// current one is forwardedFor old; the generation before is dropped. A DLR
// is remembered between forwardedFor and twice that.
func (l *loose) forgetForwarded(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.forwardedSince.IsZero() {
		l.forwardedSince = now
	}
	if now.Sub(l.forwardedSince) < forwardedFor {
		return
	}
	l.forwardedOld, l.forwarded = l.forwarded, make(map[uuid.UUID]struct{})
	l.forwardedSince = now
}

// takeInFlightSeen hands the sweep what it saw in flight last time; the
// sweep puts its new view back with putInFlightSeen.
func (l *loose) takeInFlightSeen() map[AttemptKey]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.inFlightSeen
	l.inFlightSeen = nil
	return s
}

func (l *loose) putInFlightSeen(s map[AttemptKey]time.Time) {
	l.mu.Lock()
	l.inFlightSeen = s
	l.mu.Unlock()
}
