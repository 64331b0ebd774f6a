// Package eventstore defines the event store contract that every smsledger
// backend implements: append to a stream with an expected version, idempotent
// by event id; read one stream forwards; read the global log forwards from a
// position; and subscribe to the global log (catch-up, then live).
//
// The log is the source of truth of the product. Everything else (balances,
// route health, CDRs, the hot path's snapshots) is derived from it, so the
// contract is strict: an Append that returns without error is durable, the
// global order never has a gap that is later filled, and a subscriber sees
// every event exactly once, in global order, across the catch-up to live
// hand-over.
//
// Backends live in sub-packages (pgstore for PostgreSQL); the shared contract
// test suite is eventstoretest.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Position is a place in the global log. Positions grow strictly with the
// global order; Start (zero) is before the first event. Reads and
// subscriptions take the position of the last event already seen and return
// the events after it.
type Position uint64

// Start is the position before the first event of the log.
const Start Position = 0

// Limits every backend enforces, so that no caller can make a batch, a queue
// or a read unbounded.
const (
	// AppendEventsMax is the most events one Append may carry.
	AppendEventsMax = 1000
	// EventBytesMax is the largest data plus metadata of one event.
	EventBytesMax = 1 << 20
	// ReadLimitMax is the most events one read returns.
	ReadLimitMax = 10_000
)

// Metadata travels with every event. CorrelationID ties together all events
// caused by one outside request (a submit_sm, an HTTP call); CausationID names
// the event or command that directly caused this one.
type Metadata struct {
	CorrelationID uuid.UUID         `json:"correlation_id"`
	CausationID   uuid.UUID         `json:"causation_id"`
	Extra         map[string]string `json:"extra,omitempty"`
}

// EventData is an event to append. ID makes the append idempotent: appending
// events whose ids are already in the stream is a no-op that returns the
// original result. Data must be a JSON document.
type EventData struct {
	ID       uuid.UUID
	Type     string
	Data     []byte
	Metadata Metadata
}

// RecordedEvent is an event as stored in the log.
type RecordedEvent struct {
	ID         uuid.UUID
	Type       string
	Data       []byte
	Metadata   Metadata
	Stream     string
	Version    uint64 // 0-based number of the event in its stream
	Position   Position
	RecordedAt time.Time
}

// AppendResult tells where an append landed: the version of the stream's last
// event after the append and the global position of the last event appended.
type AppendResult struct {
	NextExpectedVersion uint64
	Position            Position
}

// Store is the event store contract.
type Store interface {
	// Append appends events to stream if its current version matches
	// expected. It returns only when the events are durable, or with an
	// error, in which case the caller must assume nothing about durability
	// unless the error is a *WrongExpectedVersionError (never written).
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)
	// ReadStream returns up to limit events of stream with version >= from,
	// in version order. A stream with no events is ErrStreamNotFound.
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]RecordedEvent, error)
	// ReadAll returns up to limit events with position > after, in global
	// order.
	ReadAll(ctx context.Context, after Position, limit int) ([]RecordedEvent, error)
	// SubscribeAll follows the global log from after: first the events
	// already stored, then live ones, each exactly once and in order. ctx
	// bounds only the subscribing; the subscription lives until Close (or
	// until the context passed to Next ends that call).
	SubscribeAll(ctx context.Context, after Position) (Subscription, error)
	// Head is the position of the last event in the log (Start if empty).
	Head(ctx context.Context) (Position, error)
}

// Subscription delivers the global log in order. It is used by one goroutine.
type Subscription interface {
	// Next blocks until at least one event after the last one delivered is
	// available, then returns a batch of them in global order. It returns
	// ctx's error when ctx is done.
	Next(ctx context.Context) ([]RecordedEvent, error)
	// Close releases the subscription's resources.
	Close() error
}

// expectedKind is what an ExpectedVersion demands of the stream.
type expectedKind uint8

const (
	expectAny expectedKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// ExpectedVersion is the optimistic concurrency condition of an append.
type ExpectedVersion struct {
	kind    expectedKind
	version uint64
}

var (
	// Any appends whatever the stream's version.
	Any = ExpectedVersion{kind: expectAny}
	// NoStream appends only if the stream has no events.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists appends only if the stream has at least one event.
	StreamExists = ExpectedVersion{kind: expectStreamExists}
)

// Exact appends only if the stream's last event has version v.
func Exact(v uint64) ExpectedVersion { return ExpectedVersion{kind: expectExact, version: v} }

// Matches reports whether a stream whose current version is current (-1 when
// the stream has no events) satisfies e.
func (e ExpectedVersion) Matches(current int64) bool {
	switch e.kind {
	case expectAny:
		return true
	case expectNoStream:
		return current == -1
	case expectStreamExists:
		return current >= 0
	case expectExact:
		return current == int64(e.version)
	}
	panic(fmt.Sprintf("eventstore: unknown expected version kind %d", e.kind))
}

// IsAny, IsNoStream, IsStreamExists and Version let backends map the
// condition onto their own protocol.
func (e ExpectedVersion) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedVersion) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedVersion) IsStreamExists() bool { return e.kind == expectStreamExists }

