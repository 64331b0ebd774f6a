package projections_test

import (
	"context"
	"os"
	"strconv"
	"testing"

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
