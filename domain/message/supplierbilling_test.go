package message

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
)

// outcome ends a message a supplier accepted.
type outcome int

const (
	delivered outcome = iota
	undelivered
	expired // no final DLR by its expiry
)

func (o outcome) String() string { return [...]string{"delivered", "undelivered", "expired"}[o] }

// end takes an accepted message to o and returns the events decided.
func end(t *testing.T, m *Message, o outcome) []string {
	t.Helper()
	switch o {
	case delivered:
		return step(t, m)(m.OnDeliveryReport("X1", DLRDelivered, "000", t0, t0.Add(time.Minute)))
	case undelivered:
		return step(t, m)(m.OnDeliveryReport("X1", DLRUndeliverable, "001", t0, t0.Add(time.Minute)))
	}
	return step(t, m)(m.Expire(t0.Add(time.Hour)))
}

// Every pair of tenant and supplier bases, and every ending: when the
// tenant is charged and when the supplier's cost is booked, each once.
func TestSupplierBasisDecidesWhenCostIsBooked(t *testing.T) {
	const (
		acc = events.TypeSupplierAccepted
		set = events.TypeSettled
		cst = events.TypeSupplierCostBooked
		jnl = events.TypeJournalEntryRecorded
		dlr = events.TypeDeliveryReported
		rel = events.TypeReleased
		exp = events.TypeMessageExpired
	)
	sub, del := money.BillOnSubmit, money.BillOnDelivery
	cases := []struct {
		tenant, supplier money.BillingMode
		out              outcome
		atAccept, atEnd  []string
		charged, costed  bool
	}{
		{sub, sub, delivered, []string{acc, set, jnl}, []string{dlr}, true, true},
		{sub, sub, undelivered, []string{acc, set, jnl}, []string{dlr}, true, true},
		{sub, sub, expired, []string{acc, set, jnl}, []string{exp}, true, true},
		{del, del, delivered, []string{acc}, []string{dlr, set, jnl}, true, true},
		{del, del, undelivered, []string{acc}, []string{dlr, rel}, false, false},
		{del, del, expired, []string{acc}, []string{exp, rel}, false, false},
		// The supplier bills on submit, the tenant on delivery: the cost
		// is booked at the acceptance and stands.
		{del, sub, delivered, []string{acc, cst, jnl}, []string{dlr, set, jnl}, true, true},
		{del, sub, undelivered, []string{acc, cst, jnl}, []string{dlr, rel}, false, true},
		{del, sub, expired, []string{acc, cst, jnl}, []string{exp, rel}, false, true},
		// The tenant is charged on submit, the supplier only for delivery.
		{sub, del, delivered, []string{acc, set, jnl}, []string{dlr, cst, jnl}, true, true},
		{sub, del, undelivered, []string{acc, set, jnl}, []string{dlr}, true, false},
		{sub, del, expired, []string{acc, set, jnl}, []string{exp}, true, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("tenant_%s/supplier_%s/%s", c.tenant, c.supplier, c.out), func(t *testing.T) {
			m := acceptedWith(t, c.tenant, c.supplier)
			var all []events.Event
			record := func(es []events.Event, err error) ([]events.Event, error) {
				all = append(all, es...)
				return es, err
			}
			step(t, m)(m.Submit(t0))
			eq(t, step(t, m)(record(m.OnSupplierAccepted("s1", 1, "X1", 5, t0))), c.atAccept...)
			var atEnd []string
			switch c.out {
			case delivered:
				atEnd = step(t, m)(record(m.OnDeliveryReport("X1", DLRDelivered, "000", t0, t0)))
			case undelivered:
				atEnd = step(t, m)(record(m.OnDeliveryReport("X1", DLRUndeliverable, "001", t0, t0)))
			default:
				atEnd = step(t, m)(record(m.Expire(t0)))
			}
			eq(t, atEnd, c.atEnd...)
			if m.Settled != c.charged || m.Released == c.charged || m.HoldOpen || m.CostBooked() != c.costed {
				t.Fatalf("settled %v released %v hold %v cost booked %v", m.Settled, m.Released, m.HoldOpen, m.CostBooked())
			}
			price, cost := moneyOf(t, all)
			if want := dec("0.10"); c.charged != price.Equal(want) {
				t.Errorf("tenant charged %s", price)
			}
			if want := dec("0.04"); c.costed != cost.Equal(want) {
				t.Errorf("supplier cost booked %s", cost)
			}
		})
	}
}

