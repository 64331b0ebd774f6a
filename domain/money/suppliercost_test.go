package money

import (
	"errors"
	"testing"

	"github.com/google/uuid"
)

func TestSupplierCostEntries(t *testing.T) {
	msg := uuid.MustParse("00000000-0000-4000-8000-000000000003")
	es, err := SupplierCostEntries(msg, "sup", Money{d("0.04"), "USD"})
	if err != nil || len(es) != 1 {
		t.Fatalf("%+v %v", es, err)
	}
	e := es[0]
	if e.Kind != KindSupplierCost || e.Currency != "USD" || e.MessageID != msg || e.ID != SupplierCostEntryID(msg) {
		t.Fatalf("entry %+v", e)
	}
	l := NewLedger()
	if err := l.Record(e); err != nil {
		t.Fatal(err)
	}
	if !l.Balance(CostOfSales, "USD").Equal(d("0.04")) || !l.Balance(SupplierPayable("sup"), "USD").Equal(d("-0.04")) || len(l.TrialBalance()) > 0 {
		t.Fatalf("cost of sales %s, payable %s", l.Balance(CostOfSales, "USD"), l.Balance(SupplierPayable("sup"), "USD"))
	}
	// Booked again (a replayed decision): the same entry, recorded once.
	again, _ := SupplierCostEntries(msg, "sup", Money{d("0.04"), "USD"})
	if err := l.Record(again[0]); err != nil || len(l.Entries()) != 1 {
		t.Fatalf("again: %v, %d entries", err, len(l.Entries()))
	}
	if free, err := SupplierCostEntries(msg, "sup", Money{d("0"), "USD"}); err != nil || free != nil {
		t.Fatalf("free route: %+v %v", free, err)
	}
	if _, err := SupplierCostEntries(msg, "sup", Money{d("-0.01"), "USD"}); !errors.Is(err, ErrNegative) {
		t.Fatalf("negative: %v", err)
	}
}

// A charge and a cost booked apart are the settlement's two halves: the
// sell-only settlement and the cost entry have their own ids and, together,
// post what the one four-posting settlement would.
func TestSettlementInTwoHalvesPostsTheSame(t *testing.T) {
	msg := uuid.MustParse("00000000-0000-4000-8000-000000000004")
	price, cost := Money{d("0.05"), "EUR"}, Money{d("0.02"), "EUR"}
	whole, err := SettlementEntries(msg, "acme", "sup", price, cost)
	if err != nil {
		t.Fatal(err)
	}
	sell, err := SettlementEntries(msg, "acme", "sup", price, Money{Currency: "EUR"})
	if err != nil || len(sell) != 1 || len(sell[0].Postings) != 2 {
		t.Fatalf("sell side alone: %+v %v", sell, err)
	}
	buy, err := SupplierCostEntries(msg, "sup", cost)
	if err != nil || buy[0].ID == sell[0].ID {
		t.Fatalf("cost entry %+v %v", buy, err)
	}
	one, two := NewLedger(), NewLedger()
	for _, e := range whole {
		if err := one.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range append(sell, buy...) {
		if err := two.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []AccountName{TenantAccount("acme"), Revenue, CostOfSales, SupplierPayable("sup")} {
		if !one.Balance(a, "EUR").Equal(two.Balance(a, "EUR")) {
			t.Errorf("%s: whole %s, halves %s", a, one.Balance(a, "EUR"), two.Balance(a, "EUR"))
		}
	}
}
