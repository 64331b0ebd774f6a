package routing

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smsledger/smsledger/domain/fx"
)

func sharesSnapshot(t *testing.T, routes ...Route) *Snapshot {
	t.Helper()
	var cards []CostCard
	for _, id := range []string{"a", "b", "c"} {
		cards = append(cards, CostCard{SupplierID: id, Currency: "EUR", Costs: []Cost{{Prefix: "4", Cost: d("0.010")}}})
	}
	s, err := NewSnapshot(SnapshotInput{Routes: routes, CostCards: cards})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A 70/30 row sends exactly 70 of every 100 messages to a and 30 to b,
// interleaved (never more than 3 in a row to a), deterministically; the
// other supplier is the failover.
func TestTrafficSharesHoldOverEachCycle(t *testing.T) {
	s := sharesSnapshot(t, Route{Prefix: "44", Suppliers: []string{"a", "b"}, Weights: []int{70, 30}})
	var seq []string
	for cycle := 0; cycle < 3; cycle++ {
		count := map[string]int{}
		for i := 0; i < 100; i++ {
			dec, err := s.Decide("447700900123", Economy, nil)
			if err != nil {
				t.Fatal(err)
			}
			w := dec.Winner().SupplierID
			count[w]++
			seq = append(seq, w)
			if dec.Reason != ReasonTrafficShare || dec.Eligible != 2 || dec.Candidates[1].SupplierID == w {
				t.Fatalf("decision %+v", dec)
			}
		}
		if count["a"] != 70 || count["b"] != 30 {
			t.Fatalf("cycle %d: %v, want a 70 b 30", cycle, count)
		}
	}
	run := 0
	for i, w := range seq {
		if i > 0 && w == seq[i-1] {
			run++
		} else {
			run = 1
		}
		if w == "a" && run > 3 {
			t.Fatalf("%d messages in a row to a at %d: not interleaved", run, i)
		}
	}
	// The same row in a new snapshot gives the same sequence.
	again := sharesSnapshot(t, Route{Prefix: "44", Suppliers: []string{"a", "b"}, Weights: []int{70, 30}})
	for i := 0; i < 100; i++ {
		dec, _ := again.Decide("447700900123", Economy, nil)
		if dec.Winner().SupplierID != seq[i] {
			t.Fatalf("message %d: %s, the first snapshot gave %s", i, dec.Winner().SupplierID, seq[i])
		}
	}
}

// A supplier that is down loses its share to the others with a share; a
// weight of 0 is failover only.
func TestTrafficSharesSkipIneligible(t *testing.T) {
	s := sharesSnapshot(t, Route{Prefix: "44", Suppliers: []string{"a", "b", "c"}, Weights: []int{50, 50, 0}})
	h := NewHealth(map[string]SupplierHealth{"a": {Up: false}, "b": {Up: true, Score: 900}, "c": {Up: true, Score: 1000}}, 0)
	for i := 0; i < 20; i++ {
		dec, err := s.Decide("447700900123", Premium, h)
		if err != nil {
			t.Fatal(err)
		}
		if dec.Winner().SupplierID != "b" || dec.Candidates[1].SupplierID != "c" {
			t.Fatalf("a down: %s then %s, want b then c", dec.Winner().SupplierID, dec.Candidates[1].SupplierID)
		}
	}
	// Only the failover-only supplier left: the tier's order decides.
	h = NewHealth(map[string]SupplierHealth{"a": {Up: false}, "b": {Up: false}, "c": {Up: true, Score: 1000}}, 0)
	if dec, err := s.Decide("447700900123", Premium, h); err != nil || dec.Winner().SupplierID != "c" || dec.Reason == ReasonTrafficShare {
		t.Fatalf("only c: %+v %v", dec, err)
	}
}

// Property: for random weights, every cycle of sum(weights) messages gives
// each supplier exactly its weight.
func TestTrafficSharesProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for round := 0; round < 200; round++ {
		n := 2 + r.IntN(3)
		weights := make([]int, n)
		sum := 0
		for i := range weights {
			weights[i] = r.IntN(40)
			sum += weights[i]
		}
		if sum == 0 {
			weights[0], sum = 1, 1
		}
		sh, err := newShares(weights, n)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]int, n)
		for _, p := range sh.schedule {
			got[p]++
		}
		for i := range weights {
			if got[i] != weights[i] {
				t.Fatalf("weights %v: schedule gives %v", weights, got)
			}
		}
	}
	for _, bad := range [][]int{{}, {0, 0}, {-1, 2}, {600, 401}, {50}} {
		if _, err := newShares(bad, 2); !errors.Is(err, errShares) {
			t.Errorf("weights %v: %v", bad, err)
		}
	}
}

