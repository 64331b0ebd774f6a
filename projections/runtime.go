package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/internal/backoff"
)

// Options tune the runtime. Zero values take the defaults.
type Options struct {
	// Logger receives the lines worth a person's time. Default slog.Default().
	Logger *slog.Logger
	// BatchEventsMax bounds the events applied in one transaction. Default
	// 5000.
	BatchEventsMax int
	// BatchInterval is the shortest time between two batch transactions
	// while fewer than BatchEventsMax events wait (default 100ms; negative:
	// none). Under load the read models then trail the log by up to this
	// much, and in exchange each transaction carries more events and folds
	// more of a message's events into one write of its CDR.
	BatchInterval time.Duration
	// RetryMax is how many consecutive failed attempts (without progress)
	// the runtime makes before it stops with the error (Err, Done).
	// Default 10.
	RetryMax int
	// BackoffMin and BackoffMax bound the wait between attempts (doubling).
	// Defaults 100ms and 10s.
	BackoffMin, BackoffMax time.Duration
	// HeadInterval is how often the log head is read for Lag when idle.
	// Default 1s.
	HeadInterval time.Duration
	// Schema is the schema written to. Default LiveSchema.
	Schema string

	// beforeCommit, if set, runs inside each batch transaction after the
	// projectors applied it and before the commit (tests: crash injection).
	beforeCommit func(evs []Event) error
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.BatchEventsMax <= 0 {
		o.BatchEventsMax = 5000
	}
	if o.BatchInterval == 0 {
		o.BatchInterval = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(10*time.Second, o.BackoffMin)
	}
	if o.HeadInterval <= 0 {
		o.HeadInterval = time.Second
	}
	if o.Schema == "" {
		o.Schema = LiveSchema
	}
}

// Lag is how far one projector is behind the log.
type Lag struct {
	Projector string
	// Position is the last event applied; Head the last event in the log
	// as last seen.
	Position, Head eventstore.Position
	// Events is Head - Position (positions of the postgres store are
	// gap-free, so this is a count of events).
	Events uint64
	// Seconds is how old the last applied event is when the projector is
	// behind (0 when caught up).
	Seconds float64
}

// Runtime runs the projectors until Close.
type Runtime struct {
	store  eventstore.Store
	pool   *pgxpool.Pool
	opts   Options
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	head atomic.Uint64

	mu       sync.Mutex
	applied  map[string]progress
	err      error
	advanced chan struct{} // closed and replaced at every commit
}

type progress struct {
	pos eventstore.Position
	at  time.Time
}

// Start ensures every projector has a checkpoint and starts the runtime. It
// returns once the runtime is running; projection happens in the
// background until Close (or until it gives up, see Options.RetryMax).
func Start(ctx context.Context, store eventstore.Store, pool *pgxpool.Pool, logger *slog.Logger) (*Runtime, error) {
	return StartWithOptions(ctx, store, pool, Options{Logger: logger})
}

// StartWithOptions is Start with tuning options.
func StartWithOptions(ctx context.Context, store eventstore.Store, pool *pgxpool.Pool, opts Options) (*Runtime, error) {
	opts.setDefaults()
	cps, err := ensureCheckpoints(ctx, pool, opts.Schema)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Runtime{
		store: store, pool: pool, opts: opts, log: opts.Logger.With("component", "projections"),
		cancel: cancel, done: make(chan struct{}), applied: map[string]progress{},
		advanced: make(chan struct{}),
	}
	for name, pos := range cps {
		r.applied[name] = progress{pos: pos}
	}
	if h, err := store.Head(ctx); err == nil {
		r.head.Store(uint64(h))
	}
	go r.headLoop(runCtx)
	go r.run(runCtx)
	r.log.Info("projections started", "schema", opts.Schema, "head", r.head.Load(), "checkpoints", cps)
	return r, nil
}

// Close stops the runtime and waits for it. A batch being applied is rolled
// back (it is applied again at the next start).
func (r *Runtime) Close() error {
	r.cancel()
	<-r.done
	return nil
}

// Done is closed when the runtime stopped (Close, or it gave up: see Err).
func (r *Runtime) Done() <-chan struct{} { return r.done }

