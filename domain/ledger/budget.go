package ledger

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// Budget leases: how the nodes of a cluster spend one tenant's money
// without overspending it (docs/ARCHITECTURE.md, "Cluster").
//
// Outside a cluster (Options.Node empty) a submit holds on the tenant's
// Account, which this process alone moves. In a cluster every node folds
// the same log, but two nodes holding against their own copies at the same
// moment could both spend the last cent. So a node holds only on its lease:
// an Account whose balance is what the node leased (BudgetLeased, in the
// tenant's stream) minus what it returned and what its holds were charged,
// and whose holds are the node's own. A lease is granted only from
//
//	leasable = balance + credit − held − Σ over nodes of unspent(lease)
//	unspent(lease) = leased − returned − charged − held under it
//
// computed from the log alone and appended with the tenant stream's exact
// expected version: two nodes leasing at once are ordered by the log, and
// the loser folds the winner's lease and decides again. Holds, settlements
// and releases under a lease leave leasable unchanged (they only move money
// between the lease's parts and the balance), so a node that lags in
// folding other nodes' messages can never lease too much. Unused budget
// goes back (BudgetReturned) after BudgetIdle without a hold and when the
// node stops; a dead node's leases pass to the node that takes it over
// (NodeTakenOver, cluster.go), which returns what it does not use.
//
// Back of the envelope: a lease is one append of one event (~1 ms) and is
// sized to a share of what is leasable (leasable / (2 × nodes), never less
// than the submit needs), so a busy tenant with a large balance leases a
// few times a second at most, and a tenant whose balance covers a handful
// of messages is still served: each node leases what one submit needs.

// BudgetIdleDefault is how long a node keeps a lease it does not hold on
// before it returns the unused part.
const BudgetIdleDefault = 2 * time.Second

// leaseTriesMax bounds the lease appends one submit may make when other
// nodes keep winning the tenant stream.
const leaseTriesMax = 8

// leaseTally is one node's lease of one tenant as the log says: balance is
// leased − returned − charged; held the open holds under it.
type leaseTally struct {
	balance money.Units
	held    money.Units
}

func (l *leaseTally) unspent() money.Units { return l.balance - l.held }

// tenantLeases is one tenant's leases, node by node.
type tenantLeases struct {
	version int64 // the tenant stream's last folded version
	nodes   map[string]*leaseTally
	// mine is this node's lease as the hot path holds on it: the log's
	// figures plus the holds of submits whose Held is not folded yet
	// (s.pending). Made from the tally once, then moved with it.
	mine     *money.Account
	lastHold atomic.Int64 // unix ns of this node's last hold attempt on mine
	acquire  sync.Mutex   // one lease request or return at a time (this node)
}

// budgets is the cluster's fold: leases, which node an open lease hold
// belongs to, and membership (cluster.go). The follower changes it only
// under mu, and holds mu while it applies a batch, so that a lease decision
// reads the tenant's figures and its stream version at one log position.
type budgets struct {
	mu      sync.Mutex
	tallies map[string]*tally // the follower's per-tenant money (follower.go)
	tenants map[string]*tenantLeases
	// leaseOf names the node whose lease an open hold or charge is on.
	leaseOf map[uuid.UUID]string
	members membership
	// minesByTenant holds the tenants whose lease Account (mine) exists,
	// for the hot path without mu (the follower holds mu for a whole
	// batch): tenant id → *tenantLeases.
	minesByTenant sync.Map
}

func newBudgets() *budgets {
	return &budgets{tenants: map[string]*tenantLeases{}, leaseOf: map[uuid.UUID]string{}, members: newMembership()}
}

// tenantLocked returns a tenant's leases, made on first use.
func (b *budgets) tenantLocked(tenantID string) *tenantLeases {
	tl := b.tenants[tenantID]
	if tl == nil {
		tl = &tenantLeases{version: -1, nodes: map[string]*leaseTally{}}
		b.tenants[tenantID] = tl
	}
	return tl
}

