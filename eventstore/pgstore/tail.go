package pgstore

import (
	"sync"

	"github.com/smsledger/smsledger/eventstore"
)

// tailEventsMax bounds the recently committed events kept in memory.
const tailEventsMax = 32768

// tail keeps the events this store committed most recently, so that readers
// following the head of the log (the ledger's follower, the projections)
// get them without a query: at 10,000 messages/s every committed event was
// otherwise read back from PostgreSQL once per reader, and scanning them
// cost as much CPU as writing them.
//
// It holds at most two gap-free runs of positions: run, which readers at
// the head are served from, and ahead, this store's own batches committed
// after a gap — another node (serve --cluster) appended in between. A
// reader at the end of run reads only the gap from the table (gapEnd bounds
// its query), and what it read fills the gap (fill), joining run and ahead:
// so a node reads another node's events from PostgreSQL once, whatever its
// number of readers, and its own events never. Without fill every other
// node's batch restarted the run, and each reader of each node read every
// event back (docs/PERFORMANCE.md, "Several nodes").
//
// Whatever it answers is exactly what the table holds at those positions:
// run and ahead hold only committed batches and rows read from the table.
type tail struct {
	mu    sync.RWMutex
	run   []eventstore.RecordedEvent // positions run[0].Position, +1, +2…
	ahead []eventstore.RecordedEvent // likewise; ahead[0] > last of run + 1
}

// add keeps one committed batch's events, in position order.
func (t *tail) add(batch []eventstore.RecordedEvent) {
	if len(batch) == 0 {
		return
	}
	if !gapFree(batch) {
		panic("pgstore: committed batch with a gap in its positions")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	first, last := batch[0].Position, batch[len(batch)-1].Position
	switch {
	case len(t.run) == 0:
		t.run = append(t.run, batch...)
	case last <= lastOf(t.run):
		// Older than what is held (writers finishing out of order).
	case first == lastOf(t.run)+1:
		t.run = append(t.run, batch...)
	case len(t.ahead) > 0 && first == lastOf(t.ahead)+1:
		t.ahead = append(t.ahead, batch...)
	case len(t.ahead) > 0 && last <= lastOf(t.ahead):
		// Older than what is held ahead.
	default:
		// Another node wrote in between: hold it ahead of the gap.
		t.ahead = append([]eventstore.RecordedEvent(nil), batch...)
	}
	t.joinAhead()
	t.run = bounded(t.run)
	t.ahead = bounded(t.ahead)
}

// fill keeps events a reader read from the table: a gap-free run that
// starts right after the reader's position. What extends run (or restarts
// it, when the reader is past it) is kept; what is older is not.
func (t *tail) fill(events []eventstore.RecordedEvent) {
	if len(events) == 0 || !gapFree(events) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	first, last := events[0].Position, events[len(events)-1].Position
	switch {
	case len(t.run) == 0 || first > lastOf(t.run)+1:
		t.run = append(t.run[:0:0], events...)
	case last <= lastOf(t.run):
		return
	default:
		t.run = append(t.run, events[lastOf(t.run)+1-first:]...)
	}
	t.joinAhead()
	t.run = bounded(t.run)
}

// joinAhead appends ahead to run once run reaches it.
func (t *tail) joinAhead() {
	if len(t.ahead) == 0 || len(t.run) == 0 {
		return
	}
	last, first := lastOf(t.run), t.ahead[0].Position
	switch {
	case lastOf(t.ahead) <= last:
		t.ahead = nil
	case first <= last+1:
		t.run = append(t.run, t.ahead[last+1-first:]...)
		t.ahead = nil
	}
}

// read returns up to limit events after position after, if a run has the
// next one; ok is false when the table must be asked.
func (t *tail) read(after eventstore.Position, limit int) (out []eventstore.RecordedEvent, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if out, ok = readRun(t.run, after, limit); ok {
		return out, true
	}
	return readRun(t.ahead, after, limit)
}

// reaches reports whether a reader after position after is at the events
// held or past them (a reader at the head), rather than catching up.
func (t *tail) reaches(after eventstore.Position) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.run) == 0 || after+1 >= t.run[0].Position
}

// gapEnd returns the position a table read after position after can stop
// before, because the tail holds it and what follows (0: no bound).
func (t *tail) gapEnd(after eventstore.Position) eventstore.Position {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.ahead) > 0 && t.ahead[0].Position > after+1 {
		return t.ahead[0].Position
	}
	return 0
}

func readRun(run []eventstore.RecordedEvent, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, bool) {
	n := len(run)
	if n == 0 {
		return nil, false
	}
	first, last := run[0].Position, run[n-1].Position
	if after+1 < first || after >= last {
		return nil, false
	}
	i := int(after + 1 - first)
	k := min(limit, n-i)
	out := make([]eventstore.RecordedEvent, k)
	copy(out, run[i:i+k])
	return out, true
}

// bounded keeps the newest tailEventsMax events of a run that grew past
// twice that, in a fresh array so that the old one is freed.
func bounded(run []eventstore.RecordedEvent) []eventstore.RecordedEvent {
	if len(run) <= 2*tailEventsMax {
		return run
	}
	keep := make([]eventstore.RecordedEvent, tailEventsMax, 2*tailEventsMax)
	copy(keep, run[len(run)-tailEventsMax:])
	return keep
}

func lastOf(run []eventstore.RecordedEvent) eventstore.Position { return run[len(run)-1].Position }

func gapFree(events []eventstore.RecordedEvent) bool {
	for i := 1; i < len(events); i++ {
		if events[i].Position != events[i-1].Position+1 {
			return false
		}
	}
	return true
}
