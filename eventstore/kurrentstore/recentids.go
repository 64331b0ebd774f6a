package kurrentstore

import (
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
)

// recentIDs remembers the streams of the last max event ids this store
// appended, to refuse an id reused in another stream. KurrentDB checks ids
// only within a stream, so this is the store's own, best-effort check: it
// sees this process's appends of the recent past, not other nodes' or older
// ones.
type recentIDs struct {
	mu   sync.Mutex
	byID map[uuid.UUID]string
	ring []uuid.UUID // insertion order, for eviction
	next int
}

// newRecentIDs returns nil (no check) when max is negative.
func newRecentIDs(max int) *recentIDs {
	if max < 0 {
		return nil
	}
	return &recentIDs{byID: make(map[uuid.UUID]string, max), ring: make([]uuid.UUID, max)}
}

// reserve records events' ids for stream, or fails with
// eventstore.ErrDuplicateEventID if one was recently appended to another
// stream. It returns the ids it added, for release.
func (r *recentIDs) reserve(stream string, events []eventstore.EventData) ([]uuid.UUID, error) {
	if r == nil || len(r.ring) == 0 {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range events {
		if other, ok := r.byID[events[i].ID]; ok && other != stream {
			return nil, fmt.Errorf("%w: event id %s was appended to another stream", eventstore.ErrDuplicateEventID, events[i].ID)
		}
	}
	var added []uuid.UUID
	for i := range events {
		id := events[i].ID
		if _, ok := r.byID[id]; ok {
			continue
		}
		if old := r.ring[r.next]; old != uuid.Nil {
			delete(r.byID, old)
		}
		r.ring[r.next] = id
		r.next = (r.next + 1) % len(r.ring)
		r.byID[id] = stream
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
		delete(r.byID, id)
	}
}