// nodeLocked returns a node's lease tally of a tenant, made on first use.
func (tl *tenantLeases) nodeLocked(node string) *leaseTally {
	l := tl.nodes[node]
	if l == nil {
		l = &leaseTally{}
		tl.nodes[node] = l
	}
	return l
}

// leasableLocked is what may still be leased of a tenant, and the tenant
// stream's version it was computed at.
func (b *budgets) leasableLocked(tenantID string) (money.Units, int64, bool) {
	ty := b.tallies[tenantID]
	if ty == nil {
		return 0, -1, false
	}
	tl := b.tenantLocked(tenantID)
	avail := ty.balance + ty.credit - ty.held
	for _, l := range tl.nodes {
		avail -= l.unspent()
	}
	return avail, tl.version, true
}

// mineLocked returns this node's lease Account of a tenant, made from its
// tally the first time.
func (b *budgets) mineLocked(tenantID, node string) (*tenantLeases, *money.Account, error) {
	tl := b.tenantLocked(tenantID)
	if tl.mine != nil {
		return tl, tl.mine, nil
	}
	ty := b.tallies[tenantID]
	if ty == nil {
		return nil, nil, fmt.Errorf("lease of %q: %w", tenantID, ErrUnknownTenant)
	}
	l := tl.nodeLocked(node)
	acct, err := money.NewAccount(ty.currency, l.balance, 0, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("lease of %q: %w", tenantID, err)
	}
	if err := acct.HoldFromLog(l.held); err != nil {
		return nil, nil, fmt.Errorf("lease of %q: %w", tenantID, err)
	}
	tl.mine = acct
	return tl, acct, nil
}

// ---------------------------------------------------------------------------
// The fold (the follower, under b.mu).

// tenantVersion notes the version of an event of a tenant stream.
func (b *budgets) tenantVersionLocked(stream string, version uint64) {
	if id, ok := strings.CutPrefix(stream, events.TenantStreamPrefix); ok {
		b.tenantLocked(id).version = int64(version)
	}
}

// leased folds a BudgetLeased.
func (f *follower) leased(e events.BudgetLeased) {
	b := f.s.budgets
	ty := b.tallies[e.TenantID]
	amt, err := money.FromDecimal(e.Amount)
	if ty == nil || err != nil || amt <= 0 || e.Currency != string(ty.currency) || e.Node == "" {
		f.s.log.Error("ledger: invalid BudgetLeased skipped", "tenant", e.TenantID, "node", e.Node)
		return
	}
	node := b.members.ownerOf(e.Node)
	tl := b.tenantLocked(e.TenantID)
	tl.nodeLocked(node).balance += amt
	if node == f.s.opts.Node && tl.mine != nil {
		if err := tl.mine.TopUp(amt); err != nil {
			f.s.log.Error("ledger: lease not applied", "tenant", e.TenantID, "err", err)
		}
	}
}

// returned folds a BudgetReturned.
func (f *follower) returned(e events.BudgetReturned) {
	b := f.s.budgets
	amt, err := money.FromDecimal(e.Amount)
	if err != nil || amt <= 0 || e.Node == "" {
		f.s.log.Error("ledger: invalid BudgetReturned skipped", "tenant", e.TenantID, "node", e.Node)
		return
	}
	if by, gone := b.members.takerOf(e.Node); gone {
		// A return a node appended after it was taken over is void: its
		// leases are the taker's now, which returns what it does not use
		// (counting it would return that money twice).
		f.s.log.Warn("ledger: budget return of a node taken over ignored", "tenant", e.TenantID, "node", e.Node, "by", by, "amount", e.Amount)
		return
	}
	node := e.Node
	tl := b.tenantLocked(e.TenantID)
	tl.nodeLocked(node).balance -= amt
	if node != f.s.opts.Node || tl.mine == nil {
		return
	}
	if _, local := f.s.pending.LoadAndDelete(e.ID); local {
		return // returnBudget took it off the lease already
	}
	if err := tl.mine.Adjust(-amt); err != nil {
		f.s.log.Error("ledger: lease return not applied", "tenant", e.TenantID, "err", err)
	}
}

