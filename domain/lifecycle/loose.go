package lifecycle

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
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

// forwardLanes holds the final DLRs waiting to go to their tenants, a lane
// (FIFO) per tenant, and starts their deliveries fairly: tenants take turns
// (a ring of the tenants with a DLR waiting and room to send it), each with
// at most forwardPerTenant deliveries running (forwardPerSlowTenant while
// it is slow), all together at most forwardWorkers. A tenant whose receiver
// never answers thus holds at most forwardPerTenant of forwardWorkers, and
// only until its first deliveries time out; the others' DLRs keep flowing.
// Every delivery runs on a goroutine of its own, started here and counted
// in running. The log stays the truth: a DLR not taken (a full lane) stays
// pending and a pass hands it over again.
type forwardLanes struct {
	forward func(ctx context.Context, id uuid.UUID) forwardResult
	now     func() time.Time

	mu      sync.Mutex
	lanes   map[string]*forwardLane
	ring    []string // tenants in turn; a tenant is in it at most once
	queued  int      // DLRs waiting in all lanes (at most forwardQueueMax)
	running int      // deliveries running (at most forwardWorkers)
	wg      sync.WaitGroup
	// failures counts the failed deliveries per tenant since its last
	// report (at most forwardFailTenantsMax tenants; others are counted in
	// failuresElsewhere).
	failures          map[string]*forwardFailures
	failuresElsewhere int
}

// forwardLane is one tenant's DLRs.
type forwardLane struct {
	queue   []forwardItem          // waiting, oldest first (at most forwardLaneMax)
	has     map[uuid.UUID]struct{} // waiting or running: not taken twice
	started map[uuid.UUID]time.Time
	inRing  bool
	slow    bool // the last delivery failed or took forwardSlowAfter or more
}

// forwardItem is one DLR in a lane, with the context it runs under and the
// batch (a pass) waiting for it, if any.
type forwardItem struct {
	ctx   context.Context
	id    uuid.UUID
	batch *forwardBatch
}

// forwardFailures is one tenant's failed deliveries since its last report.
type forwardFailures struct {
	n          int
	last       error
	reportedAt time.Time
}

func newForwardLanes(forward func(context.Context, uuid.UUID) forwardResult, now func() time.Time) *forwardLanes {
	return &forwardLanes{forward: forward, now: now, lanes: map[string]*forwardLane{}, failures: map[string]*forwardFailures{}}
}

// push puts id in tenant's lane; false when it is there already, or the
// lane or all lanes together are full (it stays pending in the log).
func (f *forwardLanes) push(ctx context.Context, tenant string, id uuid.UUID, b *forwardBatch) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.lanes[tenant]
	if l == nil {
		l = &forwardLane{has: map[uuid.UUID]struct{}{}, started: map[uuid.UUID]time.Time{}}
		f.lanes[tenant] = l
	}
	if _, there := l.has[id]; there || len(l.queue) >= forwardLaneMax || f.queued >= forwardQueueMax {
		f.dropIdle(tenant, l)
		return false
	}
	if b != nil {
		b.add()
	}
	l.has[id] = struct{}{}
	l.queue = append(l.queue, forwardItem{ctx: ctx, id: id, batch: b})
	f.queued++
	f.turn(tenant, l)
	f.start()
	return true
}

// limit is how many deliveries tenant's lane may run now. f.mu is held.
func (l *forwardLane) limit(now time.Time) int {
	if l.slow {
		return forwardPerSlowTenant
	}
	for _, since := range l.started {
		if now.Sub(since) >= forwardSlowAfter {
			return forwardPerSlowTenant
		}
	}
	return forwardPerTenant
}

// turn puts the tenant in the ring if it has a DLR waiting and is not in
// it. (Whether it has room is decided when its turn comes.) f.mu is held.
func (f *forwardLanes) turn(tenant string, l *forwardLane) {
	if !l.inRing && len(l.queue) > 0 {
		l.inRing = true
		f.ring = append(f.ring, tenant)
	}
}

