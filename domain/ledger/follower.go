package ledger

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// follower applies the log to the Service's snapshots. It is used by the
// Run goroutine only.
type follower struct {
	s       *Service
	pos     eventstore.Position
	target  eventstore.Position
	live    bool
	tallies map[string]*tally
}

func newFollower(s *Service) *follower {
	f := &follower{s: s, tallies: map[string]*tally{}}
	s.budgets.mu.Lock()
	s.budgets.tallies = f.tallies // read by lease decisions under budgets.mu
	s.budgets.mu.Unlock()
	return f
}

// follow subscribes after the last applied position and applies batches
// until ctx ends or the subscription fails.
func (f *follower) follow(ctx context.Context) error {
	if !f.live {
		head, err := f.s.store.Head(ctx)
		if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		f.target = head
		if f.pos >= f.target {
			f.goLive()
		}
	}
	sub, err := f.s.store.SubscribeAll(ctx, f.pos)
	if err != nil {
		return fmt.Errorf("subscribe after %d: %w", f.pos, err)
	}
	defer sub.Close()
	for {
		batch, err := sub.Next(ctx)
		if err != nil {
			return fmt.Errorf("subscription after %d: %w", f.pos, err)
		}
		f.applyBatch(batch)
	}
}

func (f *follower) applyBatch(batch []eventstore.RecordedEvent) {
	// The money and cluster folds move under budgets.mu, so that a lease
	// decision reads them at one log position (budget.go).
	f.s.budgets.mu.Lock()
	defer f.s.budgets.mu.Unlock()
	st := f.s.state.Load()
	next := st
	for i := range batch {
		rec := &batch[i]
		if rec.Position <= f.pos {
			panic(fmt.Sprintf("ledger: log position %d after %d", rec.Position, f.pos))
		}
		ev, err := events.Decode(rec.Type, rec.Data)
		if err != nil {
			f.s.log.Warn("ledger: skipping undecodable event", "position", rec.Position, "type", rec.Type, "err", err)
			f.pos = rec.Position
			continue
		}
		next = f.apply(next, st, ev)
		f.s.budgets.tenantVersionLocked(rec.Stream, rec.Version)
		switch e := ev.(type) {
		case events.NodeJoined:
			f.joined(e, rec.Version)
		case events.NodeTakenOver:
			f.takenOver(e, rec.Version)
		}
		if id, ok := events.MessageIDFromStream(rec.Stream); ok {
			f.s.work.apply(f.s, id, ev, rec)
			f.s.mos.apply(f.s, ev, rec.Position, rec.Version) // MOs to forward (mo.go)
		}
		f.pos = rec.Position
	}
	if next != st {
		f.s.state.Store(next)
	}
	if !f.live && f.pos >= f.target {
		f.goLive()
	}
	f.s.advanced(f.pos)
}

// goLive makes each tenant's Account from its tally and publishes them.
func (f *follower) goLive() {
	st := f.s.state.Load().clone()
	st.tenants = cloneMap(st.tenants)
	for id, t := range st.tenants {
		ty := f.tallies[id]
		acct, err := money.NewAccount(ty.currency, ty.balance, ty.credit, ty.held)
		if err != nil {
			panic(fmt.Sprintf("ledger: tenant %s account from the log: %v", id, err))
		}
		nt := *t
		nt.accept.Account = acct
		st.tenants[id] = &nt
	}
	f.s.state.Store(st)
	f.live = true
	f.s.markCaughtUp()
}

// mutable returns a state that may be changed: a clone of orig the first
// time in a batch, then the same one.
func mutable(cur, orig *state) *state {
	if cur != orig {
		return cur
	}
	return orig.clone()
}

