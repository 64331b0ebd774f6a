package runner

import (
	"math"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/routing"
)

// networksYAML uses the fields of the networks scenario.
const networksYAML = `name: n
numbering:
  - {prefix: "4915", mccmnc: "26201", country: DE, operator: Telekom}
  - {prefix: "4916", mccmnc: "26202", country: DE, operator: Vodafone}
  - {prefix: "49160", mccmnc: "26203", country: DE, operator: O2}
ported:
  - {first: "491500000001", count: 3, mccmnc: "26202"}
tenants:
  - id: acme
    mo_price: "0.002"
    numbers: ["+4930111111", "12345"]
    rates: [{prefix: "49", price: "0.05"}, {mccmnc: "26202", price: "0.04"}, {prefix: "4916", price: "0.045"}]
suppliers:
  - {id: a, reject_prefixes: ["4915"], costs: [{mccmnc: "26201", price: "0.01"}, {prefix: "49", price: "0.02"}]}
  - {id: b, costs: [{prefix: "49", price: "0.02"}]}
routes:
  - {prefix: "49", suppliers: [a, b]}
  - {mccmnc: "26201", suppliers: [a, b]}
  - {mccmnc: "26202", suppliers: [a, b]}
  - {mccmnc: "26203", suppliers: [a, b], weights: [70, 30]}
traffic:
  - {name: s, tenant: acme, prefix: "4915", messages: 10, after_health: true}
mo:
  - {supplier: b, start: 1s, messages: 6, rate: 3, from: "4917", to: ["+4930111111", "4930999999"]}
limits: {health_grace: 3s}
`

func TestParseNetworks(t *testing.T) {
	s, err := Parse([]byte(networksYAML))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Networks() || len(s.Numbering) != 3 || s.Ported[0].Count != 3 || s.Limits.HealthGrace.D().Seconds() != 3 {
		t.Fatalf("%+v", s)
	}
	if got := s.Ported[0].numbers(); len(got) != 3 || got[0] != "491500000001" || got[2] != "491500000003" {
		t.Fatalf("ported numbers %v", got)
	}
	if !s.Traffic[0].AfterHealth || !s.rejectsNetworks() {
		t.Fatalf("after_health %v, rejects networks %v", s.Traffic[0].AfterHealth, s.rejectsNetworks())
	}
	if m := s.MO[0]; m.Name != "mo-1" || m.Messages != 6 || m.Rate != 3 || len(m.To) != 2 {
		t.Fatalf("mo %+v", m)
	}
	if c := s.Scaled(2); c.MO[0].Messages != 12 || c.MO[0].Rate != 6 || s.MO[0].Messages != 6 {
		t.Fatalf("scaled mo %+v (original %+v)", c.MO[0], s.MO[0])
	}
	if q, err := Parse([]byte(scenarioYAML)); err != nil || q.Networks() || q.Limits.HealthGrace.D().Seconds() != 2 {
		t.Fatalf("a scenario without networks: %v %v", q.Networks(), err)
	}
	failing, healthy := s.failingNetworks(s.Suppliers[0])
	if len(failing) != 1 || failing[0] != "26201" || len(healthy) != 1 || healthy[0] != "26202" {
		t.Fatalf("failing %v healthy %v (26203 has shares: neither)", failing, healthy)
	}
	if f, h := s.failingNetworks(s.Suppliers[1]); f != nil || h != nil {
		t.Fatalf("a supplier rejecting nothing: %v %v", f, h)
	}
}

// The runner's own answer to a destination's network, rate and route: the
// portability table first, then the plan's longest prefix; a network's
// deck row before any prefix.
func TestNetPlan(t *testing.T) {
	s, err := Parse([]byte(networksYAML))
	if err != nil {
		t.Fatal(err)
	}
	p := newNetPlan(s)
	rates := s.Tenants[0].Rates
	for _, tc := range []struct {
		to, net, source, price, route string
	}{
		{"491500000002", "26202", "ported", "0.04", "mccmnc 26202"}, // ported out of Telekom
		{"+491500000009", "26201", "plan", "0.05", "mccmnc 26201"},  // Telekom, no rate row: prefix 49
		{"491601234567", "26203", "plan", "0.045", "mccmnc 26203"},  // the longer range wins
		{"491611234567", "26202", "plan", "0.04", "mccmnc 26202"},   // the network row before prefix 4916
		{"447700900123", "", "", "", ""},                            // nowhere
		{"493012345678", "", "", "0.05", "prefix 49"},               // no network: by prefix
	} {
		net, source := p.network(tc.to)
		rate, _ := rateFor(rates, net, trimPlus(tc.to))
		route, found := routeFor(s.Routes, net, trimPlus(tc.to))
		routeKey := ""
		if found {
			routeKey = route.key()
		}
		if net != tc.net || source != tc.source || rate.Price != tc.price || routeKey != tc.route {
			t.Errorf("%s: %q %q %q %q, want %q %q %q %q", tc.to, net, source, rate.Price, routeKey, tc.net, tc.source, tc.price, tc.route)
		}
	}
	if own := p.byPrefix("491500000002"); own != "26201" {
		t.Errorf("the ported number's own range: %q", own)
	}
}

func trimPlus(s string) string {
	if len(s) > 0 && s[0] == '+' {
		return s[1:]
	}
	return s
}

// shareSchedule is routing's schedule: the runner's copy gives the same
// supplier for every message of a row as routing's decisions, and for any
// number of messages each supplier's count is within 1 of its share (the
// bound shares_held holds the whole run to).
func TestShareScheduleIsRoutings(t *testing.T) {
	for _, w := range [][]int{{70, 30}, {1, 2}, {50, 30, 20}, {0, 5}, {999, 1}} {
		ids := []string{"a", "b", "c"}[:len(w)]
		var cards []routing.CostCard
		for _, id := range ids {
			cards = append(cards, routing.CostCard{SupplierID: id, Currency: "EUR", Costs: []routing.Cost{{Prefix: "4", Cost: decimal.RequireFromString("0.01")}}})
		}
		snap, err := routing.NewSnapshot(routing.SnapshotInput{Routes: []routing.Route{{Prefix: "44", Suppliers: ids, Weights: w}}, CostCards: cards})
		if err != nil {
			t.Fatal(err)
		}
		sched := shareSchedule(w)
		sum := len(sched)
		count := make([]int, len(w))
		for k := 0; k < 3*sum+7; k++ {
			d, err := snap.Decide("447700900123", routing.Standard, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := ids[sched[k%sum]]
			if got := d.Winner().SupplierID; got != want {
				t.Fatalf("weights %v, message %d: routing chose %s, the runner's schedule %s", w, k, got, want)
			}
			count[sched[k%sum]]++
			for i := range w {
				if dev := math.Abs(float64(count[i]) - float64(k+1)*float64(w[i])/float64(sum)); dev > 1 {
					t.Fatalf("weights %v after %d messages: %s has %d, %.2f from its share", w, k+1, ids[i], count[i], dev)
				}
			}
		}
	}
}
