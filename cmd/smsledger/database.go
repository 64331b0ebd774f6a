package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/smsledger/smsledger/adapters/pgembed"
)

// openDatabase returns the URL of the database to use: --database-url if
// given, else that of an embedded server started under --data-dir. stop
// stops the embedded server (a no-op for an external database); call it last.
//
// died, if non-nil, is closed when the embedded server exits on its own.
func openDatabase(ctx context.Context, c commonConfig, log *slog.Logger) (dbURL string, stop func(), died <-chan struct{}, err error) {
	if c.databaseURL != "" {
		log.Info("using external PostgreSQL", "database", redactURL(c.databaseURL))
		return c.databaseURL, func() {}, nil, nil
	}
	inst, err := pgembed.Start(ctx, pgembed.Config{DataDir: c.dataDir, Logger: log, BinDirs: c.pgBinDirs})
	if err != nil {
		return "", nil, nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	return inst.URL(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := inst.Stop(ctx); err != nil {
			log.Error("stopping embedded PostgreSQL", "err", err)
		}
	}, inst.Done(), nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	return u.Redacted()
}
