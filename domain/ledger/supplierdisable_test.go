package ledger_test

import (
	"context"
	"testing"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// A disabled supplier gets no new messages: routing goes past it at once,
// also after a replay, and back to it once it is enabled again.
func TestDisabledSupplierIsRoutedPast(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if err := svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: "sup2", Name: "S2", Currency: "EUR", Host: "127.0.0.1", Port: 2776,
		SystemID: "sup2", Password: "pw", Binds: 1, Window: 10}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetCosts(ctx, "sup2", []events.Cost{{Prefix: "49", Cost: dec("0.03")}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"sup1", "sup2"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TopUp(ctx, "acme", dec("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	routedTo := func(s *ledger.Service) string {
		t.Helper()
		acc, err := s.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Message(ctx, "acme", acc.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		return v.Supplier
	}
	if got := routedTo(svc); got != "sup1" {
		t.Fatalf("both enabled: routed to %s", got)
	}
	off := false
	if _, err := svc.PatchSupplier(ctx, "sup1", ledger.SupplierPatch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if got := routedTo(svc); got != "sup2" {
		t.Fatalf("sup1 disabled: routed to %s", got)
	}
	replayed := ledgertest.Start(t, store, ledger.Options{})
	if got := routedTo(replayed); got != "sup2" {
		t.Fatalf("sup1 disabled, after a replay: routed to %s", got)
	}
	on := true
	if _, err := svc.PatchSupplier(ctx, "sup1", ledger.SupplierPatch{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	if got := routedTo(svc); got != "sup1" {
		t.Fatalf("sup1 enabled again: routed to %s", got)
	}
}