// moneyOf sums what the events charge the tenant and book as cost, from
// the events and, cross-checked, from their journal entries.
func moneyOf(t *testing.T, es []events.Event) (price, cost decimal.Decimal) {
	t.Helper()
	l := money.NewLedger()
	var evPrice, evCost decimal.Decimal
	for _, e := range es {
		switch e := e.(type) {
		case events.Settled:
			evPrice = evPrice.Add(e.Price)
			if e.CostCurrency == "" && !e.Cost.IsZero() {
				t.Errorf("Settled without cost currency carries cost %s", e.Cost)
			}
			evCost = evCost.Add(e.Cost)
		case events.SupplierCostBooked:
			evCost = evCost.Add(e.Cost)
		case events.JournalEntryRecorded:
			en, err := EntryFromEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Record(en); err != nil {
				t.Fatal(err)
			}
		}
	}
	if bad := l.TrialBalance(); len(bad) > 0 {
		t.Fatalf("journal does not balance in %v", bad)
	}
	price, cost = l.Balance(money.Revenue, "EUR").Neg(), l.Balance(money.CostOfSales, "EUR")
	if !price.Equal(evPrice) || !cost.Equal(evCost) {
		t.Fatalf("events: price %s cost %s; journal: revenue %s cost of sales %s", evPrice, evCost, price, cost)
	}
	return price, cost
}

// A message a supplier accepted while candidates had no basis (an older
// log) and whose tenant bills on delivery has no cost booked: its
// on_submit supplier's cost is booked when it ends, whichever way.
func TestCostOfAMessageAcceptedBeforeBasesIsBookedAtItsEnd(t *testing.T) {
	for _, o := range []outcome{delivered, undelivered, expired} {
		t.Run(o.String(), func(t *testing.T) {
			m := acceptedWith(t, money.BillOnDelivery, "")
			step(t, m)(m.Submit(t0))
			// As recorded before: SupplierAccepted alone.
			if err := m.Apply(events.SupplierAccepted{MessageID: id, SupplierID: "s1", Attempt: 1, SupplierMessageID: "X1", At: t0}); err != nil {
				t.Fatal(err)
			}
			got := end(t, m, o)
			want := map[outcome][]string{
				delivered:   {events.TypeDeliveryReported, events.TypeSettled, events.TypeJournalEntryRecorded},
				undelivered: {events.TypeDeliveryReported, events.TypeSupplierCostBooked, events.TypeJournalEntryRecorded, events.TypeReleased},
				expired:     {events.TypeSupplierCostBooked, events.TypeJournalEntryRecorded, events.TypeMessageExpired, events.TypeReleased},
			}[o]
			eq(t, got, want...)
			if !m.CostBooked() {
				t.Fatal("cost not booked")
			}
		})
	}
}

// A message that expires before any supplier accepted it owes no cost.
func TestExpiryBeforeAcceptanceBooksNoCost(t *testing.T) {
	m := acceptedWith(t, money.BillOnDelivery, money.BillOnSubmit)
	step(t, m)(m.Submit(t0))
	eq(t, step(t, m)(m.Expire(t0)), events.TypeMessageExpired, events.TypeReleased)
	if m.CostBooked() {
		t.Fatal("cost booked without an acceptance")
	}
}

