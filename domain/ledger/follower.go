package ledger

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/eventstore"
)

// tally is a tenant's money as the log says (balance, credit limit, open
// holds). During catch-up only the tally moves; at the hand-over to live
// the Accounts are made from it. Live, the tally and the Account move
// together; the Account additionally carries the holds of submits whose
// Held the follower has not seen yet.
type tally struct {
	currency money.Currency
	balance  money.Units
	credit   money.Units
	held     money.Units
}

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
	return &follower{s: s, tallies: map[string]*tally{}}
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
		if id, ok := events.MessageIDFromStream(rec.Stream); ok {
			f.s.work.apply(f.s, id, ev, rec)
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

func (f *follower) apply(cur, orig *state, ev events.Event) *state {
	log := f.s.log
	switch e := ev.(type) {
	case events.TenantCreated:
		if _, ok := cur.tenants[e.TenantID]; ok {
			log.Error("ledger: tenant created twice", "tenant", e.TenantID)
			return cur
		}
		cur = mutable(cur, orig)
		cur.tenants = cloneMap(cur.tenants)
		t, err := f.newTenant(e)
		if err != nil {
			log.Error("ledger: invalid TenantCreated skipped", "tenant", e.TenantID, "err", err)
			return cur
		}
		cur.tenants[e.TenantID] = t

	case events.TenantChanged:
		old, ok := cur.tenants[e.TenantID]
		if !ok {
			return cur
		}
		billing, err1 := money.ParseBillingMode(e.Billing)
		tier, err2 := routing.ParseTier(e.Tier)
		credit, err3 := money.FromDecimal(e.CreditLimit)
		if err1 != nil || err2 != nil || err3 != nil || credit < 0 {
			log.Error("ledger: invalid TenantChanged skipped", "tenant", e.TenantID)
			return cur
		}
		cur = mutable(cur, orig)
		cur.tenants = cloneMap(cur.tenants)
		nt := *old
		nt.Name, nt.TPSLimit, nt.Credit = e.Name, e.TPSLimit, e.CreditLimit
		nt.accept.Billing, nt.accept.Tier = billing, tier
		cur.tenants[e.TenantID] = &nt
		f.tallies[e.TenantID].credit = credit
		if f.live {
			if err := nt.accept.Account.SetCreditLimit(credit); err != nil {
				log.Error("ledger: credit limit not applied", "tenant", e.TenantID, "err", err)
			}
		}

	case events.SmppCredentialsSet:
		old, ok := cur.tenants[e.TenantID]
		if !ok {
			return cur
		}
		cur = mutable(cur, orig)
		cur.smpp = cloneMap(cur.smpp)
		cur.tenants = cloneMap(cur.tenants)
		if old.SystemID != "" {
			delete(cur.smpp, old.SystemID)
		}
		cur.smpp[e.SystemID] = smppCred{TenantID: e.TenantID, Hash: e.PasswordHash}
		nt := *old
		nt.SystemID = e.SystemID
		cur.tenants[e.TenantID] = &nt

	case events.ApiKeyIssued:
		if _, ok := cur.tenants[e.TenantID]; !ok {
			return cur
		}
		cur = mutable(cur, orig)
		cur.apiKeys = cloneMap(cur.apiKeys)
		cur.apiKeys[e.KeyID] = apiKeyRec{TenantID: e.TenantID, Hash: e.KeyHash}

	case events.TopUpRecorded:
		t, ok := cur.tenants[e.TenantID]
		ty := f.tallies[e.TenantID]
		if !ok || ty == nil {
			return cur
		}
		amt, err := money.FromDecimal(e.Amount)
		if err != nil || amt <= 0 || e.Currency != string(ty.currency) {
			log.Error("ledger: invalid TopUpRecorded skipped", "tenant", e.TenantID, "reference", e.Reference)
			return cur
		}
		if !f.s.recordTopUp(e.TenantID, e.Reference, amt) {
			return cur // the same reference again: already counted
		}
		ty.balance += amt
		if f.live {
			if err := t.accept.Account.TopUp(amt); err != nil {
				log.Error("ledger: top-up not applied to account", "tenant", e.TenantID, "err", err)
			}
		}

	case events.RateCardChanged:
		old, ok := cur.tenants[e.TenantID]
		if !ok {
			return cur
		}
		rc, err := newRateCard(old.Currency, e.Rates)
		if err != nil {
			log.Error("ledger: invalid RateCardChanged skipped", "tenant", e.TenantID, "err", err)
			return cur
		}
		cur = mutable(cur, orig)
		cur.tenants = cloneMap(cur.tenants)
		nt := *old
		nt.accept.Rates, nt.Rates = rc, e.Rates
		cur.tenants[e.TenantID] = &nt

	case events.WebhookSet, events.WebhookRemoved:
		return f.applyWebhook(cur, orig, e)

	case events.SupplierCreated:
		if _, ok := cur.suppliers[e.SupplierID]; ok {
			return cur
		}
		cur = mutable(cur, orig)
		cur.suppliers = cloneMap(cur.suppliers)
		cur.suppliers[e.SupplierID] = &supplierSnap{info: SupplierInfo{
			ID: e.SupplierID, Name: e.Name, Currency: e.Currency, Host: e.Host, Port: e.Port,
			SystemID: e.SystemID, PasswordSealed: e.PasswordSealed, Binds: e.Binds,
			TPSLimit: e.TPSLimit, Window: e.Window, Enabled: true,
		}}

	case events.SupplierChanged:
		old, ok := cur.suppliers[e.SupplierID]
		if !ok {
			return cur
		}
		cur = mutable(cur, orig)
		cur.suppliers = cloneMap(cur.suppliers)
		ns := *old
		ns.info.Name, ns.info.Host, ns.info.Port, ns.info.SystemID = e.Name, e.Host, e.Port, e.SystemID
		ns.info.PasswordSealed, ns.info.Binds, ns.info.TPSLimit, ns.info.Window, ns.info.Enabled =
			e.PasswordSealed, e.Binds, e.TPSLimit, e.Window, e.Enabled
		cur.suppliers[e.SupplierID] = &ns

	case events.CostCardChanged:
		old, ok := cur.suppliers[e.SupplierID]
		if !ok {
			return cur
		}
		costs := make([]routing.Cost, len(e.Costs))
		for i, c := range e.Costs {
			costs[i] = routing.Cost{Prefix: c.Prefix, Cost: c.Cost}
		}
		sups := cloneMap(cur.suppliers)
		ns := *old
		ns.costs = costs
		sups[e.SupplierID] = &ns
		snap, err := rebuildRouting(cur.routes, sups)
		if err != nil {
			log.Error("ledger: invalid CostCardChanged skipped", "supplier", e.SupplierID, "err", err)
			return cur
		}
		cur = mutable(cur, orig)
		cur.suppliers, cur.snapshot = sups, snap

	case events.RouteTableChanged:
		routes := make([]routing.Route, len(e.Routes))
		for i, r := range e.Routes {
			routes[i] = routing.Route{Prefix: r.Prefix, Suppliers: r.Suppliers}
		}
		snap, err := rebuildRouting(routes, cur.suppliers)
		if err != nil {
			log.Error("ledger: invalid RouteTableChanged skipped", "err", err)
			return cur
		}
		cur = mutable(cur, orig)
		cur.routes, cur.snapshot = routes, snap

	case events.Held:
		f.held(cur, e)

	case events.Settled:
		ty, t := f.tallies[e.TenantID], cur.tenants[e.TenantID]
		if ty == nil || t == nil {
			return cur
		}
		held, err1 := money.FromDecimal(e.Held)
		price, err2 := money.FromDecimal(e.Price)
		if err1 != nil || err2 != nil {
			log.Error("ledger: invalid Settled skipped", "message", e.MessageID)
			return cur
		}
		ty.held -= held
		ty.balance -= price
		if f.live {
			if err := t.accept.Account.Settle(held, price); err != nil {
				log.Error("ledger: settlement not applied to account", "tenant", e.TenantID, "message", e.MessageID, "err", err)
			}
		}

	case events.Released:
		ty, t := f.tallies[e.TenantID], cur.tenants[e.TenantID]
		if ty == nil || t == nil {
			return cur
		}
		amt, err := money.FromDecimal(e.Amount)
		if err != nil {
			log.Error("ledger: invalid Released skipped", "message", e.MessageID)
			return cur
		}
		ty.held -= amt
		if f.live {
			if err := t.accept.Account.Release(amt); err != nil {
				log.Error("ledger: release not applied to account", "tenant", e.TenantID, "message", e.MessageID, "err", err)
			}
		}

	case events.SupplierAccepted:
		f.s.indexDLR(e.SupplierID, e.SupplierMessageID, e.MessageID)

	case events.DeliveryReported:
		if st, final := dlrFinal(e.Status); final && st {
			f.s.unindexDLR(e.SupplierID, e.SupplierMessageID)
		}
	}
	return cur
}

func (f *follower) held(cur *state, e events.Held) {
	ty, t := f.tallies[e.TenantID], cur.tenants[e.TenantID]
	if ty == nil || t == nil {
		f.s.log.Error("ledger: hold for unknown tenant", "tenant", e.TenantID, "message", e.MessageID)
		return
	}
	amt, err := money.FromDecimal(e.Amount)
	if err != nil || amt < 0 {
		f.s.log.Error("ledger: invalid Held skipped", "message", e.MessageID)
		return
	}
	ty.held += amt
	if !f.live {
		return
	}
	if _, local := f.s.pending.LoadAndDelete(e.MessageID); local {
		return // Submit already held it on the Account
	}
	// A hold this process did not take (or took and undid after an
	// ambiguous append failure): the log is the truth.
	if err := t.accept.Account.Hold(amt); err != nil {
		f.s.log.Error("ledger: hold from the log exceeds the account; account under-counts holds",
			"tenant", e.TenantID, "message", e.MessageID, "err", err)
	}
}

func (f *follower) newTenant(e events.TenantCreated) (*tenantSnap, error) {
	cur, err := money.ParseCurrency(e.Currency)
	if err != nil {
		return nil, err
	}
	billing, err := money.ParseBillingMode(e.Billing)
	if err != nil {
		return nil, err
	}
	tier, err := routing.ParseTier(e.Tier)
	if err != nil {
		return nil, err
	}
	credit, err := money.FromDecimal(e.CreditLimit)
	if err != nil {
		return nil, err
	}
	rc, err := newRateCard(cur, nil)
	if err != nil {
		return nil, err
	}
	acct, err := money.NewAccount(cur, 0, credit, 0)
	if err != nil {
		return nil, err
	}
	f.tallies[e.TenantID] = &tally{currency: cur, credit: credit}
	return &tenantSnap{
		accept:   accept.Tenant{ID: e.TenantID, Billing: billing, Tier: tier, Rates: rc, Account: acct},
		Name:     e.Name,
		Currency: cur,
		TPSLimit: e.TPSLimit,
		Credit:   e.CreditLimit,
	}, nil
}

// dlrFinal reports whether a DLR status is final (true, true) or
// intermediate (false, false).
func dlrFinal(status string) (bool, bool) {
	switch status {
	case "ACCEPTD", "ENROUTE":
		return false, false
	}
	return true, true
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

func (s *Service) unindexDLR(supplierID, supplierMsgID string) {
	s.dlrMu.Lock()
	delete(s.dlrIndex, dlrKey{supplierID, supplierMsgID})
	s.dlrMu.Unlock()
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
