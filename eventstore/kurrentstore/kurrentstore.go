// Package kurrentstore is the KurrentDB (EventStoreDB) backend of the event
// store: the scale-out path, where a KurrentDB cluster holds the log and
// Postgres keeps only the read models. It implements eventstore.Store with the
// official Go client, github.com/EventStore/EventStore-Client-Go/v4 (esdb).
//
// How the contract maps onto KurrentDB:
//
//   - A stream is a KurrentDB stream named Options.StreamPrefix + name; a
//     version is the event's revision (0-based). Names starting with $ are
//     KurrentDB's own and refused.
//   - A Position is the event's commit position in $all: a byte offset,
//     increasing with the global order but sparse. Every append through the
//     gRPC API gives each event its own commit position (equal to its prepare
//     position), so the commit position alone orders the log.
//   - Expected versions map one to one (Any, NoStream, StreamExists, exact
//     revision). A wrong expected version comes back as a
//     *eventstore.WrongExpectedVersionError with the stream's actual version.
//   - Appends are idempotent by event id with KurrentDB's own rules: a replay
//     of an earlier append returns its result; a partial replay (the server's
//     "corrupted idempotency", which it reports as a wrong expected version)
//     is eventstore.ErrDuplicateEventID. KurrentDB does not index event ids
//     across streams; the store refuses an id it has itself appended to
//     another stream recently (Options.RecentEventIDs), which catches reuse
//     inside one process but is not a global guarantee.
//   - Metadata travels as the event's user metadata (JSON); RecordedAt is
//     the event's created time on the server.
//   - $all also holds KurrentDB's system events ($-prefixed streams, and
//     link events when projections run). Subscriptions filter them out on
//     the server (a stream-name filter); ReadAll and Head skip them on the
//     client, because the v4.2.0 client cannot filter reads.
//   - SubscribeAll is a catch-up subscription to $all that goes live by
//     itself; if the server drops it, the store resubscribes from the last
//     event it delivered, with a bounded backoff, and skips anything at or
//     before that position, so the subscriber still sees each event once.
//
// Throughput: the client offers one stream per AppendToStream call (no batch
// or multi-stream append in v4.2.0), and multiplexes every call over one
// HTTP/2 connection, so throughput comes from many appends in flight at once;
// the product appends from many goroutines.
//
// The client has sharp edges this package works around: it waits for node
// discovery without looking at contexts, so every call runs in its own
// goroutine and the caller returns when its context is done; it closes
// itself for good when discovery fails (any outage longer than about a
// second), so the store replaces a closed client with a new one; and closing
// it while a call is still inside it can panic, so Close waits for calls to
// finish first.
package kurrentstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/smsledger/smsledger/eventstore"
)

