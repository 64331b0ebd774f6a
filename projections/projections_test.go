package projections_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/eventstore/pgstore/pgstoretest"
	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

type env struct {
	pool  *pgxpool.Pool
	store *pgstore.Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	pool := pgstoretest.Pool(t, 16)
	store, err := pgstore.Open(ctx, pool, pgstore.Options{PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &env{pool: pool, store: store}
}

func (e *env) load(t testing.TB, cfg workload.Config) *workload.Workload {
	t.Helper()
	w, err := workload.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Run(context.Background(), e.store, 32); err != nil {
		t.Fatal(err)
	}
	return w
}

func checksumsEqual(t *testing.T, a, b []projections.Checksum) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("checksums: %d vs %d read models", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("read model %s differs: %+v vs %+v", a[i].ReadModel, a[i], b[i])
		}
	}
}

// waitForHead waits (60 s at most) until rt has applied the log's head,
// and returns the head.
func waitForHead(t *testing.T, e *env, rt *projections.Runtime) eventstore.Position {
	t.Helper()
	ctx := context.Background()
	head, err := e.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := rt.WaitFor(wctx, head); err != nil {
		t.Fatalf("wait for %d: %v (lag %+v)", head, err, rt.Lag())
	}
	return head
}

// startAndCatchUp runs the live runtime until it has applied the head.
func startAndCatchUp(t *testing.T, e *env, opts projections.Options) {
	t.Helper()
	ctx := context.Background()
	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	head := waitForHead(t, e, rt)
	for _, l := range rt.Lag() {
		if l.Position != head {
			t.Fatalf("lag after catch-up: %+v", l)
		}
	}
}

func TestLiveEqualsReplay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w, err := workload.Generate(workload.Config{Seed: 7, Messages: 1500, Wave: 60})
	if err != nil {
		t.Fatal(err)
	}
	// Live projection running while the workload is appended.
	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, projections.Options{BatchEventsMax: 700})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Run(ctx, e.store, 32); err != nil {
		t.Fatal(err)
	}
	// A journal entry recorded twice (another event, the same entry id)
	// is applied once, live and in a replay.
	var entry events.JournalEntryRecorded
	for _, round := range w.Rounds {
		for _, a := range round {
			for _, ev := range a.Events {
				if je, ok := ev.(events.JournalEntryRecorded); ok && entry.Postings == nil {
					entry = je
				}
			}
		}
	}
	dup, err := workload.Encode(workload.Append{Stream: "test-duplicate-entry", Expected: eventstore.Any, Events: []events.Event{entry}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(ctx, "test-duplicate-entry", eventstore.Any, dup...); err != nil {
		t.Fatal(err)
	}
	head := waitForHead(t, e, rt)
	rt.Close()
	t.Logf("workload: %d messages, %d events, head %d", w.Messages, w.Events, head)

	rep, err := projections.Replay(ctx, e.store, e.pool, projections.ReplayOptions{Verify: true, BatchEventsMax: 997})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 0 {
		t.Fatalf("replay differs from live: %v", rep.Differences)
	}
	checksumsEqual(t, rep.Live, rep.Checksums)
	for _, c := range rep.Checksums {
		if c.Rows == 0 {
			t.Errorf("read model %s is empty", c.ReadModel)
		}
	}
	// CDRs written early in a replay and updated by later events (a short
	// horizon) end up the same.
	opts := projections.ReplayOptions{Verify: true, BatchEventsMax: 301}
	projections.SetReplayCDRHorizon(&opts, 150)
	rep, err = projections.Replay(ctx, e.store, e.pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 0 {
		t.Fatalf("replay with a short CDR horizon differs from live: %v", rep.Differences)
	}
	// A planted difference in the live CDRs is found.
	if _, err := e.pool.Exec(ctx, `UPDATE readmodel.cdrs SET parts = parts + 1 WHERE message_id = (SELECT message_id FROM readmodel.cdrs LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	rep, err = projections.Replay(ctx, e.store, e.pool, projections.ReplayOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 1 {
		t.Fatalf("differences after planting one in cdrs: %v", rep.Differences)
	}
}

// The projector makes CDR partitions with room for HOT updates.
func TestCDRPartitionsLeaveRoomForHOTUpdates(t *testing.T) {
	e := newEnv(t)
	e.load(t, workload.Config{Seed: 3, Messages: 50, Wave: 10})
	startAndCatchUp(t, e, projections.Options{})
	rows, err := e.pool.Query(context.Background(), `SELECT c.relname, coalesce(array_to_string(c.reloptions, ','), '')
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'readmodel.cdrs'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var name, opts string
		if err := rows.Scan(&name, &opts); err != nil {
			t.Fatal(err)
		}
		n++
		if opts != "fillfactor=75" {
			t.Errorf("partition %s: options %q, want fillfactor=75", name, opts)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no CDR partition was made")
	}
}
