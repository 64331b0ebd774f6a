package pgstore

import (
	"sync"

	"github.com/smsledger/smsledger/eventstore"
)

// tailEventsMax is the number of recently committed events kept in memory
// (a power of two: a position's slot is its low bits). At 152 bytes a slot,
// ~10 MB; at 10,000 messages/s (9 events each) about 0.7 s of the log,
// several times what a reader at the head lags by.
const tailEventsMax = 1 << 16

// tail keeps the events this store committed most recently, so that readers
// following the head of the log (the ledger's follower, the projections)
// get them without a query: at 10,000 messages/s every committed event was
// otherwise read back from PostgreSQL once per reader, and scanning them
// cost as much CPU as writing them.
//
// It is a ring of tailEventsMax slots, one per position modulo its size.
// This store's committed batches go in (add), and so do the rows a reader
// read from the table (fill): another node's events (serve --cluster),
// which leave a gap between this node's batches until a reader at the head
// reads them. That reader's query asks for the gaps only (gaps), so a node
// reads another node's events from PostgreSQL once, whatever its number of
// readers, and its own events never (docs/PERFORMANCE.md, "Several nodes").
//
// A slot is used only when it holds the very position asked for; a slot
// that still holds an older one, or none, is a miss. Each event is copied
// in once and out once per read: no run is grown, joined or cut (the runs
// this replaced copied every event once or twice more: 0.63 s of two
// nodes' 110 s profiles).
//
// Whatever it answers is exactly what the table holds at those positions:
// it holds only committed batches and rows read from the table, and a log
// position's event never changes.
type tail struct {
	mu     sync.RWMutex
	slots  []eventstore.RecordedEvent // tailEventsMax once the first event is kept
	newest eventstore.Position        // the highest position kept (0: none)
}

const tailMask = tailEventsMax - 1

// add keeps one committed batch's events, in position order.
func (t *tail) add(batch []eventstore.RecordedEvent) {
	if len(batch) == 0 {
		return
	}
	if !gapFree(batch) {
		panic("pgstore: committed batch with a gap in its positions")
	}
	t.keep(batch)
}

// fill keeps events a reader read from the table.
func (t *tail) fill(events []eventstore.RecordedEvent) { t.keep(events) }

// keep puts events in their slots, but not one that is out of the window
// already (a batch or rows older than tailEventsMax events before the
// newest): it would overwrite a newer event's slot.
func (t *tail) keep(events []eventstore.RecordedEvent) {
	if len(events) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.slots == nil {
		t.slots = make([]eventstore.RecordedEvent, tailEventsMax)
	}
	for i := range events {
		p := events[i].Position
		if p == 0 {
			panic("pgstore: event without a log position")
		}
		if p+tailEventsMax <= t.newest {
			continue
		}
		t.slots[p&tailMask] = events[i]
		t.newest = max(t.newest, p)
	}
}

// has reports whether the slot of position p holds it; under mu.
func (t *tail) has(p eventstore.Position) bool {
	return t.slots != nil && t.slots[p&tailMask].Position == p
}

// read returns up to limit events after position after, as far as the
// slots hold them without a gap; ok is false when the next one is not held
// and the table must be asked.
func (t *tail) read(after eventstore.Position, limit int) (out []eventstore.RecordedEvent, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	n := 0
	for n < limit && t.has(after+1+eventstore.Position(n)) {
		n++
	}
	if n == 0 {
		return nil, false
	}
	out = make([]eventstore.RecordedEvent, n)
	for i := range out {
		out[i] = t.slots[(after+1+eventstore.Position(i))&tailMask]
	}
	return out, true
}

// reaches reports whether a reader after position after is within the
// events held or past them (a reader at the head), rather than catching up
// from further back.
func (t *tail) reaches(after eventstore.Position) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.newest == 0 || after+tailEventsMax >= t.newest
}

// gaps returns what a reader after position after must read from the
// table to have its next limit events: the positions up to the newest held
// that the tail does not hold (another node's events), in order, and the
// position past which it holds nothing. One query reads them all
// (readTableGaps), so a reader at the head catches up over any number of
// gaps at once, never re-reading this node's own events between them.
func (t *tail) gaps(after eventstore.Position, limit int) (missing []int64, past eventstore.Position) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	past = max(after, t.newest)
	end := min(after+eventstore.Position(limit), t.newest)
	for p := after + 1; p <= end; p++ {
		if !t.has(p) {
			missing = append(missing, int64(p))
		}
	}
	return missing, past
}

func gapFree(events []eventstore.RecordedEvent) bool {
	for i := 1; i < len(events); i++ {
		if events[i].Position != events[i-1].Position+1 {
			return false
		}
	}
	return true
}
