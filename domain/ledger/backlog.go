package ledger

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/routing"
)

// Backpressure (issue 18 item 2): the accept side must not run unboundedly
// ahead of the lifecycle behind it. The backlog is the work this node owes
// and has not done:
//
//   - dispatch: accepted messages not yet answered by a supplier — routed
//     (waiting for a dispatch worker), submitted (in the egress queue or in
//     the bind's window, waiting for submit_sm_resp) or submit_failed
//     (waiting for the failover). Scheduled messages are not counted until
//     they are dispatched: their wait is the tenant's wish. Messages a
//     supplier accepted and whose DLR has not come are not counted either:
//     that wait is the supplier's;
//   - DLR intake: supplier DLRs received and not yet recorded (the calls of
//     DLRIntakeStarted/Ended around the recording, at most the egress's
//     pool of recorders a supplier);
//   - DLR forward: final DLRs due to a tenant that can take them now (a
//     receiver bind or a webhook, as the lifecycle last found: ReceiverReady),
//     at most a quarter of the bound a tenant. The DLRs kept for a tenant that
//     cannot take them are durable in the log and not the node's backlog, or
//     one offline tenant would throttle everyone; the cap keeps one slow
//     receiver from doing the same, and a tenant whose DLRs due alone reach
//     the bound is refused itself (forwardFull).
//
// Every count is kept where the message's state changes (the tracker, under
// its lock), so Submit's check is a few atomic loads: no scan.
//
// Refusals (ErrBacklog, an ErrThrottled: ESME_RTHROTTLED / 429) by tier,
// with B = Options.BacklogMax and the tier's lines:
//
//	tier      fair from   all refused from
//	economy      50 %B        75 %B
//	standard     75 %B       100 %B
//	premium      90 %B       100 %B
//
// From its fair line on, a tenant is refused while its own share of the
// backlog is at least the equal share of its tier (the tier's backlog over
// the tier's tenants holding some): a tenant flooding is refused, a tenant
// sending little still gets its messages in (a flood cannot starve it), and
// tenants with equal shares are refused alike. From the hard line every
// tenant of the tier is refused; so economy is out before standard is
// touched, and premium is refused last. Premium's fair line sits below the
// bound so that the last tenth is kept for the premium tenants holding less
// than their tier's share.
//
// No hysteresis: each submit is decided on the backlog as it is. The backlog
// is already the integral of accepts minus completions, so it moves smoothly;
// a refusal band held open after the backlog fell would only refuse work the
// node could take. An ESME retries a throttled submit (ESME_RTHROTTLED
// asks it to slow down), HTTP clients get Retry-After: 1.

// BacklogMaxDefault is the default Options.BacklogMax: 5,000 messages are
// ~2.5 s of work at the ~2,000 msg/s the 2-core box sustains today (0.5 s
// at 10,000). It holds a normal second's lifecycle work at those rates
// (accepts × the time until the supplier answered and the DLR is out: a
// few hundred to ~2,000 messages) with room for bursts. Measured: with
// 20,000, ten minutes offered at 2,000 msg/s on that box (above its
// capacity) kept the DLR delay bounded, but at a p99 of 7.6 s.
const BacklogMaxDefault = 5_000

// backlogForwardShare: a tenant's DLRs due count at most bound/4 toward
// the backlog.
const backlogForwardShare = 4

// Tier lines in percent of the bound, indexed by routing.Tier.
var (
	backlogFairPct = [...]int64{routing.Standard: 75, routing.Premium: 90, routing.Economy: 50}
	backlogHardPct = [...]int64{routing.Standard: 100, routing.Premium: 100, routing.Economy: 75}
)

const tierCount = len(backlogFairPct)

// ErrBacklog refuses a submit because the lifecycle is behind (the backlog
// is over the tenant's line). It is an ErrThrottled.
var ErrBacklog = fmt.Errorf("%w: the lifecycle is behind the accepts", ErrThrottled)

// backlogKind is what a tracked message adds to the backlog.
type backlogKind uint8

const (
	backlogNone     backlogKind = iota
	backlogDispatch             // waiting for a supplier's answer to its submit
	backlogForward              // final, its DLR due to the tenant
)

