package ledger

import (
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
)

// The follower's money concern: top-ups, adjustments, holds, settlements and releases
// move the tenant's tally and, once live, its Account. They never change
// the configuration state; an event for an unknown tenant or with an
// amount that does not parse is logged and skipped.

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

// tenantMoney returns the tally and snapshot of a tenant, or ok false.
func (f *follower) tenantMoney(cur *state, tenantID string) (*tally, *tenantSnap, bool) {
	ty, t := f.tallies[tenantID], cur.tenants[tenantID]
	return ty, t, ty != nil && t != nil
}

// toppedUp counts a top-up once per reference.
func (f *follower) toppedUp(cur *state, e events.TopUpRecorded) {
	ty, t, ok := f.tenantMoney(cur, e.TenantID)
	if !ok {
		return
	}
	amt, err := money.FromDecimal(e.Amount)
	if err != nil || amt <= 0 || e.Currency != string(ty.currency) {
		f.s.log.Error("ledger: invalid TopUpRecorded skipped", "tenant", e.TenantID, "reference", e.Reference)
		return
	}
	if !f.s.recordTopUp(e.TenantID, e.Reference, amt) {
		return // the same reference again: already counted
	}
	ty.balance += amt
	if f.live {
		if err := t.accept.Account.TopUp(amt); err != nil {
			f.s.log.Error("ledger: top-up not applied to account", "tenant", e.TenantID, "err", err)
		}
	}
}

// adjusted counts an adjustment once per reference; live, it moves the
// Account unless this process's Adjust already debited it.
func (f *follower) adjusted(cur *state, e events.AdjustmentRecorded) {
	ty, t, ok := f.tenantMoney(cur, e.TenantID)
	if !ok {
		return
	}
	amt, err := money.FromDecimal(e.Amount)
	if err != nil || amt == 0 || e.Currency != string(ty.currency) {
		f.s.log.Error("ledger: invalid AdjustmentRecorded skipped", "tenant", e.TenantID, "reference", e.Reference)
		return
	}
	if !f.s.recordTopUp(adjustmentKey(e.TenantID), e.Reference, amt) {
		return // the same reference again: already counted
	}
	ty.balance += amt
	if amt < 0 && e.Node != "" {
		// Taken from a node's lease (budget.go); the tenant's Account
		// takes it as the log says.
		f.chargedOnLease(e.TenantID, e.Node, e.EntryID, -amt)
		if f.live {
			if err := t.accept.Account.Adjust(amt); err != nil {
				f.s.log.Error("ledger: adjustment not applied to account", "tenant", e.TenantID, "reference", e.Reference, "err", err)
			}
		}
		return
	}
	if !f.live {
		return
	}
	if amt < 0 {
		if _, local := f.s.pending.LoadAndDelete(e.EntryID); local {
			return // Adjust already debited the Account
		}
	}
	if err := t.accept.Account.Adjust(amt); err != nil {
		f.s.log.Error("ledger: adjustment not applied to account", "tenant", e.TenantID, "reference", e.Reference, "err", err)
	}
}

// held counts a hold; live, it takes it on the Account unless this
// process's Submit already did.
func (f *follower) held(cur *state, e events.Held) {
	ty, t, ok := f.tenantMoney(cur, e.TenantID)
	if !ok {
		f.s.log.Error("ledger: hold for unknown tenant", "tenant", e.TenantID, "message", e.MessageID)
		return
	}
	amt, err := money.FromDecimal(e.Amount)
	if err != nil || amt < 0 {
		f.s.log.Error("ledger: invalid Held skipped", "message", e.MessageID)
		return
	}
	ty.held += amt
	if e.Node != "" {
		// On a node's lease (budget.go): the lease moves, and the
		// tenant's Account takes the hold as the log says.
		f.heldOnLease(e, amt)
		if f.live {
			if err := t.accept.Account.HoldFromLog(amt); err != nil {
				f.s.log.Error("ledger: hold not applied to account", "tenant", e.TenantID, "message", e.MessageID, "err", err)
			}
		}
		return
	}
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

// settled ends a hold and charges the price.
func (f *follower) settled(cur *state, e events.Settled) {
	ty, t, ok := f.tenantMoney(cur, e.TenantID)
	if !ok {
		return
	}
	held, err1 := money.FromDecimal(e.Held)
	price, err2 := money.FromDecimal(e.Price)
	if err1 != nil || err2 != nil {
		f.s.log.Error("ledger: invalid Settled skipped", "message", e.MessageID)
		return
	}
	ty.held -= held
	ty.balance -= price
	f.closedOnLease(e.TenantID, e.MessageID, held, price)
	if f.live {
		if err := t.accept.Account.Settle(held, price); err != nil {
			f.s.log.Error("ledger: settlement not applied to account", "tenant", e.TenantID, "message", e.MessageID, "err", err)
		}
	}
}

// released ends a hold without a charge.
func (f *follower) released(cur *state, e events.Released) {
	ty, t, ok := f.tenantMoney(cur, e.TenantID)
	if !ok {
		return
	}
	amt, err := money.FromDecimal(e.Amount)
	if err != nil {
		f.s.log.Error("ledger: invalid Released skipped", "message", e.MessageID)
		return
	}
	ty.held -= amt
	f.closedOnLease(e.TenantID, e.MessageID, amt, 0)
	if f.live {
		if err := t.accept.Account.Release(amt); err != nil {
			f.s.log.Error("ledger: release not applied to account", "tenant", e.TenantID, "message", e.MessageID, "err", err)
		}
	}
}
