package projections_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/fx"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

// netMsg is a message of the network tests: its tenant and the tenant's
// currency, its supplier and the supplier's cost currency, and the
// destination's network (mccmnc empty: not known).
type netMsg struct {
	tenant, currency, supplier, costCurrency string
	mccmnc, country, operator                string
}

// acceptNet appends the accept events of n (two parts at 0.05, cost 0.02
// a part), accepted at at; with split, MessageAccepted is a batch of its
// own.
func (b *billed) acceptNet(n netMsg, at time.Time, split bool) {
	b.t.Helper()
	b.id = uuid.New()
	b.stream = events.MessageStream(b.id)
	source := ""
	if n.mccmnc != "" {
		source = "plan"
	}
	acc := events.MessageAccepted{MessageID: b.id, TenantID: n.tenant, Channel: "http", From: "ACME", To: "4915112345678",
		Text: "hi", Encoding: "gsm7", Parts: 2, RatePrefix: "49", MCCMNC: n.mccmnc, Country: n.country, Operator: n.operator,
		NetworkSource: source, PricePerPart: dd("0.05"), Price: dd("0.10"), Currency: n.currency,
		Billing: string(money.BillOnSubmit), ExpiresAt: at.Add(48 * time.Hour), At: at}
	rest := []events.Event{
		events.RouteSelected{MessageID: b.id, RoutePrefix: "49", Tier: "standard", Winner: n.supplier, Reason: "cheapest", Candidates: []events.RouteCandidate{
			{SupplierID: n.supplier, Preference: 1, CostPerPart: dd("0.02"), Currency: n.costCurrency, Billing: "on_submit", Up: true, Eligible: true},
		}, At: at},
		events.Held{MessageID: b.id, TenantID: n.tenant, Amount: dd("0.10"), Currency: n.currency, At: at},
	}
	if split {
		b.appendAll([]events.Event{acc}, nil)
		b.appendAll(rest, nil)
		return
	}
	b.appendAll(append([]events.Event{acc}, rest...), nil)
}

