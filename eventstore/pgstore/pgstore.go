// Package pgstore is the PostgreSQL backend of the event store (the embedded
// default). It is built for the SMPP hot path:
//
//   - Group commit. Append hands its events to a bounded queue; a writer
//     goroutine gathers whatever is queued (up to BatchEventsMax events) into
//     one transaction, and each caller is released only after that
//     transaction has committed with synchronous_commit on. One caller's
//     version conflict fails only that caller.
//   - Gap-free global order. Each transaction first locks the single es_head
//     row, assigns positions after the head, and moves the head. The lock is
//     held until commit, so transactions commit in position order: a reader
//     can never see position n+1 before position n is visible, even with
//     several writers or several nodes.
//   - Live subscriptions are woken by LISTEN/NOTIFY (other nodes) and by the
//     local writer after each commit, with a slow fallback poll bounded by
//     PollInterval in case a notification is lost.
//
// The schema is in migrations/001_eventstore.sql.
package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/internal/backoff"
	"github.com/smsledger/smsledger/internal/fastjson"
)

// notifyChannel is the LISTEN/NOTIFY channel that announces new events.
const notifyChannel = "smsledger_events"

// Options tune the store. Zero values take the defaults.
type Options struct {
	// Writers is the number of writer goroutines (each with its own
	// connection per batch). Default 1: a batch holds the head lock only for
	// the server's work, so a second writer mostly splits the same callers
	// into smaller batches (measured: 64 callers, one event each, 38k
	// events/s with one writer, 33k with two, 28k with three).
	Writers int
	// QueueAppendsMax bounds the appends waiting for a writer; Append blocks
	// (or fails with its context) when the queue is full. Default 16384.
	QueueAppendsMax int
	// BatchEventsMax bounds the events in one transaction. Default 4096.
	BatchEventsMax int
	// PollInterval is the longest a subscriber waits without a notification
	// before it looks at the log anyway. Default 1s.
	PollInterval time.Duration
	// LiveReadEvery spaces a live subscriber's reads of the table (events
	// another writer — another serve node — appended; its own come from
	// the in-memory tail): at the head, one read per LiveReadEvery at most,
	// so that it takes what several of their batches wrote instead of
	// querying once per notified batch. Measured with 2 nodes at 600
	// msg/s: a node following the other's ~700 batches a second spent
	// 27 % of its CPU in those reads (docs/PERFORMANCE.md). Default 5ms;
	// negative: no spacing.
	LiveReadEvery time.Duration
	// NotifyEvery spaces a writer's notifications to the other nodes'
	// listeners: a batch committed sooner than NotifyEvery after the
	// writer's last one is not announced on its own, and the last such
	// batch is announced NotifyEvery after that notification (a NOTIFY
	// of its own when no batch came meanwhile). Their subscribers read
	// at most every LiveReadEvery anyway, while every notification wakes
	// each listener and was, at 2 nodes, 8 % of a following node's CPU.
	// Default LiveReadEvery; negative: every batch.
	NotifyEvery time.Duration
	// CommitLinger spaces the commits of batches without an urgent append
	// (eventstore.WithUrgency: the accepts) while appends come from several
	// callers at once (the last batch carried more than one, or appends
	// queued while it was committed): such a batch waits until
	// CommitLinger after the writer's last commit began, and takes along
	// whatever comes meanwhile; an urgent append ends the wait at once and
	// goes in the same batch. A single caller appending one after the
	// other never waits. Under load a commit takes longer than this
	// and nothing waits; under light load a commit carried one or two
	// appends, and PostgreSQL spent 0.6–1.2 ms of CPU on each, more than
	// on the events in it. One node at 300 msg/s: PostgreSQL 2,377 → 756
	// µs a message (docs/PERFORMANCE.md, "Several nodes", fourth session).
	// What it costs: a lifecycle append (a submit recorded before it goes
	// to the supplier, a DLR before its deliver_sm_resp) waits up to this
	// long. Default 4ms; negative: off.
	CommitLinger time.Duration
	// Clock stamps RecordedAt. Default time.Now.
	Clock func() time.Time
	// Logger receives the few lines worth a person's time. Default
	// slog.Default().
	Logger *slog.Logger
	// OnBatch, if set, is called after every committed batch with the number
	// of appends and events in it and how long the transaction took; it feeds
	// metrics.
	OnBatch func(appends, events int, took time.Duration)
}

