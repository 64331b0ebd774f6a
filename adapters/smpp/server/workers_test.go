package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every call runs once; idle workers are reused instead of new goroutines;
// the workers kept never exceed max, and past it calls still run (on
// goroutines of their own) without waiting; all workers end with ctx.
func TestWorkersRunEveryCallWithoutWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := newWorkers(ctx, 100)

	// Sequential calls reuse the idle worker: without reuse each would
	// have a goroutine (a worker) of its own.
	var ran atomic.Int32
	for range 100 {
		done := make(chan struct{})
		w.run(func() { ran.Add(1); close(done) })
		<-done
		time.Sleep(time.Millisecond) // the worker goes back to waiting
	}
	if ran.Load() != 100 {
		t.Fatalf("%d calls ran, want 100", ran.Load())
	}
	if n := w.n.Load(); n < 1 || n >= 20 {
		t.Fatalf("%d workers after 100 sequential calls, want a few (idle ones reused)", n)
	}
	first := w
	// Blocked calls beyond max: every one runs at once; at most max kept.
	w = newWorkers(ctx, 4)
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(10)
	for range 10 {
		w.run(func() { started.Done(); <-release })
	}
	waitDone := make(chan struct{})
	go func() { started.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(5 * time.Second):
		t.Fatal("calls waited for a worker")
	}
	if n := w.n.Load(); n > 4 {
		t.Fatalf("%d workers kept, max 4", n)
	}
	close(release)

	cancel()
	waitFor(t, func() bool { return w.n.Load() == 0 && first.n.Load() == 0 })
}
