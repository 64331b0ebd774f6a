package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestDatabasesAreFreshAndIsolated(t *testing.T) {
	for i := range 6 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			url := NewDatabase(t)
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			// Same table name in every database: no collision, and empty at first.
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
				t.Fatalf("fresh database has %d tables (%v)", n, err)
			}
			if _, err := conn.Exec(ctx, "CREATE TABLE same_name (v int)"); err != nil {
				t.Fatal(err)
			}
			var enc string
			if err := conn.QueryRow(ctx, "SHOW server_encoding").Scan(&enc); err != nil || enc != "UTF8" {
				t.Fatalf("encoding %q %v", enc, err)
			}
		})
	}
}

// A connection the test forgets to close does not keep its database alive.
func TestDropWithLeakedConnection(t *testing.T) {
	var name string
	t.Run("leak", func(t *testing.T) {
		url := NewDatabase(t)
		name = url[strings.LastIndexByte(url, '/')+1:]
		if _, err := pgx.Connect(context.Background(), url); err != nil { // never closed
			t.Fatal(err)
		}
	})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ServerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s still exists (%d, %v)", name, n, err)
	}
}

func TestDBName(t *testing.T) {
	long := strings.Repeat("Sub/Test-ÄÖ ", 20)
	a, b := dbName(long), dbName(long)
	if a == b || len(a) > 63 || strings.Trim(a, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
		t.Fatalf("bad names %q %q", a, b)
	}
}
