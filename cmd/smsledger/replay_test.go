package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/migrations"
	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

// TestReplayAuditReconcileCommands runs the three subcommands against a
// database holding a projected workload.
func TestReplayAuditReconcileCommands(t *testing.T) {
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

	cmd := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append(args, "--database-url", url), &out, &errOut, env(nil))
		return code, out.String() + errOut.String()
	}
	code, out := cmd("replay", "--verify")
	if code != exitOK || !strings.Contains(out, "verify: every read model equals its replay") || !strings.Contains(out, "cdrs") {
		t.Fatalf("replay --verify: code %d\n%s", code, out)
	}

	var id string
	if err := pool.QueryRow(ctx, `SELECT message_id::text FROM readmodel.cdrs WHERE attempts > 1 LIMIT 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	code, out = cmd("audit", id)
	if code != exitOK || !strings.Contains(out, "MessageAccepted") || !strings.Contains(out, "RouteSelected") || !strings.Contains(out, "FailedOver") {
		t.Fatalf("audit: code %d\n%s", code, out)
	}
	if code, out = cmd("audit", "00000000-0000-4000-8000-000000000000"); code != exitError || !strings.Contains(out, "not found") {
		t.Fatalf("audit of unknown message: code %d\n%s", code, out)
	}

	from, to := start.Add(-time.Hour).Format(time.RFC3339), start.Add(3*time.Hour).Format(time.RFC3339)
	code, out = cmd("reconcile", "--from", from, "--to", to)
	if code != exitOK || !strings.Contains(out, "journal_entries_balance") || strings.Contains(out, "FAILED") {
		t.Fatalf("reconcile: code %d\n%s", code, out)
	}

	// An invoice with one planted cost difference.
	var smid, dest string
	var parts int
	var cost string
	var sup string
	if err := pool.QueryRow(ctx, `SELECT supplier_id, supplier_message_id, destination, parts, cost::text FROM readmodel.cdrs
		WHERE cost IS NOT NULL ORDER BY message_id LIMIT 1`).Scan(&sup, &smid, &dest, &parts, &cost); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(t.TempDir(), "invoice.csv")
	csv := "supplier_message_id,destination,parts,cost,date\n" + smid + "," + dest + "," + itoa(parts) + "," + cost + "9," + start.Format("2006-01-02") + "\n"
	if err := os.WriteFile(inv, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out = cmd("reconcile", "--from", from, "--to", to, "--supplier", sup, "--invoice", inv)
	if code != exitError || !strings.Contains(out, "cost") || !strings.Contains(out, smid) {
		t.Fatalf("reconcile with invoice: code %d\n%s", code, out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
