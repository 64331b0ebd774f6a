package ledger

import (
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/routing"
)

// The follower's configuration concern: each function folds one event into
// the configuration snapshot and returns the state to go on with — cur
// unchanged when the event does not apply (unknown tenant or supplier,
// invalid content: logged and skipped), else a state made mutable for the
// batch (mutable) with the changed map copied.

// withTenant returns a state in which tenant t replaces its predecessor.
func withTenant(cur, orig *state, t *tenantSnap) *state {
	cur = mutable(cur, orig)
	cur.tenants = cloneMap(cur.tenants)
	cur.tenants[t.accept.ID] = t
	return cur
}

// withSupplier returns a state in which supplier sp replaces its
// predecessor.
func withSupplier(cur, orig *state, sp *supplierSnap) *state {
	cur = mutable(cur, orig)
	cur.suppliers = cloneMap(cur.suppliers)
	cur.suppliers[sp.info.ID] = sp
	return cur
}

func (f *follower) tenantCreated(cur, orig *state, e events.TenantCreated) *state {
	if _, ok := cur.tenants[e.TenantID]; ok {
		f.s.log.Error("ledger: tenant created twice", "tenant", e.TenantID)
		return cur
	}
	t, err := f.newTenant(e)
	if err != nil {
		f.s.log.Error("ledger: invalid TenantCreated skipped", "tenant", e.TenantID, "err", err)
		return cur
	}
	return withTenant(cur, orig, t)
}

// newTenant makes a tenant's snapshot, with an empty rate card and an
// Account, and starts its tally.
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
	t := &tenantSnap{
		accept:   accept.Tenant{ID: e.TenantID, Billing: billing, Tier: tier, Rates: rc, Account: acct},
		Name:     e.Name,
		Currency: cur,
		TPSLimit: e.TPSLimit,
		Credit:   e.CreditLimit,
		// Out of range in a log written by another build: the default.
		DefaultValidityS: clampValidity(e.DefaultValidityS, MaxValidityS),
		Access:           accessOf(e.MaxBinds, e.AllowedIPs),
	}
	t.setMOPrice(e.MOPrice, f.s.log)
	return t, nil
}

// tenantChanged also moves the credit limit, in the tally and, live, on
// the Account. A limit below what is held is applied as it is
// (money.Account.SetCreditLimit): the holds already granted stay, available
// reads zero and no new hold succeeds until funds return.
func (f *follower) tenantChanged(cur, orig *state, e events.TenantChanged) *state {
	old, ok := cur.tenants[e.TenantID]
	if !ok {
		return cur
	}
	billing, err1 := money.ParseBillingMode(e.Billing)
	tier, err2 := routing.ParseTier(e.Tier)
	credit, err3 := money.FromDecimal(e.CreditLimit)
	if err1 != nil || err2 != nil || err3 != nil || credit < 0 {
		f.s.log.Error("ledger: invalid TenantChanged skipped", "tenant", e.TenantID)
		return cur
	}
	nt := *old
	nt.Name, nt.TPSLimit, nt.Credit = e.Name, e.TPSLimit, e.CreditLimit
	nt.DefaultValidityS = clampValidity(e.DefaultValidityS, MaxValidityS)
	nt.Access = accessOf(e.MaxBinds, e.AllowedIPs)
	nt.setMOPrice(e.MOPrice, f.s.log)
	nt.accept.Billing, nt.accept.Tier = billing, tier
	// Anything but "suspended" (empty, "active") is active.
	nt.Suspended = e.Status == TenantSuspended
	cur = withTenant(cur, orig, &nt)
	f.tallies[e.TenantID].credit = credit
	if f.live {
		if err := nt.accept.Account.SetCreditLimit(credit); err != nil {
			f.s.log.Error("ledger: credit limit not applied", "tenant", e.TenantID, "err", err)
		}
	}
	return cur
}

// smppCredentialsSet replaces the tenant's system_id and its credential. A
// system_id another tenant holds stays that tenant's: the first claim in
// the log wins, so two commands racing for one system_id (on one node or
// several) end the same way on every replay, and the loser's command sees
// it (SetSmppCredentials).
func (f *follower) smppCredentialsSet(cur, orig *state, e events.SmppCredentialsSet) *state {
	old, ok := cur.tenants[e.TenantID]
	if !ok {
		return cur
	}
	if c, taken := cur.smpp[e.SystemID]; taken && c.TenantID != e.TenantID {
		f.s.log.Error("ledger: SmppCredentialsSet for a system_id another tenant holds skipped", "tenant", e.TenantID, "holder", c.TenantID)
		return cur
	}
	nt := *old
	nt.SystemID = e.SystemID
	cur = withTenant(cur, orig, &nt)
	cur.smpp = cloneMap(cur.smpp)
	if old.SystemID != "" {
		delete(cur.smpp, old.SystemID)
	}
	cur.smpp[e.SystemID] = smppCred{TenantID: e.TenantID, Hash: e.PasswordHash}
	return cur
}

func apiKeyIssued(cur, orig *state, e events.ApiKeyIssued) *state {
	if _, ok := cur.tenants[e.TenantID]; !ok {
		return cur
	}
	cur = mutable(cur, orig)
	cur.apiKeys = cloneMap(cur.apiKeys)
	cur.apiKeys[e.KeyID] = apiKeyRec{TenantID: e.TenantID, Hash: e.KeyHash}
	return cur
}

