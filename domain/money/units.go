package money

import (
	"errors"
	"fmt"
	"math"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimal places Units can represent exactly.
const Scale = 8

// Units is an exact amount in 10^-Scale of a currency unit (so 1 EUR is
// 100_000_000 Units and 0.0125 EUR is 1_250_000 Units). The largest
// representable amount is about 92 billion currency units, far beyond any
// single balance; arithmetic helpers detect overflow instead of wrapping.
type Units int64

// ErrNotExact reports an amount with more than Scale decimal places.
var ErrNotExact = errors.New("amount not representable exactly")

// ErrOutOfRange reports an amount that does not fit in Units.
var ErrOutOfRange = errors.New("amount out of range")

// ErrNegative reports a negative amount where only >= 0 is meaningful.
var ErrNegative = errors.New("negative amount")

var maxUnitsDecimal = decimal.New(math.MaxInt64, -Scale)

// FromDecimal converts d to Units exactly. It fails with ErrNotExact when d
// has more than Scale significant decimal places and ErrOutOfRange when it
// does not fit in int64.
func FromDecimal(d decimal.Decimal) (Units, error) {
	if u, ok := exactUnits(d); ok {
		return u, nil
	}
	return fromDecimalShifted(d)
}

// fromDecimalShifted is FromDecimal by decimal arithmetic (it allocates):
// the path for what exactUnits leaves, and its reference in the tests.
func fromDecimalShifted(d decimal.Decimal) (Units, error) {
	if d.Abs().GreaterThan(maxUnitsDecimal) {
		return 0, fmt.Errorf("%s: %w", d, ErrOutOfRange)
	}
	scaled := d.Shift(Scale)
	if !scaled.IsInteger() {
		return 0, fmt.Errorf("%s has more than %d decimal places: %w", d, Scale, ErrNotExact)
	}
	return Units(scaled.IntPart()), nil
}

// pow10Units[k] is 10^k, k in 0..Scale.
var pow10Units = [Scale + 1]int64{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000}

// exactUnits is FromDecimal's fast path: without allocating, it converts d
// when its coefficient has at most 18 digits and its exponent is within
// -Scale..0 (every amount the product makes); ok is false for anything
// else, which fromDecimalShifted then decides.
func exactUnits(d decimal.Decimal) (Units, bool) {
	exp := d.Exponent()
	if exp < -Scale || exp > 0 || d.NumDigits() > 18 {
		return 0, false
	}
	c, m := d.CoefficientInt64(), pow10Units[int(exp)+Scale]
	if c > math.MaxInt64/m || c < math.MinInt64/m {
		return 0, false
	}
	return Units(c * m), true
}

// MustFromDecimal is FromDecimal for constants in tests and setup; it panics
// on error.
func MustFromDecimal(d decimal.Decimal) Units {
	u, err := FromDecimal(d)
	if err != nil {
		panic(err)
	}
	return u
}

// ParseUnits parses a decimal string such as "0.0125" into Units.
func ParseUnits(s string) (Units, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("parse amount %q: %w", s, err)
	}
	return FromDecimal(d)
}

// Decimal converts u to a decimal.Decimal (exact).
func (u Units) Decimal() decimal.Decimal {
	return decimal.New(int64(u), -Scale)
}

// String formats u as a plain decimal string without trailing zeros
// ("0.0125"), the form used in the HTTP API.
func (u Units) String() string { return u.Decimal().String() }

// Add returns u+v, failing with ErrOutOfRange on overflow.
func (u Units) Add(v Units) (Units, error) {
	s := u + v
	if (v > 0 && s < u) || (v < 0 && s > u) {
		return 0, fmt.Errorf("%s + %s: %w", u, v, ErrOutOfRange)
	}
	return s, nil
}

// MulInt returns u*n, failing with ErrOutOfRange on overflow. It is how a
// per-part price becomes a message price.
func (u Units) MulInt(n int) (Units, error) {
	if n == 0 || u == 0 {
		return 0, nil
	}
	p := u * Units(n)
	if p/Units(n) != u || (n == -1 && u == math.MinInt64) {
		return 0, fmt.Errorf("%s * %d: %w", u, n, ErrOutOfRange)
	}
	return p, nil
}

// Currency is an ISO 4217 alphabetic code such as "EUR".
type Currency string

// ErrInvalidCurrency reports a currency code that is not three upper-case
// ASCII letters.
var ErrInvalidCurrency = errors.New("invalid currency")

// ParseCurrency validates a currency code.
func ParseCurrency(s string) (Currency, error) {
	if !Currency(s).Valid() {
		return "", fmt.Errorf("currency %q: %w", s, ErrInvalidCurrency)
	}
	return Currency(s), nil
}

// Valid reports whether c is a well-formed currency code: three letters
// A–Z. (A byte loop: it runs for every journal entry.)
func (c Currency) Valid() bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// ErrCurrencyMismatch reports an operation mixing two currencies.
var ErrCurrencyMismatch = errors.New("currency mismatch")

// BillingMode says when a tenant's held price is settled.
type BillingMode string

// Billing modes.
const (
	// BillOnSubmit settles when a supplier accepts the message.
	BillOnSubmit BillingMode = "on_submit"
	// BillOnDelivery settles on a delivered DLR; undelivered releases.
	BillOnDelivery BillingMode = "on_delivery"
)

// ErrInvalidBillingMode reports an unknown billing mode.
var ErrInvalidBillingMode = errors.New("invalid billing mode")

// ParseBillingMode validates a billing mode string.
func ParseBillingMode(s string) (BillingMode, error) {
	switch BillingMode(s) {
	case BillOnSubmit, BillOnDelivery:
		return BillingMode(s), nil
	}
	return "", fmt.Errorf("billing %q: %w", s, ErrInvalidBillingMode)
}
