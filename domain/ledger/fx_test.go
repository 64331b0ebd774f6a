package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// Suppliers billing in different currencies need an FX table; with one,
// economy routing picks the cheaper in the base currency at the rate in
// force when the message is decided, and a replay has the same table.
func TestFXTableLetsRoutingCompareCurrencies(t *testing.T) {
	ctx := context.Background()
	dec := decimal.RequireFromString
	clk := ledgertest.NewClock() // 2026-12-06 12:00 UTC
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{Clock: clk.Now})
	ledgertest.Setup(t, svc, "acme") // sup1 (EUR) 49 → 0.02
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{Tier: ptr("economy")}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TopUp(ctx, "acme", dec("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: "usd1", Name: "U", Currency: "USD", Host: "127.0.0.1", Port: 2776,
		SystemID: "u", Password: "pw", Binds: 1, TPSLimit: 10, Window: 10}); err != nil {
		t.Fatal(err)
	}
	usdCosts := []events.Cost{{Prefix: "49", Cost: dec("0.021")}}
	if err := svc.SetCosts(ctx, "usd1", usdCosts); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Fatalf("a USD cost card beside EUR ones without an FX table: %v, want invalid_request", err)
	}
	tomorrow := clk.Now().Add(24 * time.Hour)
	info, err := svc.SetFX(ctx, "EUR", []events.FXRate{
		{Currency: "USD", Rate: dec("0.90"), From: clk.Now().Add(-time.Hour)}, // 0.021 USD = 0.0189 EUR
		{Currency: "USD", Rate: dec("1.00"), From: tomorrow},                  // = 0.021 EUR
	})
	if err != nil || info.Base != "EUR" || len(info.Rates) != 2 || info.LoadedAt == nil {
		t.Fatalf("set fx: %+v %v", info, err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.SetCosts(ctx, "usd1", usdCosts))
	must(svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"sup1", "usd1"}}}))
	winner := func() string {
		t.Helper()
		acc, err := svc.Submit(ctx, "acme", accept.Request{MessageID: uuid.New(), To: "+4930123456", Text: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := svc.Message(ctx, "", acc.MessageID)
		return v.Supplier + " " + v.Cost + " " + v.CostCurrency
	}
	if w := winner(); w != "usd1 0.021 USD" {
		t.Errorf("today: %s, want usd1 (0.0189 EUR < 0.02)", w)
	}
	clk.Advance(25 * time.Hour)
	if w := winner(); w != "sup1 0.02 EUR" {
		t.Errorf("tomorrow: %s, want sup1 (0.021 EUR > 0.02)", w)
	}
	// A table that drops USD while a supplier bills in it is refused.
	if _, err := svc.SetFX(ctx, "EUR", []events.FXRate{{Currency: "GBP", Rate: dec("1.1"), From: clk.Now()}}); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Errorf("fx without USD: %v", err)
	}
	replayed := ledgertest.Start(t, store, ledger.Options{Clock: clk.Now})
	if got := replayed.FX(); got.Base != "EUR" || len(got.Rates) != 2 {
		t.Errorf("after a replay: %+v", got)
	}
}