// Options tune the store. Zero values take the defaults.
type Options struct {
	// StreamPrefix is prepended to every stream name, so that several
	// ledgers (or test runs) can share one cluster; $all is filtered to
	// streams with the prefix and RecordedEvent.Stream carries the name
	// without it. Default "" (every non-system stream).
	StreamPrefix string
	// MaxAppendBytes bounds the data and metadata of one append. It must not
	// exceed the server's MaxAppendSize setting (KurrentDB's default is
	// 1 MiB, which is this default). Larger appends are ErrInvalidAppend.
	MaxAppendBytes int
	// RecentEventIDs is how many recently appended event ids the store
	// remembers to refuse an id reused in another stream. Default 65536;
	// negative disables the check.
	RecentEventIDs int
	// ScanEventsMax bounds the events that ReadAll and Head look at and skip
	// (system events, other prefixes) in one call. Default 100,000.
	ScanEventsMax int
	// SubscriptionBuffer bounds the events a subscription holds ahead of
	// Next; when it is full the store stops reading from the server.
	// Default 4096.
	SubscriptionBuffer int
	// ResubscribeMin and ResubscribeMax bound the backoff between attempts to
	// resubscribe after the server dropped a subscription. Defaults 100 ms
	// and 5 s.
	ResubscribeMin, ResubscribeMax time.Duration
	// CloseWait bounds how long Close waits for calls still inside the
	// client. Default 10 s.
	CloseWait time.Duration
	// Logger receives the few lines worth a person's time; the client's own
	// log goes to it at debug level. Default slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxAppendBytes <= 0 {
		o.MaxAppendBytes = 1 << 20
	}
	if o.RecentEventIDs == 0 {
		o.RecentEventIDs = 1 << 16
	}
	if o.ScanEventsMax <= 0 {
		o.ScanEventsMax = 100_000
	}
	if o.SubscriptionBuffer <= 0 {
		o.SubscriptionBuffer = 4096
	}
	if o.ResubscribeMin <= 0 {
		o.ResubscribeMin = 100 * time.Millisecond
	}
	if o.ResubscribeMax < o.ResubscribeMin {
		o.ResubscribeMax = max(5*time.Second, o.ResubscribeMin)
	}
	if o.CloseWait <= 0 {
		o.CloseWait = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store is the KurrentDB event store. It is safe for concurrent use.
type Store struct {
	opts Options
	log  *slog.Logger
	conf esdb.Configuration // template for replacement clients
	ids  *recentIDs

	client      atomic.Pointer[clientRef]
	replaceMu   sync.Mutex // serialises replacing the client (and Close)
	lastReplace time.Time

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu        sync.Mutex // guards closed against the WaitGroups' Add
	closed    bool
	subs      sync.WaitGroup // subscription goroutines
	closeOnce sync.Once
}

// clientRef is a client and the calls inside it: a client can be closed
// only when none is.
type clientRef struct {
	c        *esdb.Client
	inflight sync.WaitGroup
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to the KurrentDB node or cluster named by connString, an
// esdb://, esdb+discover://, kurrentdb:// or kurrentdb+discover:// connection
// string (the kurrentdb schemes are rewritten for the client). It fails if the
// server cannot be reached within ctx. Close releases the connection.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	opts.setDefaults()
	conf, err := esdb.ParseConnectionString(clientConnString(connString))
	if err != nil {
		// The client's message may quote the string, credentials included.
		return nil, fmt.Errorf("kurrentstore: invalid connection string: %w", redact(err, connString))
	}
	conf.Logger = clientLogger(opts.Logger)
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Store{
		opts:   opts,
		log:    opts.Logger,
		conf:   *conf,
		ids:    newRecentIDs(opts.RecentEventIDs),
		ctx:    runCtx,
		cancel: cancel,
	}
	client, err := esdb.NewClient(conf)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("kurrentstore: new client: %w", err)
	}
	s.client.Store(&clientRef{c: client})
	// The client connects lazily; discover the node now so that an
	// unreachable server is an error of Open rather than of the first
	// append.
	v, err := call(s, ctx, func(_ context.Context, c *esdb.Client) (*esdb.ServerVersion, error) {
		return c.GetServerVersion()
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("kurrentstore: connect: %w", err)
	}
	s.log.Info("event store opened", "backend", "kurrentdb",
		"server_version", fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch),
		"stream_prefix", opts.StreamPrefix)
	return s, nil
}

// clientConnString rewrites the kurrentdb schemes, which v4.2.0 of the client
// does not know, to the esdb ones.
func clientConnString(s string) string {
	lower := strings.ToLower(s)
	for _, scheme := range []string{"kurrentdb+discover://", "kurrentdb://", "kurrent+discover://", "kurrent://"} {
		if strings.HasPrefix(lower, scheme) {
			esdbScheme := "esdb://"
			if strings.Contains(scheme, "+discover") {
				esdbScheme = "esdb+discover://"
			}
			return esdbScheme + s[len(scheme):]
		}
	}
	return s
}

// redact keeps a connection string (which may hold a password) out of an
// error message.
func redact(err error, connString string) error {
	msg := err.Error()
	if connString != "" && strings.Contains(msg, connString) {
		return errors.New(strings.ReplaceAll(msg, connString, "<connection string>"))
	}
	return err
}

