package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/smsledger/smsledger/migrations"
)

type migrateConfig struct {
	common commonConfig
}

func parseMigrateFlags(args []string, stderr io.Writer, getenv func(string) string) (migrateConfig, error) {
	var cfg migrateConfig
	fs := newFlagSet("migrate", stderr)
	cfg.common.register(fs)
	if err := parseFlags(fs, args, getenv, commonFallbacks); err != nil {
		return cfg, err
	}
	return cfg, cfg.common.validate()
}

// runMigrate applies the embedded migrations to --database-url, or to the
// embedded server under --data-dir, and exits.
func runMigrate(ctx context.Context, cfg migrateConfig, stdout io.Writer, log *slog.Logger) error {
	dbURL, stopDB, _, err := openDatabase(ctx, cfg.common, log)
	if err != nil {
		return err
	}
	defer stopDB()
	started := time.Now()
	if err := migrations.Apply(ctx, dbURL); err != nil {
		return err
	}
	cur, latest, err := migrations.Version(ctx, dbURL)
	if err != nil {
		return err
	}
	log.Info("migrations applied", "version", cur, "latest", latest, "ms", time.Since(started).Milliseconds())
	fmt.Fprintf(stdout, "schema at version %d\n", cur)
	return nil
}
