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

// Store opens a Postgres event store on a fresh, migrated database; the
// store and its pool are closed at cleanup.
func Store(t testing.TB) *pgstore.Store {
	t.Helper()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	if err := migrations.Apply(ctx, url); err != nil {
		t.Fatalf("pgstoretest: migrate: %v", err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatalf("pgstoretest: pool: %v", err)
	}
	s, err := pgstore.Open(ctx, pool, pgstore.Options{})
	if err != nil {
		pool.Close()
		t.Fatalf("pgstoretest: open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(); pool.Close() })
	return s
}
