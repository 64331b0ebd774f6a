package accept

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/pricing"
	"github.com/smsledger/smsledger/domain/routing"
)

// fixture is a deterministic large configuration: n prefixes in the rate
// card, n in the route table and n in each supplier's cost card.
type fixture struct {
	routes       *routing.Snapshot
	rates        *pricing.RateCard
	destinations []string
	networks     []numbering.Code // set by withNetworks
}

// genPrefixes returns n distinct prefixes of 3..7 digits starting 1..9.
func genPrefixes(r *rand.Rand, n int) []string {
	seen := make(map[string]struct{}, n)
	out := make([]string, 0, n)
	for len(out) < n {
		l := 3 + r.IntN(5)
		b := make([]byte, l)
		b[0] = byte('1' + r.IntN(9))
		for i := 1; i < l; i++ {
			b[i] = byte('0' + r.IntN(10))
		}
		p := string(b)
		if _, dup := seen[p]; dup {
			continue
		}
		seen[p] = struct{}{}
		out = append(out, p)
	}
	return out
}

func price(r *rand.Rand) decimal.Decimal {
	return decimal.New(int64(1+r.IntN(99_999)), -6) // 0.000001 .. 0.099999
}

func newFixture(n, suppliers, destinations int, seed uint64) (*fixture, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ids := make([]string, suppliers)
	for i := range ids {
		ids[i] = "sup-" + strconv.Itoa(i)
	}
	rateLines := make([]pricing.Rate, 0, n)
	for _, p := range genPrefixes(r, n) {
		rateLines = append(rateLines, pricing.Rate{Prefix: p, Price: price(r)})
	}
	// Every destination must be priceable: a catch-all rate per first digit.
	rates, err := pricing.NewRateCard("EUR", append(rateLines, pricing.Rate{Prefix: "", Price: decimal.RequireFromString("0.05")}))
	if err != nil {
		return nil, err
	}
	in := routing.SnapshotInput{}
	routePrefixes := genPrefixes(r, n)
	for _, p := range routePrefixes {
		k := min(2+r.IntN(2), suppliers)
		sel := r.Perm(suppliers)[:k]
		route := routing.Route{Prefix: p}
		for _, s := range sel {
			route.Suppliers = append(route.Suppliers, ids[s])
		}
		in.Routes = append(in.Routes, route)
	}
	in.Routes = append(in.Routes, routing.Route{Prefix: "", Suppliers: ids[:min(3, suppliers)]})
	for _, id := range ids {
		cc := routing.CostCard{SupplierID: id, Currency: "EUR"}
		for _, p := range genPrefixes(r, n) {
			cc.Costs = append(cc.Costs, routing.Cost{Prefix: p, Cost: price(r)})
		}
		cc.Costs = append(cc.Costs, routing.Cost{Prefix: "", Cost: decimal.RequireFromString("0.01")})
		in.CostCards = append(in.CostCards, cc)
	}
	routes, err := routing.NewSnapshot(in)
	if err != nil {
		return nil, err
	}
	f := &fixture{routes: routes, rates: rates}
	for i := 0; i < destinations; i++ {
		p := routePrefixes[r.IntN(len(routePrefixes))]
		b := []byte(p)
		for len(b) < 11+r.IntN(2) {
			b = append(b, byte('0'+r.IntN(10)))
		}
		f.destinations = append(f.destinations, string(b))
	}
	return f, nil
}

func (f *fixture) tenant(balance string) (*Tenant, error) {
	acct, err := money.NewAccount("EUR", money.MustFromDecimal(decimal.RequireFromString(balance)), 0, 0)
	if err != nil {
		return nil, fmt.Errorf("account: %w", err)
	}
	return &Tenant{ID: "acme", Billing: money.BillOnDelivery, Tier: routing.Economy, Rates: f.rates, Account: acct}, nil
}

// withNetworks grows the fixture with numbering tables: a plan of planRows
// ranges over networks networks (covering the destinations' prefixes),
// ported numbers (half of the destinations among them), and network rows
// for half the networks in the rate card and each cost card and for
// three tenths in the route table. It replaces f.rates and f.routes.
func (f *fixture) withNetworks(planRows, networks, ported int, seed uint64) (*numbering.Tables, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	codes := make([]numbering.Code, networks)
	mccmnc := make([]string, networks)
	for i := range codes {
		mccmnc[i] = fmt.Sprintf("%03d%02d", 200+i/100, i%100)
		c, err := numbering.ParseCode(mccmnc[i])
		if err != nil {
			return nil, err
		}
		codes[i] = c
	}
	rows := make([]numbering.Row, 0, planRows)
	for _, p := range genPrefixes(r, planRows) {
		i := r.IntN(networks)
		rows = append(rows, numbering.Row{Prefix: p, MCC: mccmnc[i][:3], MNC: mccmnc[i][3:], Country: "C" + mccmnc[i][:3], Operator: "Op " + mccmnc[i]})
	}
	plan, err := numbering.NewPlan(rows)
	if err != nil {
		return nil, err
	}
	nums := make([]numbering.PortedNumber, 0, ported)
	seen := make(map[string]bool, ported)
	for i, d := range f.destinations {
		if i%2 == 0 && !seen[d] {
			seen[d] = true
			nums = append(nums, numbering.PortedNumber{MSISDN: d, Code: codes[r.IntN(networks)]})
		}
	}
	for len(nums) < ported {
		b := []byte{byte('1' + r.IntN(9))}
		for len(b) < 11 {
			b = append(b, byte('0'+r.IntN(10)))
		}
		if d := string(b); !seen[d] {
			seen[d] = true
			nums = append(nums, numbering.PortedNumber{MSISDN: d, Code: codes[r.IntN(networks)]})
		}
	}
	pt, err := numbering.NewPorted(nums)
	if err != nil {
		return nil, err
	}
	// Network rows on top of the prefix decks.
	rateLines := []pricing.Rate{{Prefix: "", Price: decimal.RequireFromString("0.05")}}
	for i := 0; i < networks; i += 2 {
		rateLines = append(rateLines, pricing.Rate{MCCMNC: mccmnc[i], Price: price(r)})
	}
	if f.rates, err = pricing.NewRateCard("EUR", rateLines); err != nil {
		return nil, err
	}
	in := routing.SnapshotInput{Routes: []routing.Route{{Prefix: "", Suppliers: []string{"sup-0", "sup-1", "sup-2"}}}}
	for i := 0; i < networks*3/10; i++ {
		route := routing.Route{MCCMNC: mccmnc[i], Suppliers: []string{"sup-3", "sup-1"}}
		if i%2 == 0 { // half of them share their traffic 70/30
			route.Weights = []int{70, 30}
		}
		in.Routes = append(in.Routes, route)
	}
	f.networks = codes
	for s := 0; s < 5; s++ {
		cc := routing.CostCard{SupplierID: "sup-" + strconv.Itoa(s), Currency: "EUR", Costs: []routing.Cost{{Prefix: "", Cost: decimal.RequireFromString("0.01")}}}
		for _, p := range genPrefixes(r, 100_000) {
			cc.Costs = append(cc.Costs, routing.Cost{Prefix: p, Cost: price(r)})
		}
		for i := 0; i < networks; i += 2 {
			cc.Costs = append(cc.Costs, routing.Cost{MCCMNC: mccmnc[i], Cost: price(r)})
		}
		in.CostCards = append(in.CostCards, cc)
	}
	if f.routes, err = routing.NewSnapshot(in); err != nil {
		return nil, err
	}
	return &numbering.Tables{Plan: plan, Ported: pt}, nil
}
