package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/migrations"
	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

// appendFX appends FXTableChanged events to the log's "fx" stream, each
// a table of EUR with one USD rate from its time.
func appendFX(t *testing.T, store eventstore.Store, version uint64, tables ...[]events.FXRate) uint64 {
	t.Helper()
	var evs []events.Event
	for _, rates := range tables {
		evs = append(evs, events.FXTableChanged{Base: "EUR", Rates: rates, At: time.Now().UTC()})
	}
	data, err := workload.Encode(workload.Append{Stream: events.FXStreamName, Expected: eventstore.Any, Events: evs}, version)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), events.FXStreamName, eventstore.Any, data...); err != nil {
		t.Fatal(err)
	}
	return version + uint64(len(tables))
}

func usd(rate string, from time.Time) []events.FXRate {
	return []events.FXRate{{Currency: "USD", Rate: decimal.RequireFromString(rate), From: from}}
}

// The reports read the FX table in force from the log: none before a
// PUT /v1/fx, then the latest FXTableChanged however long the stream (one
// that does not build is skipped, as the ledger skips it); `smsledger
// reconcile` prints the figures in its base currency (each message at the
// rate of its acceptance), and the API's report carries them.
func TestReconcileInTheReportingCurrency(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := migrations.Apply(ctx, url); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.Open(ctx, pool, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	if table, err := latestFXTable(ctx, store); err != nil || table != nil {
		t.Fatalf("no fx stream: %v %v", table, err)
	}
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	w, err := workload.Generate(workload.Config{Seed: 3, Messages: 200, Wave: 20, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	head, err := w.Run(ctx, store, 16)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := projections.Start(ctx, store, pool, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := rt.WaitFor(wctx, head); err != nil {
		t.Fatal(err)
	}
	rt.Close()

	var stdout string
	cmd := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append(args, "--database-url", url), &out, &errOut, env(nil))
		stdout = out.String()
		return code, out.String() + errOut.String()
	}
	from, to := start.Add(-time.Hour).Format(time.RFC3339), start.Add(3*time.Hour).Format(time.RFC3339)
	code, out := cmd("reconcile", "--from", from, "--to", to)
	if code != exitOK || !strings.Contains(out, "margin by destination network:") || strings.Contains(out, "reporting currency") {
		t.Fatalf("reconcile without an FX table: code %d\n%s", code, out)
	}

	// The USD rate changes in the middle of the USD supplier's messages.
	var change time.Time
	if err := pool.QueryRow(ctx, `SELECT min(accepted_at) + (max(accepted_at) - min(accepted_at)) / 2 FROM readmodel.cdrs
		WHERE cost_currency = 'USD'`).Scan(&change); err != nil {
		t.Fatal(err)
	}

	// Tables one after the other (versions 0..6): the latest that builds
	// is in force, found however many came before it.
	v := appendFX(t, store, 0, usd("0.5", start.Add(-48*time.Hour)))
	if table, err := latestFXTable(ctx, store); err != nil || table == nil {
		t.Fatalf("one table: %v %v", table, err)
	} else if r, _ := table.RateAt("USD", start); r.String() != "0.5" {
		t.Fatalf("one table: USD at %s", r)
	}
	for _, r := range []string{"0.6", "0.7", "0.8", "0.85"} {
		v = appendFX(t, store, v, usd(r, start.Add(-48*time.Hour)))
	}
	in := append(usd("0.9", start.Add(-48*time.Hour)), usd("0.8", change)...)
	v = appendFX(t, store, v, in)
	table, err := latestFXTable(ctx, store)
	if err != nil || table == nil {
		t.Fatalf("six tables: %v %v", table, err)
	}
	if r, _ := table.RateAt("USD", start); r.String() != "0.9" {
		t.Fatalf("six tables: USD at the start %s, want the last table's 0.9", r)
	}
	appendFX(t, store, v, []events.FXRate{{Currency: "USD", Rate: decimal.Zero, From: start}}) // does not build
	if table, err = latestFXTable(ctx, store); err != nil || table == nil {
		t.Fatalf("after a table that does not build: %v %v", table, err)
	}
	if r, _ := table.RateAt("USD", change); r.String() != "0.8" || table.Base() != money.Currency("EUR") {
		t.Fatalf("after a table that does not build: USD %s, base %s", r, table.Base())
	}

	// The CLI prints the figures in EUR; the workload's USD supplier's
	// costs convert at 0.9 before the change and at 0.8 after.
	code, out = cmd("reconcile", "--from", from, "--to", to)
	if code != exitOK || !strings.Contains(out, "in the reporting currency EUR") || !strings.Contains(out, "margin by destination network in EUR:") ||
		!strings.Contains(out, "every message converted to EUR") {
		t.Fatalf("reconcile with an FX table: code %d\n%s", code, out)
	}
	code, out = cmd("reconcile", "--from", from, "--to", to, "--format", "json")
	var rep projections.Report
	if code != exitOK || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Reporting == nil {
		t.Fatalf("reconcile --format json: code %d\n%s", code, out)
	}
	rc := rep.Reporting
	if rc.Currency != "EUR" || rc.Messages == 0 || rc.Unconverted != 0 || len(rc.MarginBySupplier) < 2 {
		t.Fatalf("reporting currency: %+v", rc)
	}
	// The USD supplier's cost in EUR is its messages' costs each at its
	// rate.
	var usdSup string
	var want decimal.Decimal
	rows, err := pool.Query(ctx, `SELECT supplier_id, cost, accepted_at FROM readmodel.cdrs
		WHERE cost_currency = 'USD' AND cost_booked_at >= $1 AND cost_booked_at < $2`, start.Add(-time.Hour), start.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var before, after int
	for rows.Next() {
		var cost decimal.Decimal
		var at time.Time
		if err := rows.Scan(&usdSup, &cost, &at); err != nil {
			t.Fatal(err)
		}
		u, ok := table.ToBase(money.MustFromDecimal(cost), "USD", at)
		if !ok {
			t.Fatalf("no USD rate at %s", at)
		}
		want = want.Add(u.Decimal())
		if at.Before(change) {
			before++
		} else {
			after++
		}
	}
	if rows.Err() != nil || before == 0 || after == 0 {
		t.Fatalf("USD costs: %d before the rate's change, %d after (%v)", before, after, rows.Err())
	}
	var got string
	for _, m := range rc.MarginBySupplier {
		if m.Key == usdSup {
			got = m.Cost
		}
	}
	if g, err := decimal.NewFromString(got); err != nil || !g.Equal(want) {
		t.Errorf("%s's cost in EUR: %q, want %s", usdSup, got, want)
	}

	// The API's report (serve's reports) carries the same.
	res, err := reports{store: store, pool: pool}.Reconcile(ctx, start.Add(-time.Hour), start.Add(3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := res.(projections.Report); !ok || r.Reporting == nil || r.Reporting.Revenue != rc.Revenue || r.Reporting.Cost != rc.Cost {
		t.Errorf("the API's report: %+v", res)
	}
}

// The report prints networks with their names and the messages of no
// known network as unknown (a prefix "" stays as it is), and the messages
// it could not convert to the reporting currency, counted.
func TestPrintReportNetworksAndUnconverted(t *testing.T) {
	at := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	rep := projections.Report{From: at, To: at.Add(time.Hour), OK: true,
		MarginByPrefix: []projections.Margin{{Key: "", Currency: "EUR", CostCurrency: "EUR", Messages: 1, Revenue: "0.1", Cost: "0.04", Margin: "0.06"}},
		MarginByNetwork: []projections.Margin{
			{Key: "", Currency: "EUR", CostCurrency: "EUR", Messages: 1, Revenue: "0.1", Cost: "0.04", Margin: "0.06"},
			{Key: "26201", Country: "Germany", Operator: "Telekom", Currency: "EUR", CostCurrency: "USD", Messages: 2, Revenue: "0.2", Cost: "0.08"},
		},
		Reporting: &projections.ReportingCurrency{Currency: "EUR", Messages: 1, Revenue: "0.1", Cost: "0.04", Margin: "0.06", Unconverted: 3,
			UnconvertedMessages: []projections.Unconverted{{MessageID: "m-1", TenantID: "acme", AcceptedAt: at, Currencies: []string{"USD"}}}},
	}
	var out bytes.Buffer
	printReport(&out, rep, nil)
	s := out.String()
	for _, want := range []string{
		"margin by destination prefix:\n                       messages 1 ",
		"margin by destination network:\n  (unknown)            messages 1 ",
		"  26201 Germany Telekom messages 2        revenue 0.2 EUR  cost 0.08 USD  margin (currencies differ)",
		"in the reporting currency EUR",
		"  messages 1        revenue 0.1  cost 0.04  margin 0.06",
		"NOT CONVERTED to EUR (no rate in force at acceptance; left out of the figures in EUR above): 3 messages",
		"  m-1  acme                 accepted 2026-04-01T10:00:00Z  no rate for USD",
		"  ... and 2 more",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("the report lacks %q:\n%s", want, s)
		}
	}
}