func (o *Options) setDefaults() {
	if o.Writers <= 0 {
		o.Writers = 1
	}
	if o.QueueAppendsMax <= 0 {
		o.QueueAppendsMax = 16384
	}
	if o.BatchEventsMax <= 0 {
		o.BatchEventsMax = 4096
	}
	if o.BatchEventsMax < eventstore.AppendEventsMax {
		o.BatchEventsMax = eventstore.AppendEventsMax
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.LiveReadEvery == 0 {
		o.LiveReadEvery = 5 * time.Millisecond
	}
	if o.NotifyEvery == 0 {
		o.NotifyEvery = max(o.LiveReadEvery, 0)
	}
	if o.CommitLinger == 0 {
		o.CommitLinger = 4 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Store is the PostgreSQL event store. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	opts   Options
	queue  chan *appendRequest
	urgent chan *appendRequest // appends marked eventstore.WithUrgency
	wake   *notifier
	tail   tail // recently committed events, for readers at the head
	// knownHead is the highest log position this store has seen committed
	// (its own batches and other nodes' notifications); listening says the
	// notification listener is up, so that knownHead is kept current and a
	// subscriber at it need not ask the table whether there is more.
	knownHead atomic.Int64
	listening atomic.Bool
	// listenedOnce: the listener got up since the loop last looked
	// (resets its reconnect backoff).
	listenedOnce atomic.Bool
	// origin names this store in its notifications ("<head> <origin>"), so
	// that its listener can tell its own commits (already in the tail and
	// broadcast by the writer) from other nodes'.
	origin string
	// unsure is set while the last batch failed: it may have committed
	// all the same (the answer was lost), and then only its notification
	// tells the readers; the next committed batch clears it.
	unsure atomic.Bool
	// headRead lets one subscription at a time read the table at the head
	// (subscription.read).
	headRead sync.Mutex
	// tableRows counts the events read from the table (TableRowsRead).
	tableRows atomic.Int64
	// rewound is set for good once the log was found behind knownHead
	// (checkRewind): every append and subscription then fails.
	rewound atomic.Bool

	failMu       sync.Mutex // guards the failed-batch warning's spacing
	failLogged   time.Time
	failSilenced int
	ctx          context.Context // cancelled by Close, after the writers drained
	cancel       context.CancelFunc

	writers  sync.WaitGroup
	listener sync.WaitGroup

	closeOnce sync.Once
	closing   chan struct{}
	mu        sync.RWMutex // guards sending on queue against Close
}

var _ eventstore.Store = (*Store)(nil)

// Open starts the store's writers and its notification listener on pool. The
// schema must already be migrated. Close stops them; it does not close pool.
func Open(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	opts.setDefaults()
	var head int64
	if err := pool.QueryRow(ctx, `SELECT position FROM es_head WHERE id = 1`).Scan(&head); err != nil {
		return nil, fmt.Errorf("pgstore: read log head (are migrations applied?): %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Store{
		pool:    pool,
		opts:    opts,
		queue:   make(chan *appendRequest, opts.QueueAppendsMax),
		urgent:  make(chan *appendRequest, opts.QueueAppendsMax),
		wake:    newNotifier(),
		ctx:     runCtx,
		cancel:  cancel,
		closing: make(chan struct{}),
		origin:  uuid.NewString(),
	}
	s.raiseKnownHead(head)
	for i := 0; i < opts.Writers; i++ {
		s.writers.Add(1)
		go s.writeLoop()
	}
	s.listener.Add(1)
	go s.listenLoop()
	opts.Logger.Debug("event store opened", "backend", "postgres", "head", head, "writers", opts.Writers)
	return s, nil
}

// Close stops accepting appends, lets the writers finish what is queued, and
// stops the listener. Subscriptions stop with ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.closing)
		close(s.queue)
		close(s.urgent)
		s.mu.Unlock()
		// Writers drain the queue, so every accepted append is decided;
		// then the listener stops.
		s.writers.Wait()
		s.cancel()
		s.listener.Wait()
		s.wake.broadcast()
	})
	return nil
}

