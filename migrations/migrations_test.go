package migrations

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestApplyEmbeddedTwice(t *testing.T) {
	ctx := ctxT(t)
	url := pgtest.NewDatabase(t)
	for i := 0; i < 2; i++ {
		if err := Apply(ctx, url); err != nil {
			t.Fatalf("Apply #%d: %v", i+1, err)
		}
	}
	cur, latest, err := Version(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if latest < 1 || cur != latest {
		t.Fatalf("version %d, latest %d", cur, latest)
	}
}

func TestApplyEmbeddedConcurrently(t *testing.T) {
	ctx := ctxT(t)
	url := pgtest.NewDatabase(t)
	if err := concurrently(8, func() error { return Apply(ctx, url) }); err != nil {
		t.Fatal(err)
	}
	cur, latest, err := Version(ctx, url)
	if err != nil || cur != latest {
		t.Fatalf("version %d, latest %d, err %v", cur, latest, err)
	}
}

// testFS: 002 must run after 001 (it references t1) and exactly once (it
// inserts a row; a second run would make two).
var testFS = fstest.MapFS{
	"001_create.sql": {Data: []byte("CREATE TABLE t1 (id int PRIMARY KEY);")},
	"002_fill.sql":   {Data: []byte("INSERT INTO t1 VALUES (1);\nCREATE TABLE t2 (id int REFERENCES t1);")},
	"README.md":      {Data: []byte("not a migration")},
}

func TestApplyOrderOnceConcurrent(t *testing.T) {
	ctx := ctxT(t)
	url := pgtest.NewDatabase(t)
	if err := concurrently(8, func() error { return apply(ctx, url, testFS) }); err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, url, testFS); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n, v int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t1").Scan(&n); err != nil || n != 1 {
		t.Fatalf("t1 rows = %d (%v), want 1", n, err)
	}
	if err := conn.QueryRow(ctx, "SELECT version FROM "+VersionTable).Scan(&v); err != nil || v != 2 {
		t.Fatalf("version = %d (%v), want 2", v, err)
	}

	// A later binary with one more migration applies only the new one.
	next := fstest.MapFS{"003_more.sql": {Data: []byte("INSERT INTO t1 VALUES (3);")}}
	for k, f := range testFS {
		next[k] = f
	}
	if err := apply(ctx, url, next); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM t1").Scan(&n); err != nil || n != 2 {
		t.Fatalf("t1 rows = %d (%v), want 2", n, err)
	}
}

func TestApplyFailureIsReported(t *testing.T) {
	ctx := ctxT(t)
	url := pgtest.NewDatabase(t)
	bad := fstest.MapFS{
		"001_ok.sql":  {Data: []byte("CREATE TABLE ok (id int);")},
		"002_bad.sql": {Data: []byte("CREATE TABLE broken (id nosuchtype);")},
	}
	if err := apply(ctx, url, bad); err == nil {
		t.Fatal("Apply of a broken migration succeeded")
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT version FROM "+VersionTable).Scan(&v); err != nil || v != 1 {
		t.Fatalf("version = %d (%v), want 1 (the good migration only)", v, err)
	}
}

func TestApplyNoMigrations(t *testing.T) {
	if err := apply(ctxT(t), pgtest.NewDatabase(t), fstest.MapFS{}); err != nil {
		t.Fatal(err)
	}
}

func concurrently(n int, f func() error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = f() }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Migration 003: the unused cdrs(message_id) index is gone, existing CDR
// partitions get fillfactor 75, and its reverse puts both back.
func TestCDRHotUpdatesMigration(t *testing.T) {
	ctx := ctxT(t)
	url := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(FS()); err != nil {
		t.Fatal(err)
	}
	// A database at 002 with a CDR partition, as a projector made it.
	if err := m.MigrateTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE readmodel.cdrs_2026_01 PARTITION OF readmodel.cdrs
		FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00')`); err != nil {
		t.Fatal(err)
	}
	state := func() (messageIndex bool, fillfactor string) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = 'readmodel'
			AND tablename = 'cdrs' AND indexdef LIKE '%(message_id)')`).Scan(&messageIndex); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, `SELECT coalesce(array_to_string(reloptions, ','), '') FROM pg_class
			WHERE oid = 'readmodel.cdrs_2026_01'::regclass`).Scan(&fillfactor); err != nil {
			t.Fatal(err)
		}
		return messageIndex, fillfactor
	}
	if idx, ff := state(); !idx || ff != "" {
		t.Fatalf("at 002: message_id index %v, partition options %q; want true, none", idx, ff)
	}
	if err := m.MigrateTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if idx, ff := state(); idx || ff != "fillfactor=75" {
		t.Fatalf("at 003: message_id index %v, partition options %q; want false, fillfactor=75", idx, ff)
	}
	// A replay schema built by the function gets no message_id index either.
	if _, err := conn.Exec(ctx, `SELECT smsledger_create_read_models('rm_test')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'rm_test'
		AND tablename = 'cdrs' AND indexdef LIKE '%(message_id)'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("new read models: %d message_id indexes on cdrs (err %v), want 0", n, err)
	}
	if err := m.MigrateTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if idx, ff := state(); !idx || ff != "" {
		t.Fatalf("back at 002: message_id index %v, partition options %q; want true, none", idx, ff)
	}
}
