package pgstore

import (
	"testing"

	"github.com/smsledger/smsledger/eventstore"
)

func run(from, to eventstore.Position) []eventstore.RecordedEvent {
	var out []eventstore.RecordedEvent
	for p := from; p <= to; p++ {
		out = append(out, eventstore.RecordedEvent{Position: p})
	}
	return out
}

func TestTail(t *testing.T) {
	var tl tail
	if _, ok := tl.read(0, 10); ok {
		t.Fatal("empty tail answered")
	}
	tl.add(run(5, 9))
	tl.add(run(10, 12))
	check := func(after eventstore.Position, limit int, want []eventstore.Position, wantOK bool) {
		t.Helper()
		got, ok := tl.read(after, limit)
		if ok != wantOK || len(got) != len(want) {
			t.Fatalf("read(%d, %d) = %d events, %v; want %v, %v", after, limit, len(got), ok, want, wantOK)
		}
		for i := range got {
			if got[i].Position != want[i] {
				t.Fatalf("read(%d, %d)[%d] = %d, want %d", after, limit, i, got[i].Position, want[i])
			}
		}
	}
	check(4, 3, []eventstore.Position{5, 6, 7}, true)
	check(9, 10, []eventstore.Position{10, 11, 12}, true)
	check(3, 10, nil, false)  // position 4 is not held: ask the table
	check(12, 10, nil, false) // nothing newer held
	// Another node wrote 13..20: the next batch starts a new run.
	tl.add(run(21, 22))
	check(12, 10, nil, false)
	check(20, 10, []eventstore.Position{21, 22}, true)
	// Bounded: it keeps the newest events only.
	tl.add(run(23, 22+3*tailEventsMax))
	if n := len(tl.events); n > 2*tailEventsMax {
		t.Fatalf("tail holds %d events, bound %d", n, 2*tailEventsMax)
	}
	check(22+3*tailEventsMax-1, 5, []eventstore.Position{22 + 3*tailEventsMax}, true)
	check(20, 5, nil, false)
}
