package money

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestFromDecimal(t *testing.T) {
	cases := []struct {
		in   string
		want Units
		err  error
	}{
		{"0", 0, nil},
		{"1", 100_000_000, nil},
		{"0.0125", 1_250_000, nil},
		{"0.00000001", 1, nil},
		{"-2.5", -250_000_000, nil},
		{"0.000000001", 0, ErrNotExact},
		{"92233720368.54775807", math.MaxInt64, nil},
		{"92233720368.54775808", 0, ErrOutOfRange},
		{"1e30", 0, ErrOutOfRange},
	}
	for _, c := range cases {
		got, err := FromDecimal(d(c.in))
		if !errors.Is(err, c.err) || (err == nil && got != c.want) {
			t.Errorf("FromDecimal(%s) = %d, %v; want %d, %v", c.in, got, err, c.want, c.err)
		}
		if err == nil && !got.Decimal().Equal(d(c.in)) {
			t.Errorf("round trip %s -> %s", c.in, got.Decimal())
		}
	}
	if u, err := ParseUnits("0.0125"); err != nil || u.String() != "0.0125" {
		t.Errorf("ParseUnits: %v %v", u, err)
	}
}

func TestUnitsOverflow(t *testing.T) {
	if _, err := Units(math.MaxInt64).Add(1); !errors.Is(err, ErrOutOfRange) {
		t.Error("add overflow not detected")
	}
	if _, err := Units(math.MaxInt64 / 2).MulInt(3); !errors.Is(err, ErrOutOfRange) {
		t.Error("mul overflow not detected")
	}
	if p, err := Units(1_250_000).MulInt(3); err != nil || p != 3_750_000 {
		t.Errorf("mul: %v %v", p, err)
	}
}

func TestTopUpEntry(t *testing.T) {
	e, err := TopUpEntry("acme", Money{d("100"), "EUR"}, "inv-1")
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != TopUpEntryID("acme", "inv-1") || e.Kind != KindTopUp || len(e.Postings) != 2 {
		t.Fatalf("%+v", e)
	}
	if _, err := TopUpEntry("acme", Money{d("0"), "EUR"}, "x"); !errors.Is(err, ErrNegative) {
		t.Errorf("zero top-up: %v", err)
	}
	if _, err := TopUpEntry("acme", Money{d("1"), "EUR"}, ""); err == nil {
		t.Error("top-up without reference")
	}
}

func TestSettlementEntries(t *testing.T) {
	msg := uuid.MustParse("00000000-0000-4000-8000-000000000001")
	one, err := SettlementEntries(msg, "acme", "sup", Money{d("0.05"), "EUR"}, Money{d("0.02"), "EUR"})
	if err != nil || len(one) != 1 || len(one[0].Postings) != 4 {
		t.Fatalf("same currency: %+v %v", one, err)
	}
	l := NewLedger()
	if err := l.Record(one[0]); err != nil {
		t.Fatal(err)
	}
	margin := l.Balance(Revenue, "EUR").Neg().Sub(l.Balance(CostOfSales, "EUR"))
	if !margin.Equal(d("0.03")) {
		t.Fatalf("margin %s", margin)
	}
	two, err := SettlementEntries(msg, "acme", "sup", Money{d("0.05"), "EUR"}, Money{d("0.02"), "USD"})
	if err != nil || len(two) != 2 || two[0].Currency != "EUR" || two[1].Currency != "USD" || two[0].ID == two[1].ID {
		t.Fatalf("two currencies: %+v %v", two, err)
	}
	free, err := SettlementEntries(msg, "acme", "sup", Money{d("0.05"), "EUR"}, Money{d("0"), "USD"})
	if err != nil || len(free) != 1 || len(free[0].Postings) != 2 {
		t.Fatalf("free route: %+v %v", free, err)
	}
}

