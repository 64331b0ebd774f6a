package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/eventstore"
)

// readModels lists each read model and its tables, for checksums.
var readModels = []struct {
	name   string
	tables []string
}{
	{"journal", []string{"journal_entries", "postings", "account_balances"}},
	{"balances", []string{"tenant_balances"}},
	{"cdrs", []string{"cdrs", "cdr_keys"}},
	{"route_health", []string{"suppliers", "route_health"}},
	// route_health_messages, that projector's working state, is left out:
	// it is pruned batch by batch, so its rows depend on where the batches
	// end; the counters it leads to are compared.
	{"route_health_destinations", []string{"route_health_networks", "route_health_prefixes"}},
}

// Checksum identifies the content of one read model: its row count and a
// hash over the text of every row of its tables (order-independent: the
// sum of each row's md5 prefix, per table, hashed together).
type Checksum struct {
	ReadModel string `json:"read_model"`
	Rows      int64  `json:"rows"`
	Sum       string `json:"checksum"`
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Checksums computes the checksum of every read model in schema.
func Checksums(ctx context.Context, db querier, schema string) ([]Checksum, error) {
	s := ident(schema)
	out := make([]Checksum, 0, len(readModels))
	for _, rm := range readModels {
		h := sha256.New()
		var rows int64
		for _, t := range rm.tables {
			var n int64
			var sum string
			if err := db.QueryRow(ctx, `SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::bigint), 0)::text
				FROM `+s+`.`+pgx.Identifier{t}.Sanitize()+` t`).Scan(&n, &sum); err != nil {
				return nil, fmt.Errorf("checksum %s.%s: %w", schema, t, err)
			}
			rows += n
			fmt.Fprintf(h, "%s:%d:%s;", t, n, sum)
		}
		out = append(out, Checksum{ReadModel: rm.name, Rows: rows, Sum: hex.EncodeToString(h.Sum(nil))[:32]})
	}
	return out, nil
}

// ReplayOptions tune Replay.
type ReplayOptions struct {
	// Verify compares the rebuilt read models with the live ones, each
	// rebuilt up to the position its live projector had reached.
	Verify bool
	// Logger, default slog.Default().
	Logger *slog.Logger
	// BatchEventsMax bounds the events read and applied per page (one
	// transaction each; CDRs are written in fewer, see replayCDRHorizon).
	// Default 10000, the most one ReadAll returns.
	BatchEventsMax int
	// Schema receives the rebuild. Default ReplaySchema. It is dropped and
	// created afresh.
	Schema string

	// cdrHorizon overrides replayCDRHorizon (tests).
	cdrHorizon int
}

// ReplayReport is the outcome of a replay.
type ReplayReport struct {
	Schema string `json:"schema"`
	// UpTo is the position replayed to, per projector.
	UpTo            map[string]eventstore.Position `json:"up_to"`
	Events          int64                          `json:"events"`
	Duration        time.Duration                  `json:"duration_ns"`
	EventsPerSecond float64                        `json:"events_per_second"`
	Checksums       []Checksum                     `json:"checksums"`
	// Live and Differences are set with Verify: the live checksums and the
	// read models whose checksums differ (empty when all agree).
	Live        []Checksum `json:"live,omitempty"`
	Differences []string   `json:"differences,omitempty"`
}

// Replay rebuilds every read model from position zero into a fresh schema
// and checksums it. Without Verify it replays to the head of the log as it
// is when Replay starts.
func Replay(ctx context.Context, store eventstore.Store, pool *pgxpool.Pool, opts ReplayOptions) (ReplayReport, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.BatchEventsMax <= 0 {
		opts.BatchEventsMax = 10_000
	}
	if opts.Schema == "" {
		opts.Schema = ReplaySchema
	}
	rep := ReplayReport{Schema: opts.Schema, UpTo: map[string]eventstore.Position{}}
	if opts.Verify {
		// A consistent snapshot of the live read models and their
		// checkpoints, even while a serve process keeps projecting.
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return rep, fmt.Errorf("replay: snapshot live read models: %w", err)
		}
		cps, err := readCheckpoints(ctx, tx, LiveSchema)
		if err == nil {
			rep.Live, err = Checksums(ctx, tx, LiveSchema)
		}
		tx.Rollback(ctx)
		if err != nil {
			return rep, fmt.Errorf("replay: snapshot live read models: %w", err)
		}
		rep.UpTo = cps
	} else {
		head, err := store.Head(ctx)
		if err != nil {
			return rep, fmt.Errorf("replay: read log head: %w", err)
		}
		for _, n := range projectorNames() {
			rep.UpTo[n] = head
		}
	}
	target := eventstore.Position(0)
	for _, p := range rep.UpTo {
		target = max(target, p)
	}
	if err := recreateSchema(ctx, pool, opts.Schema); err != nil {
		return rep, fmt.Errorf("replay: %w", err)
	}
	if _, err := ensureCheckpoints(ctx, pool, opts.Schema); err != nil {
		return rep, fmt.Errorf("replay: %w", err)
	}
	started := time.Now()
	n, err := replayInto(ctx, store, pool, opts.Schema, target, rep.UpTo, opts.BatchEventsMax, opts.cdrHorizon)
	if err != nil {
		return rep, fmt.Errorf("replay: %w", err)
	}
	rep.Events = n
	rep.Duration = time.Since(started)
	if s := rep.Duration.Seconds(); s > 0 {
		rep.EventsPerSecond = float64(n) / s
	}
	got, err := readCheckpoints(ctx, pool, opts.Schema)
	if err != nil {
		return rep, fmt.Errorf("replay: %w", err)
	}
	for name, want := range rep.UpTo {
		// A projector's checkpoint only moves on events that exist, so a
		// rebuilt one stops exactly at the live one (or the head).
		if got[name] > want {
			return rep, fmt.Errorf("replay: %s replayed to %d, beyond %d", name, got[name], want)
		}
	}
	if rep.Checksums, err = Checksums(ctx, pool, opts.Schema); err != nil {
		return rep, fmt.Errorf("replay: %w", err)
	}
	if opts.Verify {
		for i, c := range rep.Checksums {
			l := rep.Live[i]
			if c.ReadModel != l.ReadModel || c.Sum != l.Sum || c.Rows != l.Rows {
				rep.Differences = append(rep.Differences, fmt.Sprintf("%s: live %d rows %s, replay %d rows %s", c.ReadModel, l.Rows, l.Sum, c.Rows, c.Sum))
			}
		}
	}
	opts.Logger.Info("replay finished", "schema", opts.Schema, "events", n, "seconds", rep.Duration.Seconds(),
		"events_per_second", int64(rep.EventsPerSecond), "differences", len(rep.Differences))
	return rep, nil
}

