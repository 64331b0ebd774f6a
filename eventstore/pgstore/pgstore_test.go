package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/eventstoretest"
	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/eventstore/pgstore/pgstoretest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newPool returns a pool on a fresh, migrated database.
func newPool(t testing.TB, maxConns int32) *pgxpool.Pool { return pgstoretest.Pool(t, maxConns) }

func openStore(t testing.TB, pool *pgxpool.Pool, opts pgstore.Options) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
		return openStore(t, newPool(t, 16), pgstore.Options{PollInterval: 200 * time.Millisecond})
	}, eventstoretest.Capabilities{DensePositions: true, GlobalEventIDs: true})
}

// TestNoGapUnderConcurrentNodes runs several stores (as several serve nodes
// would) against one database, each with two writers, while a reader tails the
// log as fast as it can. Positions come from a sequence in many event stores,
// and a reader there can skip a position whose transaction commits after a
// higher one (Marten, Message DB and Eventuous were bitten). Here the head row
// lock makes commit order equal position order; the reader must see 1, 2, 3…
// with no hole it later has to go back for.
func TestNoGapUnderConcurrentNodes(t *testing.T) {
	pool := newPool(t, 32)
	const (
		nodes      = 3
		goroutines = 24
		appends    = 60
	)
	stores := make([]*pgstore.Store, nodes)
	for i := range stores {
		stores[i] = openStore(t, pool, pgstore.Options{Writers: 2, BatchEventsMax: 1000})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var written atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[g%nodes]
			for i := range appends {
				evs := []eventstore.EventData{eventstoretest.Event("Gap", 100), eventstoretest.Event("Gap", 100)}
				if _, err := s.Append(ctx, fmt.Sprintf("g-%d-%d", g, i), eventstore.NoStream, evs...); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				written.Add(int64(len(evs)))
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	// Tail the log with a reader that never looks back: if it ever sees a
	// position that is not exactly one more than the last, a lower position
	// was invisible when a higher one was already readable.
	reader := stores[0]
	var last eventstore.Position
	var seen int64
	for {
		page, err := reader.ReadAll(ctx, last, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range page {
			if ev.Position != last+1 {
				t.Fatalf("reader saw position %d right after %d: a gap", ev.Position, last)
			}
			last = ev.Position
			seen++
		}
		if len(page) == 0 {
			select {
			case <-writersDone:
				if seen == written.Load() {
					return
				}
				rest, err := reader.ReadAll(ctx, last, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(rest) == 0 {
					t.Fatalf("reader saw %d events, %d were written", seen, written.Load())
				}
			default:
			}
		}
	}
}

// TestGroupCommitBatches checks that concurrent appends really share
// transactions: with many callers waiting, batches carry more than one append.
func TestGroupCommitBatches(t *testing.T) {
	pool := newPool(t, 8)
	var mu sync.Mutex
	var batches, appends int
	s := openStore(t, pool, pgstore.Options{Writers: 1, OnBatch: func(a, _ int, _ time.Duration) {
		mu.Lock()
		batches++
		appends += a
		mu.Unlock()
	}})
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half the callers are urgent: both queues feed the batches.
			ctx := context.Background()
			if g%2 == 0 {
				ctx = eventstore.WithUrgency(ctx)
			}
			for i := range 20 {
				if _, err := s.Append(ctx, fmt.Sprintf("b-%d-%d", g, i), eventstore.NoStream, eventstoretest.Event("B", 300)); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if appends != 64*20 {
		t.Fatalf("batches carried %d appends, want %d", appends, 64*20)
	}
	if batches >= appends {
		t.Fatalf("%d batches for %d appends: no group commit", batches, appends)
	}
	t.Logf("%d appends in %d batches (%.1f per batch)", appends, batches, float64(appends)/float64(batches))
}

// TestAppendFailsWhenDatabaseGone checks that an append the store cannot make
// durable returns an error, never success.
func TestAppendFailsWhenDatabaseGone(t *testing.T) {
	pool := newPool(t, 4)
	s := openStore(t, pool, pgstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Append(ctx, "before", eventstore.NoStream, eventstoretest.Event("A", 50)); err != nil {
		t.Fatal(err)
	}
	// Make every insert fail, as a broken database would.
	if _, err := pool.Exec(ctx, `ALTER TABLE es_events ADD CONSTRAINT refuse_all CHECK (false) NOT VALID`); err != nil {
		t.Fatal(err)
	}
	_, err := s.Append(ctx, "after", eventstore.NoStream, eventstoretest.Event("B", 50))
	if err == nil {
		t.Fatal("append succeeded while the database refused every insert")
	}
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("a storage failure reported as a version conflict: %v", err)
	}
	if _, err := pool.Exec(ctx, `ALTER TABLE es_events DROP CONSTRAINT refuse_all`); err != nil {
		t.Fatal(err)
	}
	// The store recovers by itself, and the head did not move for the
	// failed append.
	res, err := s.Append(ctx, "after", eventstore.NoStream, eventstoretest.Event("C", 50))
	if err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
	if res.Position != 2 {
		t.Fatalf("position after a failed batch = %d, want 2 (no hole)", res.Position)
	}
}

// TestCloseDrainsQueue checks that Close decides every queued append.
func TestCloseDrainsQueue(t *testing.T) {
	pool := newPool(t, 8)
	s, err := pgstore.Open(context.Background(), pool, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var ok, closed atomic.Int64
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, err := s.Append(ctx, fmt.Sprintf("c-%d-%d", g, i), eventstore.NoStream, eventstoretest.Event("C", 50))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, eventstore.ErrClosed):
					closed.Add(1)
					return
				default:
					t.Errorf("append during close: %v", err)
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	s.Close()
	wg.Wait()
	var stored int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM es_events`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != ok.Load() {
		t.Fatalf("%d appends acknowledged, %d stored", ok.Load(), stored)
	}
	if closed.Load() != 32 {
		t.Fatalf("%d callers saw ErrClosed, want 32", closed.Load())
	}
}

// BenchmarkAppend measures durable appends through group commit from 64
// concurrent callers, with one ~300-byte event per call and with four.
//
//	go test -run=^$ -bench=Append -benchtime=20000x ./eventstore/pgstore/
func BenchmarkAppend(b *testing.B) {
	for _, perCall := range []int{1, 4} {
		b.Run(fmt.Sprintf("events=%d/callers=%d", perCall, benchCallers), func(b *testing.B) {
			benchmarkAppend(b, benchCallers, perCall)
		})
	}
}

// PGSTORE_BENCH_WRITERS and PGSTORE_BENCH_CALLERS change the shape of the
// benchmark for experiments; the recorded figures use the defaults.
var (
	benchWriters, _ = strconv.Atoi(os.Getenv("PGSTORE_BENCH_WRITERS"))
	benchCallers    = envInt("PGSTORE_BENCH_CALLERS", 64)
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func benchmarkAppend(b *testing.B, callers, perCall int) {
	pool := newPool(b, 16)
	var batches, batchNanos atomic.Int64
	s := openStore(b, pool, pgstore.Options{Writers: benchWriters, OnBatch: func(_, _ int, took time.Duration) {
		batches.Add(1)
		batchNanos.Add(int64(took))
	}})
	eventstoretest.BenchmarkAppend(b, s, callers, perCall)
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(b.N+10)/float64(n), "appends/batch")
		b.ReportMetric(float64(batchNanos.Load())/float64(n)/1e6, "batch-ms")
	}
}

// TestSubscriberWokenByOtherNode checks the LISTEN/NOTIFY path: a subscriber
// on one store (node) sees an event appended through another store on the
// same database, although its fallback poll is far longer than the test.
func TestSubscriberWokenByOtherNode(t *testing.T) {
	pool := newPool(t, 8)
	reader := openStore(t, pool, pgstore.Options{PollInterval: time.Hour})
	writer := openStore(t, pool, pgstore.Options{PollInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sub, err := reader.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := make(chan []eventstore.RecordedEvent, 1)
	go func() {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Errorf("next: %v", err)
		}
		got <- evs
	}()
	// Give the subscriber time to find the log empty and start waiting.
	time.Sleep(200 * time.Millisecond)
	ev := eventstoretest.Event("FromOtherNode", 50)
	if _, err := writer.Append(ctx, "other-node", eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	select {
	case evs := <-got:
		if len(evs) != 1 || evs[0].ID != ev.ID {
			t.Fatalf("subscriber got %v, want the event from the other node", evs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscriber not woken by the other node's append within 10s")
	}
}

// TestTailMatchesTable: a store answers readers at the head from the events
// it just committed; what it answers must be exactly what the table holds
// (a second store on the same database, with nothing in memory, reads the
// table). Another node's appends in between must not be skipped.
func TestTailMatchesTable(t *testing.T) {
	pool := newPool(t, 16)
	a := openStore(t, pool, pgstore.Options{})
	other := openStore(t, pool, pgstore.Options{}) // another node
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				s := a
				if i%7 == 3 {
					s = other
				}
				evs := []eventstore.EventData{eventstoretest.Event("T", 80)}
				if g%3 == 0 {
					evs = append(evs, eventstoretest.Event("T2", 120))
				}
				if _, err := s.Append(ctx, fmt.Sprintf("tail-%d-%d", g, i%5), eventstore.Any, evs...); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	table := openStore(t, pool, pgstore.Options{}) // empty memory: reads the table
	head, err := a.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for after := eventstore.Start; after < head; after += 7 {
		got, err := a.ReadAll(ctx, after, 50)
		if err != nil {
			t.Fatal(err)
		}
		want, err := table.ReadAll(ctx, after, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("after %d: %d events from memory, %d from the table", after, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.ID != w.ID || g.Type != w.Type || string(g.Data) != string(w.Data) || g.Stream != w.Stream ||
				g.Version != w.Version || g.Position != w.Position || !g.RecordedAt.Equal(w.RecordedAt) ||
				g.Metadata.CorrelationID != w.Metadata.CorrelationID || g.Metadata.CausationID != w.Metadata.CausationID {
				t.Fatalf("after %d, event %d: memory %+v, table %+v", after, i, g, w)
			}
		}
	}
}

// TestTwoNodesReadEachOtherOnce: a node with two readers at the head (the
// ledger's follower and the projections) while another node appends reads
// the other node's events from the table, not its own, and not once per
// reader; each reader still gets exactly the log.
func TestTwoNodesReadEachOtherOnce(t *testing.T) {
	pool := newPool(t, 16)
	a := openStore(t, pool, pgstore.Options{})
	other := openStore(t, pool, pgstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const appends = 600 // a third by the other node
	got := make([][]eventstore.RecordedEvent, 2)
	var readers sync.WaitGroup
	for r := range got {
		sub, err := a.SubscribeAll(ctx, eventstore.Start)
		if err != nil {
			t.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer sub.Close()
			for len(got[r]) < appends {
				evs, err := sub.Next(ctx)
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
				got[r] = append(got[r], evs...)
			}
		}()
	}
	var writers sync.WaitGroup
	for g := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range appends / 4 {
				s := a
				if i%3 == 1 {
					s = other
				}
				if _, err := s.Append(ctx, fmt.Sprintf("nodes-%d-%d", g, i), eventstore.NoStream, eventstoretest.Event("T", 60)); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				time.Sleep(time.Millisecond) // a live log, not one burst
			}
		}()
	}
	writers.Wait()
	readers.Wait()
	if t.Failed() {
		return
	}
	want, err := openStore(t, pool, pgstore.Options{}).ReadAll(ctx, eventstore.Start, appends+1)
	if err != nil {
		t.Fatal(err)
	}
	for r := range got {
		if len(got[r]) != len(want) {
			t.Fatalf("reader %d got %d events, the log has %d", r, len(got[r]), len(want))
		}
		for i := range want {
			if got[r][i].ID != want[i].ID || got[r][i].Position != want[i].Position || string(got[r][i].Data) != string(want[i].Data) {
				t.Fatalf("reader %d, event %d: %+v, the log has %+v", r, i, got[r][i], want[i])
			}
		}
	}
	// Without the gap filled for both readers, each read nearly the whole
	// log back (~2 × 600 rows).
	rows := a.TableRowsRead()
	t.Logf("node a read %d rows from the table for %d events, %d of them the other node's", rows, appends, appends/3)
	if rows >= appends {
		t.Fatalf("node a read %d rows from the table for a log of %d events", rows, appends)
	}
}

// BenchmarkReadTable measures reading the log back from the table, as a
// follower does for another node's events and every reader does catching
// up: pages of 50 events (~300 bytes each) from a store with nothing in
// memory. ns/op is per page.
//
//	go test -run=^$ -bench=ReadTable ./eventstore/pgstore/
func BenchmarkReadTable(b *testing.B) {
	pool := newPool(b, 16)
	w := openStore(b, pool, pgstore.Options{})
	ctx := context.Background()
	const events, page = 20000, 50
	for i := range events / 100 {
		evs := make([]eventstore.EventData, 100)
		for j := range evs {
			evs[j] = eventstoretest.Event("T", 300)
		}
		if _, err := w.Append(ctx, fmt.Sprintf("read-%d", i), eventstore.NoStream, evs...); err != nil {
			b.Fatal(err)
		}
	}
	r := openStore(b, pool, pgstore.Options{}) // nothing in memory: reads the table
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		after := eventstore.Position((i * page) % (events - page))
		got, err := r.ReadAll(ctx, after, page)
		if err != nil || len(got) != page {
			b.Fatalf("read after %d: %d events, %v", after, len(got), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*page), "ns/event")
}
