package money

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/ids"
)

// AccountName names a journal account. The chart of accounts is small and
// fixed; per-party accounts carry the party's id after a colon.
type AccountName string

// The fixed accounts. Sign convention of a Posting: debit is positive,
// credit is negative, so an entry balances when its postings sum to zero.
const (
	// Cash is the asset account top-ups are received into.
	Cash AccountName = "cash"
	// Revenue is credited with the sell price of every settled message.
	Revenue AccountName = "revenue"
	// CostOfSales is debited with the supplier cost of every settled message.
	CostOfSales AccountName = "cost_of_sales"
	// Adjustments is the account manual corrections of tenant balances are
	// booked against: a positive adjustment debits it (the platform grants
	// the tenant funds), a negative one credits it.
	Adjustments AccountName = "adjustments"
)

const (
	tenantPrefix          = "tenant:"
	supplierPayablePrefix = "supplier_payable:"
)

// TenantAccount is the liability account holding a tenant's prepaid funds
// ("tenant:<id>"). Top-ups credit it, settlements debit it; the tenant's
// balance is its credit balance (the negated sum of its postings).
func TenantAccount(tenantID string) AccountName { return AccountName(tenantPrefix + tenantID) }

// SupplierPayable is the liability account of what we owe a supplier
// ("supplier_payable:<id>").
func SupplierPayable(supplierID string) AccountName {
	return AccountName(supplierPayablePrefix + supplierID)
}

// EntryKind says which money movement an entry records.
type EntryKind string

// Entry kinds.
const (
	KindTopUp EntryKind = "topup"
	// KindSettlement is one message's settlement (sell and buy side, or
	// the sell side alone when the supplier's cost is booked apart).
	KindSettlement EntryKind = "settlement"
	// KindSupplierCost is a message's supplier cost booked apart from the
	// tenant's charge, when the supplier's billing basis falls at another
	// moment than the tenant's (SupplierCostEntries).
	KindSupplierCost EntryKind = "supplier_cost"
	// KindAdjustment is a manual correction.
	KindAdjustment EntryKind = "adjustment"
)

// Posting is one line of an entry: a signed amount on one account, debit
// positive and credit negative.
type Posting struct {
	Account AccountName     `json:"account"`
	Amount  decimal.Decimal `json:"amount"`
}

// Entry is one balanced journal entry in one currency.
type Entry struct {
	ID        uuid.UUID `json:"id"`
	Kind      EntryKind `json:"kind"`
	Currency  Currency  `json:"currency"`
	Postings  []Posting `json:"postings"`
	MessageID uuid.UUID `json:"message_id,omitzero"`
	Reference string    `json:"reference,omitempty"`
}

// Journal errors, for errors.Is.
var (
	ErrUnbalanced       = errors.New("journal entry does not balance")
	ErrEmptyEntry       = errors.New("journal entry has fewer than two postings")
	ErrZeroPosting      = errors.New("journal posting of zero")
	ErrInvalidAccount   = errors.New("invalid account name")
	ErrConflictingEntry = errors.New("journal entry id reused with different content")
)

// MaxPostings bounds the size of one entry.
const MaxPostings = 64

// Validate checks the entry's invariants: a valid currency, 2..MaxPostings
// non-zero postings on named accounts, summing to zero.
func (e Entry) Validate() error {
	if !e.Currency.Valid() {
		return fmt.Errorf("entry %s: currency %q: %w", e.ID, e.Currency, ErrInvalidCurrency)
	}
	if len(e.Postings) < 2 || len(e.Postings) > MaxPostings {
		return fmt.Errorf("entry %s: %d postings: %w", e.ID, len(e.Postings), ErrEmptyEntry)
	}
	// Summed in Units while every amount converts exactly (FromDecimal
	// does not allocate for them: this runs for every settlement);
	// otherwise, or on overflow, in decimal.
	var units Units
	exact := true
	for i, p := range e.Postings {
		if p.Account == "" || strings.HasSuffix(string(p.Account), ":") {
			return fmt.Errorf("entry %s posting %d: %q: %w", e.ID, i, p.Account, ErrInvalidAccount)
		}
		if p.Amount.IsZero() {
			return fmt.Errorf("entry %s posting %d on %s: %w", e.ID, i, p.Account, ErrZeroPosting)
		}
		if exact {
			u, err := FromDecimal(p.Amount)
			if err == nil {
				if s, err := units.Add(u); err == nil {
					units = s
					continue
				}
			}
			exact = false
		}
	}
	if exact {
		if units != 0 {
			return fmt.Errorf("entry %s: postings sum to %s: %w", e.ID, units, ErrUnbalanced)
		}
		return nil
	}
	sum := decimal.Zero
	for _, p := range e.Postings {
		sum = sum.Add(p.Amount)
	}
	if !sum.IsZero() {
		return fmt.Errorf("entry %s: postings sum to %s: %w", e.ID, sum, ErrUnbalanced)
	}
	return nil
}

