package accept

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/controls"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/routing"
)

// BenchmarkDecide measures route + price + hold for one message against a
// 100,000-prefix rate card, a 100,000-prefix route table and five
// 100,000-prefix supplier cost cards. Destinations cycle through 4,096
// distinct numbers so lookups are not all served from one cache line.
// The bar: < 2 µs and <= 2 allocations per message.
func BenchmarkDecide(b *testing.B) {
	f, err := newFixture(100_000, 5, 4096, 1)
	if err != nil {
		b.Fatal(err)
	}
	t, err := f.tenant("1000000000")
	if err != nil {
		b.Fatal(err)
	}
	health := routing.NewHealth(map[string]routing.SupplierHealth{
		"sup-0": {Up: true, Score: 990},
		"sup-1": {Up: true, Score: 700},
		"sup-2": {Up: true, Score: 900},
		"sup-3": {Up: true, Score: 950},
		"sup-4": {Up: false, Score: 900},
	}, 500)
	for _, tier := range []routing.Tier{routing.Economy, routing.Standard, routing.Premium} {
		b.Run(tier.String(), func(b *testing.B) {
			t.Tier = tier
			req := Request{MessageID: uuid.MustParse("7b1e7e0e-4a8e-4f0e-8a39-1b2f7e0d0001"), Text: "Your verification code is 123456. It expires in 10 minutes."}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				req.To = f.destinations[i&4095]
				d, err := Decide(t, f.routes, health, &req)
				if err != nil {
					b.Fatal(err)
				}
				if err := Undo(t, &d); err != nil { // keep the account steady
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecideOnNetworks is BenchmarkDecide with the network lookup in
// front (issue 17's fixture): a 200,000-row numbering plan over 1,000
// networks, 1,000,000 ported numbers (half of the destinations among
// them), and network rows for 500 networks in the rate card and in each
// cost card and for 300 in the route table. The bar: under 1 µs and 0
// allocations at the median.
func BenchmarkDecideOnNetworks(b *testing.B) {
	f, nets, t := networksFixture(b)
	for _, tier := range []routing.Tier{routing.Economy, routing.Standard, routing.Premium} {
		b.Run(tier.String(), func(b *testing.B) {
			t.Tier = tier
			req := Request{MessageID: uuid.MustParse("7b1e7e0e-4a8e-4f0e-8a39-1b2f7e0d0001"), Text: "Your verification code is 123456. It expires in 10 minutes."}
			b.ReportAllocs()
			b.ResetTimer()
			onNetwork := 0
			for i := 0; b.Loop(); i++ {
				req.To = f.destinations[i&4095]
				d, err := DecideOn(t, f.routes, nil, nets, &req)
				if err != nil {
					b.Fatal(err)
				}
				if d.Quote.RateNetwork.Known() {
					onNetwork++
				}
				if err := Undo(t, &d); err != nil {
					b.Fatal(err)
				}
			}
			if onNetwork == 0 {
				b.Fatal("no destination was priced by a network row")
			}
		})
	}
}

// BenchmarkDecision is the whole hot-path decision of issue 17 on
// BenchmarkDecideOnNetworks's fixture (numbering plan of 200,000 rows,
// 1,000,000 ported numbers, network rows; half the network routes share
// their traffic 70/30), with what the ledger adds around DecideInto:
// route health per supplier and per supplier × network (every network of
// two suppliers measured), and the stateless controls — the tenant's
// sender allow-list and a per-network sender rewrite, and a global set of
// 1,000 keywords, 100 URL domains and 2 patterns that nothing in the text
// matches. The per-destination rate limit and duplicate windows, off by
// default, are the ledger's (BenchmarkControls there). The bar:
// under 1 µs and 0 allocations at the median.
func BenchmarkDecision(b *testing.B) {
	f, nets, t := networksFixture(b)
	states := map[string]routing.SupplierHealth{}
	var dests []routing.DestinationHealth
	for s := range 5 {
		id := "sup-" + strconv.Itoa(s)
		states[id] = routing.SupplierHealth{Up: true, Score: uint16(900 + 20*s)}
		if s == 1 || s == 3 {
			for i, c := range f.networks {
				dests = append(dests, routing.DestinationHealth{SupplierID: id, Network: c, Score: uint16(700 + i%300), Samples: 100})
			}
		}
	}
	health := routing.NewHealthOn(states, dests, 500)
	global, tenant := benchControls(b)
	for _, tier := range []routing.Tier{routing.Economy, routing.Standard, routing.Premium} {
		b.Run(tier.String(), func(b *testing.B) {
			t.Tier = tier
			req := Request{MessageID: uuid.MustParse("7b1e7e0e-4a8e-4f0e-8a39-1b2f7e0d0001"), From: "Acme",
				Text: "Your verification code is 123456. It expires in 10 minutes."}
			var d Decision
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				req.To = f.destinations[i&4095]
				if err := DecideInto(&d, t, f.routes, health, nets, &req); err != nil {
					b.Fatal(err)
				}
				if _, v := controls.Check(global, tenant, req.From, d.Network.Code, req.Text); v.Refused() {
					b.Fatal(v)
				}
				if err := Undo(t, &d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchControls: a global set of 1,000 keywords, 100 URL domains and 2
// patterns, and a tenant's sender allow-list with one rewrite.
func benchControls(b *testing.B) (global, tenant *controls.Set) {
	var r controls.Rules
	rng := rand.New(rand.NewPCG(7, 7))
	word := func() string { // 5–12 letters; none occurs in the text
		for {
			w := make([]byte, 5+rng.IntN(8))
			for i := range w {
				w[i] = byte('a' + rng.IntN(26))
			}
			if !strings.Contains("your verification code is 123456. it expires in 10 minutes.", string(w)) {
				return string(w)
			}
		}
	}
	for range 1_000 {
		r.Keywords = append(r.Keywords, word())
	}
	for range 100 {
		r.URLDomains = append(r.URLDomains, word()+".example")
	}
	r.Patterns = []string{`(?i)win\s+\$?\d+`, `(?i)free\s+bonus`}
	global, err := controls.Compile(r)
	if err != nil {
		b.Fatal(err)
	}
	tenant, err = controls.Compile(controls.Rules{SenderAllow: []string{"Acme", "447700900123"},
		SenderRewrites: []controls.Rewrite{{MCCMNC: "20000", From: "*", To: "447700900999"}}})
	if err != nil {
		b.Fatal(err)
	}
	return global, tenant
}

// networksFixture is BenchmarkDecideOnNetworks's fixture and a tenant with
// money for every run.
func networksFixture(b *testing.B) (*fixture, *numbering.Tables, *Tenant) {
	f, err := newFixture(100_000, 5, 4096, 1)
	if err != nil {
		b.Fatal(err)
	}
	nets, err := f.withNetworks(200_000, 1_000, 1_000_000, 2)
	if err != nil {
		b.Fatal(err)
	}
	t, err := f.tenant("1000000000")
	if err != nil {
		b.Fatal(err)
	}
	return f, nets, t
}
