package server

import (
	"context"
	"sync/atomic"
)

// submitWorkersMax bounds the goroutines kept for submit_sm calls. The
// calls in flight are bounded by the binds' windows, not by this: past it,
// a call runs on a goroutine of its own, as every call once did.
const submitWorkersMax = 1024

// workers runs calls on goroutines that outlive one call.
//
// Why: a goroutine per submit_sm starts with a small stack and grows it
// through Submit → decide → append, copying it each time: at 977 msg/s
// runtime.newstack was 8.6 % of serve's CPU, half of it under these calls
// (bench --serve-cpu-profile). A worker grows its stack once and keeps it
// (the GC halves an idle one's at most once per cycle).
//
// A call never waits for a worker: it goes to one that is idle, else to a
// new worker while there are fewer than max, else to a goroutine of its
// own. So a stalled store, which holds every worker, delays nothing that
// a goroutine per call would not.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only when a worker is idle
	n    atomic.Int32
	max  int32
	stop <-chan struct{} // idle workers end when it closes
}

func newWorkers(ctx context.Context, max int) *workers {
	return &workers{jobs: make(chan func()), max: int32(max), stop: ctx.Done()}
}

// run runs job on an idle worker, a new worker, or a goroutine of its own.
func (w *workers) run(job func()) {
	select {
	case w.jobs <- job:
		return
	default:
	}
	if w.n.Add(1) <= w.max {
		go w.loop(job)
		return
	}
	w.n.Add(-1)
	go job()
}

// loop runs job, then whatever it is handed, until stop closes.
func (w *workers) loop(job func()) {
	defer w.n.Add(-1)
	for {
		job()
		select {
		case job = <-w.jobs:
		case <-w.stop:
			return
		}
	}
}