// heldOnLease folds a hold taken on a node's lease: the lease's tally and,
// for this node's own, its Account unless Submit already held it.
func (f *follower) heldOnLease(e events.Held, amt money.Units) {
	b := f.s.budgets
	node := b.members.ownerOf(e.Node)
	b.leaseOf[e.MessageID] = node
	tl := b.tenantLocked(e.TenantID)
	tl.nodeLocked(node).held += amt
	if node != f.s.opts.Node || tl.mine == nil {
		return
	}
	if _, local := f.s.pending.LoadAndDelete(e.MessageID); local {
		return // Submit held it on the lease
	}
	if err := tl.mine.HoldFromLog(amt); err != nil {
		f.s.log.Error("ledger: hold not applied to lease", "tenant", e.TenantID, "message", e.MessageID, "err", err)
	}
}

// closedOnLease folds the end of a hold (held) and its charge (price, 0
// for a release) on the lease it was taken from; false when the hold was
// not on a lease.
func (f *follower) closedOnLease(tenantID string, id uuid.UUID, held, price money.Units) bool {
	b := f.s.budgets
	node, ok := b.leaseOf[id]
	if !ok {
		return false
	}
	delete(b.leaseOf, id)
	tl := b.tenantLocked(tenantID)
	l := tl.nodeLocked(node)
	l.held -= held
	l.balance -= price
	if node == f.s.opts.Node && tl.mine != nil {
		if err := tl.mine.Settle(held, price); err != nil {
			f.s.log.Error("ledger: settlement not applied to lease", "tenant", tenantID, "message", id, "err", err)
		}
	}
	return true
}

// chargedOnLease folds a charge paid from a node's lease at once (an MO's
// price, a negative adjustment), marked pending under id by the command
// that took it.
func (f *follower) chargedOnLease(tenantID, onNode string, id uuid.UUID, price money.Units) {
	b := f.s.budgets
	node := b.members.ownerOf(onNode)
	tl := b.tenantLocked(tenantID)
	tl.nodeLocked(node).balance -= price
	if node != f.s.opts.Node || tl.mine == nil {
		return
	}
	if _, local := f.s.pending.LoadAndDelete(id); local {
		return // the command took it off the lease already
	}
	if err := tl.mine.Adjust(-price); err != nil {
		f.s.log.Error("ledger: charge not applied to lease", "tenant", tenantID, "id", id, "err", err)
	}
}

// ---------------------------------------------------------------------------
// The commands.

// inCluster reports whether this service is a node of a cluster.
func (s *Service) inCluster() bool { return s.opts.Node != "" }

// leaseAccount returns this node's lease of a tenant, for the hot path:
// without a lock once it exists (tl.mine is never replaced).
func (s *Service) leaseAccount(tenantID string) (*tenantLeases, *money.Account, error) {
	if v, ok := s.budgets.minesByTenant.Load(tenantID); ok {
		tl := v.(*tenantLeases)
		return tl, tl.mine, nil
	}
	s.budgets.mu.Lock()
	defer s.budgets.mu.Unlock()
	tl, mine, err := s.budgets.mineLocked(tenantID, s.opts.Node)
	if err == nil {
		s.budgets.minesByTenant.Store(tenantID, tl)
	}
	return tl, mine, err
}

