package routing

import (
	"errors"
	"github.com/smsledger/smsledger/domain/numbering"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/money"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// testSnapshot: three suppliers on UK mobile with different costs.
//
//	route 44    -> [a, b]
//	route 447   -> [a, b, c]   (a preferred, c cheapest, b middle)
//	route 4479  -> [c]
//	route 33    -> [x, a]      (x has no cost card)
func testSnapshot(t *testing.T) *Snapshot {
	t.Helper()
	s, err := NewSnapshot(SnapshotInput{
		Routes: []Route{
			{Prefix: "44", Suppliers: []string{"a", "b"}},
			{Prefix: "447", Suppliers: []string{"a", "b", "c"}},
			{Prefix: "4479", Suppliers: []string{"c"}},
			{Prefix: "33", Suppliers: []string{"x", "a"}},
		},
		CostCards: []CostCard{
			{SupplierID: "a", Currency: "EUR", Costs: []Cost{{Prefix: "44", Cost: d("0.030")}, {Prefix: "447", Cost: d("0.020")}, {Prefix: "33", Cost: d("0.01")}}},
			{SupplierID: "b", Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("0.015")}}},
			{SupplierID: "c", Currency: "EUR", Costs: []Cost{{Prefix: "447", Cost: d("0.010")}, {Prefix: "4477", Cost: d("0.009")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(d *Decision) []string {
	out := make([]string, d.N)
	for i := 0; i < d.N; i++ {
		out[i] = d.Candidates[i].SupplierID
	}
	return out
}

func TestDecide(t *testing.T) {
	s := testSnapshot(t)
	healthy := NewHealth(map[string]SupplierHealth{
		"a": {Up: true, Score: 900}, "b": {Up: true, Score: 990}, "c": {Up: true, Score: 700},
	}, 500)
	cases := []struct {
		name     string
		dest     string
		tier     Tier
		health   *Health
		route    string
		order    []string // all candidates: eligible in try order, then excluded
		eligible int
		reason   Reason
		err      error
	}{
		{"standard follows preference", "447700900123", Standard, healthy, "447", []string{"a", "b", "c"}, 3, ReasonPreference, nil},
		{"economy takes cheapest", "447700900123", Economy, healthy, "447", []string{"c", "b", "a"}, 3, ReasonLowestCost, nil},
		{"premium takes best health band", "447700900123", Premium, healthy, "447", []string{"b", "a", "c"}, 3, ReasonBestHealth, nil},
		{"longest route prefix", "447912345678", Economy, healthy, "4479", []string{"c"}, 1, ReasonOnlyCandidate, nil},
		{"shorter route", "442079460000", Economy, healthy, "44", []string{"b", "a"}, 2, ReasonLowestCost, nil},
		{"down supplier excluded", "447700900123", Economy,
			NewHealth(map[string]SupplierHealth{"c": {Up: false, Score: 1000}}, 500),
			"447", []string{"b", "a", "c"}, 2, ReasonLowestCost, nil},
		{"low score excluded", "447700900123", Standard,
			NewHealth(map[string]SupplierHealth{"a": {Up: true, Score: 499}, "b": {Up: true, Score: 500}}, 500),
			"447", []string{"b", "c", "a"}, 2, ReasonPreference, nil},
		{"only one eligible", "447700900123", Premium,
			NewHealth(map[string]SupplierHealth{"a": {Up: false}, "b": {Up: false}}, 0),
			"447", []string{"c", "a", "b"}, 1, ReasonOnlyEligible, nil},
		{"no cost card excluded", "33612345678", Standard, nil, "33", []string{"a", "x"}, 1, ReasonOnlyEligible, nil},
		{"premium same band falls to preference", "447700900123", Premium,
			NewHealth(map[string]SupplierHealth{"a": {Up: true, Score: 960}, "b": {Up: true, Score: 999}, "c": {Up: true, Score: 951}}, 0),
			"447", []string{"a", "b", "c"}, 3, ReasonPreference, nil},
		{"economy equal cost falls to health", "442079460000", Economy, nil, "44", []string{"b", "a"}, 2, ReasonLowestCost, nil},
		{"no route", "49301234567", Standard, nil, "", nil, 0, 0, ErrNoRoute},
		{"all excluded", "447912345678", Standard,
			NewHealth(map[string]SupplierHealth{"c": {Up: false}}, 0), "4479", []string{"c"}, 0, 0, ErrNoEligibleSupplier},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec, err := s.Decide(c.dest, c.tier, c.health)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				if c.order != nil && (dec.Eligible != 0 || dec.N != len(c.order)) {
					t.Fatalf("decision %+v", dec)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ids(&dec)
			if dec.RoutePrefix != c.route || dec.Eligible != c.eligible || dec.Reason != c.reason || len(got) != len(c.order) {
				t.Fatalf("route %q eligible %d reason %s order %v; want %q %d %s %v",
					dec.RoutePrefix, dec.Eligible, dec.Reason, got, c.route, c.eligible, c.reason, c.order)
			}
			for i := range got {
				if got[i] != c.order[i] {
					t.Fatalf("order %v, want %v", got, c.order)
				}
			}
			for i := dec.Eligible; i < dec.N; i++ {
				if dec.Candidates[i].Excluded == Eligible {
					t.Fatalf("candidate %d in excluded tail is eligible", i)
				}
			}
		})
	}
}

func TestDecideCostPrefixAndFailover(t *testing.T) {
	s := testSnapshot(t)
	dec, err := s.Decide("447700900123", Economy, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := dec.Winner()
	if w.SupplierID != "c" || w.CostPrefix != "4477" || w.CostPerPart.String() != "0.009" || w.Currency != "EUR" {
		t.Fatalf("winner %+v", w)
	}
	// Failover walks the eligible candidates in order, then stops.
	var walk []string
	cur := w.SupplierID
	for i := 0; i < MaxCandidates; i++ {
		next, ok := dec.Next(cur)
		if !ok {
			break
		}
		walk = append(walk, next.SupplierID)
		cur = next.SupplierID
	}
	if len(walk) != 2 || walk[0] != "b" || walk[1] != "a" {
		t.Fatalf("failover walk %v", walk)
	}
	if _, ok := dec.Next("zzz"); ok {
		t.Fatal("failover from unknown supplier")
	}
}

func TestDecideDeterministic(t *testing.T) {
	s := testSnapshot(t)
	h := NewHealth(map[string]SupplierHealth{"a": {Up: true, Score: 900}, "b": {Up: true, Score: 900}}, 0)
	for _, tier := range []Tier{Standard, Premium, Economy} {
		first, err := s.Decide("447700900123", tier, h)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			again, _ := s.Decide("447700900123", tier, h)
			if again != first {
				t.Fatalf("%s: decision changed on run %d", tier, i)
			}
		}
	}
}

func TestCompareTieBreak(t *testing.T) {
	a := Candidate{SupplierID: "a", Preference: 1, costBase: 5, Health: SupplierHealth{Up: true, Score: 900}}
	b := a
	b.SupplierID = "b"
	for _, tier := range []Tier{Standard, Premium, Economy} {
		less, reason := compare(tier, &a, &b)
		if !less || reason != ReasonTieBreak {
			t.Fatalf("%s: %v %s", tier, less, reason)
		}
		if less, _ := compare(tier, &b, &a); less {
			t.Fatalf("%s: not antisymmetric", tier)
		}
	}
}

func TestSnapshotErrors(t *testing.T) {
	cases := []struct {
		name string
		in   SnapshotInput
		want error
	}{
		{"empty route", SnapshotInput{Routes: []Route{{Prefix: "44"}}}, ErrInvalidRoute},
		{"network and prefix", SnapshotInput{Routes: []Route{{Prefix: "44", MCCMNC: "23415", Suppliers: []string{"a"}}}}, ErrInvalidRoute},
		{"network twice", SnapshotInput{Routes: []Route{{MCCMNC: "23415", Suppliers: []string{"a"}}, {MCCMNC: "23415", Suppliers: []string{"b"}}}}, ErrInvalidRoute},
		{"bad network", SnapshotInput{Routes: []Route{{MCCMNC: "2341", Suppliers: []string{"a"}}}}, ErrInvalidRoute},
		{"cost network and prefix", SnapshotInput{CostCards: []CostCard{{SupplierID: "a", Currency: "EUR", Costs: []Cost{{Prefix: "44", MCCMNC: "23415", Cost: d("1")}}}}}, ErrInvalidCostCard},
		{"too many suppliers", SnapshotInput{Routes: []Route{{Prefix: "44", Suppliers: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}}}}, ErrInvalidRoute},
		{"duplicate supplier in route", SnapshotInput{Routes: []Route{{Prefix: "44", Suppliers: []string{"a", "a"}}}}, ErrInvalidRoute},
		{"bad cost", SnapshotInput{CostCards: []CostCard{{SupplierID: "a", Currency: "EUR", Costs: []Cost{{Prefix: "44", Cost: d("-1")}}}}}, ErrInvalidCostCard},
		{"bad currency", SnapshotInput{CostCards: []CostCard{{SupplierID: "a", Currency: "eu"}}}, ErrInvalidCostCard},
		{"mixed currencies without base", SnapshotInput{CostCards: []CostCard{
			{SupplierID: "a", Currency: "EUR"}, {SupplierID: "b", Currency: "USD"}}}, ErrInvalidCostCard},
		{"missing fx rate", SnapshotInput{BaseCurrency: "EUR", CostCards: []CostCard{{SupplierID: "b", Currency: "USD"}}}, ErrInvalidCostCard},
	}
	for _, c := range cases {
		if _, err := NewSnapshot(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestEconomyComparesInBaseCurrency(t *testing.T) {
	s, err := NewSnapshot(SnapshotInput{
		Routes: []Route{{Prefix: "44", Suppliers: []string{"eur", "usd"}}},
		CostCards: []CostCard{
			{SupplierID: "eur", Currency: "EUR", Costs: []Cost{{Prefix: "44", Cost: d("0.010")}}},
			// 0.011 USD at 0.90 EUR/USD = 0.0099 EUR: cheaper than 0.010 EUR.
			{SupplierID: "usd", Currency: "USD", Costs: []Cost{{Prefix: "44", Cost: d("0.011")}}},
		},
		BaseCurrency: "EUR",
		FXToBase:     map[money.Currency]decimal.Decimal{"USD": d("0.90")},
	})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.Decide("447700900123", Economy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := dec.Winner(); w.SupplierID != "usd" || w.CostPerPart.String() != "0.011" || w.Currency != "USD" {
		t.Fatalf("winner %+v", w)
	}
}

func TestParseTier(t *testing.T) {
	for _, s := range []string{"premium", "standard", "economy"} {
		tier, err := ParseTier(s)
		if err != nil || tier.String() != s {
			t.Errorf("%s: %v %v", s, tier, err)
		}
	}
	if _, err := ParseTier("gold"); !errors.Is(err, ErrInvalidTier) {
		t.Error(err)
	}
}

// Network rows: a route and costs naming the destination's network apply
// before any prefix; an unknown network, or one without a row, routes and
// costs by the longest prefix as before.
func TestDecideOnNetwork(t *testing.T) {
	vodafone, _ := numbering.ParseCode("23415")
	three, _ := numbering.ParseCode("23420")
	s, err := NewSnapshot(SnapshotInput{
		Routes: []Route{
			{Prefix: "44", Suppliers: []string{"a", "b"}},
			{MCCMNC: "23415", Suppliers: []string{"b", "a"}},
		},
		CostCards: []CostCard{
			{SupplierID: "a", Currency: "EUR", Costs: []Cost{{Prefix: "44", Cost: d("0.030")}, {MCCMNC: "23415", Cost: d("0.004")}}},
			{SupplierID: "b", Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("0.015")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := s.DecideAt("447700900123", vodafone, Standard, nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if dec.RouteNetwork != vodafone || dec.RoutePrefix != "" || dec.Winner().SupplierID != "b" {
		t.Fatalf("network route: %+v", dec)
	}
	a := dec.Candidates[1]
	if a.SupplierID != "a" || a.CostNetwork != vodafone || a.CostPrefix != "" || a.CostPerPart.String() != "0.004" {
		t.Errorf("a's network cost: %+v", a)
	}
	if b := dec.Candidates[0]; b.CostNetwork.Known() || b.CostPrefix != "4" {
		t.Errorf("b without a network row costs by prefix: %+v", b)
	}
	for _, net := range []numbering.Code{0, three} {
		dec, err := s.DecideAt("447700900123", net, Standard, nil, time.Time{})
		if err != nil || dec.RouteNetwork.Known() || dec.RoutePrefix != "44" || dec.Winner().SupplierID != "a" || dec.Winner().CostPrefix != "44" {
			t.Errorf("network %v: %+v %v, want the prefix route", net, dec, err)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = s.DecideAt("447700900123", vodafone, Premium, nil, time.Time{}) }); n != 0 {
		t.Errorf("DecideOn allocates %v times", n)
	}
}
