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

var b0 = time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)

func dd(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// billed drives one message through the domain and appends each step to
// its stream, waiting for the live projections after each (so that every
// step is a batch of its own).
type billed struct {
	t      *testing.T
	e      *env
	rt     *projections.Runtime
	m      message.Message
	id     uuid.UUID
	stream string
}

func (b *billed) appendAll(evs []events.Event, err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	if len(evs) == 0 {
		b.t.Fatal("nothing decided")
	}
	exp, first := eventstore.NoStream, uint64(0)
	if b.m.Version > 0 {
		exp, first = eventstore.Exact(uint64(b.m.Version-1)), uint64(b.m.Version)
	}
	data, err := workload.Encode(workload.Append{Stream: b.stream, Expected: exp, Events: evs}, first)
	if err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.e.store.Append(context.Background(), b.stream, exp, data...); err != nil {
		b.t.Fatal(err)
	}
	if err := b.m.ApplyAll(evs); err != nil {
		b.t.Fatal(err)
	}
	waitForHead(b.t, b.e, b.rt)
}

// accept appends the accept events of a message of tenant (billed on
// mode) routed to sup (billing on basis) then "other" (on_submit); with
// split, MessageAccepted is a batch of its own.
func (b *billed) accept(tenant string, mode money.BillingMode, sup, basis string, sendAt time.Time, ref string, at time.Time, split bool) {
	b.t.Helper()
	b.id = uuid.New()
	b.stream = events.MessageStream(b.id)
	acc := events.MessageAccepted{MessageID: b.id, TenantID: tenant, Channel: "http", From: "ACME", To: "447700900123",
		Text: "hi", Encoding: "gsm7", Parts: 2, RatePrefix: "44", PricePerPart: dd("0.05"), Price: dd("0.10"), Currency: "EUR",
		Billing: string(mode), ExpiresAt: at.Add(48 * time.Hour), SendAt: sendAt, ClientRef: ref, At: at}
	rest := []events.Event{
		events.RouteSelected{MessageID: b.id, RoutePrefix: "44", Tier: "standard", Winner: sup, Reason: "cheapest", Candidates: []events.RouteCandidate{
			{SupplierID: sup, Preference: 1, CostPerPart: dd("0.02"), Currency: "EUR", Billing: basis, Up: true, Eligible: true},
			{SupplierID: "other", Preference: 2, CostPerPart: dd("0.03"), Currency: "EUR", Billing: "on_submit", Up: true, Eligible: true},
		}, At: at},
		events.Held{MessageID: b.id, TenantID: tenant, Amount: dd("0.10"), Currency: "EUR", At: at},
	}
	if split {
		b.appendAll([]events.Event{acc}, nil)
		b.appendAll(rest, nil)
		return
	}
	b.appendAll(append([]events.Event{acc}, rest...), nil)
}

func (b *billed) supplierAccepts(smid string, at time.Time) {
	b.t.Helper()
	b.appendAll(b.m.Submit(at))
	b.appendAll(b.m.OnSupplierAccepted(b.m.Supplier().SupplierID, b.m.Attempt, smid, 5, at))
}

func (b *billed) dlr(status string, at time.Time) {
	b.t.Helper()
	b.appendAll(b.m.OnDeliveryReport(b.m.SupplierMessageID, status, "000", at, at))
}

// cdrRow is what the test reads of a CDR.
type cdrRow struct {
	state                          string
	cost                           *string
	costBookedAt, settledAt, relAt *time.Time
	clientRef                      *string
	sendAt                         *time.Time
}

func readCDR(t *testing.T, e *env, id uuid.UUID) cdrRow {
	t.Helper()
	var r cdrRow
	if err := e.pool.QueryRow(context.Background(), `SELECT state, cost::text, cost_booked_at, settled_at, released_at, client_ref, send_at
		FROM readmodel.cdrs WHERE message_id = $1`, id).Scan(&r.state, &r.cost, &r.costBookedAt, &r.settledAt, &r.relAt, &r.clientRef, &r.sendAt); err != nil {
		t.Fatal(err)
	}
	return r
}

func sameTime(a *time.Time, b time.Time) bool { return a != nil && a.Equal(b) }

// The CDRs, reconciliation and the supplier invoice diff follow the
// supplier's billing basis; scheduled messages and client_ref show in the
// CDRs; a replay gives the same read models.
func TestSupplierBasisInCDRsReconciliationAndInvoices(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, projections.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	// Two tenants, one billed on submit, one on delivery, with funds.
	for _, tn := range []struct {
		id   string
		mode money.BillingMode
	}{{"sub-tenant", money.BillOnSubmit}, {"del-tenant", money.BillOnDelivery}} {
		entry, err := money.TopUpEntry(tn.id, money.Money{Amount: dd("10"), Currency: "EUR"}, "initial")
		if err != nil {
			t.Fatal(err)
		}
		evs := []events.Event{
			events.TenantCreated{TenantID: tn.id, Name: tn.id, Currency: "EUR", Billing: string(tn.mode), TPSLimit: 10, CreditLimit: decimal.Zero, Tier: "standard", At: b0},
			events.TopUpRecorded{TenantID: tn.id, Reference: "initial", Amount: dd("10"), Currency: "EUR", EntryID: entry.ID, At: b0},
			message.JournalEvent(entry, tn.id, b0),
		}
		data, err := workload.Encode(workload.Append{Stream: events.TenantStream(tn.id), Expected: eventstore.NoStream, Events: evs}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Append(ctx, events.TenantStream(tn.id), eventstore.NoStream, data...); err != nil {
			t.Fatal(err)
		}
	}
	at := func(min int) time.Time { return b0.Add(time.Duration(min) * time.Minute) }
	msg := func() *billed { return &billed{t: t, e: e, rt: rt} }

	// 1. On-delivery tenant, on-submit supplier, undelivered: the cost is
	// booked at the acceptance (first hour) and stands; nothing charged.
	m1 := msg()
	m1.accept("del-tenant", money.BillOnDelivery, "subm", "on_submit", time.Time{}, "", at(5), false)
	m1.supplierAccepts("S1", at(10))
	m1.dlr(message.DLRUndeliverable, at(70))
	// 2. On-submit tenant, on-delivery supplier, delivered in the second
	// hour: charged at the acceptance, cost booked at the delivery.
	m2 := msg()
	m2.accept("sub-tenant", money.BillOnSubmit, "deliv", "on_delivery", time.Time{}, "", at(15), false)
	m2.supplierAccepts("D2", at(20))
	m2.dlr(message.DLRDelivered, at(80))
	// 3. The same, undelivered: no cost, ever.
	m3 := msg()
	m3.accept("sub-tenant", money.BillOnSubmit, "deliv", "on_delivery", time.Time{}, "", at(16), false)
	m3.supplierAccepts("D3", at(21))
	m3.dlr(message.DLRUndeliverable, at(81))
	// 4. On-delivery tenant, on-submit supplier, delivered.
	m4 := msg()
	m4.accept("del-tenant", money.BillOnDelivery, "subm", "on_submit", time.Time{}, "order-4", at(25), false)
	m4.supplierAccepts("S4", at(30))
	m4.dlr(message.DLRDelivered, at(35))
	// 5. Scheduled, its accept split over two batches: scheduled, still
	// after a failover before its time, then expired.
	m5 := msg()
	m5.accept("del-tenant", money.BillOnDelivery, "subm", "on_submit", at(180), "order-5", at(40), true)
	if r := readCDR(t, e, m5.id); r.state != string(message.StateScheduled) || !sameTime(r.sendAt, at(180)) || r.clientRef == nil || *r.clientRef != "order-5" {
		t.Fatalf("scheduled CDR: %+v", r)
	}
	m5.appendAll(m5.m.Failover("supplier disabled", at(45)))
	if r := readCDR(t, e, m5.id); r.state != string(message.StateScheduled) {
		t.Fatalf("after a failover before its time: state %s", r.state)
	}
	m5.appendAll(m5.m.Expire(at(100)))

	r1, r2, r3, r4, r5 := readCDR(t, e, m1.id), readCDR(t, e, m2.id), readCDR(t, e, m3.id), readCDR(t, e, m4.id), readCDR(t, e, m5.id)
	switch {
	case r1.cost == nil || *r1.cost != "0.04" || !sameTime(r1.costBookedAt, at(10)) || r1.settledAt != nil || !sameTime(r1.relAt, at(70)):
		t.Errorf("on-submit supplier, undelivered: %+v", r1)
	case r2.cost == nil || *r2.cost != "0.04" || !sameTime(r2.costBookedAt, at(80)) || !sameTime(r2.settledAt, at(20)):
		t.Errorf("on-delivery supplier, delivered: %+v", r2)
	case r3.cost != nil || r3.costBookedAt != nil || !sameTime(r3.settledAt, at(21)):
		t.Errorf("on-delivery supplier, undelivered: %+v", r3)
	case r4.cost == nil || !sameTime(r4.costBookedAt, at(30)) || !sameTime(r4.settledAt, at(35)) || r4.clientRef == nil || *r4.clientRef != "order-4" || r4.sendAt != nil:
		t.Errorf("on-submit supplier, delivered: %+v", r4)
	case r5.state != string(message.StateExpired) || r5.cost != nil:
		t.Errorf("scheduled, expired: %+v", r5)
	}

	// The API's CDRs carry client_ref and send_at.
	page, err := projections.QueryCDRs(ctx, e.pool, projections.CDRQuery{TenantID: "del-tenant"})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range page.CDRs {
		if c.MessageID == m5.id {
			found = c.ClientRef == "order-5" && c.SendAt != nil && c.SendAt.Equal(at(180))
		}
	}
	if !found {
		t.Errorf("CDR page lacks m5's client_ref and send_at: %+v", page.CDRs)
	}

	// Reconciliation by hour: costs where they were booked, revenue where
	// it was settled, every check passing.
	costOf := func(rep projections.Report, sup string) string {
		for _, s := range rep.Suppliers {
			if s.SupplierID == sup {
				return s.Cost
			}
		}
		return ""
	}
	for _, p := range []struct {
		from, to         time.Time
		subm, deliv, rev string
	}{{at(0), at(60), "0.08", "", "0.2"}, {at(60), at(120), "", "0.04", "0"}, {at(0), at(120), "0.08", "0.04", "0.2"}} {
		rep, err := projections.ReconcileAt(ctx, e.pool, p.from, p.to, at(121))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Checks {
			if !c.OK {
				t.Errorf("%s..%s: check %s: %v", p.from, p.to, c.Name, c.Mismatches)
			}
		}
		if got := costOf(rep, "subm"); got != p.subm {
			t.Errorf("%s..%s: subm cost %q, want %q", p.from, p.to, got, p.subm)
		}
		if got := costOf(rep, "deliv"); got != p.deliv {
			t.Errorf("%s..%s: deliv cost %q, want %q", p.from, p.to, got, p.deliv)
		}
		for _, m := range rep.MarginByTenant {
			if m.Key == "sub-tenant" && !dd(m.Revenue).Equal(dd(p.rev)) {
				t.Errorf("%s..%s: sub-tenant revenue %s, want %s", p.from, p.to, m.Revenue, p.rev)
			}
		}
	}

	// Invoices: an on-submit supplier bills what it accepted, delivered or
	// not; an on-delivery supplier only what was delivered.
	line := func(smid string, cost string) projections.InvoiceLine {
		return projections.InvoiceLine{SupplierMessageID: smid, Destination: "447700900123", Parts: 2, Cost: dd(cost), Date: b0}
	}
	for _, c := range []struct {
		sup   string
		lines []projections.InvoiceLine
		kinds []string
	}{
		{"subm", []projections.InvoiceLine{line("S1", "0.04"), line("S4", "0.04")}, nil},
		{"subm", []projections.InvoiceLine{line("S4", "0.04")}, []string{"missing_in_invoice"}},
		{"deliv", []projections.InvoiceLine{line("D2", "0.04")}, nil},
		{"deliv", []projections.InvoiceLine{line("D2", "0.04"), line("D3", "0.04")}, []string{"no_cost_recorded"}},
	} {
		rep, err := projections.CompareInvoice(ctx, e.pool, c.sup, at(0), at(120), c.lines)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, d := range rep.Differences {
			kinds = append(kinds, d.Kind)
		}
		if len(kinds) != len(c.kinds) || (len(kinds) > 0 && kinds[0] != c.kinds[0]) || rep.Matched != len(c.lines)-len(kinds)+countKind(kinds, "missing_in_invoice") {
			t.Errorf("invoice of %s with %d lines: differences %v (matched %d), want %v", c.sup, len(c.lines), rep.Differences, rep.Matched, c.kinds)
		}
	}

	// Replay, batch by batch or all at once, gives the live read models.
	rep, err := projections.Replay(ctx, e.store, e.pool, projections.ReplayOptions{Verify: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 0 {
		t.Fatalf("replay differs from live: %v", rep.Differences)
	}
	opts := projections.ReplayOptions{Verify: true, Logger: quiet, BatchEventsMax: 3}
	projections.SetReplayCDRHorizon(&opts, 2)
	if rep, err = projections.Replay(ctx, e.store, e.pool, opts); err != nil || len(rep.Differences) != 0 {
		t.Fatalf("replay in small batches: %v %v", err, rep.Differences)
	}
}

func countKind(kinds []string, k string) int {
	n := 0
	for _, x := range kinds {
		if x == k {
			n++
		}
	}
	return n
}