// Append implements eventstore.Store with group commit.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if s.rewound.Load() {
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: append to %q: %w", stream, eventstore.ErrRewound)
	}
	if err := eventstore.ValidateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	req := &appendRequest{stream: stream, expected: expected, events: events, done: make(chan struct{})}
	if err := req.encode(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.enqueue(ctx, req); err != nil {
		return eventstore.AppendResult{}, err
	}
	select {
	case <-req.done:
		return req.result, req.err
	case <-ctx.Done():
		// The append may still commit; a retry with the same event ids is
		// safe because appends are idempotent by event id.
		return eventstore.AppendResult{}, fmt.Errorf("pgstore: append to %q: outcome unknown: %w", stream, ctx.Err())
	}
}

func (s *Store) enqueue(ctx context.Context, req *appendRequest) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	select {
	case <-s.closing:
		return eventstore.ErrClosed
	default:
	}
	q := s.queue
	if eventstore.Urgent(ctx) {
		q = s.urgent
	}
	select {
	case q <- req:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pgstore: append to %q: queue full: %w", req.stream, ctx.Err())
	}
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	limit = clampLimit(limit)
	rows, err := s.pool.Query(ctx, `
		SELECT global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at
		FROM es_events WHERE stream_id = $1 AND stream_version >= $2
		ORDER BY stream_version LIMIT $3`, readMode, stream, int64(from), limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read stream %q: %w", stream, err)
	}
	events, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read stream %q: %w", stream, err)
	}
	if len(events) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM es_events WHERE stream_id = $1)`, stream).Scan(&exists); err != nil {
			return nil, fmt.Errorf("pgstore: read stream %q: %w", stream, err)
		}
		if !exists {
			return nil, fmt.Errorf("read stream %q: %w", stream, eventstore.ErrStreamNotFound)
		}
	}
	return events, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	limit = clampLimit(limit)
	// From memory only a whole page, or one that ends at the head as far
	// as this store knows: a short page of the tail's run may end at a gap
	// (another node's events) that the table has.
	if events, ok := s.tail.read(after, limit); ok &&
		(len(events) == limit || int64(events[len(events)-1].Position) >= s.knownHead.Load()) {
		return events, nil
	}
	return s.readTable(ctx, after, limit)
}

// readTable reads up to limit events after position after from the table.
func (s *Store) readTable(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at
		FROM es_events WHERE global_position > $1
		ORDER BY global_position LIMIT $2`, readMode, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read all after %d: %w", after, err)
	}
	events, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read all after %d: %w", after, err)
	}
	s.tableRows.Add(int64(len(events)))
	return events, nil
}

// gapsSQL reads the events after position $1 that are at the positions
// $2 or after position $3, up to $4 of them, in position order.
//
// The lower bound ($1) keeps the plan an index range scan from there;
// without it the ordered scan of the primary key started at the log's
// first event (16 ms a query).
const gapsSQL = `
		SELECT global_position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at
		FROM es_events WHERE global_position > $1 AND (global_position = ANY($2) OR global_position > $3)
		ORDER BY global_position LIMIT $4`