// Version returns the exact version demanded and true, or false when e is not
// an exact version.
func (e ExpectedVersion) Version() (uint64, bool) { return e.version, e.kind == expectExact }

func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectAny:
		return "any"
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	default:
		return fmt.Sprintf("%d", e.version)
	}
}

var (
	// ErrWrongExpectedVersion matches every *WrongExpectedVersionError.
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	// ErrStreamNotFound is returned when reading a stream with no events.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrDuplicateEventID is returned when some, but not all, of an append's
	// event ids are already stored (or stored in another stream), so the
	// append is neither new nor a replay of an earlier one.
	ErrDuplicateEventID = errors.New("eventstore: event id already used by a different append")
	// ErrInvalidAppend is returned for an append the store refuses to take
	// (empty stream name, too many or too large events, data not JSON...).
	ErrInvalidAppend = errors.New("eventstore: invalid append")
	// ErrClosed is returned by a store that has been closed.
	ErrClosed = errors.New("eventstore: store closed")
	// ErrRewound is returned for good once the log was found behind
	// positions the store already saw committed (e.g. a database failover
	// to a replica that lagged): events would be lost or reused silently,
	// so the process must stop and an operator decide.
	ErrRewound = errors.New("eventstore: the log went back behind positions already seen")
)

// WrongExpectedVersionError says that a stream's version did not match the
// append's condition; nothing was written.
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedVersion
	// Actual is the stream's current version, -1 when it has no events.
	Actual int64
}

func (e *WrongExpectedVersionError) Error() string {
	actual := "no stream"
	if e.Actual >= 0 {
		actual = fmt.Sprintf("%d", e.Actual)
	}
	return fmt.Sprintf("eventstore: wrong expected version for stream %q: expected %s, actual %s", e.Stream, e.Expected, actual)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) true.
func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

type urgentKey struct{}

// WithUrgency marks the appends made with ctx as urgent: someone is waiting
// for them in real time (a customer's submit_sm_resp, an HTTP 202). A
// backend that queues appends may put them ahead of the others; it is a
// hint about order, never about durability.
func WithUrgency(ctx context.Context) context.Context {
	return context.WithValue(ctx, urgentKey{}, true)
}

// Urgent reports whether ctx carries WithUrgency.
func Urgent(ctx context.Context) bool {
	v, _ := ctx.Value(urgentKey{}).(bool)
	return v
}

// ValidateAppend checks the limits every backend enforces on one append.
func ValidateAppend(stream string, events []EventData) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream name", ErrInvalidAppend)
	}
	if len(stream) > 256 {
		return fmt.Errorf("%w: stream name longer than 256 bytes", ErrInvalidAppend)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: no events", ErrInvalidAppend)
	}
	if len(events) > AppendEventsMax {
		return fmt.Errorf("%w: %d events in one append, at most %d", ErrInvalidAppend, len(events), AppendEventsMax)
	}
	var seen map[uuid.UUID]struct{}
	if len(events) > 1 {
		seen = make(map[uuid.UUID]struct{}, len(events))
	}
	for i := range events {
		ev := &events[i]
		if ev.ID == uuid.Nil {
			return fmt.Errorf("%w: event %d has no id", ErrInvalidAppend, i)
		}
		if seen != nil {
			if _, dup := seen[ev.ID]; dup {
				return fmt.Errorf("%w: event id %s appears twice", ErrInvalidAppend, ev.ID)
			}
			seen[ev.ID] = struct{}{}
		}
		if ev.Type == "" {
			return fmt.Errorf("%w: event %d has no type", ErrInvalidAppend, i)
		}
		if len(ev.Data) == 0 {
			return fmt.Errorf("%w: event %d has no data", ErrInvalidAppend, i)
		}
		if len(ev.Data) > EventBytesMax {
			return fmt.Errorf("%w: event %d data is %d bytes, at most %d", ErrInvalidAppend, i, len(ev.Data), EventBytesMax)
		}
	}
	return nil
}