func clientLogger(l *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...interface{}) {
		if !l.Enabled(context.Background(), slog.LevelDebug) {
			return
		}
		l.Debug(fmt.Sprintf(format, args...), "component", "esdb-client", "client_level", level)
	}
}

// Close stops subscriptions, waits (up to Options.CloseWait) for calls still
// inside the client, and closes the client. Calls after Close fail with
// eventstore.ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.replaceMu.Lock()
		s.cancel()
		ref := s.client.Load()
		s.replaceMu.Unlock()
		// Subscriptions end promptly once cancelled: their calls into
		// the client return with the context.
		s.subs.Wait()
		done := make(chan struct{})
		go func() {
			ref.inflight.Wait()
			close(done)
		}()
		timer := time.NewTimer(s.opts.CloseWait)
		defer timer.Stop()
		select {
		case <-done:
			// Safe now: nothing is inside the client.
			_ = ref.c.Close()
		case <-timer.C:
			// Closing the client under a call that waits inside it would
			// panic that call; leave the connection to the process exit.
			s.log.Warn("event store closed with calls still waiting inside the KurrentDB client; its connection is left open",
				"waited", s.opts.CloseWait)
		}
	})
	return nil
}

// begin registers a call in the current client; it fails once the store is
// closed.
func (s *Store) begin() (*clientRef, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	ref := s.client.Load()
	ref.inflight.Add(1)
	return ref, nil
}

// call runs fn with the current client in a goroutine of its own: the client
// waits for discovery without looking at contexts, and the caller must still
// return when ctx is done. fn's context is cancelled when ctx is done or the
// store closes.
func call[T any](s *Store, ctx context.Context, fn func(context.Context, *esdb.Client) (T, error)) (T, error) {
	var zero T
	ref, err := s.begin()
	if err != nil {
		return zero, err
	}
	opCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer ref.inflight.Done()
		defer stop()
		defer cancel()
		v, err := fn(opCtx, ref.c)
		s.noteClientError(ref, err)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-opCtx.Done():
		select {
		case r := <-done:
			return r.v, r.err
		default:
		}
		if ctx.Err() == nil {
			return zero, eventstore.ErrClosed
		}
		return zero, ctx.Err()
	}
}

// noteClientError replaces the client when it has closed itself: v4.2.0 gives
// up after MaxDiscoverAttempts failed discoveries (about a second for a node
// that refuses connections) and then fails every call.
func (s *Store) noteClientError(ref *clientRef, err error) {
	var e *esdb.Error
	if err == nil || !errors.As(err, &e) {
		return
	}
	if e.Code() != esdb.ErrorCodeConnectionClosed && !strings.Contains(err.Error(), "maximum discovery attempt count reached") {
		return
	}
	s.replaceMu.Lock()
	defer s.replaceMu.Unlock()
	if s.ctx.Err() != nil || s.client.Load() != ref || time.Since(s.lastReplace) < time.Second {
		return
	}
	conf := s.conf
	nc, nerr := esdb.NewClient(&conf)
	if nerr != nil {
		s.log.Error("cannot replace the closed KurrentDB client", "err", nerr)
		return
	}
	// The old client's connection goroutine has already exited; closing
	// it could panic a call that is still trying to reach it (such a call
	// never returns: v4.2.0 sends to the exited goroutine without a
	// timeout), so it is left alone.
	s.client.Store(&clientRef{c: nc})
	s.lastReplace = time.Now()
	s.log.Warn("KurrentDB client gave up reaching the server; replaced it with a new one", "err", err)
}