// backlogKindOf classifies a message as the tracker holds it.
func backlogKindOf(m *message.Message) backlogKind {
	switch m.State {
	case message.StateAccepted:
		// Between MessageAccepted and RouteSelected of one append: it
		// becomes routed, or scheduled (not counted).
		if m.SendAt.IsZero() {
			return backlogDispatch
		}
	case message.StateRouted, message.StateSubmitted, message.StateSubmitFailed:
		return backlogDispatch
	}
	if m.ReceiptDue() {
		return backlogForward
	}
	return backlogNone
}

// tenantBacklog is one tenant's part of the backlog. Every field but share
// and receiving's mirror is written and read under the tracker's lock.
type tenantBacklog struct {
	id         string
	tier       atomic.Uint32 // the routing.Tier its share is counted under (written under the lock)
	dispatch   int64         // its messages of kind backlogDispatch
	forwardDue int64         // its messages of kind backlogForward, receiving or not
	forwarding int64         // what forwardDue adds to the backlog now
	receiving  atomic.Bool   // the lifecycle found a channel for its DLRs
	share      atomic.Int64  // dispatch + forwarding: read by Submit without the lock
	// forwardFull: receiving, and its DLRs due alone reach the whole
	// bound — its DLRs are not forwarded as fast as it submits, so it is
	// refused whatever the total (the cap of a quarter keeps it from
	// filling the bound for the others; this keeps its own DLR delay
	// bounded, and lets a single busy tenant run at the node's rate: a
	// quarter of 5,000 throttled one tenant at 2,000 msg/s with the DLR
	// delay well within bounds).
	forwardFull atomic.Bool
}

// backlog holds the counters. Writes of the tracked counts happen under the
// tracker's lock; Submit reads them without it (a decision on counts a
// moment old is fine: the bound is a level, not an exact fence).
type backlog struct {
	max        int64
	forwardCap int64
	fair, hard [tierCount]int64

	tracked  atomic.Int64 // Σ share over tenants
	full     atomic.Int64 // tenants with forwardFull
	dispatch atomic.Int64 // Σ dispatch
	forward  atomic.Int64 // Σ forwarding
	intake   atomic.Int64 // supplier DLRs being recorded
	tiers    [tierCount]struct {
		total   atomic.Int64 // Σ share of the tier's tenants
		holders atomic.Int64 // its tenants with share > 0
	}
	tenants sync.Map // tenant id → *tenantBacklog; never removed (bounded by the tenants configured)

	throttled   [tierCount]atomic.Uint64 // refusals for backlog, by tier
	lastLogNano atomic.Int64             // the last refusal logged (at most one line per backlogLogEvery)
}

// backlogLogEvery bounds the refusal log lines to one per interval.
const backlogLogEvery = 10 * time.Second

func newBacklog(bound int) *backlog {
	if bound <= 0 {
		panic(fmt.Sprintf("ledger: backlog bound %d", bound))
	}
	b := &backlog{max: int64(bound), forwardCap: max(int64(bound)/backlogForwardShare, 1)}
	for t := range tierCount {
		b.fair[t] = b.max * backlogFairPct[t] / 100
		b.hard[t] = b.max * backlogHardPct[t] / 100
	}
	return b
}

// total is the backlog now.
func (b *backlog) total() int64 { return b.tracked.Load() + b.intake.Load() }

// lookup returns the tenant's counters, nil if it never held any.
func (b *backlog) lookup(id string) *tenantBacklog {
	if v, ok := b.tenants.Load(id); ok {
		return v.(*tenantBacklog)
	}
	return nil
}

// tenantLocked returns the tenant's counters, made on first use under the
// tracker's lock, filed under tier.
func (b *backlog) tenantLocked(id string, tier routing.Tier) *tenantBacklog {
	if tb := b.lookup(id); tb != nil {
		return tb
	}
	tb := &tenantBacklog{id: id}
	tb.tier.Store(uint32(tier))
	b.tenants.Store(id, tb)
	return tb
}

