package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/projections"
)

// The components stop in reverse order: SMPP (draining its submits), then
// HTTP, then the relay (after both stopped taking traffic), webhooks after
// the relay and before the store, the cluster membership (left after the
// relay stopped) before the ledger returns its budget leases, the database
// last.
func TestServeComponentOrder(t *testing.T) {
	var names []string
	for _, c := range (&daemon{}).components() {
		names = append(names, c.Name)
	}
	want := []string{"database", "event store", "portability lookup", "ledger", "cluster", "projections", "webhooks", "relay", "route health", "http", "smpp"}
	if !slices.Equal(names, want) {
		t.Fatalf("start order %q, want %q", names, want)
	}
}

// TestServeExitsWhenProjectionsDie: once the projections give up, serve
// says which component failed, stops the others and returns the failure
// (exit 1) instead of serving stale read models.
func TestServeExitsWhenProjectionsDie(t *testing.T) {
	const admin = "admin-token-0123456789"
	cfg, err := parseServeFlags([]string{"--http-addr", "127.0.0.1:0", "--smpp-addr", "127.0.0.1:0",
		"--data-dir", filepath.Join(t.TempDir(), "data"), "--database-url", pgtest.NewDatabase(t), "--admin-token", admin}, io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.projections = projections.Options{RetryMax: 1, BackoffMin: 10 * time.Millisecond}
	ready := make(chan readyInfo, 1)
	cfg.ready = func(ri readyInfo) { ready <- ri }
	done := make(chan error, 1)
	go func() {
		done <- runServe(context.Background(), cfg, io.Discard, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	}()
	var info readyInfo
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("serve exited early: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("serve not ready after 2 minutes")
	}

	// Take a read model away from the projections: the next tenant cannot
	// be projected.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, info.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER TABLE "+projections.LiveSchema+".tenant_balances RENAME TO tenant_balances_gone"); err != nil {
		t.Fatal(err)
	}
	base := "http://" + info.HTTPAddr
	if code, body := apiCall(t, "POST", base+"/v1/tenants", admin,
		`{"id":"acme","name":"Acme","currency":"EUR","billing":"on_submit","tps_limit":10,"credit_limit":"0","tier":"standard"}`); code != 201 {
		t.Fatalf("create tenant: %d %v", code, body)
	}

	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "projections failed") || !strings.Contains(err.Error(), "tenant_balances") {
			t.Fatalf("serve returned %v, want the projections' failure", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve still running a minute after its projections gave up")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("HTTP still answering after serve returned")
	}
}