// Equal reports whether two entries are the same (amounts compared by value).
func (e Entry) Equal(o Entry) bool {
	if e.ID != o.ID || e.Kind != o.Kind || e.Currency != o.Currency ||
		e.MessageID != o.MessageID || e.Reference != o.Reference || len(e.Postings) != len(o.Postings) {
		return false
	}
	for i := range e.Postings {
		if e.Postings[i].Account != o.Postings[i].Account || !e.Postings[i].Amount.Equal(o.Postings[i].Amount) {
			return false
		}
	}
	return true
}

// Money is an amount with its currency, used where both travel together.
type Money struct {
	Amount   decimal.Decimal `json:"amount"`
	Currency Currency        `json:"currency"`
}

// EntryBuilder accumulates postings in one currency. Adding a posting in
// another currency is recorded as an error returned by Build: an entry never
// mixes currencies.
type EntryBuilder struct {
	entry Entry
	err   error
}

// NewEntryBuilder starts an entry.
func NewEntryBuilder(id uuid.UUID, kind EntryKind, currency Currency) *EntryBuilder {
	return &EntryBuilder{entry: Entry{ID: id, Kind: kind, Currency: currency}}
}

// ForMessage links the entry to a message.
func (b *EntryBuilder) ForMessage(id uuid.UUID) *EntryBuilder { b.entry.MessageID = id; return b }

// WithReference sets the external reference (e.g. the top-up reference).
func (b *EntryBuilder) WithReference(ref string) *EntryBuilder { b.entry.Reference = ref; return b }

// Debit adds a debit of m (m.Amount must be positive) to account.
func (b *EntryBuilder) Debit(account AccountName, m Money) *EntryBuilder {
	return b.post(account, m, false)
}

// Credit adds a credit of m (m.Amount must be positive) to account.
func (b *EntryBuilder) Credit(account AccountName, m Money) *EntryBuilder {
	return b.post(account, m, true)
}

func (b *EntryBuilder) post(account AccountName, m Money, credit bool) *EntryBuilder {
	if b.err != nil {
		return b
	}
	if m.Currency != b.entry.Currency {
		b.err = fmt.Errorf("entry %s in %s: posting to %s in %s: %w",
			b.entry.ID, b.entry.Currency, account, m.Currency, ErrCurrencyMismatch)
		return b
	}
	if m.Amount.IsNegative() {
		b.err = fmt.Errorf("entry %s: posting to %s of %s: %w", b.entry.ID, account, m.Amount, ErrNegative)
		return b
	}
	amt := m.Amount
	if credit {
		amt = amt.Neg()
	}
	b.entry.Postings = append(b.entry.Postings, Posting{Account: account, Amount: amt})
	return b
}

// Build validates and returns the entry.
func (b *EntryBuilder) Build() (Entry, error) {
	if b.err != nil {
		return Entry{}, b.err
	}
	if err := b.entry.Validate(); err != nil {
		return Entry{}, err
	}
	return b.entry, nil
}

// entryNamespace scopes the deterministic entry ids derived below.
var entryNamespace = uuid.MustParse("6f1d3c2a-8a51-4c57-9a0e-3b1b8f0e5d21")

// TopUpEntryID is the deterministic id of a tenant's top-up with an external
// reference: recording the same reference twice yields the same entry id,
// which is what makes top-ups idempotent by reference.
func TopUpEntryID(tenantID, reference string) uuid.UUID {
	return uuid.NewSHA1(entryNamespace, []byte("topup\x00"+tenantID+"\x00"+reference))
}

// AdjustmentEntryID is the deterministic id of a tenant's adjustment with
// an external reference, as TopUpEntryID for top-ups (another namespace:
// an adjustment and a top-up may share a reference).
func AdjustmentEntryID(tenantID, reference string) uuid.UUID {
	return uuid.NewSHA1(entryNamespace, []byte("adjustment\x00"+tenantID+"\x00"+reference))
}

// SettlementEntryID is the deterministic id of a message's settlement entry;
// side is "" when sell and buy share one currency (one entry), else "sell"
// or "buy". It is time-ordered like the message id (package ids).
func SettlementEntryID(messageID uuid.UUID, side string) uuid.UUID {
	return ids.TimeOrdered(messageID, uuid.NewSHA1(entryNamespace, []byte("settlement\x00"+messageID.String()+"\x00"+side)))
}

// SupplierCostEntryID is the deterministic id of a message's supplier cost
// entry booked apart from its settlement: one per message, so booking it
// again (a replayed decision, a second process) names the same entry.
func SupplierCostEntryID(messageID uuid.UUID) uuid.UUID {
	return SettlementEntryID(messageID, "cost")
}

