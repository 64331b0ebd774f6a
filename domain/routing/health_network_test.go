package routing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smsledger/smsledger/domain/numbering"
)

func mustCode(t testing.TB, s string) numbering.Code {
	t.Helper()
	c, err := numbering.ParseCode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// OfOn takes the finest level measured well enough: network, then route
// prefix, then supplier; Up is the supplier's at every level.
func TestHealthOfOnFallsBack(t *testing.T) {
	vodafone, three, o2 := mustCode(t, "23415"), mustCode(t, "23420"), mustCode(t, "23410")
	h := NewHealthOn(map[string]SupplierHealth{
		"a": {Up: true, Score: 900},
		"b": {Up: false, Score: 950},
	}, []DestinationHealth{
		{SupplierID: "a", Network: vodafone, Score: 100, Samples: 40},
		{SupplierID: "a", Network: three, Score: 10, Samples: HealthMinSamples - 1}, // too few: not used
		{SupplierID: "a", Prefix: "447", Score: 600, Samples: HealthMinSamples},
		{SupplierID: "b", Network: vodafone, Score: 990, Samples: 500},
		{SupplierID: "c", Network: o2, Score: 300, Samples: 50},
		{SupplierID: "a", Score: 1, Samples: 1000}, // neither network nor prefix: not used
	}, 500)
	for _, tc := range []struct {
		sup    string
		net    numbering.Code
		prefix string
		want   SupplierHealth
	}{
		{"a", vodafone, "447", SupplierHealth{Up: true, Score: 100}},  // network
		{"a", vodafone, "", SupplierHealth{Up: true, Score: 100}},     // network, the route matched a network row
		{"a", three, "447", SupplierHealth{Up: true, Score: 600}},     // too few samples on the network: prefix
		{"a", 0, "447", SupplierHealth{Up: true, Score: 600}},         // unknown network: prefix
		{"a", three, "44", SupplierHealth{Up: true, Score: 900}},      // no prefix entry: supplier
		{"a", 0, "", SupplierHealth{Up: true, Score: 900}},            // supplier
		{"b", vodafone, "447", SupplierHealth{Up: false, Score: 990}}, // Up from the supplier
		{"c", o2, "", SupplierHealth{Up: true, Score: 300}},           // no supplier entry: default Up
		{"c", vodafone, "", DefaultHealth},                            // nothing known
	} {
		if got := h.OfOn(tc.sup, tc.net, tc.prefix); got != tc.want {
			t.Errorf("OfOn(%s, %v, %q) = %+v, want %+v", tc.sup, tc.net, tc.prefix, got, tc.want)
		}
	}
	if h.Destinations() != 4 {
		t.Errorf("destinations kept: %d, want 4", h.Destinations())
	}
	var none *Health
	if got := none.OfOn("a", vodafone, "447"); got != DefaultHealth || none.Destinations() != 0 {
		t.Errorf("nil health: %+v", got)
	}
	if got := NewHealth(map[string]SupplierHealth{"a": {Up: true, Score: 900}}, 0).OfOn("a", vodafone, "447"); got.Score != 900 {
		t.Errorf("supplier-only snapshot: %+v", got)
	}
}

// A snapshot keeps at most MaxDestinationHealth finer entries: the busiest.
func TestHealthBoundsDestinations(t *testing.T) {
	n := MaxDestinationHealth + 10
	dests := make([]DestinationHealth, n)
	for i := range dests {
		// Samples HealthMinSamples+i: the first 10 are the quietest.
		dests[i] = DestinationHealth{SupplierID: "a", Prefix: fmt.Sprint(1000000 + i), Score: 100, Samples: int64(HealthMinSamples + i)}
	}
	h := NewHealthOn(nil, dests, 0)
	if h.Destinations() != MaxDestinationHealth {
		t.Fatalf("destinations kept: %d, want %d", h.Destinations(), MaxDestinationHealth)
	}
	for i, want := range map[int]uint16{0: ScoreMax, 9: ScoreMax, 10: 100, n - 1: 100} {
		if got := h.OfOn("a", 0, fmt.Sprint(1000000+i)); got.Score != want {
			t.Errorf("entry %d: score %d, want %d", i, got.Score, want)
		}
	}
	if dests[0].Prefix != "1000000" {
		t.Error("NewHealthOn reordered its input")
	}
}

// A supplier failing on one network is excluded there only: on another
// network, or with the network unknown, it stays eligible and preferred.
func TestDecideExcludesOnFailingNetworkOnly(t *testing.T) {
	s := testSnapshot(t) // route 447 -> [a, b, c]
	vodafone, three := mustCode(t, "23415"), mustCode(t, "23420")
	h := NewHealthOn(map[string]SupplierHealth{
		"a": {Up: true, Score: 1000}, "b": {Up: true, Score: 1000}, "c": {Up: true, Score: 1000},
	}, []DestinationHealth{
		{SupplierID: "a", Network: vodafone, Score: 200, Samples: 100}, // failing on Vodafone
		{SupplierID: "b", Network: three, Score: 700, Samples: 100},    // mediocre on Three
	}, 500)

	dec, err := s.DecideAt("447700900123", vodafone, Standard, h, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(&dec); dec.Eligible != 2 || got[0] != "b" || got[2] != "a" {
		t.Fatalf("on the failing network: eligible %d, order %v; want a excluded", dec.Eligible, got)
	}
	if c := dec.Candidates[2]; c.Excluded != ExcludedHealth || c.Health.Score != 200 {
		t.Errorf("a on the failing network: %+v", c)
	}
	for _, net := range []numbering.Code{three, 0} {
		dec, err := s.DecideAt("447700900123", net, Standard, h, time.Time{})
		if err != nil || dec.Eligible != 3 || dec.Winner().SupplierID != "a" || dec.Winner().Health.Score != 1000 {
			t.Errorf("network %v: %v, eligible %d, order %v; want a first", net, err, dec.Eligible, ids(&dec))
		}
	}
	// Premium orders by the network's health band: b is down a band on
	// Three, so c (full score there) comes before it.
	dec, err = s.DecideAt("447700900123", three, Premium, h, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(&dec); got[0] != "a" || got[1] != "c" || got[2] != "b" {
		t.Errorf("premium on Three: %v, want [a c b]", got)
	}
	// A route whose only supplier fails on the network has none eligible
	// there.
	h = NewHealthOn(nil, []DestinationHealth{{SupplierID: "c", Network: vodafone, Score: 0, Samples: 50}}, 500)
	if _, err := s.DecideAt("447990000000", vodafone, Standard, h, time.Time{}); !errors.Is(err, ErrNoEligibleSupplier) {
		t.Errorf("only supplier failing on the network: %v, want ErrNoEligibleSupplier", err)
	}
	if _, err := s.DecideAt("447990000000", three, Standard, h, time.Time{}); err != nil {
		t.Errorf("only supplier on another network: %v", err)
	}
}

// Per-prefix entries apply when the destination's network is unknown (or
// has no entry); the route's matched prefix is the key.
func TestDecideUsesRoutePrefixHealth(t *testing.T) {
	s := testSnapshot(t)
	h := NewHealthOn(nil, []DestinationHealth{{SupplierID: "a", Prefix: "447", Score: 100, Samples: 30}}, 500)
	dec, err := s.DecideAt("447700900123", 0, Standard, h, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if dec.RoutePrefix != "447" || dec.Winner().SupplierID != "b" || dec.Eligible != 2 {
		t.Errorf("prefix 447: %v, eligible %d", ids(&dec), dec.Eligible)
	}
	// Route 44 (another prefix) keeps a.
	if dec, err := s.DecideAt("441234567890", 0, Standard, h, time.Time{}); err != nil || dec.Winner().SupplierID != "a" {
		t.Errorf("prefix 44: %v %v", ids(&dec), err)
	}
}

// Deciding with per-network and per-prefix health does not allocate.
func TestDecideWithDestinationHealthDoesNotAllocate(t *testing.T) {
	s := testSnapshot(t)
	vodafone, three := mustCode(t, "23415"), mustCode(t, "23420")
	h := NewHealthOn(map[string]SupplierHealth{"a": {Up: true, Score: 990}}, []DestinationHealth{
		{SupplierID: "a", Network: vodafone, Score: 200, Samples: 100},
		{SupplierID: "b", Network: three, Score: 700, Samples: 100},
		{SupplierID: "c", Prefix: "447", Score: 800, Samples: 100},
	}, 500)
	for _, net := range []numbering.Code{vodafone, three, 0} {
		if n := testing.AllocsPerRun(200, func() { _, _ = s.DecideAt("447700900123", net, Premium, h, time.Time{}) }); n != 0 {
			t.Errorf("network %v: DecideAt allocates %v times", net, n)
		}
	}
	if n := testing.AllocsPerRun(200, func() { _ = h.OfOn("c", three, "447") }); n != 0 {
		t.Errorf("OfOn allocates %v times", n)
	}
}

// BenchmarkDecideWithDestinationHealth: deciding with a full snapshot of
// MaxDestinationHealth network and prefix entries (the candidates found
// on the network, on the prefix, or on neither), against a snapshot of
// suppliers only.
func BenchmarkDecideWithDestinationHealth(b *testing.B) {
	s := testSnapshot(&testing.T{})
	vodafone := mustCode(b, "23415")
	dests := make([]DestinationHealth, 0, MaxDestinationHealth)
	for i := 0; len(dests) < MaxDestinationHealth-2; i++ {
		net, _ := numbering.ParseCode(fmt.Sprintf("%06d", 100000+i))
		dests = append(dests, DestinationHealth{SupplierID: "a", Network: net, Score: 900, Samples: 100},
			DestinationHealth{SupplierID: "b", Prefix: fmt.Sprint(1000 + i), Score: 900, Samples: 100})
	}
	dests = append(dests, DestinationHealth{SupplierID: "a", Network: vodafone, Score: 200, Samples: 100},
		DestinationHealth{SupplierID: "b", Prefix: "447", Score: 800, Samples: 100})
	for name, h := range map[string]*Health{"supplier-only": NewHealth(nil, 500), "100k-destinations": NewHealthOn(nil, dests, 500)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.DecideAt("447700900123", vodafone, Premium, h, time.Time{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// One health snapshot decided with by two routing snapshots in turn (a
// configuration change while health stays) scores each candidate as its
// own supplier's, whatever index each snapshot gives it.
func TestHealthFollowsTheRoutingSnapshot(t *testing.T) {
	first := testSnapshot(t)
	second, err := NewSnapshot(SnapshotInput{
		Routes: []Route{{Prefix: "447", Suppliers: []string{"c", "b", "a"}}},
		CostCards: []CostCard{
			{SupplierID: "c", Currency: "EUR", Costs: []Cost{{Prefix: "447", Cost: d("0.010")}}},
			{SupplierID: "b", Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("0.015")}}},
			{SupplierID: "a", Currency: "EUR", Costs: []Cost{{Prefix: "447", Cost: d("0.020")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHealth(map[string]SupplierHealth{"a": {Up: true, Score: 610}, "b": {Up: false, Score: 620}, "c": {Up: true, Score: 630}}, 500)
	for i, s := range []*Snapshot{first, second, first, second} {
		dec, err := s.DecideAt("447700900123", 0, Standard, h, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range dec.Candidates[:dec.N] {
			if want := h.Of(c.SupplierID); c.Health != want {
				t.Errorf("decision %d: %s has health %+v, want %+v", i, c.SupplierID, c.Health, want)
			}
		}
	}
}

// Property: whatever networks the rows name, a decision gives each
// candidate the health OfOn gives it and the cost of its card's network
// row when there is one — the numbered layout (networkIndex, netCost,
// indexedScores) answers as the maps it is built from.
func TestDecideNumberedNetworksAgreeWithMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	codes := []numbering.Code{mustCode(t, "23415"), mustCode(t, "23420"), mustCode(t, "23410"), mustCode(t, "26201"), mustCode(t, "310410")}
	sups := []string{"a", "b", "c", "d"}
	for round := range 200 {
		var in SnapshotInput
		in.Routes = append(in.Routes, Route{Prefix: "", Suppliers: sups[:2+rng.IntN(3)]})
		for _, c := range codes {
			if rng.IntN(2) == 0 {
				in.Routes = append(in.Routes, Route{MCCMNC: c.String(), Suppliers: []string{sups[rng.IntN(4)]}})
			}
		}
		netRow := map[string]map[numbering.Code]bool{}
		for _, id := range sups {
			cc := CostCard{SupplierID: id, Currency: "EUR", Costs: []Cost{{Prefix: "", Cost: d("0.01")}}}
			netRow[id] = map[numbering.Code]bool{}
			for _, c := range codes {
				if rng.IntN(3) == 0 {
					cc.Costs = append(cc.Costs, Cost{MCCMNC: c.String(), Cost: d(fmt.Sprintf("0.00%d", 1+rng.IntN(9)))})
					netRow[id][c] = true
				}
			}
			in.CostCards = append(in.CostCards, cc)
		}
		s, err := NewSnapshot(in)
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]SupplierHealth{}
		var dests []DestinationHealth
		for _, id := range sups {
			states[id] = SupplierHealth{Up: true, Score: uint16(500 + rng.IntN(500))}
			for _, c := range codes {
				if rng.IntN(2) == 0 {
					dests = append(dests, DestinationHealth{SupplierID: id, Network: c, Score: uint16(rng.IntN(1001)), Samples: 50})
				}
			}
		}
		h := NewHealthOn(states, dests, 0)
		for _, net := range append([]numbering.Code{0}, codes...) {
			dec, err := s.DecideAt("447700900123", net, Premium, h, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range dec.Candidates[:dec.N] {
				if want := h.OfOn(c.SupplierID, net, dec.RoutePrefix); c.Health != want {
					t.Fatalf("round %d network %v: %s health %+v, want %+v", round, net, c.SupplierID, c.Health, want)
				}
				if want := net.Known() && netRow[c.SupplierID][net]; (c.CostNetwork == net && net.Known()) != want {
					t.Fatalf("round %d network %v: %s cost network %v, want the network row: %v", round, net, c.SupplierID, c.CostNetwork, want)
				}
			}
		}
	}
}
