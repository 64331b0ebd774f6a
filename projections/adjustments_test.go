package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

// Adjustments of either sign reach the tenant balances read model and the
// journal; the reconciliation holds (tenant balances = postings, entries
// balance) and a replay reproduces the read models.
func TestAdjustmentsInBalancesReconciledAndReplayed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	start := time.Date(2025, 1, 31, 23, 30, 0, 0, time.UTC)
	w := e.load(t, workload.Config{Seed: 11, Messages: 600, Wave: 40, Start: start, Adjustments: true})
	startAndCatchUp(t, e, projections.Options{Logger: quiet})

	// The oracle, from the domain events rather than the postings:
	// top-ups + adjustments − settled prices per tenant.
	want := map[string]decimal.Decimal{}
	adjSum := decimal.Zero
	var up, down int
	for _, round := range w.Rounds {
		for _, a := range round {
			for _, ev := range a.Events {
				switch x := ev.(type) {
				case events.TopUpRecorded:
					want[x.TenantID] = want[x.TenantID].Add(x.Amount)
				case events.AdjustmentRecorded:
					want[x.TenantID] = want[x.TenantID].Add(x.Amount)
					adjSum = adjSum.Add(x.Amount)
					if x.Amount.IsNegative() {
						down++
					} else {
						up++
					}
				case events.Settled:
					want[x.TenantID] = want[x.TenantID].Sub(x.Price)
				}
			}
		}
	}
	if up == 0 || down == 0 {
		t.Fatalf("workload lacks adjustments of both signs: %d positive, %d negative", up, down)
	}
	rows, err := e.pool.Query(ctx, `SELECT tenant_id, balance::text, available::text FROM readmodel.tenant_balances`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var id, bal, avail string
		if err := rows.Scan(&id, &bal, &avail); err != nil {
			t.Fatal(err)
		}
		n++
		if b := decimal.RequireFromString(bal); !b.Equal(want[id]) {
			t.Errorf("tenant %s: balance %s in the read model, %s by its events", id, bal, want[id])
		}
		if decimal.RequireFromString(avail).IsNegative() {
			t.Errorf("tenant %s: available %s", id, avail)
		}
	}
	if err := rows.Err(); err != nil || n != len(want) {
		t.Fatalf("%d tenant balances, want %d: %v", n, len(want), err)
	}
	var entries int
	var adjBalance string
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM readmodel.journal_entries WHERE kind = 'adjustment'`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(ctx, `SELECT balance::text FROM readmodel.account_balances WHERE account = 'adjustments' AND currency = 'EUR'`).Scan(&adjBalance); err != nil {
		t.Fatal(err)
	}
	// The adjustments account is the tenants' counterpart: debited with
	// what they were granted.
	if entries != up+down || !decimal.RequireFromString(adjBalance).Equal(adjSum) {
		t.Fatalf("%d adjustment entries (want %d), adjustments account %s (want %s)", entries, up+down, adjBalance, adjSum)
	}

	rep, err := projections.ReconcileAt(ctx, e.pool, start.Add(-time.Hour), start.Add(24*time.Hour), start.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("check %s: %d mismatches: %v", c.Name, c.Count, c.Mismatches)
		}
	}

	rr, err := projections.Replay(ctx, e.store, e.pool, projections.ReplayOptions{Verify: true, BatchEventsMax: 313})
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Differences) != 0 {
		t.Fatalf("replay differs from live: %v", rr.Differences)
	}
	checksumsEqual(t, rr.Live, rr.Checksums)
}