// How long a replay keeps CDRs in memory. A replay writes into empty
// tables, so instead of inserting a CDR when its message is accepted and
// updating it at every later page that touches it (most messages span
// several pages), it merges the message's events in memory and writes the
// row once, with COPY, when no event has touched it for replayCDRHorizon
// events (checked every quarter horizon), at the latest when more
// than replayCDRsMax are held, and at the end. An event that comes after
// its CDR was written (a late DLR) updates the row as the live projector
// does. Memory stays bounded whatever the log's length.
const (
	replayCDRHorizon = 100_000
	replayCDRsMax    = 400_000
)

// replayInto reads the log up to target in pages, decodes each page while
// the previous one is applied, and applies it to every projector of schema
// (each capped at upTo). It returns the number of events read.
//
// The schema is fresh and only the replay writes it, which allows what the
// live runtime cannot do: journal entries and CDRs are COPYed (see
// replayCDRHorizon), the secondary indexes are built after the load, the
// tables are UNLOGGED and the transactions commit with synchronous_commit
// off. None of this changes a row; all of it only weakens durability,
// which a replay does not need: if it crashes, the next replay drops the
// schema and starts again, and its result is checked by checksum. The
// checkpoints of the schema are written once, at the end.
func replayInto(ctx context.Context, store eventstore.Store, pool *pgxpool.Pool, schema string, target eventstore.Position, upTo map[string]eventstore.Position, batchMax, horizon int) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Three stages, each on its own goroutine, so that reading page n+2,
	// decoding page n+1 and applying page n overlap.
	pages := make(chan []eventstore.RecordedEvent, 2)
	batches := make(chan []Event, 2)
	readErr, decodeErr := make(chan error, 1), make(chan error, 1)
	go func() {
		defer close(pages)
		readErr <- readPages(ctx, store, target, min(batchMax, eventstore.ReadLimitMax), pages)
	}()
	var read int64
	go func() {
		defer close(batches)
		decodeErr <- func() error {
			for recs := range pages {
				evs, err := decode(recs)
				if err != nil {
					return err
				}
				read += int64(len(evs))
				select {
				case batches <- evs:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}()
	}()
	r := newReplayer(schema, upTo, horizon)
	err := func() error {
		for evs := range batches {
			if err := r.apply(ctx, pool, evs); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		cancel()
		for range batches {
		}
		<-decodeErr
		for range pages {
		}
		<-readErr
		return 0, err
	}
	if err := <-decodeErr; err != nil {
		cancel()
		for range pages {
		}
		<-readErr
		return 0, err
	}
	if err := <-readErr; err != nil {
		return 0, err
	}
	if err := r.finish(ctx, pool); err != nil {
		return 0, err
	}
	return read, nil
}

// replayReadAhead is how many pages a replay reads at once: the page after
// `after` and the ones after it on the guess that positions are dense
// (those of pgstore are), each checked when it arrives.
const replayReadAhead = 2

// readPages reads the log after Start up to target into pages of at most
// limit events. While the log's positions turn out dense it reads
// replayReadAhead pages concurrently: page i is read after the position
// after+i*limit, and it is used only if the page before it ended exactly
// there (then it is exactly the continuation ReadAll would have returned);
// otherwise it is dropped and reading goes on one page at a time.
func readPages(ctx context.Context, store eventstore.Store, target eventstore.Position, limit int, out chan<- []eventstore.RecordedEvent) error {
	type result struct {
		recs []eventstore.RecordedEvent
		err  error
	}
	after, ahead := eventstore.Start, replayReadAhead
	for after < target {
		var results []chan result
		for i := 0; i < ahead; i++ {
			from := after + eventstore.Position(i*limit)
			if i > 0 && from >= target {
				break
			}
			ch := make(chan result, 1)
			results = append(results, ch)
			go func() {
				recs, err := store.ReadAll(ctx, from, limit)
				ch <- result{recs, err}
			}()
		}
		got := 0
		err := func() error {
			for i, ch := range results {
				r := <-ch
				got++
				from := after + eventstore.Position(i*limit)
				if i > 0 && after != from {
					ahead = 1 // not dense: no more guessing
					return nil
				}
				if r.err != nil {
					return fmt.Errorf("read the log after %d: %w", from, r.err)
				}
				recs := r.recs
				if len(recs) == 0 {
					if i > 0 {
						return nil // read again below: the log may have grown
					}
					return fmt.Errorf("log ends at %d before position %d", after, target)
				}
				for len(recs) > 0 && recs[len(recs)-1].Position > target {
					recs = recs[:len(recs)-1]
				}
				if len(recs) == 0 {
					after = target
					return nil
				}
				after = recs[len(recs)-1].Position
				select {
				case out <- recs:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}()
		for _, ch := range results[got:] {
			<-ch // let every read of the round finish
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// replayer applies pages of the log to the projectors of a fresh schema.
type replayer struct {
	schema     string
	upTo       map[string]eventstore.Position
	balances   *balances
	cdrs       *cdrs
	health     *routeHealth
	dests      *routeHealthDestinations
	pending    map[uuid.UUID]*cdrChange // CDR changes not written yet
	horizon    eventstore.Position
	sinceFlush int
	last       eventstore.Position
	progress   map[string]*replayProgress
}

type replayProgress struct {
	pos    eventstore.Position
	events int64
	at     time.Time
}

func newReplayer(schema string, upTo map[string]eventstore.Position, horizon int) *replayer {
	if horizon <= 0 {
		horizon = replayCDRHorizon
	}
	return &replayer{
		schema: schema, upTo: upTo,
		balances: &balances{fresh: true}, cdrs: &cdrs{partitions: map[string]bool{}, unlogged: true}, health: &routeHealth{}, dests: &routeHealthDestinations{},
		pending: map[uuid.UUID]*cdrChange{}, horizon: eventstore.Position(horizon), progress: map[string]*replayProgress{},
	}
}

// capped is the part of evs the projector may apply (up to its upTo) and
// notes its progress.
func (r *replayer) capped(name string, evs []Event) []Event {
	hi := len(evs)
	if limit, ok := r.upTo[name]; ok {
		hi = firstAfter(evs, limit)
	}
	sub := evs[:hi]
	if len(sub) > 0 {
		p := r.progress[name]
		if p == nil {
			p = &replayProgress{}
			r.progress[name] = p
		}
		last := sub[len(sub)-1]
		p.pos, p.at = last.Position, last.RecordedAt
		p.events += int64(len(sub))
	}
	return sub
}

func (r *replayer) begin(ctx context.Context, pool *pgxpool.Pool) (pgx.Tx, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("projections: begin: %w", err)
	}
	// Only for the throwaway replay schema: see replayInto.
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("projections: begin: %w", err)
	}
	return tx, nil
}

func (r *replayer) apply(ctx context.Context, pool *pgxpool.Pool, evs []Event) error {
	for i := 1; i < len(evs); i++ {
		if evs[i].Position <= evs[i-1].Position {
			return fmt.Errorf("%w: %d after %d", errNotAscending, evs[i].Position, evs[i-1].Position)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	if evs[0].Position <= r.last {
		return fmt.Errorf("%w: %d after %d", errNotAscending, evs[0].Position, r.last)
	}
	r.last = evs[len(evs)-1].Position
	tx, err := r.begin(ctx, pool)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if sub := r.capped(ProjectorBalances, evs); len(sub) > 0 {
		if err := r.balances.apply(ctx, tx, r.schema, sub); err != nil {
			return fmt.Errorf("projections: %s: apply events %d..%d: %w", ProjectorBalances, sub[0].Position, sub[len(sub)-1].Position, err)
		}
	}
	if sub := r.capped(ProjectorRouteHealth, evs); len(sub) > 0 {
		if err := r.health.apply(ctx, tx, r.schema, sub); err != nil {
			return fmt.Errorf("projections: %s: apply events %d..%d: %w", ProjectorRouteHealth, sub[0].Position, sub[len(sub)-1].Position, err)
		}
	}
	if sub := r.capped(ProjectorRouteHealthDestinations, evs); len(sub) > 0 {
		if err := r.dests.apply(ctx, tx, r.schema, sub); err != nil {
			return fmt.Errorf("projections: %s: apply events %d..%d: %w", ProjectorRouteHealthDestinations, sub[0].Position, sub[len(sub)-1].Position, err)
		}
	}
	if sub := r.capped(ProjectorCDRs, evs); len(sub) > 0 {
		err := collectCDRs(sub, func(id uuid.UUID) *cdrChange {
			ch := r.pending[id]
			if ch == nil {
				ch = &cdrChange{id: id}
				r.pending[id] = ch
			}
			return ch
		})
		if err != nil {
			return fmt.Errorf("projections: %s: apply events %d..%d: %w", ProjectorCDRs, sub[0].Position, sub[len(sub)-1].Position, err)
		}
		r.sinceFlush += len(sub)
	}
	if r.sinceFlush >= int(r.horizon/4) || len(r.pending) > replayCDRsMax {
		r.sinceFlush = 0
		cut := eventstore.Position(0)
		if r.last > r.horizon {
			cut = r.last - r.horizon
		}
		if len(r.pending) > replayCDRsMax {
			// Too many held: write the older half as well.
			lasts := make([]eventstore.Position, 0, len(r.pending))
			for _, ch := range r.pending {
				lasts = append(lasts, ch.last)
			}
			slices.Sort(lasts)
			cut = max(cut, lasts[len(lasts)/2])
		}
		if err := r.flushCDRs(ctx, tx, cut); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("projections: commit: %w", err)
	}
	return nil
}

// flushCDRs writes the pending CDR changes last touched at or before cut.
func (r *replayer) flushCDRs(ctx context.Context, tx pgx.Tx, cut eventstore.Position) error {
	var out []*cdrChange
	for id, ch := range r.pending {
		if ch.last <= cut {
			out = append(out, ch)
			delete(r.pending, id)
		}
	}
	if err := r.cdrs.write(ctx, tx, r.schema, out); err != nil {
		return fmt.Errorf("projections: %s: %w", ProjectorCDRs, err)
	}
	return nil
}

// finish writes what is still pending and the checkpoints, and builds the
// secondary indexes: those of the tables already complete while the last
// CDRs are written, on another connection.
func (r *replayer) finish(ctx context.Context, pool *pgxpool.Pool) error {
	indexed := make(chan error, 1)
	go func() {
		indexed <- createIndexes(ctx, pool, r.schema, "journal_entries", "postings", "route_health", "route_health_networks", "route_health_prefixes")
	}()
	err := r.finishCDRs(ctx, pool)
	if err == nil {
		err = createIndexes(ctx, pool, r.schema, "cdrs")
	}
	return errors.Join(err, <-indexed)
}

func (r *replayer) finishCDRs(ctx context.Context, pool *pgxpool.Pool) error {
	tx, err := r.begin(ctx, pool)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := r.flushCDRs(ctx, tx, r.last); err != nil {
		return err
	}
	var adv checkpointAdvance
	for _, name := range projectorNames() {
		if p := r.progress[name]; p != nil {
			adv.add(name, p.pos, p.events, p.at)
		}
	}
	if err := adv.write(ctx, tx, r.schema); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("projections: commit: %w", err)
	}
	return nil
}
