package migrations

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

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