func TestEntryValidation(t *testing.T) {
	id := uuid.MustParse("00000000-0000-4000-8000-000000000002")
	_, err := NewEntryBuilder(id, KindAdjustment, "EUR").Debit(Cash, Money{d("1"), "EUR"}).Credit(Revenue, Money{d("1"), "USD"}).Build()
	if !errors.Is(err, ErrCurrencyMismatch) {
		t.Errorf("mixed currency: %v", err)
	}
	bad := Entry{ID: id, Kind: KindAdjustment, Currency: "EUR", Postings: []Posting{{Cash, d("1")}, {Revenue, d("-0.99")}}}
	if err := bad.Validate(); !errors.Is(err, ErrUnbalanced) {
		t.Errorf("unbalanced: %v", err)
	}
	if err := (Entry{ID: id, Currency: "EUR", Postings: []Posting{{Cash, d("0")}, {Revenue, d("0")}}}).Validate(); !errors.Is(err, ErrZeroPosting) {
		t.Errorf("zero: %v", err)
	}
	if err := (Entry{ID: id, Currency: "EUR", Postings: []Posting{{Cash, d("1")}}}).Validate(); !errors.Is(err, ErrEmptyEntry) {
		t.Errorf("single posting: %v", err)
	}
	if err := (Entry{ID: id, Currency: "EUR", Postings: []Posting{{"tenant:", d("1")}, {Cash, d("-1")}}}).Validate(); !errors.Is(err, ErrInvalidAccount) {
		t.Errorf("account: %v", err)
	}
}

func TestLedgerIdempotentByID(t *testing.T) {
	l := NewLedger()
	e, _ := TopUpEntry("acme", Money{d("10"), "EUR"}, "ref")
	for i := 0; i < 3; i++ {
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.TenantFunds("acme", "EUR"); !got.Equal(d("10")) {
		t.Fatalf("funds %s after duplicate records", got)
	}
	other, _ := TopUpEntry("acme", Money{d("11"), "EUR"}, "ref")
	if err := l.Record(other); !errors.Is(err, ErrConflictingEntry) {
		t.Fatalf("conflict: %v", err)
	}
	if bad := l.TrialBalance(); len(bad) != 0 || len(l.Entries()) != 1 {
		t.Fatalf("trial balance %v entries %d", bad, len(l.Entries()))
	}
}

func TestAccount(t *testing.T) {
	a, err := NewAccount("EUR", MustFromDecimal(d("1")), MustFromDecimal(d("0.5")), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Hold(MustFromDecimal(d("1.2"))); err != nil {
		t.Fatal(err)
	}
	err = a.Hold(MustFromDecimal(d("0.31")))
	var ife *InsufficientFundsError
	if !errors.Is(err, ErrInsufficientFunds) || !errors.As(err, &ife) || ife.Available.String() != "0.3" {
		t.Fatalf("overspend: %v", err)
	}
	if err := a.Settle(MustFromDecimal(d("1.2")), MustFromDecimal(d("1.2"))); err != nil {
		t.Fatal(err)
	}
	s := a.State()
	if s.Balance.String() != "-0.2" || s.Held != 0 || s.Available.String() != "0.3" {
		t.Fatalf("state %+v", s)
	}
	if err := a.Release(1); !errors.Is(err, ErrHoldUnderflow) {
		t.Fatalf("release without hold: %v", err)
	}
	if err := a.Settle(2, 3); !errors.Is(err, ErrHoldUnderflow) {
		t.Fatalf("charge above hold: %v", err)
	}
	if err := a.TopUp(MustFromDecimal(d("1"))); err != nil || a.State().Available.String() != "1.3" {
		t.Fatalf("top up: %v %+v", err, a.State())
	}
	if err := a.HoldDecimal(d("0.000000001")); !errors.Is(err, ErrNotExact) {
		t.Fatalf("inexact hold: %v", err)
	}
	if err := a.Hold(-1); !errors.Is(err, ErrNegative) {
		t.Fatalf("negative hold: %v", err)
	}
}

// TestAccountConcurrentHoldsNeverOverspend runs many goroutines holding,
// releasing and settling against one account: the number of successful
// holds is exactly what the funds allow, and available never goes negative.
func TestAccountConcurrentHoldsNeverOverspend(t *testing.T) {
	const (
		workers = 16
		tries   = 2000
		price   = Units(1_000_000) // 0.01
	)
	a, err := NewAccount("EUR", 500*price, 100*price, 0)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		granted  int
		settled  int
		negative bool
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < tries; i++ {
				if err := a.Hold(price); err != nil {
					if !errors.Is(err, ErrInsufficientFunds) {
						t.Error(err)
					}
					continue
				}
				mu.Lock()
				granted++
				mu.Unlock()
				// Half the holds are released (failed messages), half settled.
				if (w+i)%2 == 0 {
					if err := a.Release(price); err != nil {
						t.Error(err)
					}
				} else {
					if err := a.Settle(price, price); err != nil {
						t.Error(err)
					}
					mu.Lock()
					settled++
					mu.Unlock()
				}
				if s := a.State(); s.Balance+s.CreditLimit-s.Held < 0 {
					negative = true
				}
			}
		}(w)
	}
	wg.Wait()
	s := a.State()
	if negative {
		t.Fatal("available went negative")
	}
	if settled != 600 || s.Balance != -100*price || s.Held != 0 || s.Available != 0 {
		t.Fatalf("settled %d of %d granted, state %+v; want exactly 600 settled", settled, granted, s)
	}
}

