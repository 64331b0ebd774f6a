// Package memstore is an in-memory event store: the whole log lives in one
// process and is lost when it ends.
//
// It exists for tests. The core's tests (domain/ledger and the code built on
// it) run on it, so that they need no PostgreSQL and finish in milliseconds;
// any other test that needs a Store but not PostgreSQL's own behaviour can
// use it too. It passes the same contract suite as the durable backends
// (eventstoretest), with dense positions and event ids unique across the
// whole log, as the PostgreSQL backend has them; an append that returns is
// "durable" only for as long as the Store value lives.
//
// One mutex orders every append, so positions are 1, 2, 3… in commit order
// and a reader never sees a gap. Live subscriptions wait on a channel that
// each append closes (a broadcast), so they wake as soon as an event is
// stored, never on a poll. There is no queue, so eventstore.WithUrgency has
// nothing to reorder and is ignored.
//
// Bounds: every append is checked by eventstore.ValidateAppend, reads return
// at most eventstore.ReadLimitMax events, a subscription batch holds at most
// SubscriptionBatchMax events, and the log as a whole holds at most
// Options.BytesMax bytes (past it, appends fail with ErrFull), so a runaway
// test fails instead of eating the machine's memory.
//
// Recorded events share their Data and Metadata.Extra with the store: a
// reader must not modify them (under the race detector, doing so from
// another goroutine is reported).
package memstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/internal/fastjson"
)

// SubscriptionBatchMax is the most events one Subscription.Next returns.
const SubscriptionBatchMax = 1000

// DefaultBytesMax is the default of Options.BytesMax: 1 GiB.
const DefaultBytesMax = 1 << 30

// eventOverhead is what one stored event costs beyond its data, type,
// stream name and metadata extras: the RecordedEvent, its log slot, its
// stream index entry and its id index entry, roughly.
const eventOverhead = 256

// ErrFull is returned by an append that would take the store past
// Options.BytesMax. Nothing of that append is stored.
var ErrFull = errors.New("memstore: store full")

// Options tune the store. Zero values take the defaults.
type Options struct {
	// Clock stamps RecordedAt. Default time.Now.
	Clock func() time.Time
	// BytesMax bounds the memory the log may take, counted as the events'
	// data, types, stream names and metadata extras plus a fixed overhead per
	// event. Default DefaultBytesMax.
	BytesMax int64
}

// Store is the in-memory event store. It is safe for concurrent use. The
// zero value is not usable; call New.
type Store struct {
	clock    func() time.Time
	bytesMax int64

	mu      sync.RWMutex
	log     []eventstore.RecordedEvent // the event at position p is log[p-1]
	streams map[string][]eventstore.Position
	ids     map[uuid.UUID]eventstore.Position
	bytes   int64
	// wake is closed, and replaced, by every append that stores events:
	// subscribers waiting for the log to grow select on the one they saw.
	wake   chan struct{}
	closed chan struct{}
}

var _ eventstore.Store = (*Store)(nil)

