package projections_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

func TestReconcileWorkloadWithRefundsAndFailovers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start := time.Date(2025, 1, 31, 23, 30, 0, 0, time.UTC)
	e.load(t, workload.Config{Seed: 5, Messages: 800, Wave: 40, Start: start})
	startAndCatchUp(t, e, projections.Options{Logger: quiet})

	var failovers, released, settled int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE attempts > 1), count(*) FILTER (WHERE released_at IS NOT NULL),
		count(*) FILTER (WHERE settled_at IS NOT NULL) FROM readmodel.cdrs`).Scan(&failovers, &released, &settled); err != nil {
		t.Fatal(err)
	}
	if failovers == 0 || released == 0 || settled == 0 {
		t.Fatalf("workload lacks variety: %d failovers, %d released, %d settled", failovers, released, settled)
	}
	// Supplier costs booked apart from the tenant's charge: before it, or
	// after it, or for a message never charged.
	var before, after, uncharged int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE cost_booked_at < settled_at), count(*) FILTER (WHERE cost_booked_at > settled_at),
		count(*) FILTER (WHERE cost_booked_at IS NOT NULL AND settled_at IS NULL) FROM readmodel.cdrs`).Scan(&before, &after, &uncharged); err != nil {
		t.Fatal(err)
	}
	if before == 0 || after == 0 || uncharged == 0 {
		t.Fatalf("workload lacks costs booked apart: %d before the charge, %d after, %d uncharged", before, after, uncharged)
	}
	from, to := start.Add(-time.Hour), start.Add(24*time.Hour)
	now := start.Add(2 * time.Hour)
	rep, err := projections.ReconcileAt(ctx, e.pool, from, to, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %s: %d mismatches: %v", c.Name, c.Count, c.Mismatches)
		}
	}
	if !rep.OK || len(rep.Tenants) == 0 || len(rep.Suppliers) == 0 || len(rep.MarginByPrefix) == 0 {
		t.Fatalf("report: %+v", rep)
	}
	var msgs int64
	for _, tf := range rep.Tenants {
		msgs += tf.Messages
	}
	if msgs == 0 {
		t.Fatal("no messages in period")
	}

	// Planted mismatches are listed: a CDR price changed (CDR vs journal),
	// a posting changed (entry unbalanced, balance vs postings), and a
	// clock far ahead (stale open messages).
	if _, err := e.pool.Exec(ctx, `UPDATE readmodel.cdrs SET price = price + 1 WHERE message_id = (SELECT message_id FROM readmodel.cdrs WHERE settled_at IS NOT NULL LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE readmodel.postings SET amount = amount + 0.01 WHERE (entry_id, line) = (SELECT entry_id, line FROM readmodel.postings WHERE account LIKE 'tenant:%' LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	rep, err = projections.ReconcileAt(ctx, e.pool, from, to, now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]projections.Check{}
	for _, c := range rep.Checks {
		if !c.OK {
			failed[c.Name] = c
		}
	}
	for _, want := range []string{"cdr_totals_equal_journal", "journal_entries_balance", "account_balances_equal_postings", "tenant_balances_equal_postings", "no_stale_open_messages"} {
		c, ok := failed[want]
		if !ok {
			t.Errorf("planted mismatch not reported by %s", want)
			continue
		}
		if len(c.Mismatches) == 0 || c.Mismatches[0] == "" {
			t.Errorf("%s: mismatches not listed", want)
		}
	}
	if rep.OK {
		t.Error("report OK despite planted mismatches")
	}
	if c := failed["cdr_totals_equal_journal"]; len(c.Mismatches) > 0 && !strings.Contains(c.Mismatches[0], "revenue") {
		t.Errorf("cdr vs journal mismatch: %v", c.Mismatches)
	}
}