// moveLocked moves one message of tb from kind from to kind to.
func (b *backlog) moveLocked(tb *tenantBacklog, from, to backlogKind) {
	if from == to {
		return
	}
	for _, k := range [...]struct {
		kind  backlogKind
		delta int64
	}{{from, -1}, {to, 1}} {
		switch k.kind {
		case backlogDispatch:
			tb.dispatch += k.delta
			b.dispatch.Add(k.delta)
		case backlogForward:
			tb.forwardDue += k.delta
		}
	}
	if tb.dispatch < 0 || tb.forwardDue < 0 {
		panic(fmt.Sprintf("ledger: backlog of tenant %s below zero: dispatch %d, forward %d", tb.id, tb.dispatch, tb.forwardDue))
	}
	b.refreshLocked(tb)
}

// refreshLocked recomputes tb's share from its counts and receiving flag
// and carries the difference into the totals.
func (b *backlog) refreshLocked(tb *tenantBacklog) {
	fwd := int64(0)
	if tb.receiving.Load() {
		fwd = min(tb.forwardDue, b.forwardCap)
	}
	if fwd != tb.forwarding {
		b.forward.Add(fwd - tb.forwarding)
		tb.forwarding = fwd
	}
	if full := tb.receiving.Load() && tb.forwardDue >= b.max; full != tb.forwardFull.Load() {
		tb.forwardFull.Store(full)
		if full {
			b.full.Add(1)
		} else {
			b.full.Add(-1)
		}
	}
	old, share := tb.share.Load(), tb.dispatch+tb.forwarding
	if old == share {
		return
	}
	tb.share.Store(share)
	b.tracked.Add(share - old)
	tt := &b.tiers[tb.tier.Load()]
	tt.total.Add(share - old)
	switch {
	case old == 0:
		tt.holders.Add(1)
	case share == 0:
		tt.holders.Add(-1)
	}
}

// retierLocked files tb's share under tier from now on.
func (b *backlog) retierLocked(tb *tenantBacklog, tier routing.Tier) {
	if routing.Tier(tb.tier.Load()) == tier {
		return
	}
	share := tb.share.Load()
	if share > 0 {
		from, to := &b.tiers[tb.tier.Load()], &b.tiers[tier]
		from.total.Add(-share)
		from.holders.Add(-1)
		to.total.Add(share)
		to.holders.Add(1)
	}
	tb.tier.Store(uint32(tier))
}

// admitBacklog decides a submit of a tenant of tier: nil, or why it is
// refused. Below the tier's fair line, with no tenant at its DLR bound
// (the common case), it is two atomic loads.
func (s *Service) admitBacklog(tenantID string, tier routing.Tier) error {
	b := s.backlog
	if int(tier) >= tierCount {
		tier = routing.Standard
	}
	total := b.total()
	if b.full.Load() > 0 {
		if tb := b.lookup(tenantID); tb != nil && tb.forwardFull.Load() {
			return s.refuseBacklog(tenantID, tier, total, refusedForwardFull)
		}
	}
	if total < b.fair[tier] {
		return nil
	}
	if total >= b.hard[tier] {
		return s.refuseBacklog(tenantID, tier, total, refusedHardLine)
	}
	tb := b.lookup(tenantID)
	if tb == nil {
		return nil // it holds nothing: below any share
	}
	if routing.Tier(tb.tier.Load()) != tier {
		// The tenant changed tier since its share was filed (rare): file it
		// under the new one before comparing with that tier's tenants.
		s.work.mu.Lock()
		b.retierLocked(tb, tier)
		s.work.mu.Unlock()
	}
	own := tb.share.Load()
	tt := &b.tiers[tier]
	if own == 0 || own*tt.holders.Load() < tt.total.Load() {
		return nil // under its tier's equal share
	}
	return s.refuseBacklog(tenantID, tier, total, own)
}

// refuseBacklog's own for the refusals that are not about a share: over
// the tier's hard line, and a tenant whose DLRs due alone reach the bound.
const (
	refusedHardLine    = -1
	refusedForwardFull = -2
)