// New returns an empty store.
func New(opts Options) *Store {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.BytesMax <= 0 {
		opts.BytesMax = DefaultBytesMax
	}
	return &Store{
		clock:    opts.Clock,
		bytesMax: opts.BytesMax,
		streams:  make(map[string][]eventstore.Position),
		ids:      make(map[uuid.UUID]eventstore.Position),
		wake:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Close makes every later call fail with eventstore.ErrClosed and ends the
// subscriptions' waits. The log stays in memory until the Store is
// garbage. Close is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	return nil
}

// isClosed reports whether Close was called. The caller holds s.mu.
func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Append implements eventstore.Store. It stores the events before it
// returns; the context is looked at only before anything is decided.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	size := int64(len(stream))
	for i := range events {
		ev := &events[i]
		if !fastjson.Valid(ev.Data) {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %d data is not JSON", eventstore.ErrInvalidAppend, i)
		}
		size += eventOverhead + int64(len(ev.Type)) + int64(len(ev.Data))
		for k, v := range ev.Metadata.Extra {
			size += int64(len(k) + len(v))
		}
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("memstore: append to %q: %w", stream, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isClosed() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if res, replay, err := s.replayLocked(stream, events); replay || err != nil {
		return res, err
	}
	have := s.streams[stream]
	current := int64(len(have)) - 1
	if !expected.Matches(current) {
		return eventstore.AppendResult{}, &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: current}
	}
	if s.bytes+size > s.bytesMax {
		return eventstore.AppendResult{}, fmt.Errorf("memstore: append of %d events to %q: %w (%d of %d bytes used)",
			len(events), stream, ErrFull, s.bytes, s.bytesMax)
	}

	recordedAt := s.clock().UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it; drops the monotonic reading
	for i := range events {
		ev := &events[i]
		pos := eventstore.Position(len(s.log) + 1)
		meta := ev.Metadata
		if len(meta.Extra) == 0 {
			meta.Extra = nil // as the durable backends read it back
		} else {
			meta.Extra = maps.Clone(meta.Extra)
		}
		s.log = append(s.log, eventstore.RecordedEvent{
			ID:         ev.ID,
			Type:       ev.Type,
			Data:       append([]byte(nil), ev.Data...), // the caller may reuse its buffer
			Metadata:   meta,
			Stream:     stream,
			Version:    uint64(len(have)),
			Position:   pos,
			RecordedAt: recordedAt,
		})
		have = append(have, pos)
		s.ids[ev.ID] = pos
	}
	s.streams[stream] = have
	s.bytes += size
	close(s.wake)
	s.wake = make(chan struct{})
	return eventstore.AppendResult{
		NextExpectedVersion: uint64(len(have) - 1),
		Position:            eventstore.Position(len(s.log)),
	}, nil
}

// replayLocked decides whether events were stored before: all of them, in
// stream, is a replay whose result is the original append's (replay true);
// some of them, or any in another stream, is ErrDuplicateEventID; none is
// a new append (replay false, no error). The caller holds s.mu.
func (s *Store) replayLocked(stream string, events []eventstore.EventData) (res eventstore.AppendResult, replay bool, err error) {
	known := 0
	for i := range events {
		pos, ok := s.ids[events[i].ID]
		if !ok {
			continue
		}
		known++
		ev := &s.log[pos-1]
		if ev.Stream != stream {
			return eventstore.AppendResult{}, false, fmt.Errorf("append to %q: event %s is stored in %q: %w",
				stream, ev.ID, ev.Stream, eventstore.ErrDuplicateEventID)
		}
		if pos > res.Position {
			res = eventstore.AppendResult{NextExpectedVersion: ev.Version, Position: pos}
		}
	}
	switch known {
	case 0:
		return eventstore.AppendResult{}, false, nil
	case len(events):
		return res, true, nil
	default:
		return eventstore.AppendResult{}, false, fmt.Errorf("append to %q: %d of %d event ids already stored: %w",
			stream, known, len(events), eventstore.ErrDuplicateEventID)
	}
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: read stream %q: %w", stream, err)
	}
	limit = clampLimit(limit)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	have, ok := s.streams[stream]
	if !ok {
		return nil, fmt.Errorf("read stream %q: %w", stream, eventstore.ErrStreamNotFound)
	}
	if from >= uint64(len(have)) {
		return []eventstore.RecordedEvent{}, nil
	}
	have = have[from:]
	if len(have) > limit {
		have = have[:limit]
	}
	out := make([]eventstore.RecordedEvent, len(have))
	for i, pos := range have {
		out[i] = s.log[pos-1]
	}
	return out, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: read all after %d: %w", after, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	return s.readLocked(after, clampLimit(limit)), nil
}

// readLocked copies up to limit events after position after. The caller
// holds s.mu (read or write).
func (s *Store) readLocked(after eventstore.Position, limit int) []eventstore.RecordedEvent {
	if after >= eventstore.Position(len(s.log)) {
		return []eventstore.RecordedEvent{}
	}
	page := s.log[after:]
	if len(page) > limit {
		page = page[:limit]
	}
	// A copy: the caller may change its slice's elements; the store's
	// events stay as they were appended.
	return append([]eventstore.RecordedEvent(nil), page...)
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memstore: read head: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.isClosed() {
		return 0, eventstore.ErrClosed
	}
	return eventstore.Position(len(s.log)), nil
}

func clampLimit(limit int) int {
	if limit <= 0 || limit > eventstore.ReadLimitMax {
		return eventstore.ReadLimitMax
	}
	return limit
}

// SubscribeAll implements eventstore.Store. The subscription reads the
// log from after; the catch-up and the live part are the same read, so the
// hand-over can neither lose nor repeat an event.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: subscribe after %d: %w", after, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.isClosed() {
		return nil, eventstore.ErrClosed
	}
	return &subscription{s: s, after: after, closed: make(chan struct{})}, nil
}

// subscription follows the log from the position of the last event it
// delivered.
type subscription struct {
	s         *Store
	after     eventstore.Position
	closeOnce sync.Once
	closed    chan struct{}
}

// Next implements eventstore.Subscription.
func (sub *subscription) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	for {
		select {
		case <-sub.closed:
			return nil, fmt.Errorf("memstore: subscription closed: %w", eventstore.ErrClosed)
		default:
		}
		sub.s.mu.RLock()
		if sub.s.isClosed() {
			sub.s.mu.RUnlock()
			return nil, eventstore.ErrClosed
		}
		batch := sub.s.readLocked(sub.after, SubscriptionBatchMax)
		wake := sub.s.wake
		sub.s.mu.RUnlock()
		if len(batch) > 0 {
			sub.after = batch[len(batch)-1].Position
			return batch, nil
		}
		// wake was taken with the read, under the lock: an append after the
		// read closes it, so none can slip between the read and the wait.
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-sub.s.closed:
		case <-sub.closed:
		}
	}
}

// Close implements eventstore.Subscription. Next fails with
// eventstore.ErrClosed afterwards.
func (sub *subscription) Close() error {
	sub.closeOnce.Do(func() { close(sub.closed) })
	return nil
}