// start starts deliveries while there is room, one per tenant per turn.
// A tenant at its own limit leaves the ring until one of its deliveries
// ends. f.mu is held.
func (f *forwardLanes) start() {
	now := f.now()
	for f.running < forwardWorkers && len(f.ring) > 0 {
		tenant := f.ring[0]
		f.ring[0] = ""
		f.ring = f.ring[1:]
		l := f.lanes[tenant]
		l.inRing = false
		if len(l.queue) == 0 || len(l.started) >= l.limit(now) {
			continue
		}
		it := l.queue[0]
		l.queue[0] = forwardItem{}
		l.queue = l.queue[1:]
		f.queued--
		l.started[it.id] = now
		f.running++
		f.turn(tenant, l)
		f.wg.Add(1)
		go f.run(tenant, it)
	}
}

// run delivers one DLR and hands its lane's turn on.
func (f *forwardLanes) run(tenant string, it forwardItem) {
	defer f.wg.Done()
	res := forwardSkipped
	if it.ctx.Err() == nil {
		res = f.forward(it.ctx, it.id)
	}
	f.mu.Lock()
	l := f.lanes[tenant]
	took := f.now().Sub(l.started[it.id])
	delete(l.started, it.id)
	delete(l.has, it.id)
	f.running--
	switch res {
	case forwardFailed:
		l.slow = true
	case forwardSent:
		l.slow = took >= forwardSlowAfter
	}
	f.turn(tenant, l)
	f.dropIdle(tenant, l)
	f.start()
	f.mu.Unlock()
	if it.batch != nil {
		it.batch.finish()
	}
}

// dropIdle forgets a lane with nothing waiting or running that is not
// slow (a slow one is remembered, so that its next DLRs start at the slow
// tenant's limit). f.mu is held.
func (f *forwardLanes) dropIdle(tenant string, l *forwardLane) {
	if len(l.queue) == 0 && len(l.started) == 0 && !l.slow {
		delete(f.lanes, tenant)
	}
}

// wait waits for the deliveries running to end.
func (f *forwardLanes) wait() { f.wg.Wait() }

// failed counts a failed delivery of tenant's.
func (f *forwardLanes) failed(tenant string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.failures[tenant]
	if c == nil {
		if len(f.failures) >= forwardFailTenantsMax {
			f.failuresElsewhere++
			return
		}
		c = &forwardFailures{}
		f.failures[tenant] = c
	}
	c.n++
	c.last = err
}

// report logs, for each tenant whose deliveries failed and not reported
// in the last forwardFailLogEvery, one line with their number and the last
// error, and forgets the tenants with nothing to report.
func (f *forwardLanes) report(now time.Time, log *slog.Logger) {
	type line struct {
		tenant string
		n      int
		last   error
	}
	var lines []line
	f.mu.Lock()
	for tenant, c := range f.failures {
		if now.Sub(c.reportedAt) < forwardFailLogEvery {
			continue
		}
		if c.n == 0 {
			delete(f.failures, tenant)
			continue
		}
		lines = append(lines, line{tenant, c.n, c.last})
		c.n, c.last, c.reportedAt = 0, nil, now
	}
	elsewhere := f.failuresElsewhere
	f.failuresElsewhere = 0
	f.mu.Unlock()
	for _, l := range lines {
		log.Warn("DLRs to tenant not delivered; will retry", "tenant", l.tenant, "failures", l.n, "within", forwardFailLogEvery, "last_err", l.last)
	}
	if elsewhere > 0 {
		log.Warn("DLRs to more tenants not delivered; will retry", "failures", elsewhere, "tenants_over", forwardFailTenantsMax)
	}
}

// forwardBatch lets a pass wait for the DLRs it handed over. It starts
// with one count, the hander's own, released once all are handed over.
type forwardBatch struct {
	left atomic.Int64
	done chan struct{}
}

func newForwardBatch() *forwardBatch {
	b := &forwardBatch{done: make(chan struct{})}
	b.left.Store(1)
	return b
}

func (b *forwardBatch) add() { b.left.Add(1) }

func (b *forwardBatch) finish() {
	if b.left.Add(-1) == 0 {
		close(b.done)
	}
}
