package eventstoretest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
)

// BenchmarkAppend measures durable appends to s from callers concurrent
// goroutines, perCall ~300-byte events per append, each to a new
// message-<uuidv7> stream with expected version "no stream" — the shape of
// the SMPP hot path. It reports events/s and the p50/p99 latency of one
// Append. Events are made before the clock starts.
func BenchmarkAppend(b *testing.B, s eventstore.Store, callers, perCall int) {
	ctx := context.Background()
	// Warm the connections and statement caches.
	for i := range 10 {
		if _, err := s.Append(ctx, fmt.Sprintf("warm-%d-%s", i, uuid.NewString()), eventstore.NoStream, Event("Warm", 300)); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([][]eventstore.EventData, b.N)
	for i := range payload {
		payload[i] = make([]eventstore.EventData, perCall)
		for j := range payload[i] {
			payload[i][j] = Event("SubmitAccepted", 300)
		}
	}
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if _, err := s.Append(ctx, "message-"+uuid.Must(uuid.NewV7()).String(), eventstore.NoStream, payload[i]...); err != nil {
					b.Error(err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	b.ReportMetric(float64(b.N*perCall)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
}
