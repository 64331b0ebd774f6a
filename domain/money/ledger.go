package money

import (
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Ledger is an in-memory journal: the reference model of the books that
// the balance projection in Postgres must agree with, and the oracle of the
// property tests. It is not safe for concurrent use.
type Ledger struct {
	entries  map[uuid.UUID]Entry
	order    []uuid.UUID
	balances map[Currency]map[AccountName]decimal.Decimal
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{
		entries:  make(map[uuid.UUID]Entry),
		balances: make(map[Currency]map[AccountName]decimal.Decimal),
	}
}

// Record adds a validated entry. Recording an entry whose id is already
// present is a no-op when the content is identical (idempotent replays and
// duplicate top-up references) and ErrConflictingEntry otherwise.
func (l *Ledger) Record(e Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if prev, ok := l.entries[e.ID]; ok {
		if prev.Equal(e) {
			return nil
		}
		return fmt.Errorf("entry %s: %w", e.ID, ErrConflictingEntry)
	}
	l.entries[e.ID] = e
	l.order = append(l.order, e.ID)
	byAcct := l.balances[e.Currency]
	if byAcct == nil {
		byAcct = make(map[AccountName]decimal.Decimal)
		l.balances[e.Currency] = byAcct
	}
	for _, p := range e.Postings {
		byAcct[p.Account] = byAcct[p.Account].Add(p.Amount)
	}
	return nil
}

// Balance is the signed debit balance of account in currency: the sum of
// its postings.
func (l *Ledger) Balance(account AccountName, currency Currency) decimal.Decimal {
	return l.balances[currency][account]
}

// TenantFunds is the tenant's balance as the tenant sees it: the credit
// balance of its liability account (top-ups minus settled charges).
func (l *Ledger) TenantFunds(tenantID string, currency Currency) decimal.Decimal {
	return l.Balance(TenantAccount(tenantID), currency).Neg()
}

// Entries returns the recorded entries in recording order.
func (l *Ledger) Entries() []Entry {
	out := make([]Entry, 0, len(l.order))
	for _, id := range l.order {
		out = append(out, l.entries[id])
	}
	return out
}

// TrialBalance sums every account per currency; each must be zero for books
// built only from balanced entries. It returns the currencies whose total is
// not zero (empty means the books balance), sorted.
func (l *Ledger) TrialBalance() []Currency {
	var bad []Currency
	for cur, byAcct := range l.balances {
		sum := decimal.Zero
		for _, b := range byAcct {
			sum = sum.Add(b)
		}
		if !sum.IsZero() {
			bad = append(bad, cur)
		}
	}
	sort.Slice(bad, func(i, j int) bool { return bad[i] < bad[j] })
	return bad
}
