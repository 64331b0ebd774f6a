package kurrentstore

import (
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/smsledger/smsledger/eventstore"
)

// recentIDs remembers the streams of the last max event ids this store
// appended, to refuse an id reused in another stream. KurrentDB checks ids
// only within a stream, so this is the store's own, best-effort check: it
// sees this process's appends of the recent past, not other nodes' or older
// ones.
type recentIDs struct {
	mu sync.Mutex // reserve's check and its additions are one step
	// byID maps an id to its stream. Lookups peek, so the oldest id added
	// is the one evicted.
	byID *simplelru.LRU[uuid.UUID, string]
}

// newRecentIDs returns nil (no check) when max is not positive.
func newRecentIDs(max int) *recentIDs {
	if max <= 0 {
		return nil
	}
	byID, err := simplelru.NewLRU[uuid.UUID, string](max, nil)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &recentIDs{byID: byID}
}

// reserve records events' ids for stream, or fails with
// eventstore.ErrDuplicateEventID if one was recently appended to another
// stream. It returns the ids it added, for release.
func (r *recentIDs) reserve(stream string, events []eventstore.EventData) ([]uuid.UUID, error) {
	if r == nil {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range events {
		if other, ok := r.byID.Peek(events[i].ID); ok && other != stream {
			return nil, fmt.Errorf("%w: event id %s was appended to another stream", eventstore.ErrDuplicateEventID, events[i].ID)
		}
	}
	var added []uuid.UUID
	for i := range events {
		id := events[i].ID
		if r.byID.Contains(id) {
			continue
		}
		r.byID.Add(id, stream)
		added = append(added, id)
	}
	return added, nil
}

// release forgets ids whose append was refused, so that nothing was written.
func (r *recentIDs) release(ids []uuid.UUID) {
	if r == nil || len(ids) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.byID.Remove(id)
	}
}