// exactUnits (FromDecimal's fast path) agrees with the decimal-arithmetic
// path wherever it answers, and answers for the amounts the product makes
// (at most Scale places, int64 range).
func TestExactUnitsAgreesWithFromDecimal(t *testing.T) {
	cases := []decimal.Decimal{
		decimal.Zero, decimal.RequireFromString("0.0125"), decimal.RequireFromString("-0.0125"),
		decimal.RequireFromString("92233720368.54775807"), decimal.RequireFromString("-92233720368.54775808"),
		decimal.RequireFromString("92233720368.54775808"), decimal.RequireFromString("0.000000001"),
		decimal.RequireFromString("1e20"), decimal.New(5, 3), decimal.New(123456789012345678, -8),
		decimal.New(1234567890123456789, -8), decimal.RequireFromString("1.10000000"),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		cases = append(cases, decimal.New(r.Int64N(1<<62)-(1<<61), -int32(r.IntN(12))))
	}
	for _, d := range cases {
		u, ok := exactUnits(d)
		want, err := fromDecimalShifted(d)
		if ok && (err != nil || u != want) {
			t.Errorf("%s: exactUnits %d, fromDecimalShifted %d (%v)", d, u, want, err)
		}
		if !ok && err == nil && d.Exponent() >= -Scale && d.Exponent() <= 0 && d.NumDigits() <= 18 {
			t.Errorf("%s: exactUnits gave way on an amount fromDecimalShifted converts (%d)", d, want)
		}
		if got, gotErr := FromDecimal(d); got != want || (gotErr == nil) != (err == nil) {
			t.Errorf("%s: FromDecimal %d (%v), fromDecimalShifted %d (%v)", d, got, gotErr, want, err)
		}
	}
}

// Validate finds the same balance whether it sums in Units or in decimal
// (amounts with more places than Units hold, or sums that overflow int64).
func TestValidateSumsExactlyOnBothPaths(t *testing.T) {
	entry := func(amounts ...string) Entry {
		e := Entry{ID: uuid.New(), Kind: KindSettlement, Currency: "EUR"}
		for i, a := range amounts {
			e.Postings = append(e.Postings, Posting{Account: AccountName(fmt.Sprintf("acct:%d", i)), Amount: decimal.RequireFromString(a)})
		}
		return e
	}
	for _, c := range []struct {
		amounts  []string
		balanced bool
	}{
		{[]string{"0.07", "-0.07"}, true},
		{[]string{"0.07", "-0.06"}, false},
		{[]string{"0.0000000001", "-0.0000000001"}, true},  // beyond Units: decimal path
		{[]string{"0.0000000001", "-0.0000000002"}, false}, // beyond Units: decimal path
		{[]string{"0.01", "0.0000000001", "-0.0100000001"}, true},
		{[]string{"92233720368.54775807", "92233720368.54775807", "-184467440737.09551614"}, true}, // Units overflow midway
		{[]string{"92233720368.54775807", "92233720368.54775807", "-184467440737.09551613"}, false},
		{[]string{"1e20", "-1e20"}, true},
	} {
		err := entry(c.amounts...).Validate()
		if c.balanced != (err == nil) || (err != nil && !errors.Is(err, ErrUnbalanced)) {
			t.Errorf("%v: %v, want balanced=%v", c.amounts, err, c.balanced)
		}
	}
	if err := (Entry{ID: uuid.New(), Currency: "eur", Postings: []Posting{{"a", decimal.New(1, 0)}, {"b", decimal.New(-1, 0)}}}).Validate(); !errors.Is(err, ErrInvalidCurrency) {
		t.Errorf("lower-case currency: %v", err)
	}
}
