package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/migrations"
	"github.com/smsledger/smsledger/projections"
)

type replayConfig struct {
	common    commonConfig
	verify    bool
	batchSize int
}

func parseReplayFlags(args []string, stderr io.Writer, getenv func(string) string) (replayConfig, error) {
	var cfg replayConfig
	fs := newFlagSet("replay", stderr)
	cfg.common.register(fs)
	fs.BoolVar(&cfg.verify, "verify", false, "compare the rebuilt read models with the live ones; exit 1 on any difference")
	fs.IntVar(&cfg.batchSize, "batch-size", 10_000, "events per read page (1..10000)")
	if err := parseFlags(fs, args, getenv, commonFallbacks); err != nil {
		return cfg, err
	}
	if cfg.batchSize < 1 || cfg.batchSize > 10_000 {
		return cfg, fmt.Errorf("%w: --batch-size must be 1..10000", errUsage)
	}
	return cfg, cfg.common.validate()
}

// ledgerDB is an open database with the postgres event store, for the
// offline subcommands (replay, audit, reconcile).
type ledgerDB struct {
	pool  *pgxpool.Pool
	store *pgstore.Store
	close func()
}

// openLedger opens the database (external or embedded), applies the
// migrations and opens the event store.
func openLedger(ctx context.Context, c commonConfig, log *slog.Logger) (*ledgerDB, error) {
	dbURL, stopDB, _, err := openDatabase(ctx, c, log)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*ledgerDB, error) { stopDB(); return nil, err }
	if err := migrations.Apply(ctx, dbURL); err != nil {
		return fail(err)
	}
	poolCfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fail(fmt.Errorf("database URL: %w", err))
	}
	poolCfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fail(fmt.Errorf("connect: %w", err))
	}
	store, err := pgstore.Open(ctx, pool, pgstore.Options{Logger: log})
	if err != nil {
		pool.Close()
		return fail(err)
	}
	return &ledgerDB{pool: pool, store: store, close: func() {
		store.Close()
		pool.Close()
		stopDB()
	}}, nil
}

// runReplay rebuilds every read model into fresh tables and prints a
// checksum per read model; with --verify a difference is an error.
func runReplay(ctx context.Context, cfg replayConfig, stdout io.Writer, log *slog.Logger) error {
	db, err := openLedger(ctx, cfg.common, log)
	if err != nil {
		return err
	}
	defer db.close()
	rep, err := projections.Replay(ctx, db.store, db.pool, projections.ReplayOptions{Verify: cfg.verify, Logger: log, BatchEventsMax: cfg.batchSize})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d events into schema %s in %s (%.0f events/s)\n", rep.Events, rep.Schema, rep.Duration.Round(time.Millisecond), rep.EventsPerSecond)
	for i, c := range rep.Checksums {
		line := fmt.Sprintf("%-13s rows %-9d checksum %s", c.ReadModel, c.Rows, c.Sum)
		if cfg.verify {
			status := "ok"
			if l := rep.Live[i]; l != c {
				status = "DIFFERS (live rows " + fmt.Sprint(l.Rows) + " checksum " + l.Sum + ")"
			}
			line += "  live: " + status + fmt.Sprintf(" at position %d", rep.UpTo[projectorOf(c.ReadModel)])
		}
		fmt.Fprintln(stdout, line)
	}
	if len(rep.Differences) > 0 {
		return fmt.Errorf("replay differs from the live read models: %v", rep.Differences)
	}
	if cfg.verify {
		fmt.Fprintln(stdout, "verify: every read model equals its replay")
	}
	return nil
}

// projectorOf names the projector that maintains a read model.
func projectorOf(readModel string) string {
	switch readModel {
	case "journal", "balances":
		return projections.ProjectorBalances
	case "cdrs":
		return projections.ProjectorCDRs
	case "route_health_destinations":
		return projections.ProjectorRouteHealthDestinations
	}
	return projections.ProjectorRouteHealth
}
