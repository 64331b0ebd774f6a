package projections

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
)

// Event is one decoded event of the global log.
type Event struct {
	Position   eventstore.Position
	Stream     string
	Type       string
	RecordedAt time.Time
	Data       events.Event
}

// decodeMinParallel is the batch size from which decoding is spread over
// several goroutines.
const decodeMinParallel = 512

// decode decodes a batch of recorded events with the catalogue's codec (the
// one decode path of every reader), in parallel for large batches.
// An event that does not decode is an error: projections never skip one.
func decode(recs []eventstore.RecordedEvent) ([]Event, error) {
	out := make([]Event, len(recs))
	workers := min(runtime.GOMAXPROCS(0), 4)
	if len(recs) < decodeMinParallel || workers < 2 {
		return out, decodeRange(recs, out)
	}
	chunk := (len(recs) + workers - 1) / workers
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(recs))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			errs[w] = decodeRange(recs[lo:hi], out[lo:hi])
		}(w, lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func decodeRange(recs []eventstore.RecordedEvent, out []Event) error {
	for i := range recs {
		r := &recs[i]
		e, err := events.Decode(r.Type, r.Data)
		if err != nil {
			return fmt.Errorf("decode event at position %d (%s in %s): %w", r.Position, r.Type, r.Stream, err)
		}
		out[i] = Event{Position: r.Position, Stream: r.Stream, Type: r.Type, RecordedAt: r.RecordedAt, Data: e}
	}
	return nil
}
