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

// serveLockRegainFor bounds how long serve tries to take its lock again
// after losing its connection (the database restarting): past it, serve
// stops.
var serveLockRegainFor = 10 * time.Minute

// errDatabaseInUse: another serve holds the database's lock.
var errDatabaseInUse = errors.New("another smsledger serve is using this database")

// serveLock is the held lock: its dedicated connection.
type serveLock struct {
	dbURL  string
	conn   *pgx.Conn
	shared bool // held with the other nodes of a cluster
}

// takeServeLock takes the database's serve lock on a new connection, or
// fails with errDatabaseInUse saying who holds it. The nodes of a cluster
// (shared) hold it together; a serve outside a cluster holds it alone.
func takeServeLock(ctx context.Context, dbURL string, shared bool) (*serveLock, error) {
	conn, got, err := tryAdvisoryLock(ctx, dbURL, serveLockApp, serveLockKey, shared)
	if err != nil {
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
		if shared {
			return nil, fmt.Errorf("%w outside a cluster (%s): stop it first, or run every serve on this database with --cluster", errDatabaseInUse, holder)
		}
		return nil, fmt.Errorf("%w (%s): stop it first, give this one another database, or run every serve on it with --cluster; two serves on one database would otherwise corrupt each other", errDatabaseInUse, holder)
	}
	return &serveLock{dbURL: dbURL, conn: conn, shared: shared}, nil
}

// tryAdvisoryLock tries a session advisory lock (shared or exclusive) on a
// new connection named app in pg_stat_activity. The connection is open
// whether or not it got the lock (the caller may ask who holds it) and is
// the caller's to close; on an error there is none.
func tryAdvisoryLock(ctx context.Context, dbURL, app string, key int64, shared bool) (conn *pgx.Conn, got bool, err error) {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, false, err
	}
	cfg.RuntimeParams["application_name"] = app
	conn, err = pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("connect: %w", err)
	}
	take := `SELECT pg_try_advisory_lock($1)`
	if shared {
		take = `SELECT pg_try_advisory_lock_shared($1)`
	}
	if err := conn.QueryRow(ctx, take, key).Scan(&got); err != nil {
		_ = conn.Close(context.Background())
		return nil, false, err
	}
	return conn, got, nil
}

// watch returns when ctx ends (nil), or with an error when the lock is
// lost for good. A lost connection (PostgreSQL restarting, a network cut)
// ends the session and its lock: watch takes the lock again as soon as the
// database answers, and stops serve only if another serve took it
// meanwhile, or if it cannot within serveLockRegainFor. While the database
// is away nobody can append, so nothing is written without the lock for
// longer than one check (serveLockCheckEvery).
func (l *serveLock) watch(ctx context.Context) error {
	for {
		err := l.watchConn(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if err := l.regain(ctx, err); err != nil {
			return err
		}
	}
}

// regain takes the lock again on a new connection after lost (the error
// that ended the old one).
func (l *serveLock) regain(ctx context.Context, lost error) error {
	_ = l.conn.Close(context.Background())
	deadline := time.Now().Add(serveLockRegainFor)
	for {
		nl, err := takeServeLock(ctx, l.dbURL, l.shared)
		switch {
		case err == nil:
			l.conn = nl.conn
			return nil
		case errors.Is(err, errDatabaseInUse):
			return fmt.Errorf("serve's exclusive database lock was lost (%v) and another serve took it: stopping: %w", lost, err)
		case ctx.Err() != nil:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("lost the database connection holding serve's exclusive lock (%v) and could not take the lock again within %s: %w", lost, serveLockRegainFor, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(serveLockCheckEvery):
		}
	}
}

// watchConn checks the lock's connection every serveLockCheckEvery; it
// returns nil when ctx ends, or the error that lost the lock.
func (l *serveLock) watchConn(ctx context.Context) error {
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
			return fmt.Errorf("lock connection: %w", err)
		}
		if !held {
			return errors.New("the lock is no longer held on its connection")
		}
	}
}

// release lets the lock go (closing its connection).
func (l *serveLock) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
}
