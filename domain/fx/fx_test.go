package fx_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/fx"
	"github.com/smsledger/smsledger/domain/money"
)

var (
	d    = decimal.RequireFromString
	day1 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	day2 = day1.Add(24 * time.Hour)
)

func TestRatesByEffectiveTime(t *testing.T) {
	tab, err := fx.New("EUR", []fx.Rate{
		{Currency: "USD", Rate: d("0.95"), From: day2}, // given out of order
		{Currency: "USD", Rate: d("0.90"), From: day1},
		{Currency: "GBP", Rate: d("1.17"), From: day1},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := money.MustFromDecimal(d("0.010"))
	for _, tc := range []struct {
		cur  money.Currency
		at   time.Time
		want string
		ok   bool
	}{
		{"USD", day1.Add(-time.Second), "", false}, // nothing in force yet
		{"USD", day1, "0.009", true},
		{"USD", day2.Add(-time.Nanosecond), "0.009", true},
		{"USD", day2, "0.0095", true},
		{"GBP", day2, "0.0117", true},
		{"EUR", day1.Add(-time.Hour), "0.01", true}, // the base is itself
		{"JPY", day2, "", false},
	} {
		got, ok := tab.ToBase(u, tc.cur, tc.at)
		if ok != tc.ok || (ok && got.String() != tc.want) {
			t.Errorf("%s at %s: %s %v, want %s %v", tc.cur, tc.at.Format(time.RFC3339Nano), got, ok, tc.want, tc.ok)
		}
	}
	if next := tab.NextChange(day1); !next.Equal(day2) {
		t.Errorf("next change after day 1: %v", next)
	}
	if r, ok := tab.RateAt("USD", day2.Add(time.Hour)); !ok || r.String() != "0.95" {
		t.Errorf("RateAt: %v %v", r, ok)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = tab.ToBase(u, "USD", day2) }); n != 0 {
		t.Errorf("ToBase allocates %v", n)
	}
}

func TestTableRefused(t *testing.T) {
	for name, rates := range map[string][]fx.Rate{
		"base has a rate":  {{Currency: "EUR", Rate: d("1"), From: day1}},
		"zero rate":        {{Currency: "USD", Rate: d("0"), From: day1}},
		"too precise":      {{Currency: "USD", Rate: d("0.0000000001"), From: day1}},
		"same time twice":  {{Currency: "USD", Rate: d("0.9"), From: day1}, {Currency: "USD", Rate: d("0.8"), From: day1}},
		"invalid currency": {{Currency: "usd", Rate: d("0.9"), From: day1}},
	} {
		if _, err := fx.New("EUR", rates); !errors.Is(err, fx.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Property: ToBase agrees with decimal arithmetic (truncated to
// money.Scale places) for random amounts and rates, both signs.
func TestToBaseMatchesDecimal(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for i := 0; i < 2000; i++ {
		rate := decimal.New(1+r.Int64N(5_000_000_000), -int32(r.IntN(10)))
		if rate.GreaterThanOrEqual(decimal.New(1, 9)) {
			continue
		}
		tab, err := fx.New("EUR", []fx.Rate{{Currency: "USD", Rate: rate, From: day1}})
		if err != nil {
			continue
		}
		amount := money.Units(r.Int64N(1_000_000_000_000) - 500_000_000_000)
		got, ok := tab.ToBase(amount, "USD", day2)
		want := amount.Decimal().Mul(rate).Truncate(money.Scale)
		if !ok {
			if want.Abs().LessThan(decimal.New(90, 9)) {
				t.Fatalf("%s × %s: refused", amount, rate)
			}
			continue
		}
		if !got.Decimal().Equal(want) {
			t.Fatalf("%s × %s = %s, want %s", amount, rate, got, want)
		}
	}
}