// Err is the error the runtime gave up with, nil while running or after
// Close.
func (r *Runtime) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Lag reports, per projector, how far it is behind the log head.
func (r *Runtime) Lag() []Lag {
	head := eventstore.Position(r.head.Load())
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Lag, 0, len(r.applied))
	now := time.Now()
	for name, p := range r.applied {
		l := Lag{Projector: name, Position: p.pos, Head: max(head, p.pos)}
		l.Events = uint64(l.Head - p.pos)
		if l.Events > 0 && !p.at.IsZero() {
			l.Seconds = max(0, now.Sub(p.at).Seconds())
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lag) int {
		if a.Projector < b.Projector {
			return -1
		}
		return 1
	})
	return out
}

// WaitFor blocks until every projector has applied the log up to pos (e.g.
// the position an append returned), or ctx is done, or the runtime stopped.
func (r *Runtime) WaitFor(ctx context.Context, pos eventstore.Position) error {
	for {
		r.mu.Lock()
		ok := len(r.applied) > 0
		for _, p := range r.applied {
			if p.pos < pos {
				ok = false
			}
		}
		ch, err := r.advanced, r.err
		r.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ch:
		case <-r.done:
			return fmt.Errorf("projections: stopped before position %d", pos)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *Runtime) headLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.HeadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if h, err := r.store.Head(ctx); err == nil {
				r.noteHead(h)
			}
		}
	}
}

func (r *Runtime) noteHead(h eventstore.Position) {
	for {
		cur := r.head.Load()
		if uint64(h) <= cur || r.head.CompareAndSwap(cur, uint64(h)) {
			return
		}
	}
}

func (r *Runtime) run(ctx context.Context) {
	defer close(r.done)
	b := backoff.Backoff{Min: r.opts.BackoffMin, Max: r.opts.BackoffMax}
	for ctx.Err() == nil {
		progressed, err := r.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			b.Reset()
		}
		wait := b.Next()
		if failures := b.Failures(); failures > r.opts.RetryMax || errors.Is(err, eventstore.ErrRewound) {
			r.log.Error("projections stopped: too many consecutive failures", "attempts", failures, "err", err)
			r.mu.Lock()
			r.err = fmt.Errorf("projections: gave up after %d attempts: %w", failures, err)
			close(r.advanced)
			r.advanced = make(chan struct{})
			r.mu.Unlock()
			return
		}
		r.log.Warn("projections failed; retrying from the checkpoints", "err", err, "attempt", b.Failures(), "retry_in", wait)
		if backoff.Wait(ctx, wait) != nil {
			return
		}
	}
}

// runOnce runs the pipeline from the stored checkpoints until an error.
func (r *Runtime) runOnce(ctx context.Context) (progressed bool, err error) {
	cps, err := readCheckpoints(ctx, r.pool, r.opts.Schema)
	if err != nil {
		return false, err
	}
	from := minCheckpoint(cps)
	sub, err := r.store.SubscribeAll(ctx, from)
	if err != nil {
		return false, fmt.Errorf("subscribe after %d: %w", from, err)
	}
	defer sub.Close()

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []Event)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- r.read(pctx, sub, batches)
	}()
	projs := newProjectors(r.opts.Schema)
	for evs := range batches {
		if err := applyBatch(pctx, r.pool, r.opts.Schema, projs, evs, nil, r.opts.beforeCommit); err != nil {
			cancel()
			for range batches {
			}
			<-readErr
			return progressed, err
		}
		progressed = true
		r.committed(evs[len(evs)-1])
	}
	return progressed, <-readErr
}

func (r *Runtime) committed(last Event) {
	r.noteHead(last.Position)
	r.mu.Lock()
	for name := range r.applied {
		if r.applied[name].pos < last.Position {
			r.applied[name] = progress{pos: last.Position, at: last.RecordedAt}
		}
	}
	close(r.advanced)
	r.advanced = make(chan struct{})
	r.mu.Unlock()
}

