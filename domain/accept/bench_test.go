package accept

import (
	"testing"

	"github.com/google/uuid"
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