func (f *follower) rateCardChanged(cur, orig *state, e events.RateCardChanged) *state {
	old, ok := cur.tenants[e.TenantID]
	if !ok {
		return cur
	}
	rc, err := newRateCard(old.Currency, e.Rates)
	if err != nil {
		f.s.log.Error("ledger: invalid RateCardChanged skipped", "tenant", e.TenantID, "err", err)
		return cur
	}
	nt := *old
	nt.accept.Rates, nt.Rates = rc, e.Rates
	return withTenant(cur, orig, &nt)
}

// clampValidity keeps a validity setting from the log within 0..max (0:
// the service's default).
func clampValidity(s, max int) int {
	if s < 0 || s > max {
		return 0
	}
	return s
}

// billingOf is a supplier billing basis from the log; anything but
// on_delivery is on_submit, the default.
func billingOf(b string) string {
	if b == string(money.BillOnDelivery) {
		return b
	}
	return string(money.BillOnSubmit)
}

func supplierCreated(cur, orig *state, e events.SupplierCreated) *state {
	if _, ok := cur.suppliers[e.SupplierID]; ok {
		return cur
	}
	return withSupplier(cur, orig, &supplierSnap{info: SupplierInfo{
		ID: e.SupplierID, Name: e.Name, Currency: e.Currency, Host: e.Host, Port: e.Port,
		SystemID: e.SystemID, PasswordSealed: e.PasswordSealed, Binds: e.Binds,
		TPSLimit: e.TPSLimit, Window: e.Window, Enabled: true,
		Billing: billingOf(e.Billing), DLRGraceS: clampValidity(e.DLRGraceS, MaxDLRGraceS),
		TLS: e.TLS, TLSServerName: e.TLSServerName, TLSCAPEM: e.TLSCAPEM,
	}})
}

// supplierChanged replaces a supplier's settings; a change of its billing
// basis or of its enabled state rebuilds the routing snapshot (candidates
// carry the basis; a disabled supplier is never routed to).
func (f *follower) supplierChanged(cur, orig *state, e events.SupplierChanged) *state {
	old, ok := cur.suppliers[e.SupplierID]
	if !ok {
		return cur
	}
	ns := *old
	ns.info.Name, ns.info.Host, ns.info.Port, ns.info.SystemID = e.Name, e.Host, e.Port, e.SystemID
	ns.info.PasswordSealed, ns.info.Binds, ns.info.TPSLimit, ns.info.Window, ns.info.Enabled =
		e.PasswordSealed, e.Binds, e.TPSLimit, e.Window, e.Enabled
	ns.info.Billing, ns.info.DLRGraceS = billingOf(e.Billing), clampValidity(e.DLRGraceS, MaxDLRGraceS)
	ns.info.TLS, ns.info.TLSServerName, ns.info.TLSCAPEM = e.TLS, e.TLSServerName, e.TLSCAPEM
	if ns.info.Billing == old.info.Billing && ns.info.Enabled == old.info.Enabled {
		return withSupplier(cur, orig, &ns)
	}
	sups := cloneMap(cur.suppliers)
	sups[e.SupplierID] = &ns
	snap, err := rebuildRouting(cur.routes, sups, cur.fx, f.s.clock())
	if err != nil {
		f.s.log.Error("ledger: SupplierChanged not applied to routing", "supplier", e.SupplierID, "err", err)
		return withSupplier(cur, orig, &ns)
	}
	cur = mutable(cur, orig)
	cur.suppliers, cur.snapshot = sups, snap
	return cur
}

// costCardChanged replaces a supplier's cost card and rebuilds the routing
// snapshot; a card the snapshot refuses leaves both as they were.
func (f *follower) costCardChanged(cur, orig *state, e events.CostCardChanged) *state {
	old, ok := cur.suppliers[e.SupplierID]
	if !ok {
		return cur
	}
	costs := make([]routing.Cost, len(e.Costs))
	for i, c := range e.Costs {
		costs[i] = routing.Cost{Prefix: c.Prefix, MCCMNC: c.MCCMNC, Cost: c.Cost}
	}
	sups := cloneMap(cur.suppliers)
	ns := *old
	ns.costs = costs
	sups[e.SupplierID] = &ns
	snap, err := rebuildRouting(cur.routes, sups, cur.fx, f.s.clock())
	if err != nil {
		f.s.log.Error("ledger: invalid CostCardChanged skipped", "supplier", e.SupplierID, "err", err)
		return cur
	}
	cur = mutable(cur, orig)
	cur.suppliers, cur.snapshot = sups, snap
	return cur
}

// routeTableChanged replaces the route table and rebuilds the routing
// snapshot; a table the snapshot refuses leaves both as they were.
func (f *follower) routeTableChanged(cur, orig *state, e events.RouteTableChanged) *state {
	routes := make([]routing.Route, len(e.Routes))
	for i, r := range e.Routes {
		w, err := r.WeightList()
		if err != nil {
			f.s.log.Error("ledger: invalid RouteTableChanged skipped", "err", err)
			return cur
		}
		routes[i] = routing.Route{Prefix: r.Prefix, MCCMNC: r.MCCMNC, Suppliers: r.Suppliers, Weights: w, Hours: r.Hours}
	}
	snap, err := rebuildRouting(routes, cur.suppliers, cur.fx, f.s.clock())
	if err != nil {
		f.s.log.Error("ledger: invalid RouteTableChanged skipped", "err", err)
		return cur
	}
	cur = mutable(cur, orig)
	cur.routes, cur.snapshot = routes, snap
	return cur
}