// Apply refuses a second booking of a message's cost and a booking for a
// supplier that did not carry the message.
func TestApplyBooksCostOnce(t *testing.T) {
	m := acceptedWith(t, money.BillOnDelivery, money.BillOnSubmit)
	booking := events.SupplierCostBooked{MessageID: id, TenantID: "acme", SupplierID: "s1", Attempt: 1, Cost: dec("0.04"), CostCurrency: "EUR", At: t0}
	if err := m.Apply(booking); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("cost booked before any acceptance: %v", err)
	}
	step(t, m)(m.Submit(t0))
	es, err := m.OnSupplierAccepted("s1", 1, "X1", 5, t0)
	step(t, m)(es, err)
	if err := m.Apply(booking); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("second booking: %v", err)
	}
	withCost := events.Settled{MessageID: id, TenantID: "acme", SupplierID: "s1", Held: dec("0.10"), Price: dec("0.10"),
		Currency: "EUR", Cost: dec("0.04"), CostCurrency: "EUR", At: t0}
	if err := m.Apply(withCost); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("a Settled with the cost again: %v", err)
	}
	other := booking
	other.SupplierID = "s2"
	fresh := acceptedWith(t, money.BillOnDelivery, money.BillOnSubmit)
	step(t, fresh)(fresh.Submit(t0))
	if err := fresh.Apply(events.SupplierAccepted{MessageID: id, SupplierID: "s1", Attempt: 1, SupplierMessageID: "X1", At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Apply(other); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("booking for another supplier: %v", err)
	}
}

// A Message copied by value does not share its cost booking with the
// original (the tracker decides on copies).
func TestCostBookedNotSharedByCopies(t *testing.T) {
	m := acceptedWith(t, money.BillOnDelivery, money.BillOnSubmit)
	step(t, m)(m.Submit(t0))
	c := *m
	step(t, &c)(c.OnSupplierAccepted("s1", 1, "X1", 5, t0))
	if !c.CostBooked() || m.CostBooked() {
		t.Fatalf("copy booked %v, original booked %v", c.CostBooked(), m.CostBooked())
	}
}

// The tenant's account is untouched by a cost booked apart.
func TestApplyToAccountIgnoresSupplierCost(t *testing.T) {
	a, _ := money.NewAccount("EUR", money.MustFromDecimal(dec("1")), 0, 0)
	if err := a.Hold(money.MustFromDecimal(dec("0.10"))); err != nil {
		t.Fatal(err)
	}
	m := acceptedWith(t, money.BillOnDelivery, money.BillOnSubmit)
	step(t, m)(m.Submit(t0))
	es, err := m.OnSupplierAccepted("s1", 1, "X1", 5, t0)
	step(t, m)(es, err)
	for _, e := range es {
		if err := ApplyToAccount(a, e); err != nil {
			t.Fatal(err)
		}
	}
	if s := a.State(); s.Balance.String() != "1" || s.Held.String() != "0.1" {
		t.Fatalf("after the cost alone: %+v", s)
	}
}

// Random traffic of every tenant and supplier basis through every path
// (failovers, rejections, timeouts, intermediate and repeated DLRs,
// expiry at any point): the journal balances, no tenant's available
// balance goes below zero, every message's cost is booked at most once,
// exactly when its supplier's basis says, and its tenant charged exactly
// when the tenant's mode says.
func TestBillingProperties(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(1); seed <= 40; seed++ {
		billingRun(t, seed, seen)
	}
	// Every pair of bases met both endings after an acceptance.
	for _, tm := range []money.BillingMode{money.BillOnSubmit, money.BillOnDelivery} {
		for _, sb := range []money.BillingMode{money.BillOnSubmit, money.BillOnDelivery} {
			for _, d := range []bool{true, false} {
				if k := fmt.Sprintf("%s/%s/%v", tm, sb, d); seen[k] == 0 {
					t.Errorf("no accepted message with tenant/supplier/delivered %s", k)
				}
			}
		}
	}
}