// Append implements eventstore.Store with one AppendToStream call.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	if strings.HasPrefix(stream, "$") {
		return eventstore.AppendResult{}, fmt.Errorf("%w: stream names starting with $ are KurrentDB's system streams", eventstore.ErrInvalidAppend)
	}
	data := make([]esdb.EventData, len(events))
	size := 0
	for i := range events {
		ev := &events[i]
		if strings.HasPrefix(ev.Type, "$") {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %d: types starting with $ are KurrentDB's system types", eventstore.ErrInvalidAppend, i)
		}
		if !json.Valid(ev.Data) {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %d data is not JSON", eventstore.ErrInvalidAppend, i)
		}
		meta, err := json.Marshal(ev.Metadata)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentstore: encode metadata of event %d: %w", i, err)
		}
		size += len(ev.Data) + len(meta)
		data[i] = esdb.EventData{EventID: ev.ID, EventType: ev.Type, ContentType: esdb.ContentTypeJson, Data: ev.Data, Metadata: meta}
	}
	if size > s.opts.MaxAppendBytes {
		return eventstore.AppendResult{}, fmt.Errorf("%w: %d bytes in one append, at most %d (the server's MaxAppendSize)", eventstore.ErrInvalidAppend, size, s.opts.MaxAppendBytes)
	}
	name := s.opts.StreamPrefix + stream
	reserved, err := s.ids.reserve(name, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := call(s, ctx, func(ctx context.Context, c *esdb.Client) (*esdb.WriteResult, error) {
		return c.AppendToStream(ctx, name, esdb.AppendToStreamOptions{ExpectedRevision: toExpectedRevision(expected)}, data...)
	})
	if err != nil {
		err = s.appendError(ctx, stream, expected, events, err)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.Is(err, eventstore.ErrDuplicateEventID) {
			// Nothing was written: the ids are free again.
			s.ids.release(reserved)
		}
		return eventstore.AppendResult{}, err
	}
	out := eventstore.AppendResult{NextExpectedVersion: res.NextExpectedVersion, Position: eventstore.Position(res.CommitPosition)}
	if out.Position == 0 {
		// A server may answer a replayed append without a position; the
		// contract returns the original result, so look it up.
		pos, err := s.positionOf(ctx, name, res.NextExpectedVersion)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("kurrentstore: append to %q succeeded without a position: %w", stream, err)
		}
		out.Position = pos
	}
	return out, nil
}

func toExpectedRevision(e eventstore.ExpectedVersion) esdb.ExpectedRevision {
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	}
	if v, ok := e.Version(); ok {
		return esdb.Revision(v)
	}
	return esdb.Any{}
}

// actualRE finds the actual revision in v4.2.0's wrong-expected-version
// message ("wrong expected version: expecting '1' but got '2'"); the client
// exposes it nowhere else.
var actualRE = regexp.MustCompile(`but got '([^']*)'`)

// appendError maps a failed append to the contract's errors.
func (s *Store) appendError(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData, err error) error {
	var e *esdb.Error
	if !errors.As(err, &e) {
		return fmt.Errorf("kurrentstore: append to %q: %w", stream, err)
	}
	switch e.Code() {
	case esdb.ErrorCodeWrongExpectedVersion:
		name := s.opts.StreamPrefix + stream
		actual, ok := parseActual(e)
		if !ok {
			v, verr := s.currentVersion(ctx, name)
			if verr != nil {
				return fmt.Errorf("kurrentstore: append to %q: %w (actual version unknown: %v)", stream, err, verr)
			}
			actual = v
		}
		if s.partialReplay(ctx, name, expected, actual, events) {
			return fmt.Errorf("%w: append to %q repeats some event ids of an earlier append but not all", eventstore.ErrDuplicateEventID, stream)
		}
		return &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: actual}
	case esdb.ErrorCodeStreamDeleted:
		return fmt.Errorf("kurrentstore: append to %q: stream is deleted: %w", stream, err)
	}
	return fmt.Errorf("kurrentstore: append to %q: %w", stream, err)
}

