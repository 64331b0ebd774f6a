package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

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
	// BatchEventsMax bounds the events per transaction. Default 10000.
	BatchEventsMax int
	// Schema receives the rebuild. Default ReplaySchema. It is dropped and
	// created afresh.
	Schema string
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
	n, err := replayInto(ctx, store, pool, opts.Schema, target, rep.UpTo, opts.BatchEventsMax)
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

// replayInto reads the log up to target in pages, decodes each page while
// the previous one is applied, and applies it to every projector of schema
// (each capped at upTo). It returns the number of events read.
func replayInto(ctx context.Context, store eventstore.Store, pool *pgxpool.Pool, schema string, target eventstore.Position, upTo map[string]eventstore.Position, batchMax int) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []Event, 2)
	readErr := make(chan error, 1)
	var read int64
	go func() {
		defer close(batches)
		readErr <- func() error {
			after := eventstore.Start
			for after < target {
				recs, err := store.ReadAll(ctx, after, min(batchMax, eventstore.ReadLimitMax))
				if err != nil {
					return fmt.Errorf("read the log after %d: %w", after, err)
				}
				if len(recs) == 0 {
					return fmt.Errorf("log ends at %d before position %d", after, target)
				}
				for len(recs) > 0 && recs[len(recs)-1].Position > target {
					recs = recs[:len(recs)-1]
				}
				if len(recs) == 0 {
					return nil
				}
				evs, err := decode(recs)
				if err != nil {
					return err
				}
				read += int64(len(evs))
				after = evs[len(evs)-1].Position
				select {
				case batches <- evs:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		}()
	}()
	projs := newProjectors(schema)
	for evs := range batches {
		if err := applyBatch(ctx, pool, schema, projs, evs, upTo, nil); err != nil {
			cancel()
			for range batches {
			}
			<-readErr
			return 0, err
		}
	}
	if err := <-readErr; err != nil {
		return 0, err
	}
	return read, nil
}
