package projections_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

// BenchmarkReplay measures the rebuild of every read model from position
// zero; SMSLEDGER_BENCH_MESSAGES sets the workload size (default 40,000
// messages, about 300,000 events). It reports events/s.
func BenchmarkReplay(b *testing.B) {
	n := 40_000
	if v, err := strconv.Atoi(os.Getenv("SMSLEDGER_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	e := newEnv(b)
	w, err := workload.Generate(workload.Config{Seed: 1, Messages: n, Wave: 500})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Run(context.Background(), e.store, 64); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var events int64
	var secs float64
	for i := 0; i < b.N; i++ {
		rep, err := projections.Replay(context.Background(), e.store, e.pool, projections.ReplayOptions{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		events += rep.Events
		secs += rep.Duration.Seconds()
	}
	b.ReportMetric(float64(events)/secs, "events/s")
}

// BenchmarkLiveProjection measures the live projectors catching up with a
// log that is already written: the rate at which serve's read models follow
// traffic (journal, balances, CDRs and route health in durable, indexed
// tables, one transaction per batch with its checkpoints). Same workload
// and knob as BenchmarkReplay; it reports events/s.
func BenchmarkLiveProjection(b *testing.B) {
	n := 40_000
	if v, err := strconv.Atoi(os.Getenv("SMSLEDGER_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	var events int64
	var secs float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		w, err := workload.Generate(workload.Config{Seed: 1, Messages: n, Wave: 500})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := w.Run(ctx, e.store, 64); err != nil {
			b.Fatal(err)
		}
		head, err := e.store.Head(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		rt, err := projections.StartWithOptions(ctx, e.store, e.pool, projections.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if err := rt.WaitFor(ctx, head); err != nil {
			b.Fatal(err)
		}
		secs += time.Since(start).Seconds()
		events += int64(head)
		b.StopTimer()
		_ = rt.Close()
	}
	b.ReportMetric(float64(events)/secs, "events/s")
}
