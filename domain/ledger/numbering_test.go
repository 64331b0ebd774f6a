package ledger_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/numbering"
)

// A numbering plan and a portability table place destinations on
// networks; a network row of the rate card, of a cost card and of the route
// table then decides price, cost and route, and the message carries its
// network. A replay of the log rebuilds both tables.
func TestNumberingPricesAndRoutesByNetwork(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme") // rates 49 → 0.05, 4915 → 0.07; sup1 49 → 0.02; route 49 → sup1
	dec := decimal.RequireFromString
	if _, err := svc.TopUp(ctx, "acme", dec("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: "sup2", Name: "S2", Currency: "EUR", Host: "127.0.0.1", Port: 2776,
		SystemID: "s2", Password: "pw", Binds: 1, TPSLimit: 10, Window: 10}); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.SetCosts(ctx, "sup2", []events.Cost{{Prefix: "49", Cost: dec("0.03")}, {MCCMNC: "26202", Cost: dec("0.011")}}))
	must(svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"sup1"}}, {MCCMNC: "26202", Suppliers: []string{"sup2", "sup1"}}}))
	must(svc.SetRates(ctx, "acme", []events.Rate{{Prefix: "49", Price: dec("0.05")}, {MCCMNC: "26202", Price: dec("0.042")}}))

	info, err := svc.SetNumberingPlan(ctx, []numbering.Row{
		{Prefix: "49151", MCC: "262", MNC: "01", Country: "DE", Operator: "Telekom"},
		{Prefix: "49152", MCC: "262", MNC: "02", Country: "DE", Operator: "Vodafone"},
	})
	if err != nil || info.PlanRows != 2 || info.Networks != 2 || info.PlanAt == nil {
		t.Fatalf("plan: %+v %v", info, err)
	}
	vodafone, _ := numbering.ParseCode("26202")
	info, err = svc.SetPortability(ctx, []numbering.PortedNumber{{MSISDN: "4915112345678", Code: vodafone}})
	if err != nil || info.PortedNumbers != 1 || info.PlanRows != 2 {
		t.Fatalf("portability: %+v %v", info, err)
	}

	submit := func(to string) ledger.MessageView {
		t.Helper()
		acc, err := svc.Submit(ctx, "acme", accept.Request{MessageID: uuid.New(), To: to, Text: "hi"})
		if err != nil {
			t.Fatalf("submit to %s: %v", to, err)
		}
		v, err := svc.Message(ctx, "", acc.MessageID)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// On Vodafone by its range: the network rows price and route it.
	v := submit("+4915212345678")
	if v.MCCMNC != "26202" || v.Operator != "Vodafone" || v.Price != "0.042" || v.Supplier != "sup2" || v.RouteMCCMNC != "26202" || v.Cost != "0.011" {
		t.Errorf("on Vodafone by range: %+v", v)
	}
	// A Telekom range number ported to Vodafone: the same.
	v = submit("+4915112345678")
	if v.MCCMNC != "26202" || v.Price != "0.042" || v.Supplier != "sup2" {
		t.Errorf("ported to Vodafone: %+v", v)
	}
	// Telekom: no network row anywhere, so the prefixes decide.
	v = submit("+4915112345679")
	if v.MCCMNC != "26201" || v.Country != "DE" || v.Price != "0.05" || v.Supplier != "sup1" || v.RoutePrefix != "49" {
		t.Errorf("on Telekom: %+v", v)
	}
	if nv, err := svc.LookupNetwork("+49 1511 2345678"); err != nil || nv.MCCMNC != "26202" || nv.Source != "ported" || nv.Number != "4915112345678" {
		t.Errorf("lookup: %+v %v", nv, err)
	}

	// Bad tables are refused whole.
	if _, err := svc.SetNumberingPlan(ctx, []numbering.Row{{Prefix: "49", MCC: "262", MNC: "1"}}); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Errorf("bad plan: %v", err)
	}
	if _, err := svc.SetPortability(ctx, []numbering.PortedNumber{{MSISDN: "0049", Code: vodafone}}); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Errorf("bad portability: %v", err)
	}
	if err := svc.SetRates(ctx, "acme", []events.Rate{{Prefix: "49", MCCMNC: "26202", Price: dec("1")}}); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Errorf("a rate naming a prefix and a network: %v", err)
	}

	// A replay of the log has the same tables.
	replayed := ledgertest.Start(t, store, ledger.Options{})
	if got := replayed.Numbering(); got.PlanRows != 2 || got.PortedNumbers != 1 {
		t.Errorf("after a replay: %+v", got)
	}
	if nv, _ := replayed.LookupNetwork("4915112345678"); nv.MCCMNC != "26202" {
		t.Errorf("after a replay the ported number is on %q", nv.MCCMNC)
	}
}

// fakeRemote is a remote portability source with a fixed answer.
type fakeRemote map[string]numbering.Code

func (f fakeRemote) Lookup(digits string) (numbering.Code, bool) {
	c, ok := f[digits]
	return c, ok
}

// A remote portability source (Options.Portability) is consulted after the
// operator's table and before the plan, with or without tables loaded.
func TestRemotePortability(t *testing.T) {
	ctx := context.Background()
	vodafone, _ := numbering.ParseCode("26202")
	telekom, _ := numbering.ParseCode("26201")
	remote := fakeRemote{"4915112345678": vodafone, "4915112345600": vodafone}
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{Portability: remote})
	if nv, _ := svc.LookupNetwork("4915112345678"); nv.MCCMNC != "26202" || nv.Source != "lookup" {
		t.Errorf("without tables: %+v", nv)
	}
	if _, err := svc.SetNumberingPlan(ctx, []numbering.Row{{Prefix: "49151", MCC: "262", MNC: "01", Operator: "Telekom"}, {Prefix: "49152", MCC: "262", MNC: "02", Operator: "Vodafone"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetPortability(ctx, []numbering.PortedNumber{{MSISDN: "4915112345600", Code: telekom}}); err != nil {
		t.Fatal(err)
	}
	for number, want := range map[string]string{
		"4915112345678": "26202 lookup Vodafone", // the provider knows it moved
		"4915112345600": "26201 ported Telekom",  // the operator's table wins
		"4915112345699": "26201 plan Telekom",
	} {
		nv, _ := svc.LookupNetwork(number)
		if got := nv.MCCMNC + " " + nv.Source + " " + nv.Operator; got != want {
			t.Errorf("%s: %s, want %s", number, got, want)
		}
	}
}