// refuseBacklog counts a refusal, logs one line per backlogLogEvery, and
// returns the error (own: the tenant's share, or refusedHardLine or
// refusedForwardFull).
func (s *Service) refuseBacklog(tenantID string, tier routing.Tier, total, own int64) error {
	b := s.backlog
	b.throttled[tier].Add(1)
	now := s.clock().UnixNano()
	if last := b.lastLogNano.Load(); now-last >= int64(backlogLogEvery) && b.lastLogNano.CompareAndSwap(last, now) {
		s.log.Warn("ledger: submits refused, the lifecycle is behind the accepts",
			"backlog", total, "backlog_max", b.max, "dispatch", b.dispatch.Load(), "dlr_intake", b.intake.Load(),
			"dlr_forward", b.forward.Load(), "tenant", tenantID, "tier", tier.String())
	}
	switch own {
	case refusedForwardFull:
		return fmt.Errorf("tenant %q (%s): %d of its DLRs due and not yet forwarded, the most a tenant may have: %w", tenantID, tier, b.max, ErrBacklog)
	case refusedHardLine:
		return fmt.Errorf("tenant %q (%s): backlog %d of %d, over the tier's line %d: %w", tenantID, tier, total, b.max, b.hard[tier], ErrBacklog)
	}
	return fmt.Errorf("tenant %q (%s): backlog %d of %d, its share %d at least its tier's equal share: %w", tenantID, tier, total, b.max, own, ErrBacklog)
}

// ReceiverReady tells the ledger whether the tenant has a channel for its
// DLRs now (a receiver bind or a webhook): only then do its DLRs due count
// toward the backlog. The lifecycle calls it on each forward pass and when
// a forward finds a channel or none; a tenant not yet seen counts as not
// receiving. Cheap when nothing changes.
func (s *Service) ReceiverReady(tenantID string, up bool) {
	if tb := s.backlog.lookup(tenantID); tb != nil && tb.receiving.Load() == up {
		return
	}
	s.work.mu.Lock()
	defer s.work.mu.Unlock()
	tb := s.backlog.tenantLocked(tenantID, s.tierOf(tenantID))
	if tb.receiving.Load() == up {
		return
	}
	tb.receiving.Store(up)
	s.backlog.refreshLocked(tb)
}

// DLRIntakeStarted and DLRIntakeEnded bracket the recording of one supplier
// DLR: while it is being recorded it counts toward the backlog.
func (s *Service) DLRIntakeStarted() { s.backlog.intake.Add(1) }

// DLRIntakeEnded: see DLRIntakeStarted.
func (s *Service) DLRIntakeEnded() {
	if s.backlog.intake.Add(-1) < 0 {
		panic("ledger: DLRIntakeEnded without DLRIntakeStarted")
	}
}

// tierOf is the tenant's tier in the current snapshot (standard if it is
// not known: the next submit files it right).
func (s *Service) tierOf(tenantID string) routing.Tier {
	if t, ok := s.state.Load().tenants[tenantID]; ok {
		return t.accept.Tier
	}
	return routing.Standard
}

// trackBacklogLocked carries one tracked message's change of kind into the
// backlog (under the tracker's lock).
func (s *Service) trackBacklogLocked(w *Work, before backlogKind) {
	after := backlogKindOf(&w.Message)
	if after == before {
		return
	}
	if w.backlog == nil {
		w.backlog = s.backlog.tenantLocked(w.Message.TenantID, s.tierOf(w.Message.TenantID))
	}
	s.backlog.moveLocked(w.backlog, before, after)
}

// untrackBacklogLocked takes w out of this node's backlog (another node
// drives it from here on).
func (s *Service) untrackBacklogLocked(w *Work) {
	if k := backlogKindOf(&w.Message); k != backlogNone && w.backlog != nil {
		s.backlog.moveLocked(w.backlog, k, backlogNone)
	}
}

// BacklogStats is the backlog now, for metrics and operators.
type BacklogStats struct {
	Max int
	// Dispatch, DLRIntake and DLRForward are the backlog's parts in
	// messages (see backlog.go); their sum is what the lines apply to.
	Dispatch, DLRIntake, DLRForward int64
	// Throttled counts the submits refused for backlog since the start,
	// by tier name.
	Throttled map[string]uint64
}

// Backlog reports the backlog and the refusals it caused.
func (s *Service) Backlog() BacklogStats {
	b := s.backlog
	st := BacklogStats{Max: int(b.max), Dispatch: b.dispatch.Load(), DLRIntake: b.intake.Load(), DLRForward: b.forward.Load(),
		Throttled: make(map[string]uint64, tierCount)}
	for t := range tierCount {
		st.Throttled[routing.Tier(t).String()] = b.throttled[t].Load()
	}
	return st
}