// Rows with hours apply at their time of day (UTC, wrapping past
// midnight); the row without hours the rest of the day; a decision without
// a time takes the row without hours.
func TestRouteHours(t *testing.T) {
	s := sharesSnapshot(t,
		Route{Prefix: "44", Suppliers: []string{"a"}, Hours: "08:00-20:00"},
		Route{Prefix: "44", Suppliers: []string{"b"}, Hours: "22:00-02:00"},
		Route{Prefix: "44", Suppliers: []string{"c"}},
	)
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		at   string
		want string
	}{{"08:00", "a"}, {"19:59", "a"}, {"20:00", "c"}, {"21:59", "c"}, {"22:00", "b"}, {"00:30", "b"}, {"01:59", "b"}, {"02:00", "c"}, {"07:59", "c"}} {
		at, _ := time.Parse("15:04", tc.at)
		when := day.Add(time.Duration(at.Hour())*time.Hour + time.Duration(at.Minute())*time.Minute)
		dec, err := s.DecideAt("447700900123", 0, Standard, nil, when.In(time.FixedZone("CET", 3600)))
		if err != nil || dec.Winner().SupplierID != tc.want {
			t.Errorf("%s UTC: %v %v, want %s", tc.at, dec.Winner().SupplierID, err, tc.want)
		}
	}
	if dec, err := s.Decide("447700900123", Standard, nil); err != nil || dec.Winner().SupplierID != "c" {
		t.Errorf("without a time: %v %v, want c", dec.Winner().SupplierID, err)
	}
	// Only rows with hours: outside them there is no route.
	s = sharesSnapshot(t, Route{Prefix: "44", Suppliers: []string{"a"}, Hours: "08:00-20:00"})
	if _, err := s.DecideAt("447700900123", 0, Standard, nil, day.Add(21*time.Hour)); !errors.Is(err, ErrNoRoute) {
		t.Errorf("outside the only row's hours: %v, want ErrNoRoute", err)
	}
	for name, routes := range map[string][]Route{
		"overlapping hours": {{Prefix: "44", Suppliers: []string{"a"}, Hours: "08:00-20:00"}, {Prefix: "44", Suppliers: []string{"b"}, Hours: "19:00-21:00"}},
		"two without hours": {{Prefix: "44", Suppliers: []string{"a"}}, {Prefix: "44", Suppliers: []string{"b"}}},
		"bad hours":         {{Prefix: "44", Suppliers: []string{"a"}, Hours: "8-20"}},
		"empty window":      {{Prefix: "44", Suppliers: []string{"a"}, Hours: "08:00-08:00"}},
		"weights mismatch":  {{Prefix: "44", Suppliers: []string{"a", "b"}, Weights: []int{100}}},
	} {
		if _, err := NewSnapshot(SnapshotInput{Routes: routes}); !errors.Is(err, ErrInvalidRoute) {
			t.Errorf("%s: %v, want ErrInvalidRoute", name, err)
		}
	}
}

func TestSharesAndHoursDoNotAllocate(t *testing.T) {
	s := sharesSnapshot(t, Route{Prefix: "44", Suppliers: []string{"a", "b", "c"}, Weights: []int{70, 20, 10}, Hours: "00:00-24:00"})
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	if n := testing.AllocsPerRun(200, func() { _, _ = s.DecideAt("447700900123", 0, Premium, nil, at) }); n != 0 {
		t.Errorf("%v allocations per decision", n)
	}
}

// With an FX table, economy routing compares costs in its base currency at
// the decision's time: a USD supplier cheaper than a EUR one until the
// rate that applies from day 2 makes it dearer.
func TestEconomyComparesAtTheRateInForce(t *testing.T) {
	day1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	tab, err := fx.New("EUR", []fx.Rate{{Currency: "USD", Rate: d("0.90"), From: day1}, {Currency: "USD", Rate: d("1.20"), From: day2}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSnapshot(SnapshotInput{
		Routes: []Route{{Prefix: "44", Suppliers: []string{"eur", "usd"}}},
		CostCards: []CostCard{
			{SupplierID: "eur", Currency: "EUR", Costs: []Cost{{Prefix: "44", Cost: d("0.010")}}},
			{SupplierID: "usd", Currency: "USD", Costs: []Cost{{Prefix: "44", Cost: d("0.011")}}}, // 0.0099 then 0.0132 EUR
		},
		FX: tab, At: day1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{{day1.Add(time.Hour), "usd"}, {day2.Add(time.Hour), "eur"}, {time.Time{}, "usd"}} {
		dec, err := s.DecideAt("447700900123", 0, Economy, nil, tc.at)
		if err != nil || dec.Winner().SupplierID != tc.want {
			t.Errorf("at %v: %s %v, want %s", tc.at, dec.Winner().SupplierID, err, tc.want)
		}
		if w := dec.Winner(); w.SupplierID == "usd" && (w.Currency != "USD" || w.CostPerPart.String() != "0.011") {
			t.Errorf("the cost stays in the supplier's currency: %+v", w)
		}
	}
	if _, err := NewSnapshot(SnapshotInput{FX: tab, CostCards: []CostCard{{SupplierID: "gbp", Currency: "GBP"}}}); !errors.Is(err, ErrInvalidCostCard) {
		t.Errorf("a currency without a rate: %v", err)
	}
}
