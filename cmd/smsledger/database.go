package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

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

// serveLockKey is the PostgreSQL advisory lock a serve holds on its
// database for as long as it runs (a session lock on a connection of its
// own): two serves on one database would corrupt each other (each appends
// from its own in-memory snapshots, both drive the same messages), so the
// second refuses to start. Until nodes cooperate (the scale-out issue) a
// database has one serve.
const serveLockKey int64 = 0x736d736c // "smsl"

// serveLockApp is the application_name of the lock's connection (seen in
// pg_stat_activity: who holds the database).
const serveLockApp = "smsledger serve lock"

// serveLockCheckEvery is how often serve checks that the lock's connection
// is still there.
var serveLockCheckEvery = 2 * time.Second

// errDatabaseInUse: another serve holds the database's lock.
var errDatabaseInUse = errors.New("another smsledger serve is using this database")

// serveLock is the held lock: its dedicated connection.
type serveLock struct {
	conn *pgx.Conn
}

// takeServeLock takes the database's serve lock on a new connection, or
// fails with errDatabaseInUse saying who holds it.
func takeServeLock(ctx context.Context, dbURL string) (*serveLock, error) {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("database lock: %w", err)
	}
	cfg.RuntimeParams["application_name"] = serveLockApp
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database lock: connect: %w", err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, serveLockKey).Scan(&got); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("database lock: %w", err)
	}
	if !got {
		holder := "unknown"
		var pid int
		var from string
		var since time.Time
		err := conn.QueryRow(ctx, `
			SELECT a.pid, coalesce(host(a.client_addr), 'a local socket'), a.backend_start
			FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
			LIMIT 1`, serveLockKey).Scan(&pid, &from, &since)
		if err == nil {
			holder = fmt.Sprintf("its lock connection is backend pid %d, from %s, since %s", pid, from, since.UTC().Format(time.RFC3339))
		}
		conn.Close(context.Background())
		return nil, fmt.Errorf("%w (%s): stop it first, or give this one another database; two serves on one database would corrupt each other", errDatabaseInUse, holder)
	}
	return &serveLock{conn: conn}, nil
}

// watch returns when ctx ends (nil) or when the lock's connection is lost
// (an error): serve then stops rather than going on without its lock
// (another serve could take the database meanwhile); whatever restarts it
// takes the lock again, or is refused.
func (l *serveLock) watch(ctx context.Context) error {
	tick := time.NewTicker(serveLockCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var held bool
		err := l.conn.QueryRow(cctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND classid = 0 AND objid = $1 AND objsubid = 1)`, serveLockKey).Scan(&held)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lost the database connection holding serve's exclusive lock (%v); stopping, since another serve could now take the database", err)
		}
		if !held {
			return errors.New("serve's exclusive database lock is no longer held; stopping, since another serve could now take the database")
		}
	}
}

// release lets the lock go (closing its connection).
func (l *serveLock) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
}
