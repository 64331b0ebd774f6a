package projections

import (
	"context"
	"testing"

	"github.com/smsledger/smsledger/eventstore"
)

// pagedLog serves ReadAll from positions in memory.
type pagedLog struct {
	eventstore.Store
	positions []eventstore.Position
}

func (l *pagedLog) ReadAll(_ context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	for _, p := range l.positions {
		if p > after && len(out) < limit {
			out = append(out, eventstore.RecordedEvent{Position: p})
		}
	}
	return out, nil
}

// TestReadPages checks that the read-ahead of a replay yields every event up
// to the target exactly once and in order, on dense and sparse positions.
func TestReadPages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		step   eventstore.Position
		n      int
		target eventstore.Position
		limit  int
	}{
		{"dense", 1, 1000, 1000, 70},
		{"dense, target inside", 1, 1000, 733, 70},
		{"dense, target on a page edge", 1, 1000, 700, 70},
		{"sparse", 3, 1000, 2999, 70},
		{"sparse, target inside", 3, 1000, 1000, 64},
		{"one page", 1, 10, 10, 70},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := &pagedLog{}
			for i := 1; i <= tc.n; i++ {
				log.positions = append(log.positions, eventstore.Position(i)*tc.step)
			}
			out := make(chan []eventstore.RecordedEvent, 1000)
			if err := readPages(context.Background(), log, tc.target, tc.limit, out); err != nil {
				t.Fatal(err)
			}
			close(out)
			var got []eventstore.Position
			for page := range out {
				if len(page) == 0 || len(page) > tc.limit {
					t.Fatalf("page of %d events", len(page))
				}
				for _, e := range page {
					got = append(got, e.Position)
				}
			}
			var want []eventstore.Position
			for _, p := range log.positions {
				if p <= tc.target {
					want = append(want, p)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d events, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("event %d at %d, want %d", i, got[i], want[i])
				}
			}
		})
	}
}
