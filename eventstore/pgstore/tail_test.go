package pgstore

import (
	"math/rand/v2"
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
	// Another node wrote 13..20: this node's next batches wait ahead of
	// the gap, and a reader at 12 reads only the gap from the table.
	tl.add(run(21, 22))
	tl.add(run(23, 23))
	check(12, 10, nil, false)
	check(20, 10, []eventstore.Position{21, 22, 23}, true)
	if end := tl.gapEnd(12); end != 21 {
		t.Fatalf("gapEnd(12) = %d, want 21", end)
	}
	if end := tl.gapEnd(22); end != 0 {
		t.Fatalf("gapEnd(22) = %d, want 0 (held)", end)
	}
	// The reader's table rows fill the gap: run and ahead join.
	tl.fill(run(13, 20))
	check(12, 20, []eventstore.Position{13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, true)
	if len(tl.ahead) != 0 || tl.gapEnd(12) != 0 {
		t.Fatalf("ahead %d events, gapEnd %d after the gap was filled", len(tl.ahead), tl.gapEnd(12))
	}
	// Older rows (a reader catching up) change nothing; rows with a gap
	// in them are not kept.
	tl.fill(run(1, 4))
	check(0, 3, nil, false)
	tl.fill(append(run(24, 25), run(27, 27)...))
	check(23, 5, nil, false)
	// Rows past the run (a reader ahead of it) restart it.
	tl.fill(run(30, 31))
	check(29, 5, []eventstore.Position{30, 31}, true)
	check(12, 5, nil, false)
	// Bounded: it keeps the newest events only.
	tl.add(run(32, 31+3*tailEventsMax))
	if n := len(tl.run); n > 2*tailEventsMax {
		t.Fatalf("tail holds %d events, bound %d", n, 2*tailEventsMax)
	}
	check(31+3*tailEventsMax-1, 5, []eventstore.Position{31 + 3*tailEventsMax}, true)
	check(29, 5, nil, false)
	// A batch older than the run (writers finishing out of order) is not
	// kept.
	tl.add(run(40, 41))
	check(39, 5, nil, false)
}

// TestTailRandomMatchesLog: whatever the tail answers, after any order of
// this node's batches and readers' table rows, is the log's run at those
// positions and nothing else.
func TestTailRandomMatchesLog(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var tl tail
		head := eventstore.Position(0)
		for range 300 {
			n := eventstore.Position(1 + rng.IntN(6))
			switch rng.IntN(4) {
			case 0, 1: // this node commits
				tl.add(run(head+1, head+n))
			case 2: // another node commits
			case 3: // a reader reads rows from the table
				from := eventstore.Position(rng.Int64N(int64(head) + 1))
				to := min(head, from+n)
				if from+1 <= to {
					tl.fill(run(from+1, to))
				}
			}
			head += n
			after := eventstore.Position(rng.Int64N(int64(head) + 1))
			got, ok := tl.read(after, 1+rng.IntN(8))
			if !ok {
				continue
			}
			for i, ev := range got {
				if ev.Position != after+1+eventstore.Position(i) || ev.Position > head {
					t.Fatalf("round %d: read(%d)[%d] = %d (head %d)", round, after, i, ev.Position, head)
				}
			}
			if end := tl.gapEnd(after); end != 0 && end <= after+1 {
				t.Fatalf("round %d: gapEnd(%d) = %d", round, after, end)
			}
		}
	}
}
