package pgstore

import (
	"fmt"
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
	// Another node wrote 13..20: this node's next batches are held after
	// the gap, and a reader at 12 reads only the gap from the table.
	tl.add(run(21, 22))
	tl.add(run(23, 23))
	check(12, 10, nil, false)
	check(20, 10, []eventstore.Position{21, 22, 23}, true)
	checkGaps := func(after eventstore.Position, limit int, want []int64, wantPast eventstore.Position) {
		t.Helper()
		missing, past := tl.gaps(after, limit)
		if fmt.Sprint(missing) != fmt.Sprint(want) || past != wantPast {
			t.Fatalf("gaps(%d, %d) = %v, %d; want %v, %d", after, limit, missing, past, want, wantPast)
		}
	}
	checkGaps(12, 100, []int64{13, 14, 15, 16, 17, 18, 19, 20}, 23)
	checkGaps(12, 3, []int64{13, 14, 15}, 23)
	checkGaps(23, 100, nil, 23)
	checkGaps(30, 100, nil, 30) // past what is held: the table after 30
	// The reader's table rows fill the gap: one run again.
	tl.fill(run(13, 20))
	check(12, 20, []eventstore.Position{13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}, true)
	// Older rows (a reader catching up) are kept as well: the log's
	// events never change.
	tl.fill(run(1, 4))
	check(0, 3, []eventstore.Position{1, 2, 3}, true)
	// Rows past what is held (a reader ahead of it) are kept, a gap
	// before them.
	tl.fill(run(30, 31))
	check(29, 5, []eventstore.Position{30, 31}, true)
	check(23, 5, nil, false)
	checkGaps(23, 100, []int64{24, 25, 26, 27, 28, 29}, 31)
	// Bounded: it keeps the newest tailEventsMax events only.
	last := eventstore.Position(31 + 3*tailEventsMax)
	tl.add(run(32, last))
	if len(tl.slots) != tailEventsMax {
		t.Fatalf("tail has %d slots, bound %d", len(tl.slots), tailEventsMax)
	}
	check(last-1, 5, []eventstore.Position{last}, true)
	check(last-tailEventsMax, 2, []eventstore.Position{last - tailEventsMax + 1, last - tailEventsMax + 2}, true)
	check(last-tailEventsMax-1, 2, nil, false) // overwritten
	check(29, 5, nil, false)
	if tl.reaches(last - tailEventsMax - 1) {
		t.Fatalf("a reader before the window counts as at the head")
	}
	if !tl.reaches(last - tailEventsMax) {
		t.Fatalf("a reader in the window counts as catching up")
	}
	// A batch older than the window (writers finishing out of order) is
	// not kept: it would overwrite newer events.
	tl.add(run(40, 41))
	check(39, 5, nil, false)
	check(last-tailEventsMax+40-1, 1, []eventstore.Position{last - tailEventsMax + 40}, true)
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
			missing, past := tl.gaps(after, 8)
			for i, p := range missing {
				if p <= int64(after) || p > int64(after)+8 || (i > 0 && p <= missing[i-1]) {
					t.Fatalf("round %d: gaps(%d) = %v", round, after, missing)
				}
				if _, held := tl.read(eventstore.Position(p-1), 1); held && tl.has(eventstore.Position(p)) {
					t.Fatalf("round %d: gaps(%d) lists %d, which is held", round, after, p)
				}
			}
			if past < after {
				t.Fatalf("round %d: gaps(%d) past %d", round, after, past)
			}
		}
	}
}
