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

// Route rows with traffic shares and hours go through the log: the table
// reads back as set, a replay routes the same, and the shares split the
// tenant's messages 70/30 over a cycle.
func TestRouteSharesThroughTheLedger(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	clk := ledgertest.NewClock() // 12:00 UTC
	svc := ledgertest.Start(t, store, ledger.Options{Clock: clk.Now})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", decimal.RequireFromString("100"), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: "sup2", Name: "S2", Currency: "EUR", Host: "127.0.0.1", Port: 2776,
		SystemID: "s2", Password: "pw", Binds: 1, TPSLimit: 10, Window: 10}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetCosts(ctx, "sup2", []events.Cost{{Prefix: "49", Cost: decimal.RequireFromString("0.03")}}); err != nil {
		t.Fatal(err)
	}
	table := []events.Route{
		{Prefix: "49", Suppliers: []string{"sup1", "sup2"}, Weights: "70 30"},
		{Prefix: "49", Suppliers: []string{"sup2"}, Hours: "03:00-04:00"},
	}
	if err := svc.SetRoutes(ctx, table); err != nil {
		t.Fatal(err)
	}
	got := svc.Routes()
	if len(got) != 2 || got[0].Weights != "70 30" || got[0].Hours != "" || got[1].Hours != "03:00-04:00" {
		t.Fatalf("routes read back: %+v", got)
	}
	send := func(n int) map[string]int {
		count := map[string]int{}
		for i := 0; i < n; i++ {
			acc, err := svc.Submit(ctx, "acme", accept.Request{MessageID: uuid.New(), To: "+4930123456", Text: "hi"})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := svc.Message(ctx, "", acc.MessageID)
			count[v.Supplier]++
		}
		return count
	}
	if c := send(100); c["sup1"] != 70 || c["sup2"] != 30 {
		t.Errorf("shares over 100 messages at noon: %v, want sup1 70 sup2 30", c)
	}
	clk.Advance(15*time.Hour + 30*time.Minute) // 03:30 UTC: the row with hours
	if c := send(10); c["sup2"] != 10 {
		t.Errorf("at 03:30 UTC: %v, want all to sup2", c)
	}
	for _, bad := range []events.Route{
		{Prefix: "49", Suppliers: []string{"sup1", "sup2"}, Weights: "70"},
		{Prefix: "49", Suppliers: []string{"sup1"}, Weights: "seventy"},
		{Prefix: "49", Suppliers: []string{"sup1"}, Hours: "25:00-26:00"},
	} {
		if err := svc.SetRoutes(ctx, []events.Route{bad}); ledger.CodeOf(err) != ledger.CodeInvalid {
			t.Errorf("%+v: %v, want invalid_request", bad, err)
		}
	}
	replayed := ledgertest.Start(t, store, ledger.Options{})
	if r := replayed.Routes(); len(r) != 2 || r[0].Weights != "70 30" {
		t.Errorf("after a replay: %+v", r)
	}
}