// TopUpEntry records a tenant's top-up: debit cash, credit the tenant.
func TopUpEntry(tenantID string, amount Money, reference string) (Entry, error) {
	if !amount.Amount.IsPositive() {
		return Entry{}, fmt.Errorf("top-up of %s for tenant %s: %w", amount.Amount, tenantID, ErrNegative)
	}
	if reference == "" {
		return Entry{}, fmt.Errorf("top-up for tenant %s: empty reference", tenantID)
	}
	return NewEntryBuilder(TopUpEntryID(tenantID, reference), KindTopUp, amount.Currency).
		WithReference(reference).
		Debit(Cash, amount).
		Credit(TenantAccount(tenantID), amount).
		Build()
}

// AdjustmentEntry records a manual correction of a tenant's balance by a
// signed, non-zero amount: a positive one debits Adjustments and credits the
// tenant, a negative one debits the tenant and credits Adjustments.
func AdjustmentEntry(tenantID string, amount Money, reference string) (Entry, error) {
	if amount.Amount.IsZero() {
		return Entry{}, fmt.Errorf("adjustment for tenant %s: zero amount: %w", tenantID, ErrZeroPosting)
	}
	if reference == "" {
		return Entry{}, fmt.Errorf("adjustment for tenant %s: empty reference", tenantID)
	}
	b := NewEntryBuilder(AdjustmentEntryID(tenantID, reference), KindAdjustment, amount.Currency).WithReference(reference)
	if amount.Amount.IsPositive() {
		b.Debit(Adjustments, amount).Credit(TenantAccount(tenantID), amount)
	} else {
		abs := Money{Amount: amount.Amount.Neg(), Currency: amount.Currency}
		b.Debit(TenantAccount(tenantID), abs).Credit(Adjustments, abs)
	}
	return b.Build()
}

// SettlementEntries records one message's settlement: the sell side (debit
// the tenant, credit revenue) and the buy side (debit cost of sales, credit
// the supplier payable). When price and cost share a currency the result is
// one entry of four postings, so the message's margin (price − cost) is in
// one balanced entry; otherwise it is two entries, one per currency, because
// an entry never mixes currencies. A zero cost (free route) or zero price
// omits that side.
func SettlementEntries(messageID uuid.UUID, tenantID, supplierID string, price, cost Money) ([]Entry, error) {
	if price.Amount.IsNegative() || cost.Amount.IsNegative() {
		return nil, fmt.Errorf("settle message %s: price %s cost %s: %w", messageID, price.Amount, cost.Amount, ErrNegative)
	}
	sell := func(b *EntryBuilder) *EntryBuilder {
		if price.Amount.IsZero() {
			return b
		}
		return b.Debit(TenantAccount(tenantID), price).Credit(Revenue, price)
	}
	buy := func(b *EntryBuilder) *EntryBuilder {
		if cost.Amount.IsZero() {
			return b
		}
		return b.Debit(CostOfSales, cost).Credit(SupplierPayable(supplierID), cost)
	}
	if price.Currency == cost.Currency || cost.Amount.IsZero() || price.Amount.IsZero() {
		cur := price.Currency
		if price.Amount.IsZero() {
			cur = cost.Currency
		}
		if price.Amount.IsZero() && cost.Amount.IsZero() {
			return nil, nil
		}
		b := NewEntryBuilder(SettlementEntryID(messageID, ""), KindSettlement, cur).ForMessage(messageID)
		e, err := buy(sell(b)).Build()
		if err != nil {
			return nil, fmt.Errorf("settle message %s: %w", messageID, err)
		}
		return []Entry{e}, nil
	}
	s, err := sell(NewEntryBuilder(SettlementEntryID(messageID, "sell"), KindSettlement, price.Currency).ForMessage(messageID)).Build()
	if err != nil {
		return nil, fmt.Errorf("settle message %s (sell side): %w", messageID, err)
	}
	c, err := buy(NewEntryBuilder(SettlementEntryID(messageID, "buy"), KindSettlement, cost.Currency).ForMessage(messageID)).Build()
	if err != nil {
		return nil, fmt.Errorf("settle message %s (buy side): %w", messageID, err)
	}
	return []Entry{s, c}, nil
}

// SupplierCostEntries records a message's supplier cost on its own (debit
// cost of sales, credit the supplier payable), for a cost booked at another
// moment than the tenant's charge; SettlementEntries then carries the sell
// side alone (a zero cost). A zero cost books nothing: no entries.
func SupplierCostEntries(messageID uuid.UUID, supplierID string, cost Money) ([]Entry, error) {
	if cost.Amount.IsNegative() {
		return nil, fmt.Errorf("supplier cost of message %s: %s: %w", messageID, cost.Amount, ErrNegative)
	}
	if cost.Amount.IsZero() {
		return nil, nil
	}
	e, err := NewEntryBuilder(SupplierCostEntryID(messageID), KindSupplierCost, cost.Currency).ForMessage(messageID).
		Debit(CostOfSales, cost).
		Credit(SupplierPayable(supplierID), cost).
		Build()
	if err != nil {
		return nil, fmt.Errorf("supplier cost of message %s: %w", messageID, err)
	}
	return []Entry{e}, nil
}