// read gathers the subscription's events into batches of at most
// BatchEventsMax for the applier. A pump keeps reading the log while the
// applier works, and each time the applier is free it takes everything
// gathered since (up to the bound): a catch-up or a busy live tail gets
// large batches — fewer transactions, and a message's several events
// folded into one write of its CDR — and a quiet tail small, prompt ones.
// At most two batches wait, so a slow applier stops the reading.
func (r *Runtime) read(ctx context.Context, sub eventstore.Subscription, out chan<- []Event) error {
	max := r.opts.BatchEventsMax
	arrived := make(chan []eventstore.RecordedEvent)
	pumpErr := make(chan error, 1)
	go func() {
		for {
			recs, err := sub.Next(ctx)
			if err != nil {
				pumpErr <- err
				return
			}
			select {
			case arrived <- recs:
			case <-ctx.Done():
				pumpErr <- ctx.Err()
				return
			}
		}
	}()
	var pending [][]Event // decoded, in order; each at most max events
	waiting := 0
	var lastSent time.Time
	linger := time.NewTimer(0)
	defer linger.Stop()
	lingering := false
	for {
		var in <-chan []eventstore.RecordedEvent
		if waiting < 2*max {
			in = arrived
		}
		var send chan<- []Event
		var next []Event
		if len(pending) > 0 {
			if wait := r.opts.BatchInterval - time.Since(lastSent); wait > 0 && waiting < max {
				if !lingering {
					linger.Reset(wait)
					lingering = true
				}
			} else {
				send, next = out, pending[0]
			}
		}
		select {
		case <-linger.C:
			lingering = false
		case recs := <-in:
			evs, err := decode(recs)
			if err != nil {
				return err
			}
			waiting += len(evs)
			for len(evs) > 0 {
				if len(pending) == 0 || len(pending[len(pending)-1]) >= max {
					pending = append(pending, make([]Event, 0, min(max, len(evs))))
				}
				last := &pending[len(pending)-1]
				n := min(max-len(*last), len(evs))
				*last = append(*last, evs[:n]...)
				evs = evs[n:]
			}
		case send <- next:
			waiting -= len(next)
			pending = pending[1:]
			lastSent = time.Now()
		case err := <-pumpErr:
			return fmt.Errorf("read the log: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ensureCheckpoints creates missing checkpoint rows and returns them all.
func ensureCheckpoints(ctx context.Context, pool *pgxpool.Pool, schema string) (map[string]eventstore.Position, error) {
	names := projectorNames()
	if _, err := pool.Exec(ctx, "INSERT INTO "+ident(schema)+".checkpoints (projector, position) SELECT unnest($1::text[]), 0 ON CONFLICT DO NOTHING", names); err != nil {
		return nil, fmt.Errorf("projections: create checkpoints in %s (are migrations applied?): %w", schema, err)
	}
	return readCheckpoints(ctx, pool, schema)
}

func readCheckpoints(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, schema string) (map[string]eventstore.Position, error) {
	rows, err := db.Query(ctx, "SELECT projector, position FROM "+ident(schema)+".checkpoints WHERE projector = ANY($1)", projectorNames())
	if err != nil {
		return nil, fmt.Errorf("projections: read checkpoints: %w", err)
	}
	out := map[string]eventstore.Position{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			return nil, fmt.Errorf("projections: read checkpoints: %w", err)
		}
		out[name] = eventstore.Position(pos)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projections: read checkpoints: %w", err)
	}
	if len(out) != len(projectorNames()) {
		return nil, fmt.Errorf("projections: %d checkpoints in %s, want %d", len(out), schema, len(projectorNames()))
	}
	return out, nil
}

func minCheckpoint(cps map[string]eventstore.Position) eventstore.Position {
	first := true
	var m eventstore.Position
	for _, p := range cps {
		if first || p < m {
			m, first = p, false
		}
	}
	return m
}

// errNotAscending is an invariant violation of the log.
var errNotAscending = errors.New("projections: batch positions not strictly ascending")

// applyBatch applies evs to every projector in one transaction that also
// advances their checkpoints. Each projector's checkpoint row is locked
// first and only events after it are applied to it (another node may have
// applied some already); upTo, if non-nil, caps each projector's position.
func applyBatch(ctx context.Context, pool *pgxpool.Pool, schema string, projs []projector, evs []Event, upTo map[string]eventstore.Position, beforeCommit func([]Event) error) error {
	for i := 1; i < len(evs); i++ {
		if evs[i].Position <= evs[i-1].Position {
			return fmt.Errorf("%w: %d after %d", errNotAscending, evs[i].Position, evs[i-1].Position)
		}
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("projections: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The read models are derived from the log and the checkpoints commit
	// with them: a commit lost in a crash is applied again from the log,
	// so waiting for each batch's WAL flush buys nothing but latency.
	//
	// Every statement of a batch reaches its rows through an index: by
	// message id, key or checkpoint. A plan cached while a table or a new
	// month's CDR partition is small, before autovacuum has analysed it,
	// can read the whole table for every batch instead. So sequential
	// scans are priced out, as for the appends (eventstore/pgstore), and
	// plans are kept generic so that none is re-planned per batch — except
	// the CDR UPDATE, which no generic plan served (it is planned per batch:
	// cdrUpdatePlanOn).
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off; SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	s := ident(schema)
	rows, err := tx.Query(ctx, "SELECT projector, position FROM "+s+".checkpoints WHERE projector = ANY($1) ORDER BY projector FOR UPDATE", projectorNames())
	if err != nil {
		return fmt.Errorf("projections: lock checkpoints: %w", err)
	}
	cps := map[string]eventstore.Position{}
	for rows.Next() {
		var name string
		var pos int64
		if err := rows.Scan(&name, &pos); err != nil {
			rows.Close()
			return fmt.Errorf("projections: lock checkpoints: %w", err)
		}
		cps[name] = eventstore.Position(pos)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("projections: lock checkpoints: %w", err)
	}
	var adv checkpointAdvance
	for _, p := range projs {
		cp, ok := cps[p.name()]
		if !ok {
			return fmt.Errorf("projections: no checkpoint for %s", p.name())
		}
		lo, hi := firstAfter(evs, cp), len(evs)
		if limit, ok := upTo[p.name()]; ok {
			hi = firstAfter(evs, limit)
		}
		if lo >= hi {
			continue
		}
		sub := evs[lo:hi]
		if err := p.apply(ctx, tx, schema, sub); err != nil {
			return fmt.Errorf("projections: %s: apply events %d..%d: %w", p.name(), sub[0].Position, sub[len(sub)-1].Position, err)
		}
		last := sub[len(sub)-1]
		adv.add(p.name(), last.Position, int64(len(sub)), last.RecordedAt)
	}
	if len(adv.names) == 0 {
		return nil
	}
	if err := adv.write(ctx, tx, schema); err != nil {
		return err
	}
	if beforeCommit != nil {
		if err := beforeCommit(evs); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("projections: commit: %w", err)
	}
	return nil
}

// firstAfter is the index in evs (ascending) of the first event after pos,
// len(evs) when there is none.
func firstAfter(evs []Event, pos eventstore.Position) int {
	i, _ := slices.BinarySearchFunc(evs, pos+1, func(e Event, p eventstore.Position) int {
		return cmp.Compare(e.Position, p)
	})
	return i
}

// checkpointAdvance is how far one transaction moves the checkpoints of
// the projectors it applied events to.
type checkpointAdvance struct {
	names     []string
	positions []int64
	counts    []int64
	lastAt    []time.Time
}

// add notes that projector name applied events up to pos (recorded at at).
func (a *checkpointAdvance) add(name string, pos eventstore.Position, events int64, at time.Time) {
	a.names = append(a.names, name)
	a.positions = append(a.positions, int64(pos))
	a.counts = append(a.counts, events)
	a.lastAt = append(a.lastAt, at)
}

// write moves the checkpoints in schema forward; each must move.
func (a *checkpointAdvance) write(ctx context.Context, tx pgx.Tx, schema string) error {
	if len(a.names) == 0 {
		return nil
	}
	tag, err := tx.Exec(ctx, `UPDATE `+ident(schema)+`.checkpoints c SET position = u.position, events = c.events + u.n, last_recorded_at = u.at
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS u(projector, position, n, at)
		WHERE c.projector = u.projector AND c.position < u.position`, a.names, a.positions, a.counts, a.lastAt)
	if err != nil {
		return fmt.Errorf("projections: advance checkpoints: %w", err)
	}
	if int(tag.RowsAffected()) != len(a.names) {
		return fmt.Errorf("projections: advanced %d checkpoints, want %d", tag.RowsAffected(), len(a.names))
	}
	return nil
}
