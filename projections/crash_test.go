package projections_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

var errCrash = errors.New("injected crash before commit")

// TestExactlyOnceUnderCrash kills the projections between and inside
// batches (failed commits, cancelled runtimes, two nodes at once) and
// checks that the live read models still equal a clean replay.
func TestExactlyOnceUnderCrash(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	w, err := workload.Generate(workload.Config{Seed: 11, Messages: 1200, Wave: 50})
	if err != nil {
		t.Fatal(err)
	}
	half := len(w.Rounds) / 2
	if _, err := w.RunRounds(ctx, e.store, 32, 0, half); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	var crashes, calls atomic.Int64
	opts := projections.Options{Logger: quiet, BatchEventsMax: 97, RetryMax: 1000, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond}
	projections.SetBeforeCommit(&opts, func([]projections.Event) error {
		if calls.Add(1)%3 == 0 {
			crashes.Add(1)
			return errCrash
		}
		return nil
	})
	// Several runtimes started and closed at random moments, two at a time
	// (two serve nodes), while the rest of the workload is appended.
	done := make(chan error, 1)
	go func() {
		_, err := w.RunRounds(ctx, e.store, 32, half, len(w.Rounds))
		done <- err
	}()
	appending := true
	for i := 0; i < 30 || appending; i++ {
		a, err := projections.StartWithOptions(ctx, e.store, e.pool, opts)
		if err != nil {
			t.Fatal(err)
		}
		b, err := projections.StartWithOptions(ctx, e.store, e.pool, opts)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+r.IntN(60)) * time.Millisecond)
		a.Close()
		b.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			appending = false
		default:
		}
		if i > 500 {
			t.Fatal("workload did not finish")
		}
	}
	// However slow the machine, some batches must have crashed: keep a
	// crashing runtime going until they have.
	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, opts)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); crashes.Load() < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	rt.Close()
	if crashes.Load() < 3 {
		t.Fatalf("only %d crashes injected", crashes.Load())
	}
	// Resume cleanly to the head.
	startAndCatchUp(t, e, projections.Options{BatchEventsMax: 500})
	rep, err := projections.Replay(ctx, e.store, e.pool, projections.ReplayOptions{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Differences) != 0 {
		t.Fatalf("after %d injected crashes live differs from replay: %v", crashes.Load(), rep.Differences)
	}
	head, _ := e.store.Head(ctx)
	for name, p := range rep.UpTo {
		if p != head {
			t.Errorf("%s at %d, head %d", name, p, head)
		}
	}
	t.Logf("%d injected crashes, %d events", crashes.Load(), rep.Events)
}