// gapsPlanSQL makes gapsSQL's one plan, for the rest of the transaction:
// the same generic plan at every read (a prepared statement of the
// connection, planned once), and one that can only be the ordered scan of
// the primary key from $1 — neither a sequential scan nor a bitmap scan and
// a sort of whatever follows $1, whatever the table's size or statistics
// when the plan was made (TestGapsPlanIsAnIndexScan).
//
// Why: a node of a cluster reads another node's events ~150 times a second,
// and planning the query afresh each time (readMode) cost PostgreSQL as
// much as running it: 1.4 s of planning against 1.6 s of execution over
// three nodes' 30 s at 600 msg/s (pg_stat_statements, docs/PERFORMANCE.md).
const gapsPlanSQL = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
		set_config('plan_cache_mode', 'force_generic_plan', true)`

// readTableGaps reads the events after position after that are at the
// positions missing or after position past, up to limit of them, in
// position order: gapsSQL, planned once per connection (gapsPlanSQL), in
// one pipelined round trip.
func (s *Store) readTableGaps(ctx context.Context, after eventstore.Position, missing []int64, past eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read %d gaps and after %d: acquire connection: %w", len(missing), past, err)
	}
	defer conn.Release()
	var events []eventstore.RecordedEvent
	b := &pgx.Batch{}
	b.Queue(`BEGIN READ ONLY`)
	b.Queue(gapsPlanSQL)
	b.Queue(gapsSQL, int64(after), missing, int64(past), limit).Query(func(rows pgx.Rows) error {
		var err error
		events, err = scanEvents(rows, limit)
		return err
	})
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		abort(conn)
		return nil, fmt.Errorf("pgstore: read %d gaps and after %d: %w", len(missing), past, err)
	}
	s.tableRows.Add(int64(len(events)))
	return events, nil
}

// TableRowsRead returns how many events ReadAll and the subscriptions have
// read from the table, rather than from the events kept in memory.
func (s *Store) TableRowsRead() int64 { return s.tableRows.Load() }

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	floor := s.knownHead.Load() // committed before the query: the head cannot be lower
	var head int64
	if err := s.pool.QueryRow(ctx, `SELECT position FROM es_head WHERE id = 1`).Scan(&head); err != nil {
		return 0, fmt.Errorf("pgstore: read head: %w", err)
	}
	if err := s.checkRewind(head, floor); err != nil {
		return 0, err
	}
	return eventstore.Position(head), nil
}

// checkRewind reports ErrRewound, and remembers it for good, when the log's
// head is below floor, a position known committed before the head was read.
// The head only rises while the database keeps what it committed; lower, a
// failover (or a restore) lost events, and positions after the head would
// be given again to new events that readers past them never see.
func (s *Store) checkRewind(head, floor int64) error {
	if head >= floor && !s.rewound.Load() {
		return nil
	}
	if s.rewound.CompareAndSwap(false, true) {
		s.opts.Logger.Error("pgstore: the event log went back behind positions already committed (database failover to a lagging replica, or a restore?); refusing every append and read until restarted",
			"head", head, "seen", floor)
	}
	return fmt.Errorf("pgstore: log head %d behind position %d already seen: %w", head, floor, eventstore.ErrRewound)
}

// readMode plans each read with its actual arguments and the table as it is
// now (an unnamed statement, planned at each execution): a cached generic
// plan made while the log was small could keep a sequential scan and sort
// of the whole log for every page. Only the statement's description is
// cached, so the rows come back in the binary format: integers, uuids and
// timestamps are copied, not parsed from text (BenchmarkReadTable: 769 →
// 619 allocations a page of 50 events; docs/PERFORMANCE.md).
const readMode = pgx.QueryExecModeCacheDescribe

func clampLimit(limit int) int {
	if limit <= 0 || limit > eventstore.ReadLimitMax {
		return eventstore.ReadLimitMax
	}
	return limit
}

// scanArenaBytes is the size of the blocks a page's event data is copied
// into: one allocation for ~10 events instead of two for each.
const scanArenaBytes = 4096

func scanEvents(rows pgx.Rows, limit int) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	events := make([]eventstore.RecordedEvent, 0, min(limit, 256))
	var arena []byte
	for rows.Next() {
		var (
			ev         eventstore.RecordedEvent
			pos, ver   int64
			typ        pgtype.DriverBytes
			data, meta pgtype.DriverBytes // valid until the next row
		)
		if err := rows.Scan(&pos, &ev.Stream, &ver, &ev.ID, &typ, &data, &meta, &ev.RecordedAt); err != nil {
			return nil, err
		}
		ev.Position = eventstore.Position(pos)
		ev.Version = uint64(ver)
		ev.Type = eventTypes.intern(typ)
		ev.Data, arena = carve(arena, data)
		if err := decodeMetadata(meta, &ev.Metadata); err != nil {
			return nil, fmt.Errorf("event %d: metadata: %w", pos, err)
		}
		ev.RecordedAt = ev.RecordedAt.UTC()
		events = append(events, ev)
	}
	return events, rows.Err()
}

// carve copies b into the arena's free space, or a new block when it does
// not fit, and returns the copy (its capacity its length, so that an append
// to it cannot run into the next event's bytes) and the arena's rest.
func carve(arena, b []byte) (copied, rest []byte) {
	if len(b) > scanArenaBytes/4 {
		c := make([]byte, len(b))
		copy(c, b)
		return c, arena
	}
	if len(b) > cap(arena)-len(arena) {
		arena = make([]byte, 0, scanArenaBytes)
	}
	start := len(arena)
	arena = append(arena, b...)
	return arena[start:len(arena):len(arena)], arena[len(arena):]
}

// eventTypes interns the event type names read from the table: a few
// dozen names, one string each instead of one per row.
var eventTypes = interner{names: map[string]string{}}

// interner hands out one string per name, for at most internedMax names
// (a log with more distinct types gets the rest allocated per row).
type interner struct {
	mu    sync.RWMutex
	names map[string]string
}

const internedMax = 1024

func (in *interner) intern(b []byte) string {
	in.mu.RLock()
	s, ok := in.names[string(b)] // no allocation for the lookup
	in.mu.RUnlock()
	if ok {
		return s
	}
	s = string(b)
	in.mu.Lock()
	if len(in.names) < internedMax {
		in.names[s] = s
	}
	in.mu.Unlock()
	return s
}

// metaCodec is the metadata's JSON codec: the event catalogue's
// (internal/fastjson), whose bytes and results are encoding/json's.
var metaCodec = fastjson.For[eventstore.Metadata]()

// encodeMetadata writes m as json.Marshal does.
func encodeMetadata(m *eventstore.Metadata) (string, error) {
	var buf [128]byte // two ids and no extras fit
	b, err := metaCodec.Append(buf[:0], m)
	return string(b), err
}

// decodeMetadata reads what encodeMetadata wrote, as json.Unmarshal does.
func decodeMetadata(meta []byte, m *eventstore.Metadata) error {
	return metaCodec.Unmarshal(meta, m)
}

// listenLoop keeps a LISTEN connection open and wakes subscribers on every
// notification, reconnecting with a bounded backoff.
func (s *Store) listenLoop() {
	defer s.listener.Done()
	b := backoff.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for s.ctx.Err() == nil {
		err := s.listenOnce()
		if s.ctx.Err() != nil {
			return
		}
		if s.listenedOnce.Swap(false) {
			b.Reset() // it was up: a new loss starts from the shortest wait
		}
		wait := b.Next()
		s.opts.Logger.Warn("event store notification listener lost; subscribers fall back to polling until it is back", "err", err, "retry_in", wait)
		s.wake.broadcast()
		if backoff.Wait(s.ctx, wait) != nil {
			return
		}
	}
}

func (s *Store) listenOnce() error {
	conn, err := s.pool.Acquire(s.ctx)
	if err != nil {
		return err
	}
	pgconn := conn.Hijack()
	defer pgconn.Close(context.Background())
	defer s.listening.Store(false)
	if _, err := pgconn.Exec(s.ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	// Events may have been appended by other nodes while we were not
	// listening: the head read after LISTEN covers them, notifications cover
	// everything after.
	head, err := s.Head(s.ctx)
	if err != nil {
		return err
	}
	s.raiseKnownHead(int64(head))
	s.listening.Store(true)
	s.listenedOnce.Store(true)
	s.wake.broadcast()
	for {
		n, err := pgconn.WaitForNotification(s.ctx)
		if err != nil {
			return err
		}
		head, origin, _ := strings.Cut(n.Payload, " ")
		p, err := strconv.ParseInt(head, 10, 64)
		if err != nil {
			// Not ours to interpret: stop trusting knownHead until the
			// listener starts over.
			return fmt.Errorf("pgstore: notification payload %q: %w", n.Payload, err)
		}
		if origin == s.origin && !s.unsure.Load() {
			// Our own commit: the writer puts it in the tail and wakes the
			// readers itself (often a moment after this notification).
			continue
		}
		s.raiseKnownHead(p)
		s.wake.broadcast()
	}
}

// raiseKnownHead records that the log reaches at least position p.
func (s *Store) raiseKnownHead(p int64) {
	for {
		cur := s.knownHead.Load()
		if p <= cur || s.knownHead.CompareAndSwap(cur, p) {
			return
		}
	}
}

// read is a subscription's read: from the in-memory tail when it has the
// next events, and without a query when the reader is at the head the store
// knows of while the listener keeps that current (polled forces a query, the
// fallback for anything missed). A read of the table at the head waits
// until LiveReadEvery has passed since the last one (Options).
func (sub *subscription) read(ctx context.Context, polled bool) ([]eventstore.RecordedEvent, error) {
	s := sub.s
	limit := clampLimit(sub.batch)
	if events, ok := s.tail.read(sub.after, limit); ok {
		return events, nil
	}
	if !polled && s.listening.Load() && int64(sub.after) >= s.knownHead.Load() {
		return nil, nil
	}
	if wait := s.opts.LiveReadEvery - time.Since(sub.lastTableRead); !sub.lastFull && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-s.closing:
			t.Stop()
			return nil, eventstore.ErrClosed
		}
	}
	if !s.tail.reaches(sub.after) {
		// Catching up, far behind the events held: a page of the table.
		events, err := s.readTable(ctx, sub.after, limit)
		sub.lastTableRead, sub.lastFull = time.Now(), len(events) == limit
		return events, err
	}
	// At the head: only what the tail lacks (another node's events), and
	// one reader at a time, so that what one reads fills the gaps for the
	// node's other readers instead of being read again by each.
	s.headRead.Lock()
	defer s.headRead.Unlock()
	if events, ok := s.tail.read(sub.after, limit); ok {
		return events, nil
	}
	missing, past := s.tail.gaps(sub.after, limit)
	rows, err := s.readTableGaps(ctx, sub.after, missing, past, limit)
	sub.lastTableRead = time.Now()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		sub.lastFull = false
		return nil, nil // the next position is not in the table yet
	}
	s.tail.fill(rows)
	events, ok := s.tail.read(sub.after, limit)
	if !ok {
		// The rows were not kept (the window moved past the reader
		// meanwhile): a plain page, gap-free by itself.
		events, err = s.readTable(ctx, sub.after, limit)
	}
	sub.lastFull = len(events) == limit
	return events, err
}

// notifier wakes every waiter at once: wait returns a channel that is closed
// by the next broadcast. Taking the channel before looking at the log means
// no wake-up is lost.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}

// subscription follows the log by reading pages after the last delivered
// position and waiting for a wake-up when it is at the head. Catch-up and live
// use the same query, so the hand-over can neither lose nor repeat an event.
type subscription struct {
	s     *Store
	after eventstore.Position
	batch int
	// lastTableRead and lastFull: when the last read of the table was and
	// whether it filled a page (catching up: read on at once).
	lastTableRead time.Time
	lastFull      bool
}

// SubscribeAll implements eventstore.Store.
func (s *Store) SubscribeAll(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	select {
	case <-s.closing:
		return nil, eventstore.ErrClosed
	default:
	}
	return &subscription{s: s, after: after, batch: 1000}, nil
}

func (sub *subscription) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	polled := false
	for {
		if sub.s.rewound.Load() {
			return nil, fmt.Errorf("pgstore: subscription after %d: %w", sub.after, eventstore.ErrRewound)
		}
		woken := sub.s.wake.wait()
		events, err := sub.read(ctx, polled)
		if err != nil {
			return nil, err
		}
		if len(events) > 0 {
			sub.after = events[len(events)-1].Position
			return events, nil
		}
		if polled {
			// Nothing after what this reader has seen: the head must be at
			// least there, or the log went back.
			sub.s.raiseKnownHead(int64(sub.after))
			if _, err := sub.s.Head(ctx); err != nil {
				return nil, err
			}
		}
		select {
		case <-sub.s.closing:
			return nil, eventstore.ErrClosed
		default:
		}
		timer := time.NewTimer(sub.s.opts.PollInterval)
		polled = false
		select {
		case <-woken:
		case <-timer.C:
			polled = true
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-sub.s.closing:
		}
		timer.Stop()
	}
}

func (sub *subscription) Close() error { return nil }

// appendRequest is one caller's append waiting in the queue.
type appendRequest struct {
	stream   string
	expected eventstore.ExpectedVersion
	events   []eventstore.EventData
	meta     []string // encoded metadata, one per event
	data     []string // data as text, one per event

	result eventstore.AppendResult
	err    error
	done   chan struct{}
}

func (r *appendRequest) encode() error {
	r.meta = make([]string, len(r.events))
	r.data = make([]string, len(r.events))
	for i := range r.events {
		if !fastjson.Valid(r.events[i].Data) {
			return fmt.Errorf("%w: event %d data is not JSON", eventstore.ErrInvalidAppend, i)
		}
		m, err := encodeMetadata(&r.events[i].Metadata)
		if err != nil {
			return fmt.Errorf("pgstore: encode metadata: %w", err)
		}
		r.meta[i] = m
		r.data[i] = string(r.events[i].Data)
	}
	return nil
}

func (r *appendRequest) finish(res eventstore.AppendResult, err error) {
	r.result, r.err = res, err
	close(r.done)
}
