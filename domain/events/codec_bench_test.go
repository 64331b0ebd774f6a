package events

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// lifecycle is one delivered message as the log holds it: the events a
// full lifecycle encodes once and every reader (ledger follower,
// projections, tracker) decodes again.
func lifecycle() []Event {
	var (
		id   = uuid.MustParse("3f0c7e52-2a1b-4c1e-9d0f-6b7a8c9d0e1f")
		at   = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
		amt  = decimal.RequireFromString("0.0125")
		cost = decimal.RequireFromString("0.0071")
	)
	return []Event{
		MessageAccepted{MessageID: id, TenantID: "acme", Channel: "smpp", From: "Acme", To: "447700900123", Text: "Your code is 123456. It expires in 10 minutes.", Encoding: "gsm7", Parts: 1, RatePrefix: "447", PricePerPart: amt, Price: amt, Currency: "EUR", Billing: "on_delivery", RegisteredDelivery: true, TenantReference: "seq-1234", ExpiresAt: at.Add(48 * time.Hour), At: at},
		Held{MessageID: id, TenantID: "acme", Amount: amt, Currency: "EUR", At: at},
		RouteSelected{MessageID: id, RoutePrefix: "447", Tier: "standard", Candidates: []RouteCandidate{
			{SupplierID: "s1", Preference: 1, CostPerPart: cost, Currency: "EUR", CostPrefix: "447", Up: true, HealthScore: 900, Eligible: true},
			{SupplierID: "s2", Preference: 2, CostPerPart: amt, Currency: "EUR", CostPrefix: "44", Up: true, HealthScore: 700, Eligible: true}},
			Winner: "s1", Reason: "cheapest", At: at},
		SubmittedToSupplier{MessageID: id, SupplierID: "s1", Attempt: 1, At: at},
		SupplierAccepted{MessageID: id, SupplierID: "s1", Attempt: 1, SupplierMessageID: "0a1b2c3d4e", LatencyMs: 12, At: at},
		DeliveryReported{MessageID: id, SupplierID: "s1", SupplierMessageID: "0a1b2c3d4e", Status: "DELIVRD", ErrorCode: "000", DoneAt: at, At: at},
		Settled{MessageID: id, TenantID: "acme", SupplierID: "s1", Held: amt, Price: amt, Currency: "EUR", Cost: cost, CostCurrency: "EUR", At: at},
		JournalEntryRecorded{EntryID: id, Kind: "settlement", Currency: "EUR", Postings: []Posting{{Account: "tenant:acme:held", Amount: amt.Neg()}, {Account: "tenant:acme", Amount: amt}, {Account: "revenue", Amount: amt.Neg()}}, MessageID: id, TenantID: "acme", At: at},
	}
}

var benchSink any

// BenchmarkCodec: Encode and Decode of each event of a message's
// lifecycle, and of the whole lifecycle (Message: every event encoded
// once and decoded once).
func BenchmarkCodec(b *testing.B) {
	evs := lifecycle()
	for _, e := range evs {
		typ, data, err := Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("Encode/"+typ, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, d, _ := Encode(e)
				benchSink = d
			}
		})
		b.Run("Decode/"+typ, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := Decode(typ, data)
				if err != nil {
					b.Fatal(err)
				}
				benchSink = v
			}
		})
	}
}
