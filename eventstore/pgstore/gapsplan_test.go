package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/eventstoretest"
	"github.com/smsledger/smsledger/eventstore/pgstore"
)

// TestGapsPlanIsAnIndexScan: the read of another node's events is planned
// once per connection and that one plan is the ordered scan of the primary
// key from the reader's position, whatever the table held when it was
// made: empty (where a sequential scan is the cheapest) or thousands of
// events, analysed. Each case prepares the statement afresh, as a new
// connection does.
func TestGapsPlanIsAnIndexScan(t *testing.T) {
	pool := newPool(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	checkPlan(ctx, t, pool, "an empty log")

	s := openStore(t, pool, pgstore.Options{})
	for i := range 3000 {
		if _, err := s.Append(ctx, fmt.Sprintf("gaps-%d", i), eventstore.NoStream, eventstoretest.Event("T", 60)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `ANALYZE es_events`); err != nil {
		t.Fatal(err)
	}
	checkPlan(ctx, t, pool, "3,000 events")
}

func checkPlan(ctx context.Context, t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, pgstore.GapsPlanSQL); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `PREPARE gaps AS `+pgstore.GapsSQL); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN EXECUTE gaps(10, '{11,12,20}', 20, 100)`)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	t.Logf("%s:\n%s", table, text)
	if !strings.Contains(text, "$1") {
		t.Errorf("%s: not the generic plan (no parameters in it):\n%s", table, text)
	}
	if !strings.Contains(text, "Index Scan using es_events_pkey") || !strings.Contains(text, "Index Cond: (global_position > $1)") {
		t.Errorf("%s: not an index range scan from the reader's position:\n%s", table, text)
	}
	for _, bad := range []string{"Seq Scan", "Bitmap", "Sort"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s: the plan has a %s:\n%s", table, bad, text)
		}
	}
}