type tenantBooks struct {
	id      string
	mode    money.BillingMode
	account *money.Account
	charged decimal.Decimal
}

func billingRun(t *testing.T, seed uint64, seen map[string]int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 99))
	modes := []money.BillingMode{money.BillOnSubmit, money.BillOnDelivery}
	bases := []money.BillingMode{"", money.BillOnSubmit, money.BillOnDelivery}
	l := money.NewLedger()
	tenants := make([]*tenantBooks, 3)
	for i := range tenants {
		funds := decimal.New(int64(20+r.IntN(200)), -2) // 0.20 .. 2.19: some submits are refused
		a, err := money.NewAccount("EUR", money.MustFromDecimal(funds), money.MustFromDecimal(decimal.New(int64(r.IntN(3)), -1)), 0)
		if err != nil {
			t.Fatal(err)
		}
		tenants[i] = &tenantBooks{id: fmt.Sprintf("t%d", i), mode: modes[r.IntN(2)], account: a}
	}
	for n := 0; n < 60; n++ {
		tb := tenants[r.IntN(len(tenants))]
		basis := []money.BillingMode{bases[r.IntN(3)], bases[r.IntN(3)]}
		mid := uuid.New()
		parts := 1 + r.IntN(3)
		price := decimal.New(int64(parts*(3+r.IntN(5))), -2)
		if err := tb.account.Hold(money.MustFromDecimal(price)); err != nil {
			if !errors.Is(err, money.ErrInsufficientFunds) {
				t.Fatal(err)
			}
			continue
		}
		var log []events.Event
		m := &Message{}
		apply := func(es []events.Event, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("seed %d message %d: %v", seed, n, err)
			}
			if err := m.ApplyAll(es); err != nil {
				t.Fatalf("seed %d message %d: %v", seed, n, err)
			}
			for _, e := range es {
				if err := ApplyToAccount(tb.account, e); err != nil {
					t.Fatalf("seed %d message %d: account: %v", seed, n, err)
				}
				if je, ok := e.(events.JournalEntryRecorded); ok {
					en, err := EntryFromEvent(je)
					if err != nil {
						t.Fatal(err)
					}
					if err := l.Record(en); err != nil {
						t.Fatalf("seed %d message %d: %v", seed, n, err)
					}
				}
			}
			log = append(log, es...)
			if s := tb.account.State(); s.Available < 0 {
				t.Fatalf("seed %d: available %s below zero", seed, s.Available)
			}
		}
		apply([]events.Event{
			events.MessageAccepted{MessageID: mid, TenantID: tb.id, Parts: parts, PricePerPart: price, Price: price,
				Currency: "EUR", Billing: string(tb.mode), At: t0},
			events.RouteSelected{MessageID: mid, Winner: "s1", Candidates: []events.RouteCandidate{
				{SupplierID: "s1", CostPerPart: dec("0.01"), Currency: "EUR", Billing: string(basis[0]), Eligible: true},
				{SupplierID: "s2", CostPerPart: dec("0.02"), Currency: "EUR", Billing: string(basis[1]), Eligible: true},
			}, At: t0},
			events.Held{MessageID: mid, TenantID: tb.id, Amount: price, Currency: "EUR", At: t0},
		}, nil)
		drive(r, m, apply)

		checkMessage(t, seed, n, m, log)
		if m.supplierCarried() || m.SupplierMessageID != "" {
			seen[fmt.Sprintf("%s/%s/%v", m.Billing, m.Supplier().Billing, m.State == StateDelivered)]++
		}
		if m.Settled {
			tb.charged = tb.charged.Add(price)
		}
		// Replaying the stream gives the same message.
		again, err := Rebuild(log)
		if err != nil || again.CostBooked() != m.CostBooked() || again.Settled != m.Settled || again.State != m.State {
			t.Fatalf("seed %d message %d: rebuild %v differs", seed, n, err)
		}
	}
	if bad := l.TrialBalance(); len(bad) > 0 {
		t.Fatalf("seed %d: journal does not balance in %v", seed, bad)
	}
	for i, tb := range tenants {
		if got := l.TenantFunds(tb.id, "EUR").Neg(); !got.Equal(tb.charged) {
			t.Fatalf("seed %d: tenant %s's account postings %s, charged %s", seed, tb.id, got, tb.charged)
		}
		if s := tb.account.State(); s.Held != 0 {
			t.Fatalf("seed %d: tenant %d still holds %s after every message ended", seed, i, s.Held)
		}
	}
}

