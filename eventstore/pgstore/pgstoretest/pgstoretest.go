// Package pgstoretest opens PostgreSQL event stores for tests that need the
// real backend: adapters whose tests run the ledger over the log it will
// have in production. Tests that only need some Store use memstore instead
// (see ledgertest.MemStore).
//
// The test binary must call pgtest.Main from its TestMain, which starts (and
// at the end stops) the shared embedded server, or uses DATABASE_URL.
package pgstoretest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/migrations"
)

// Pool opens a pool of at most maxConns connections on a fresh, migrated
// database, closed at cleanup.
func Pool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	if err := migrations.Apply(ctx, url); err != nil {
		t.Fatalf("pgstoretest: migrate: %v", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgstoretest: pool config: %v", err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgstoretest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Store opens a Postgres event store on a fresh, migrated database; the
// store and its pool are closed at cleanup.
func Store(t testing.TB) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), Pool(t, 16), pgstore.Options{})
	if err != nil {
		t.Fatalf("pgstoretest: open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