func parseActual(e *esdb.Error) (int64, bool) {
	m := actualRE.FindStringSubmatch(e.Error())
	if m == nil {
		return 0, false
	}
	if m[1] == "no_stream" {
		return -1, true
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// partialReplay tells a wrong expected version that KurrentDB reports for a
// partial replay of an earlier append ("corrupted idempotency") from a real
// conflict.
func (s *Store) partialReplay(ctx context.Context, name string, expected eventstore.ExpectedVersion, actual int64, events []eventstore.EventData) bool {
	switch {
	case expected.IsAny():
		// Any never conflicts: only a partial replay is refused.
		return true
	case expected.IsStreamExists():
		return actual >= 0
	}
	// No stream (-1) or an exact version behind the stream: the server
	// compared the events after it with ours; the first matching means
	// a partial replay.
	from := uint64(0)
	if v, ok := expected.Version(); ok {
		from = v + 1
	}
	if actual < 0 || uint64(actual) < from {
		return false
	}
	got, err := s.readStream(ctx, name, from, 1)
	if err != nil || len(got) == 0 {
		return false
	}
	return got[0].ID == events[0].ID
}

// currentVersion is the version of the last event of a stream, -1 if none.
func (s *Store) currentVersion(ctx context.Context, name string) (int64, error) {
	v, err := call(s, ctx, func(ctx context.Context, c *esdb.Client) (int64, error) {
		rs, err := c.ReadStream(ctx, name, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err != nil {
			return 0, err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		if err != nil {
			return 0, err
		}
		return int64(ev.OriginalEvent().EventNumber), nil
	})
	if isNotFound(err) {
		return -1, nil
	}
	return v, err
}

// positionOf is the commit position of one event of a stream.
func (s *Store) positionOf(ctx context.Context, name string, version uint64) (eventstore.Position, error) {
	got, err := s.readStream(ctx, name, version, 1)
	if err != nil {
		return 0, err
	}
	if len(got) == 0 {
		return 0, fmt.Errorf("kurrentstore: event %d of %q not found", version, name)
	}
	return got[0].Position, nil
}

func isNotFound(err error) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.Code() == esdb.ErrorCodeResourceNotFound
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	events, err := s.readStream(ctx, s.opts.StreamPrefix+stream, from, clampLimit(limit))
	if isNotFound(err) {
		return nil, fmt.Errorf("kurrentstore: read %q: %w", stream, eventstore.ErrStreamNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("kurrentstore: read %q: %w", stream, err)
	}
	return events, nil
}

func (s *Store) readStream(ctx context.Context, name string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	return call(s, ctx, func(ctx context.Context, c *esdb.Client) ([]eventstore.RecordedEvent, error) {
		rs, err := c.ReadStream(ctx, name, esdb.ReadStreamOptions{From: esdb.Revision(from)}, uint64(limit))
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		out := make([]eventstore.RecordedEvent, 0, min(limit, 256))
		for len(out) < limit {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			out = append(out, s.recorded(ev.OriginalEvent()))
		}
		return out, nil
	})
}

func clampLimit(limit int) int {
	if limit <= 0 || limit > eventstore.ReadLimitMax {
		return eventstore.ReadLimitMax
	}
	return limit
}

// ours reports whether an event of $all belongs to this store: not a system
// event, and in a stream with the store's prefix.
func (s *Store) ours(ev *esdb.RecordedEvent) bool {
	return !strings.HasPrefix(ev.StreamID, "$") && !strings.HasPrefix(ev.EventType, "$") &&
		strings.HasPrefix(ev.StreamID, s.opts.StreamPrefix)
}

func allFrom(p eventstore.Position) esdb.AllPosition {
	if p == eventstore.Start {
		return esdb.Start{}
	}
	return esdb.Position{Commit: uint64(p), Prepare: uint64(p)}
}

// ReadAll implements eventstore.Store. Reads of $all from a position are
// inclusive on the server, and system events are skipped here, so it may take
// several pages (bounded by Options.ScanEventsMax) to fill one answer.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	limit = clampLimit(limit)
	events, err := call(s, ctx, func(ctx context.Context, c *esdb.Client) ([]eventstore.RecordedEvent, error) {
		out := make([]eventstore.RecordedEvent, 0, min(limit, 256))
		cursor := after
		scanned := 0
		for len(out) < limit {
			if scanned >= s.opts.ScanEventsMax {
				if len(out) > 0 {
					break
				}
				return nil, fmt.Errorf("more than %d events after position %d are not this store's (system events or other prefixes)", scanned, after)
			}
			page := max(limit-len(out), 64) + 1
			n, err := s.readAllPage(ctx, c, cursor, page, func(ev *esdb.RecordedEvent) bool {
				scanned++
				pos := eventstore.Position(ev.Position.Commit)
				if cursor != eventstore.Start && pos <= cursor {
					return true // the inclusive start
				}
				cursor = pos
				if s.ours(ev) {
					out = append(out, s.recorded(ev))
				}
				return len(out) < limit
			})
			if err != nil {
				return nil, err
			}
			if n < page {
				break // end of the log
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, fmt.Errorf("kurrentstore: read $all after %d: %w", after, err)
	}
	return events, nil
}

// readAllPage reads up to count events of $all forwards from p (inclusive)
// and hands each to fn until fn returns false. It returns how many it read.
func (s *Store) readAllPage(ctx context.Context, c *esdb.Client, p eventstore.Position, count int, fn func(*esdb.RecordedEvent) bool) (int, error) {
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: allFrom(p)}, uint64(count))
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	n := 0
	for n < count {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
		if !fn(ev.OriginalEvent()) {
			return count, nil
		}
	}
	return n, nil
}

// headPage is how many events Head reads backwards at a time.
const headPage = 256

// Head implements eventstore.Store: the position of the last event of $all
// that belongs to this store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	pos, err := call(s, ctx, func(ctx context.Context, c *esdb.Client) (eventstore.Position, error) {
		var from esdb.AllPosition = esdb.End{}
		var cursor uint64
		for scanned := 0; scanned < s.opts.ScanEventsMax; {
			rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: from}, headPage)
			if err != nil {
				return 0, err
			}
			n := 0
			for n < headPage {
				ev, err := rs.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					rs.Close()
					return 0, err
				}
				n++
				scanned++
				rec := ev.OriginalEvent()
				if cursor != 0 && rec.Position.Commit >= cursor {
					continue // backwards reads are exclusive, but be sure
				}
				cursor = rec.Position.Commit
				if s.ours(rec) {
					rs.Close()
					return eventstore.Position(cursor), nil
				}
			}
			rs.Close()
			if n < headPage || cursor == 0 {
				return eventstore.Start, nil // reached the start of the log
			}
			from = esdb.Position{Commit: cursor, Prepare: cursor}
		}
		return 0, fmt.Errorf("none of the last %d events of $all is this store's", s.opts.ScanEventsMax)
	})
	if err != nil {
		return 0, fmt.Errorf("kurrentstore: head: %w", err)
	}
	return pos, nil
}

// recorded converts a client event. Metadata that is not ours (an event
// written by another tool) is left empty rather than failing the read.
func (s *Store) recorded(ev *esdb.RecordedEvent) eventstore.RecordedEvent {
	out := eventstore.RecordedEvent{
		ID:         ev.EventID,
		Type:       ev.EventType,
		Data:       ev.Data,
		Stream:     strings.TrimPrefix(ev.StreamID, s.opts.StreamPrefix),
		Version:    ev.EventNumber,
		Position:   eventstore.Position(ev.Position.Commit),
		RecordedAt: ev.CreatedDate,
	}
	if len(ev.UserMetadata) > 0 {
		if err := json.Unmarshal(ev.UserMetadata, &out.Metadata); err != nil {
			s.log.Debug("event with metadata that is not the ledger's", "stream", ev.StreamID, "version", ev.EventNumber, "err", err)
		}
	}
	return out
}

// permanent reports errors that resubscribing cannot cure.
func permanent(err error) bool {
	var e *esdb.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdb.ErrorCodeAccessDenied, esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeUnsupportedFeature:
			return true
		}
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.PermissionDenied, codes.Unauthenticated, codes.Unimplemented, codes.InvalidArgument:
			return true
		}
	}
	return false
}
