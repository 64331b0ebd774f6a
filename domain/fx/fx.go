// Package fx is the foreign-exchange table: for each currency, dated rates
// to one base currency. Least-cost routing compares supplier costs in the
// base currency at the time of each decision, and reconciliation reports
// margins in it (the reporting currency) at each message's time. A rate
// applies from its effective time until the next one of its currency, so
// an operator can load tomorrow's rates today.
//
// Conversion is integer arithmetic on money.Units (rates kept as 10^-9
// fixed point, 128-bit intermediate products), so a routing decision
// converts costs without allocating; the result is truncated toward zero
// to money.Scale places.
package fx

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/money"
)

// Bounds.
const (
	// RateScale is the fixed point of stored rates: 9 decimal places.
	RateScale = 9
	// MaxRates bounds one table (a few hundred currencies × dated rows).
	MaxRates = 10_000
)

// ErrInvalid reports a table that cannot be built.
var ErrInvalid = errors.New("invalid fx table")

// Rate is one line: one unit of Currency is worth Rate units of the base
// currency from From on.
type Rate struct {
	Currency money.Currency
	Rate     decimal.Decimal
	From     time.Time
}

type dated struct {
	from   time.Time
	scaled uint64 // rate × 10^RateScale
	rate   decimal.Decimal
}

// Table is an immutable FX table.
type Table struct {
	base  money.Currency
	byCur map[money.Currency][]dated // by from, ascending
	lines []Rate
}

// New builds a table to base. Rates must be positive with at most
// RateScale decimal places and below 10^9; a currency has at most one rate
// per effective time; the base currency has none (it is 1).
func New(base money.Currency, rates []Rate) (*Table, error) {
	if !base.Valid() {
		return nil, fmt.Errorf("base currency %q: %w", base, ErrInvalid)
	}
	if len(rates) > MaxRates {
		return nil, fmt.Errorf("%d rates (max %d): %w", len(rates), MaxRates, ErrInvalid)
	}
	t := &Table{base: base, byCur: make(map[money.Currency][]dated), lines: append([]Rate(nil), rates...)}
	for i, r := range rates {
		if !r.Currency.Valid() || r.Currency == base {
			return nil, fmt.Errorf("line %d: currency %q (not the base %s): %w", i+1, r.Currency, base, ErrInvalid)
		}
		scaled := r.Rate.Shift(RateScale)
		if !r.Rate.IsPositive() || !scaled.IsInteger() || r.Rate.GreaterThanOrEqual(decimal.New(1, 9)) {
			return nil, fmt.Errorf("line %d: rate %s: positive, below 10^9, at most %d decimals: %w", i+1, r.Rate, RateScale, ErrInvalid)
		}
		for _, d := range t.byCur[r.Currency] {
			if d.from.Equal(r.From) {
				return nil, fmt.Errorf("line %d: %s twice from %s: %w", i+1, r.Currency, r.From.Format(time.RFC3339), ErrInvalid)
			}
		}
		t.byCur[r.Currency] = append(t.byCur[r.Currency], dated{from: r.From.UTC(), scaled: uint64(scaled.IntPart()), rate: r.Rate})
	}
	for _, ds := range t.byCur {
		sort.Slice(ds, func(i, j int) bool { return ds[i].from.Before(ds[j].from) })
	}
	return t, nil
}

// Base is the table's base (reporting) currency.
func (t *Table) Base() money.Currency {
	if t == nil {
		return ""
	}
	return t.base
}

// Lines are the table's rates as given.
func (t *Table) Lines() []Rate {
	if t == nil {
		return nil
	}
	return append([]Rate(nil), t.lines...)
}

// at returns the rate of cur in force at time at: the latest whose From is
// not after at.
func (t *Table) at(cur money.Currency, at time.Time) (dated, bool) {
	ds := t.byCur[cur]
	i := sort.Search(len(ds), func(i int) bool { return ds[i].from.After(at) })
	if i == 0 {
		return dated{}, false
	}
	return ds[i-1], true
}

// RateAt is the rate of one unit of cur in the base currency at time at
// (1 for the base itself); false when none is in force.
func (t *Table) RateAt(cur money.Currency, at time.Time) (decimal.Decimal, bool) {
	if t == nil {
		return decimal.Decimal{}, false
	}
	if cur == t.base {
		return decimal.NewFromInt(1), true
	}
	d, ok := t.at(cur, at)
	return d.rate, ok
}

// Has reports whether cur has any rate (or is the base).
func (t *Table) Has(cur money.Currency) bool {
	return t != nil && (cur == t.base || len(t.byCur[cur]) > 0)
}

// ToBase converts amount in cur to the base currency at time at, truncated
// toward zero; false when no rate of cur is in force then or the result
// does not fit. It does not allocate.
func (t *Table) ToBase(amount money.Units, cur money.Currency, at time.Time) (money.Units, bool) {
	if t == nil {
		return 0, false
	}
	if cur == t.base {
		return amount, true
	}
	d, ok := t.at(cur, at)
	if !ok {
		return 0, false
	}
	neg := amount < 0
	abs := uint64(amount)
	if neg {
		abs = uint64(-amount)
	}
	hi, lo := bits.Mul64(abs, d.scaled)
	if hi >= 1_000_000_000 { // the quotient would not fit in 64 bits
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, 1_000_000_000)
	if q > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -money.Units(q), true
	}
	return money.Units(q), true
}

// NextChange is the first effective time after at of any rate (zero when
// none is ahead): when conversions made now stop holding.
func (t *Table) NextChange(at time.Time) time.Time {
	var next time.Time
	if t == nil {
		return next
	}
	for _, ds := range t.byCur {
		for _, d := range ds {
			if d.from.After(at) && (next.IsZero() || d.from.Before(next)) {
				next = d.from
			}
		}
	}
	return next
}