// drive takes an accepted message to its end along a random path.
func drive(r *rand.Rand, m *Message, apply func([]events.Event, error)) {
	for i := 0; i < 12 && !m.State.Terminal(); i++ {
		switch {
		case r.IntN(15) == 0:
			apply(m.Expire(t0.Add(time.Hour)))
		case m.Sendable():
			if r.IntN(8) == 0 {
				apply(m.Failover("down", t0))
			} else {
				apply(m.Submit(t0))
			}
		case m.State == StateSubmitted:
			sup := m.Supplier().SupplierID
			switch x := r.IntN(10); {
			case x < 6:
				apply(m.OnSupplierAccepted(sup, m.Attempt, "X", 5, t0))
				apply(m.OnSupplierAccepted(sup, m.Attempt, "X", 5, t0)) // a repeat: nothing
			case x < 8:
				apply(m.OnSupplierRejected(sup, m.Attempt, 0x58, t0))
			default:
				apply(m.OnSupplierTimedOut(sup, m.Attempt, 1000, t0))
			}
		case m.State == StateSupplierAccepted:
			st := []string{DLREnroute, DLRDelivered, DLRDelivered, DLRUndeliverable, DLRExpired, DLRRejected}[r.IntN(6)]
			apply(m.OnDeliveryReport("X", st, "", t0, t0))
			apply(m.OnDeliveryReport("X", st, "", t0, t0)) // repeated DLR: nothing
		}
	}
	if !m.State.Terminal() {
		apply(m.Expire(t0.Add(2 * time.Hour)))
	}
}

// checkMessage checks one ended message's money against its bases.
func checkMessage(t *testing.T, seed uint64, n int, m *Message, log []events.Event) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d message %d (tenant %s, supplier %s %s, %s): %s", seed, n, m.Billing,
			m.Supplier().SupplierID, m.Supplier().Billing, m.State, fmt.Sprintf(format, args...))
	}
	accepted, settles, releases, costs, costEntries := false, 0, 0, 0, 0
	for _, e := range log {
		switch e := e.(type) {
		case events.SupplierAccepted:
			accepted = true
		case events.Settled:
			settles++
			if e.CostCurrency != "" {
				costs++
			}
		case events.Released:
			releases++
		case events.SupplierCostBooked:
			costs++
		case events.JournalEntryRecorded:
			for _, p := range e.Postings {
				if p.Account == string(money.CostOfSales) {
					costEntries++
				}
			}
		}
	}
	if settles+releases != 1 {
		fail("%d Settled and %d Released close one hold", settles, releases)
	}
	if costs > 1 || costEntries > 1 {
		fail("cost booked %d times, %d cost of sales postings", costs, costEntries)
	}
	wantCost := accepted && (m.State == StateDelivered || m.Supplier().Billing == money.BillOnSubmit)
	if (costs == 1) != wantCost || (costEntries == 1) != wantCost {
		fail("cost booked %d times (%d postings), want %v", costs, costEntries, wantCost)
	}
	wantCharge := accepted && (m.Billing == money.BillOnSubmit || m.State == StateDelivered)
	if m.Settled != wantCharge {
		fail("tenant charged %v, want %v", m.Settled, wantCharge)
	}
}