// apply folds one event into the follower's view and returns the state, a
// new one if the event changed the configuration. Each concern has its own
// small functions: configuration (followconfig.go: tenants, credentials,
// rates, webhooks, suppliers, costs, routes) builds a new state; money
// (followmoney.go: top-ups, holds, settlements, releases) moves the tallies
// and, live, the Accounts; the DLR index maps supplier message ids to
// messages until a final report (message.DLRFinal) arrives.
func (f *follower) apply(cur, orig *state, ev events.Event) *state {
	switch e := ev.(type) {
	// Configuration.
	case events.TenantCreated:
		return f.tenantCreated(cur, orig, e)
	case events.TenantChanged:
		return f.tenantChanged(cur, orig, e)
	case events.SmppCredentialsSet:
		return f.smppCredentialsSet(cur, orig, e)
	case events.ApiKeyIssued:
		return apiKeyIssuedAt(apiKeyIssued(cur, orig, e), orig, e)
	case events.ApiKeyRevoked:
		return f.apiKeyRevoked(cur, orig, e)
	case events.RateCardChanged:
		return f.rateCardChanged(cur, orig, e)
	case events.WebhookSet, events.WebhookRemoved:
		return f.applyWebhook(cur, orig, e)
	case events.SupplierCreated:
		return supplierCreated(cur, orig, e)
	case events.SupplierChanged:
		return f.supplierChanged(cur, orig, e)
	case events.CostCardChanged:
		return f.costCardChanged(cur, orig, e)
	case events.RouteTableChanged:
		return f.routeTableChanged(cur, orig, e)
	case events.NumberingPlanChanged:
		return f.numberingPlanChanged(cur, orig, e)
	case events.PortabilityChanged:
		return f.portabilityChanged(cur, orig, e)
	case events.TenantNumbersChanged:
		return f.tenantNumbersChanged(cur, orig, e)
	case events.FXTableChanged:
		return f.fxTableChanged(cur, orig, e)
	case events.TenantControlsChanged:
		return f.tenantControlsChanged(cur, orig, e)
	case events.GlobalControlsChanged:
		return f.globalControlsChanged(cur, orig, e)

	// Money.
	case events.TopUpRecorded:
		f.toppedUp(cur, e)
	case events.AdjustmentRecorded:
		f.adjusted(cur, e)
	case events.Held:
		f.held(cur, e)
	case events.Settled:
		f.settled(cur, e)
	case events.Released:
		f.released(cur, e)
	case events.MOReceived:
		f.moCharged(cur, e)
	case events.BudgetLeased:
		f.leased(e)
	case events.BudgetReturned:
		f.returned(e)

	// The idempotency index (idempotency.go).
	case events.MessageAccepted:
		if e.IdempotencyKey != "" {
			f.s.idem.indexAccept(e, f.s.clock())
		}
		f.replayControls(cur, e) // the windows of the controls (controls.go)

	// The DLR index.
	case events.SupplierAccepted:
		f.s.indexDLR(e.SupplierID, e.SupplierMessageID, e.MessageID)
	case events.DeliveryReported:
		if message.DLRFinal(e.Status) {
			f.s.unindexDLR(e.SupplierID, e.SupplierMessageID)
		}
	}
	return cur
}

type dlrKey struct {
	supplier, supplierMsg string
}

func (s *Service) indexDLR(supplierID, supplierMsgID string, id uuid.UUID) {
	if supplierMsgID == "" {
		return
	}
	s.dlrMu.Lock()
	s.dlrIndex[dlrKey{supplierID, supplierMsgID}] = id
	s.dlrMu.Unlock()
}

// finalDLRsMax bounds the supplier message ids remembered as final once
// they leave the DLR index: ~260,000 (a 64-bit hash each, ~100 bytes with
// the LRU's bookkeeping: ~26 MB), half a minute of DLRs at 10,000/s. A
// supplier's repeated final DLR within that is acknowledged as the
// duplicate it is; an older one is refused for redelivery like an unknown
// id (and its redeliveries stop when the supplier gives up).
const finalDLRsMax = 1 << 18

// unindexDLR drops a supplier message id whose final DLR is recorded, and
// remembers it as final.
func (s *Service) unindexDLR(supplierID, supplierMsgID string) {
	h := s.dlrHash(supplierID, supplierMsgID)
	s.dlrMu.Lock()
	delete(s.dlrIndex, dlrKey{supplierID, supplierMsgID})
	s.dlrFinals.Add(h, struct{}{})
	s.dlrMu.Unlock()
}

// wasFinal reports whether a final DLR for the supplier message id was
// recorded lately (a 64-bit hash: a false match is out of reach).
func (s *Service) wasFinal(supplierID, supplierMsgID string) bool {
	h := s.dlrHash(supplierID, supplierMsgID)
	s.dlrMu.RLock()
	defer s.dlrMu.RUnlock()
	return s.dlrFinals.Contains(h)
}

func (s *Service) dlrHash(supplierID, supplierMsgID string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.dlrSeed)
	h.WriteString(supplierID)
	h.WriteByte(0)
	h.WriteString(supplierMsgID)
	return h.Sum64()
}

func (s *Service) lookupDLR(supplierID, supplierMsgID string) (uuid.UUID, bool) {
	s.dlrMu.RLock()
	id, ok := s.dlrIndex[dlrKey{supplierID, supplierMsgID}]
	s.dlrMu.RUnlock()
	return id, ok
}

type topUpKey struct{ tenant, reference string }

// recordTopUp remembers a top-up reference; false if it was known.
func (s *Service) recordTopUp(tenantID, reference string, amount money.Units) bool {
	s.topUpMu.Lock()
	defer s.topUpMu.Unlock()
	k := topUpKey{tenantID, reference}
	if _, ok := s.topUps[k]; ok {
		return false
	}
	s.topUps[k] = amount
	return true
}

// topUpAmount returns the amount recorded for a top-up reference.
func (s *Service) topUpAmount(tenantID, reference string) (money.Units, bool) {
	s.topUpMu.Lock()
	defer s.topUpMu.Unlock()
	a, ok := s.topUps[topUpKey{tenantID, reference}]
	return a, ok
}