// leaseMore leases enough of a tenant's money for this node's lease to
// cover need,
// or answers *money.InsufficientFundsError when the tenant's leasable
// money does not cover it. It returns once the lease is folded (the
// lease Account shows it).
func (s *Service) leaseMore(ctx context.Context, tenantID string, need money.Units) error {
	if s.fenced() {
		return fmt.Errorf("lease of %q: %w", tenantID, ErrTakenOver)
	}
	tl, mine, err := s.leaseAccount(tenantID)
	if err != nil {
		return err
	}
	tl.acquire.Lock()
	defer tl.acquire.Unlock()
	for try := 0; try < leaseTriesMax; try++ {
		have := mine.State().Available
		if have >= need {
			return nil // leased meanwhile (another submit's request)
		}
		short := need - have // what the lease lacks: its remainder counts
		s.budgets.mu.Lock()
		leasable, version, ok := s.budgets.leasableLocked(tenantID)
		cur := mine.Currency()
		s.budgets.mu.Unlock()
		if !ok {
			return fmt.Errorf("lease of %q: %w", tenantID, ErrUnknownTenant)
		}
		if leasable < short || version < 0 {
			return &money.InsufficientFundsError{Currency: cur, Available: max(leasable, 0) + have, Requested: need}
		}
		e := events.BudgetLeased{TenantID: tenantID, Node: s.opts.Node, Amount: leaseSize(leasable, short, s.clusterSize()).Decimal(),
			Currency: string(cur), At: s.clock().UTC()}
		_, err := s.appendCluster(ctx, events.TenantStream(tenantID), eventstore.Exact(uint64(version)), nil, e)
		if again, err := s.foldConflict(ctx, err); again {
			continue // another node leased (or the tenant changed) first
		} else if err != nil {
			return fmt.Errorf("lease of %q: %w: %w", tenantID, ErrNotDurable, err)
		}
	}
	if mine.State().Available >= need {
		return nil
	}
	return fmt.Errorf("lease of %q: %d tries lost to other nodes: %w", tenantID, leaseTriesMax, ErrThrottled)
}

// leaseSize is what one lease request takes: a share of what is leasable
// (so that every node may lease as much again), never less than need.
func leaseSize(leasable, need money.Units, nodes int) money.Units {
	share := leasable / money.Units(2*max(nodes, 1))
	return min(max(share, need), leasable)
}

// clusterSize is how many nodes share the tenants' money (1 when unknown).
func (s *Service) clusterSize() int {
	if s.opts.ClusterSize == nil {
		return 1
	}
	return max(s.opts.ClusterSize(), 1)
}

// clusterAppendContext bounds a cluster event's append and puts it ahead
// of the lifecycle's appends (a submit may wait for a lease); the caller's
// cancellation does not abandon it halfway (its outcome is folded anyway).
func clusterAppendContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(eventstore.WithUrgency(context.WithoutCancel(ctx)), appendTimeout)
}

// appendCluster appends a cluster event (a lease, a membership fact) in
// clusterAppendContext and returns once the follower folded it (or ctx
// ended).
func (s *Service) appendCluster(ctx context.Context, stream string, expected eventstore.ExpectedVersion, ids []uuid.UUID, e events.Event) (eventstore.AppendResult, error) {
	actx, cancel := clusterAppendContext(ctx)
	res, err := s.appendEvents(actx, stream, expected, ids, e)
	cancel()
	if err != nil {
		return res, err
	}
	return res, s.waitApplied(ctx, res.Position)
}

// foldConflict is the rule of an append decided on the folded log with an
// exact expected version: when another append came first (err a
// *WrongExpectedVersionError) it waits until the follower has the log's
// head and reports again, so the caller decides again; any other err is
// returned as it is.
func (s *Service) foldConflict(ctx context.Context, err error) (again bool, _ error) {
	var wrong *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wrong) {
		return false, err
	}
	head, herr := s.store.Head(ctx)
	if herr != nil {
		return false, fmt.Errorf("ledger: read the log's head: %w", herr)
	}
	if werr := s.waitApplied(ctx, head); werr != nil {
		return false, werr
	}
	return true, nil
}

