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
// It only ever holds a gap-free run of positions: when a batch does not
// start right after the last one (another node appended in between), the
// run starts over. So whatever it answers is exactly what the table holds
// at those positions, and anything outside the run is read from the table.
type tail struct {
	mu     sync.RWMutex
	events []eventstore.RecordedEvent // positions events[0].Position, +1, +2…
}

// add appends one committed batch's events, in position order.
func (t *tail) add(batch []eventstore.RecordedEvent) {
	if len(batch) == 0 {
		return
	}
	for i := 1; i < len(batch); i++ {
		if batch[i].Position != batch[i-1].Position+1 {
			panic("pgstore: committed batch with a gap in its positions")
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.events); n > 0 && batch[0].Position != t.events[n-1].Position+1 {
		t.events = t.events[:0] // another node wrote in between
	}
	t.events = append(t.events, batch...)
	if len(t.events) > 2*tailEventsMax {
		// Keep the newest half, in a fresh array so the old one is freed.
		keep := make([]eventstore.RecordedEvent, tailEventsMax, 2*tailEventsMax)
		copy(keep, t.events[len(t.events)-tailEventsMax:])
		t.events = keep
	}
}

// read returns up to limit events after position after, if the run has the
// next one; ok is false when the table must be asked.
func (t *tail) read(after eventstore.Position, limit int) (out []eventstore.RecordedEvent, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := len(t.events)
	if n == 0 {
		return nil, false
	}
	first, last := t.events[0].Position, t.events[n-1].Position
	if after+1 < first || after >= last {
		return nil, false
	}
	i := int(after + 1 - first)
	k := min(limit, n-i)
	out = make([]eventstore.RecordedEvent, k)
	copy(out, t.events[i:i+k])
	return out, true
}
