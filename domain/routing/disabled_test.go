package routing

import (
	"errors"
	"testing"
)

// A disabled supplier's card is kept and validated, but Decide excludes it
// as down: routes fail over past it, and a route with only it has no
// eligible supplier.
func TestDecideExcludesDisabledSupplier(t *testing.T) {
	s, err := NewSnapshot(SnapshotInput{
		Routes: []Route{{Prefix: "447", Suppliers: []string{"a", "b"}}, {Prefix: "33", Suppliers: []string{"a"}}},
		CostCards: []CostCard{
			{SupplierID: "a", Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("0.010")}, {Prefix: "33", Cost: d("0.01")}}, Disabled: true},
			{SupplierID: "b", Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("0.020")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.Decide("447700900123", Standard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dec.Eligible != 1 || dec.Candidates[0].SupplierID != "b" {
		t.Fatalf("eligible %d, order %v: want only b", dec.Eligible, ids(&dec))
	}
	if c := dec.Candidates[1]; c.SupplierID != "a" || c.Excluded != ExcludedDown {
		t.Fatalf("excluded candidate %+v: want a down", c)
	}
	if _, err := s.Decide("33123456789", Standard, nil); !errors.Is(err, ErrNoEligibleSupplier) {
		t.Fatalf("route of a disabled supplier only: %v, want ErrNoEligibleSupplier", err)
	}
	// Enabled again (a new snapshot without the mark): a is cheapest.
	s, err = NewSnapshot(SnapshotInput{
		Routes: []Route{{Prefix: "447", Suppliers: []string{"a", "b"}}},
		CostCards: []CostCard{
			{SupplierID: "a", Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("0.010")}}},
			{SupplierID: "b", Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("0.020")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := s.Decide("447700900123", Standard, nil); err != nil || dec.Eligible != 2 {
		t.Fatalf("enabled: %v, eligible %d", err, dec.Eligible)
	}
}

// A disabled supplier's card is still validated: an invalid one is refused.
func TestDisabledCostCardStillValidated(t *testing.T) {
	_, err := NewSnapshot(SnapshotInput{
		Routes:    []Route{{Prefix: "447", Suppliers: []string{"a"}}},
		CostCards: []CostCard{{SupplierID: "a", Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("-1")}}, Disabled: true}},
	})
	if !errors.Is(err, ErrInvalidCostCard) {
		t.Fatalf("err %v, want ErrInvalidCostCard", err)
	}
}