// returnBudgets gives back the unused part of this node's leases: of those
// idle for BudgetIdle, or of all (all: the node is stopping).
func (s *Service) returnBudgets(ctx context.Context, all bool) {
	s.budgets.mu.Lock()
	ids := make([]string, 0, len(s.budgets.tenants))
	for id, tl := range s.budgets.tenants {
		// Its own lease, or one it took over and has not held on yet.
		if l := tl.nodes[s.opts.Node]; tl.mine != nil || (l != nil && l.unspent() > 0) {
			ids = append(ids, id)
		}
	}
	s.budgets.mu.Unlock()
	sort.Strings(ids)
	idleSince := s.clock().Add(-s.opts.BudgetIdle).UnixNano()
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		tl, mine, err := s.leaseAccount(id)
		if err != nil || (!all && tl.lastHold.Load() > idleSince) {
			continue
		}
		if err := s.returnBudget(ctx, id, tl, mine); err != nil {
			s.log.Warn("ledger: unused budget not returned; it stays leased to this node", "tenant", id, "err", err)
		}
	}
}

// returnBudget returns what is free on one lease: it takes it off the
// lease first (atomically against holds), then appends the return; if the
// append fails and the follower has not seen it, it puts it back.
func (s *Service) returnBudget(ctx context.Context, tenantID string, tl *tenantLeases, mine *money.Account) error {
	if s.fenced() {
		return nil // its leases are the taker's
	}
	tl.acquire.Lock()
	defer tl.acquire.Unlock()
	free := mine.State().Available
	if free <= 0 {
		return nil
	}
	if err := mine.Debit(free); err != nil {
		return nil // held meanwhile: not idle after all
	}
	id, err := s.id()
	if err != nil {
		_ = mine.Adjust(free)
		return err
	}
	s.pending.Store(id, struct{}{})
	e := events.BudgetReturned{TenantID: tenantID, Node: s.opts.Node, Amount: free.Decimal(), Currency: string(mine.Currency()), ID: id, At: s.clock().UTC()}
	// Not waiting for the follower: at a stop it has ended already.
	actx, cancel := clusterAppendContext(ctx)
	_, err = s.appendEvents(actx, events.TenantStream(tenantID), eventstore.Any, []uuid.UUID{id}, e)
	cancel()
	if err != nil {
		if _, mine2 := s.pending.LoadAndDelete(id); mine2 {
			if uerr := mine.Adjust(free); uerr != nil {
				s.log.Error("ledger: failed budget return not undone", "tenant", tenantID, "err", uerr)
			}
		}
		return fmt.Errorf("return %s of %q's budget: %w", free, tenantID, err)
	}
	return nil
}

// budgetLoop returns idle leases every BudgetIdle/2 until ctx ends, then
// all of them.
func (s *Service) budgetLoop(ctx context.Context) {
	t := time.NewTicker(max(s.opts.BudgetIdle/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			// Stopping: give everything back while the store still runs
			// (the ledger stops before the event store).
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.returnBudgets(rctx, true)
			cancel()
			return
		case <-t.C:
			s.returnBudgets(ctx, false)
		}
	}
}

// LeaseView is one node's lease of a tenant (views, tests).
type LeaseView struct {
	Node     string
	Leased   money.Units // leased − returned − charged
	Held     money.Units
	Unspent  money.Units
	Leasable money.Units // of the tenant, beside every lease
}

// Leases returns the tenant's leases as this node's fold has them.
func (s *Service) Leases(tenantID string) []LeaseView {
	s.budgets.mu.Lock()
	defer s.budgets.mu.Unlock()
	leasable, _, _ := s.budgets.leasableLocked(tenantID)
	tl := s.budgets.tenants[tenantID]
	if tl == nil {
		return nil
	}
	out := make([]LeaseView, 0, len(tl.nodes))
	for node, l := range tl.nodes {
		out = append(out, LeaseView{Node: node, Leased: l.balance, Held: l.held, Unspent: l.unspent(), Leasable: leasable})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}
