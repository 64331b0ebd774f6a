package money

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestAdjustmentEntry(t *testing.T) {
	up, err := AdjustmentEntry("acme", Money{d("2.5"), "EUR"}, "adj-1")
	if err != nil {
		t.Fatal(err)
	}
	if up.Kind != KindAdjustment || up.ID != AdjustmentEntryID("acme", "adj-1") || up.Reference != "adj-1" ||
		up.Postings[0].Account != Adjustments || !up.Postings[0].Amount.Equal(d("2.5")) ||
		up.Postings[1].Account != TenantAccount("acme") || !up.Postings[1].Amount.Equal(d("-2.5")) {
		t.Fatalf("positive adjustment: %+v", up)
	}
	down, err := AdjustmentEntry("acme", Money{d("-1.25"), "EUR"}, "adj-2")
	if err != nil {
		t.Fatal(err)
	}
	if down.Postings[0].Account != TenantAccount("acme") || !down.Postings[0].Amount.Equal(d("1.25")) ||
		down.Postings[1].Account != Adjustments || !down.Postings[1].Amount.Equal(d("-1.25")) {
		t.Fatalf("negative adjustment: %+v", down)
	}
	if AdjustmentEntryID("acme", "r") == TopUpEntryID("acme", "r") {
		t.Fatal("an adjustment and a top-up with one reference share an entry id")
	}
	if _, err := AdjustmentEntry("acme", Money{d("0"), "EUR"}, "r"); err == nil {
		t.Fatal("zero adjustment accepted")
	}
	if _, err := AdjustmentEntry("acme", Money{d("1"), "EUR"}, ""); err == nil {
		t.Fatal("adjustment without reference accepted")
	}
	l := NewLedger()
	for _, e := range []Entry{up, down} {
		if err := l.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.TenantFunds("acme", "EUR"); !got.Equal(d("1.25")) {
		t.Fatalf("funds %s", got)
	}
}

func TestAccountDebitAndAdjust(t *testing.T) {
	a, err := NewAccount("EUR", 10, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Hold(12); err != nil {
		t.Fatal(err)
	}
	// available 3: a debit of 4 is refused and changes nothing.
	var ife *InsufficientFundsError
	if err := a.Debit(4); !errors.As(err, &ife) || ife.Available != 3 || ife.Requested != 4 {
		t.Fatalf("debit beyond available: %v", err)
	}
	if st := a.State(); st.Balance != 10 || st.Held != 12 || st.Available != 3 {
		t.Fatalf("after a refused debit: %+v", st)
	}
	if err := a.Debit(3); err != nil {
		t.Fatal(err)
	}
	if st := a.State(); st.Balance != 7 || st.Available != 0 {
		t.Fatalf("after a debit: %+v", st)
	}
	if err := a.Debit(0); !errors.Is(err, ErrNegative) {
		t.Fatalf("debit of zero: %v", err)
	}
	if err := a.Adjust(-20); err != nil { // the log decided: no check
		t.Fatal(err)
	}
	if err := a.Adjust(25); err != nil {
		t.Fatal(err)
	}
	if st := a.State(); st.Balance != 12 {
		t.Fatalf("after adjusts: %+v", st)
	}
}

// TestAdjustmentsPropertyAvailableNeverNegative runs random sequences of
// top-ups, adjustments of either sign, holds, settlements and releases,
// some concurrently: every entry balances, the journal's tenant funds equal
// the Account's balance, and available never goes below zero.
func TestAdjustmentsPropertyAvailableNeverNegative(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 16))
			credit := Units(rng.IntN(3)) * 50
			acct, err := NewAccount("EUR", 0, credit, 0)
			if err != nil {
				t.Fatal(err)
			}
			l := NewLedger()
			var holds []Units
			check := func(step int) {
				st := acct.State()
				if raw := st.Balance + st.CreditLimit - st.Held; raw < 0 {
					t.Fatalf("step %d: available %s below zero (%+v)", step, raw, st)
				}
				if bad := l.TrialBalance(); len(bad) != 0 {
					t.Fatalf("step %d: trial balance off in %v", step, bad)
				}
				if got := l.TenantFunds("t", "EUR"); !got.Equal(st.Balance.Decimal()) {
					t.Fatalf("step %d: journal funds %s, account balance %s", step, got, st.Balance.Decimal())
				}
			}
			for step := range 300 {
				amt := Units(rng.IntN(100) + 1)
				switch op := rng.IntN(6); op {
				case 0: // top-up
					if err := acct.TopUp(amt); err != nil {
						t.Fatal(err)
					}
					e, err := TopUpEntry("t", Money{amt.Decimal(), "EUR"}, fmt.Sprint("top-", step))
					if err != nil || l.Record(e) != nil {
						t.Fatal(err)
					}
				case 1, 2: // adjustment, either sign
					signed := amt
					if op == 2 {
						if err := acct.Debit(amt); err != nil {
							if !errors.Is(err, ErrInsufficientFunds) {
								t.Fatal(err)
							}
							break // refused: nothing booked
						}
						signed = -amt
					} else if err := acct.Adjust(amt); err != nil {
						t.Fatal(err)
					}
					e, err := AdjustmentEntry("t", Money{signed.Decimal(), "EUR"}, fmt.Sprint("adj-", step))
					if err != nil {
						t.Fatal(err)
					}
					if err := e.Validate(); err != nil {
						t.Fatal(err)
					}
					if err := l.Record(e); err != nil {
						t.Fatal(err)
					}
				case 3: // holds racing a negative adjustment
					var wg sync.WaitGroup
					var mu sync.Mutex
					for range 4 {
						wg.Add(1)
						go func() {
							defer wg.Done()
							if acct.Hold(amt) == nil {
								mu.Lock()
								holds = append(holds, amt)
								mu.Unlock()
							}
						}()
					}
					var debited bool
					wg.Add(1)
					go func() {
						defer wg.Done()
						debited = acct.Debit(amt) == nil
					}()
					wg.Wait()
					if debited {
						e, err := AdjustmentEntry("t", Money{(-amt).Decimal(), "EUR"}, fmt.Sprint("adj-", step))
						if err != nil || l.Record(e) != nil {
							t.Fatal(err)
						}
					}
				case 4, 5: // settle or release an open hold
					if len(holds) == 0 {
						break
					}
					i := rng.IntN(len(holds))
					h := holds[i]
					holds = append(holds[:i], holds[i+1:]...)
					if op == 5 {
						if err := acct.Release(h); err != nil {
							t.Fatal(err)
						}
						break
					}
					charged := Units(rng.IntN(int(h) + 1))
					if err := acct.Settle(h, charged); err != nil {
						t.Fatal(err)
					}
					if charged > 0 {
						es, err := SettlementEntries(uuidFor(step), "t", "s", Money{charged.Decimal(), "EUR"}, Money{})
						if err != nil {
							t.Fatal(err)
						}
						for _, e := range es {
							if err := l.Record(e); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				check(step)
			}
		})
	}
}

func uuidFor(step int) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint("msg-", step)))
}