// createTenants appends each tenant (id → currency), topped up with 10.
func createTenants(t *testing.T, e *env, tenants map[string]string) {
	t.Helper()
	ctx := context.Background()
	for id, cur := range tenants {
		entry, err := money.TopUpEntry(id, money.Money{Amount: dd("10"), Currency: money.Currency(cur)}, "initial")
		if err != nil {
			t.Fatal(err)
		}
		evs := []events.Event{
			events.TenantCreated{TenantID: id, Name: id, Currency: cur, Billing: string(money.BillOnSubmit), CreditLimit: decimal.Zero, Tier: "standard", At: b0},
			events.TopUpRecorded{TenantID: id, Reference: "initial", Amount: dd("10"), Currency: cur, EntryID: entry.ID, At: b0},
			message.JournalEvent(entry, id, b0),
		}
		data, err := workload.Encode(workload.Append{Stream: events.TenantStream(id), Expected: eventstore.NoStream, Events: evs}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Append(ctx, events.TenantStream(id), eventstore.NoStream, data...); err != nil {
			t.Fatal(err)
		}
	}
}

// A CDR carries its destination's network from MessageAccepted (NULL when
// not known, and for an MO); the CDR query serves it and filters by it; a
// replay gives the same read models, in one batch or in small ones.
func TestCDRNetworkColumnsFilterAndReplay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, projections.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	createTenants(t, e, map[string]string{"acme": "EUR", "beta": "EUR"})
	at := func(min int) time.Time { return b0.Add(time.Duration(min) * time.Minute) }
	msg := func() *billed { return &billed{t: t, e: e, rt: rt} }

	telekom := netMsg{tenant: "acme", currency: "EUR", supplier: "sup1", costCurrency: "EUR", mccmnc: "26201", country: "Germany", operator: "Telekom"}
	m1 := msg()
	m1.acceptNet(telekom, at(1), false)
	m1.supplierAccepts("S1", at(2))
	m2 := msg() // its MessageAccepted a batch of its own
	m2.acceptNet(netMsg{tenant: "acme", currency: "EUR", supplier: "sup1", costCurrency: "EUR", mccmnc: "26202", country: "Germany", operator: "Vodafone"}, at(3), true)
	m3 := msg() // no known network
	m3.acceptNet(netMsg{tenant: "acme", currency: "EUR", supplier: "sup1", costCurrency: "EUR"}, at(4), false)
	telekom.tenant = "beta"
	m4 := msg()
	m4.acceptNet(telekom, at(5), false)
	mo := uuid.New()
	data, err := workload.Encode(workload.Append{Stream: events.MessageStream(mo), Expected: eventstore.NoStream, Events: []events.Event{
		events.MOReceived{MessageID: mo, SupplierID: "sup1", TenantID: "acme", From: "4917600000001", To: "+4915112345678",
			Text: "STOP", Encoding: "gsm7", Price: decimal.Zero, Currency: "EUR", At: at(6)}}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(ctx, events.MessageStream(mo), eventstore.NoStream, data...); err != nil {
		t.Fatal(err)
	}
	waitForHead(t, e, rt)

	type network struct{ mccmnc, country, operator *string }
	read := func(id uuid.UUID) network {
		var n network
		if err := e.pool.QueryRow(ctx, `SELECT mccmnc, country, operator FROM readmodel.cdrs WHERE message_id = $1`, id).Scan(&n.mccmnc, &n.country, &n.operator); err != nil {
			t.Fatal(err)
		}
		return n
	}
	str := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return *p
	}
	for _, tc := range []struct {
		id                        uuid.UUID
		mccmnc, country, operator string
	}{
		{m1.id, "26201", "Germany", "Telekom"},
		{m2.id, "26202", "Germany", "Vodafone"},
		{m3.id, "NULL", "NULL", "NULL"},
		{mo, "NULL", "NULL", "NULL"},
	} {
		n := read(tc.id)
		if got := [3]string{str(n.mccmnc), str(n.country), str(n.operator)}; got != [3]string{tc.mccmnc, tc.country, tc.operator} {
			t.Errorf("message %s: network %v, want %s %s %s", tc.id, got, tc.mccmnc, tc.country, tc.operator)
		}
	}

	// The CDR page serves the network ('' when not known) and filters by
	// it, alone or with a tenant.
	page, err := projections.QueryCDRs(ctx, e.pool, projections.CDRQuery{TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uuid.UUID]projections.CDR{}
	for _, c := range page.CDRs {
		byID[c.MessageID] = c
	}
	if c := byID[m1.id]; c.MCCMNC != "26201" || c.Country != "Germany" || c.Operator != "Telekom" {
		t.Errorf("m1's CDR: %+v", c)
	}
	if c, ok := byID[mo]; !ok || c.MCCMNC != "" || c.Country != "" || c.Operator != "" || c.Direction != "mo" {
		t.Errorf("the MO's CDR: %+v", c)
	}
	cols := projections.CDRColumns
	if n := len(cols); n < 4 || !slices.Equal(cols[n-4:], []string{"direction", "mccmnc", "country", "operator"}) {
		t.Errorf("CDR columns end %v, want direction, mccmnc, country, operator", cols[max(0, n-4):])
	}
	if c := byID[m2.id]; !slices.Equal(c.Strings()[len(cols)-3:], []string{"26202", "Germany", "Vodafone"}) {
		t.Errorf("m2 as text ends %v", c.Strings()[len(cols)-3:])
	}
	for _, tc := range []struct {
		q    projections.CDRQuery
		want []uuid.UUID
	}{
		{projections.CDRQuery{MCCMNC: "26201"}, []uuid.UUID{m1.id, m4.id}},
		{projections.CDRQuery{MCCMNC: "26201", TenantID: "acme"}, []uuid.UUID{m1.id}},
		{projections.CDRQuery{MCCMNC: "26202", TenantID: "beta"}, nil},
		{projections.CDRQuery{MCCMNC: "23410"}, nil},
	} {
		if got := allPages(t, e, tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.q, got, tc.want)
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

// Reconciliation reports margins per network in each currency pair and,
// with an FX table, in its base currency: each message at the rates in
// force at its acceptance (a rate that changes within the period converts
// the messages before and after the change each at its own), truncated as
// fx.Table.ToBase does; a message with no rate at its acceptance is left
// out of those figures, counted and listed.
func TestReconcileByNetworkAndInReportingCurrency(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, projections.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	createTenants(t, e, map[string]string{"acme": "EUR", "yank": "USD"})
	day1 := b0
	day2 := day1.Add(24 * time.Hour)
	table, err := fx.New("EUR", []fx.Rate{
		{Currency: "USD", Rate: dd("0.912345678"), From: day1},
		{Currency: "USD", Rate: dd("0.95"), From: day2},
	})
	if err != nil {
		t.Fatal(err)
	}

	telekom := func(tenant, cur, sup, costCur string) netMsg {
		return netMsg{tenant, cur, sup, costCur, "26201", "Germany", "Telekom"}
	}
	vodafone := func(tenant, cur, sup, costCur string) netMsg {
		return netMsg{tenant, cur, sup, costCur, "26202", "Germany", "Vodafone"}
	}
	type sent struct {
		n  netMsg
		at time.Time
		id uuid.UUID
	}
	msgs := []*sent{
		{n: telekom("acme", "EUR", "usd-sup", "USD"), at: day1.Add(time.Hour)},                    // USD cost at the first rate
		{n: telekom("acme", "EUR", "usd-sup", "USD"), at: day2.Add(time.Hour)},                    // ... at the second
		{n: vodafone("yank", "USD", "eur-sup", "EUR"), at: day2.Add(2 * time.Hour)},               // USD revenue
		{n: vodafone("acme", "EUR", "eur-sup", "EUR"), at: day2.Add(3 * time.Hour)},               // all in EUR
		{n: netMsg{"acme", "EUR", "usd-sup", "USD", "", "", ""}, at: day1.Add(-30 * time.Minute)}, // before any USD rate
	}
	for _, s := range msgs {
		b := &billed{t: t, e: e, rt: rt}
		b.acceptNet(s.n, s.at, false)
		b.supplierAccepts("smid-"+s.at.Format("150405"), s.at.Add(time.Second))
		s.id = b.id
	}
	from, to, now := day1.Add(-time.Hour), day2.Add(24*time.Hour), day2.Add(4*time.Hour)

	// Without a table: margins per network, in each currency pair.
	rep, err := projections.ReconcileAt(ctx, e.pool, from, to, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reporting != nil {
		t.Errorf("a reporting currency without an FX table: %+v", rep.Reporting)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %s: %v", c.Name, c.Mismatches)
		}
	}
	wantNet := []projections.Margin{
		{Key: "", Currency: "EUR", CostCurrency: "USD", Messages: 1, Revenue: "0.1", Cost: "0.04"},
		{Key: "26201", Country: "Germany", Operator: "Telekom", Currency: "EUR", CostCurrency: "USD", Messages: 2, Revenue: "0.2", Cost: "0.08"},
		{Key: "26202", Country: "Germany", Operator: "Vodafone", Currency: "EUR", CostCurrency: "EUR", Messages: 1, Revenue: "0.1", Cost: "0.04", Margin: "0.06"},
		{Key: "26202", Country: "Germany", Operator: "Vodafone", Currency: "USD", CostCurrency: "EUR", Messages: 1, Revenue: "0.1", Cost: "0.04"},
	}
	if !slices.Equal(rep.MarginByNetwork, wantNet) {
		t.Errorf("margin by network:\n got %+v\nwant %+v", rep.MarginByNetwork, wantNet)
	}
	for _, m := range rep.MarginByTenant {
		if m.Country != "" || m.Operator != "" {
			t.Errorf("a tenant's margin names a network: %+v", m)
		}
	}

	// With the table: every amount at its message's rate, as ToBase
	// converts it, summed per key; the message before any USD rate left
	// out and listed.
	rep, err = projections.ReconcileFX(ctx, e.pool, from, to, now, table)
	if err != nil {
		t.Fatal(err)
	}
	rc := rep.Reporting
	if rc == nil {
		t.Fatal("no reporting currency with an FX table")
	}
	toBase := func(amount, cur string, at time.Time) decimal.Decimal {
		u, ok := table.ToBase(money.MustFromDecimal(dd(amount)), money.Currency(cur), at)
		if !ok {
			t.Fatalf("no rate of %s at %s", cur, at)
		}
		return u.Decimal()
	}
	type figures struct {
		messages      int64
		revenue, cost decimal.Decimal
	}
	want := map[string]*figures{}
	add := func(key string, s *sent) {
		f := want[key]
		if f == nil {
			f = &figures{}
			want[key] = f
		}
		f.messages++
		f.revenue = f.revenue.Add(toBase("0.10", s.n.currency, s.at))
		f.cost = f.cost.Add(toBase("0.04", s.n.costCurrency, s.at))
	}
	for _, s := range msgs[:4] {
		add("total", s)
		add("tenant "+s.n.tenant, s)
		add("supplier "+s.n.supplier, s)
		add("network "+s.n.mccmnc, s)
		add("prefix 49", s)
	}
	// The USD cost of the first message at 0.912345678, truncated; the
	// second's at 0.95.
	if c := toBase("0.04", "USD", msgs[0].at); c.String() != "0.03649382" {
		t.Fatalf("the first rate converts 0.04 USD to %s", c)
	}
	check := func(what string, messages int64, revenue, cost, margin string) {
		t.Helper()
		w := want[what]
		if w == nil {
			t.Errorf("%s: not expected", what)
			return
		}
		if messages != w.messages || !dd(revenue).Equal(w.revenue) || !dd(cost).Equal(w.cost) || !dd(margin).Equal(w.revenue.Sub(w.cost)) {
			t.Errorf("%s: messages %d revenue %s cost %s margin %s, want %d %s %s %s", what, messages, revenue, cost, margin,
				w.messages, w.revenue, w.cost, w.revenue.Sub(w.cost))
		}
		delete(want, what)
	}
	if rc.Currency != "EUR" {
		t.Errorf("reporting currency %q", rc.Currency)
	}
	check("total", rc.Messages, rc.Revenue, rc.Cost, rc.Margin)
	if rc.Revenue != "0.395" || rc.Cost != "0.15449382" || rc.Margin != "0.24050618" {
		t.Errorf("totals: revenue %s cost %s margin %s", rc.Revenue, rc.Cost, rc.Margin)
	}
	for _, g := range []struct {
		by string
		ms []projections.Margin
	}{{"tenant", rc.MarginByTenant}, {"supplier", rc.MarginBySupplier}, {"network", rc.MarginByNetwork}, {"prefix", rc.MarginByPrefix}} {
		for _, m := range g.ms {
			if m.Currency != "EUR" || m.CostCurrency != "EUR" {
				t.Errorf("%s %s: currencies %s/%s", g.by, m.Key, m.Currency, m.CostCurrency)
			}
			check(g.by+" "+m.Key, m.Messages, m.Revenue, m.Cost, m.Margin)
		}
	}
	if len(want) != 0 {
		for k, w := range want {
			t.Errorf("%s: missing (%+v)", k, *w)
		}
	}
	if n := rc.MarginByNetwork; len(n) != 2 || n[0].Country != "Germany" || n[0].Operator != "Telekom" || n[1].Operator != "Vodafone" {
		t.Errorf("networks in EUR: %+v", n)
	}
	if rc.Unconverted != 1 || len(rc.UnconvertedMessages) != 1 {
		t.Fatalf("unconverted: %d %+v", rc.Unconverted, rc.UnconvertedMessages)
	}
	if u := rc.UnconvertedMessages[0]; u.MessageID != msgs[4].id.String() || u.TenantID != "acme" || !u.AcceptedAt.Equal(msgs[4].at) || !slices.Equal(u.Currencies, []string{"USD"}) {
		t.Errorf("unconverted message: %+v", u)
	}
	// The figures per currency keep every message.
	var all int64
	for _, m := range rep.MarginByNetwork {
		all += m.Messages
	}
	if all != 5 {
		t.Errorf("margins per network count %d messages, want 5", all)
	}

	// A table whose rates start later converts nothing in the period:
	// every USD message is listed, none dropped.
	late, err := fx.New("EUR", []fx.Rate{{Currency: "USD", Rate: dd("0.9"), From: to}})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err = projections.ReconcileFX(ctx, e.pool, from, to, now, late); err != nil {
		t.Fatal(err)
	}
	if rc := rep.Reporting; rc.Unconverted != 4 || rc.Messages != 1 || rc.Revenue != "0.1" || len(rc.UnconvertedMessages) != 4 {
		t.Errorf("a table from the period's end: %+v", rc)
	}
	// An empty period converts nothing and says so.
	if rep, err = projections.ReconcileFX(ctx, e.pool, to, to.Add(time.Hour), now, table); err != nil {
		t.Fatal(err)
	}
	if rc := rep.Reporting; rc.Messages != 0 || rc.Revenue != "0" || rc.Margin != "0" || rc.Unconverted != 0 || len(rc.MarginByTenant) != 0 {
		t.Errorf("an empty period: %+v", rc)
	}
}
