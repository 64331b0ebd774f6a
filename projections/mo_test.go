package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

// MOs in the read models: a CDR row with direction "mo" (the handset as
// source, the tenant's number as destination, the supplier it came from,
// the tenant's mo_price settled at its receipt, cost 0, state "received",
// forwarded_at once MOForwarded), its charge in the tenant's balance and
// the journal; reconciliation counts its revenue and every check passes;
// the tenant's own messages stay "mt"; a replay gives the same read
// models.
func TestMOCDRsBalancesAndReplay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, projections.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	at := func(min int) time.Time { return b0.Add(time.Duration(min) * time.Minute) }
	appendTo := func(stream string, exp eventstore.ExpectedVersion, first uint64, evs ...events.Event) {
		t.Helper()
		data, err := workload.Encode(workload.Append{Stream: stream, Expected: exp, Events: evs}, first)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Append(ctx, stream, exp, data...); err != nil {
			t.Fatal(err)
		}
		waitForHead(t, e, rt)
	}

	entry, err := money.TopUpEntry("acme", money.Money{Amount: dd("1"), Currency: "EUR"}, "initial")
	if err != nil {
		t.Fatal(err)
	}
	appendTo(events.TenantStream("acme"), eventstore.NoStream, 0,
		events.TenantCreated{TenantID: "acme", Name: "acme", Currency: "EUR", Billing: "on_submit", CreditLimit: decimal.Zero, Tier: "standard", MOPrice: dd("0.004"), At: b0},
		events.TopUpRecorded{TenantID: "acme", Reference: "initial", Amount: dd("1"), Currency: "EUR", EntryID: entry.ID, At: b0},
		message.JournalEvent(entry, "acme", b0),
		events.TenantNumbersChanged{TenantID: "acme", Numbers: "+4915112345678 12345", Count: 2, At: b0})

	// A charged MO, forwarded later; an unbilled one, never forwarded.
	charged, free := uuid.New(), uuid.New()
	settle, err := money.SettlementEntries(charged, "acme", "sup1", money.Money{Amount: dd("0.004"), Currency: "EUR"}, money.Money{Currency: "EUR"})
	if err != nil || len(settle) != 1 {
		t.Fatal(settle, err)
	}
	appendTo(events.MessageStream(charged), eventstore.NoStream, 0,
		events.MOReceived{MessageID: charged, SupplierID: "sup1", TenantID: "acme", From: "4917600000001", To: "+4915112345678",
			Text: "STOP", Encoding: "gsm7", Price: dd("0.004"), Currency: "EUR", At: at(5)},
		message.JournalEvent(settle[0], "acme", at(5)))
	appendTo(events.MessageStream(free), eventstore.NoStream, 0,
		events.MOReceived{MessageID: free, SupplierID: "sup1", TenantID: "acme", From: "4917600000002", To: "12345",
			Text: "hi", Encoding: "gsm7", Price: decimal.Zero, Currency: "EUR", Unbilled: true, At: at(6)})
	appendTo(events.MessageStream(charged), eventstore.Exact(1), 2, events.MOForwarded{MessageID: charged, TenantID: "acme", At: at(7)})
	// A message the tenant sent, charged on the supplier's acceptance.
	mt := &billed{t: t, e: e, rt: rt}
	mt.accept("acme", money.BillOnSubmit, "sup1", "on_submit", time.Time{}, "", at(10), false)
	mt.supplierAccepts("S1", at(11))

	type row struct {
		direction, state, source, destination, supplier, price, cost, billing string
		errText                                                               *string
		settledAt, finalAt, forwardedAt                                       *time.Time
	}
	read := func(id uuid.UUID) row {
		var r row
		if err := e.pool.QueryRow(ctx, `SELECT direction, state, source, destination, supplier_id, price::text, cost::text, billing,
				error, settled_at, final_at, forwarded_at FROM readmodel.cdrs WHERE message_id = $1`, id).Scan(
			&r.direction, &r.state, &r.source, &r.destination, &r.supplier, &r.price, &r.cost, &r.billing,
			&r.errText, &r.settledAt, &r.finalAt, &r.forwardedAt); err != nil {
			t.Fatal(err)
		}
		return r
	}
	switch r := read(charged); {
	case r.direction != "mo" || r.state != "received" || r.source != "4917600000001" || r.destination != "4915112345678" ||
		r.supplier != "sup1" || r.price != "0.004" || r.cost != "0" || r.errText != nil:
		t.Errorf("charged MO's CDR: %+v", r)
	case !sameTime(r.settledAt, at(5)) || !sameTime(r.finalAt, at(5)) || !sameTime(r.forwardedAt, at(7)):
		t.Errorf("charged MO's times: %+v", r)
	}
	if r := read(free); r.direction != "mo" || r.price != "0" || r.destination != "12345" || r.errText == nil || r.forwardedAt != nil {
		t.Errorf("unbilled MO's CDR: %+v", r)
	}
	if r := read(mt.id); r.direction != "mt" {
		t.Errorf("the tenant's own message: direction %q", r.direction)
	}

	// The API's CDR pages carry the direction.
	page, err := projections.QueryCDRs(ctx, e.pool, projections.CDRQuery{TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	dirs := map[uuid.UUID]string{}
	for _, c := range page.CDRs {
		dirs[c.MessageID] = c.Direction
	}
	if dirs[charged] != "mo" || dirs[free] != "mo" || dirs[mt.id] != "mt" {
		t.Errorf("directions in the CDR page: %v", dirs)
	}

	// The balance has the MO's charge and the message's price; the
	// reconciliation counts the MO's revenue, and every check passes.
	var balance string
	if err := e.pool.QueryRow(ctx, `SELECT balance::text FROM readmodel.tenant_balances WHERE tenant_id = 'acme'`).Scan(&balance); err != nil {
		t.Fatal(err)
	}
	if !dd(balance).Equal(dd("0.896")) {
		t.Errorf("balance %s, want 1 - 0.004 - 0.10", balance)
	}
	rep, err := projections.ReconcileAt(ctx, e.pool, at(0), at(60), at(61))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %s: %v", c.Name, c.Mismatches)
		}
	}
	for _, m := range rep.MarginByTenant {
		if m.Key == "acme" && !dd(m.Revenue).Equal(dd("0.104")) {
			t.Errorf("revenue %s, want the MO's 0.004 and the message's 0.10", m.Revenue)
		}
	}

	rrep, err := projections.Replay(ctx, e.store, e.pool, projections.ReplayOptions{Verify: true, Logger: quiet})
	if err != nil || len(rrep.Differences) != 0 {
		t.Fatalf("replay: %v %v", err, rrep.Differences)
	}
	opts := projections.ReplayOptions{Verify: true, Logger: quiet, BatchEventsMax: 2}
	projections.SetReplayCDRHorizon(&opts, 1)
	if rrep, err = projections.Replay(ctx, e.store, e.pool, opts); err != nil || len(rrep.Differences) != 0 {
		t.Fatalf("replay in small batches: %v %v", err, rrep.Differences)
	}
}
