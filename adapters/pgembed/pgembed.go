// Package pgembed runs a private PostgreSQL server for smsledger: the embedded
// default of `smsledger serve` when no --database-url is given, and the
// database of the test suites (through package pgtest).
//
// Start initialises a cluster under <DataDir>/pgdata on first use (UTF8, a
// random superuser password stored 0600 beside it, scram-sha-256 over TCP),
// reuses it afterwards, and runs the `postgres` binary found on PATH or under
// /usr/lib/postgresql/*/bin listening only on 127.0.0.1 on a free port, with no
// unix socket. When the process runs as root the server runs as the
// unprivileged `postgres` user (initdb and postgres refuse to run as root). The
// child is tied to this process with a parent-death signal so a crash of the
// parent never leaves an orphan server holding the data directory.
package pgembed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Layout of the data directory.
const (
	pgdataName   = "pgdata"            // the cluster (owned by the server's user)
	passwordName = "postgres.password" // superuser password, 0600
	logName      = "postgres.log"      // the server's stderr/stdout
	lockName     = ".pgembed.lock"     // flock held by the owning process while running

	superuser = "postgres"

	// DefaultStartTimeout bounds how long Start waits for the server to accept
	// connections (crash recovery after a hard kill is included).
	DefaultStartTimeout = 2 * time.Minute

	maxLogSize = 64 << 20 // rotate postgres.log to postgres.log.1 past this size at start
)

// Config configures Start.
type Config struct {
	// DataDir holds the cluster (DataDir/pgdata), its password and its log.
	// It is created if missing. Required.
	DataDir string
	// Logger receives pgembed's own few log lines. Optional; slog.Default() if nil.
	Logger *slog.Logger
	// BinDirs, if non-empty, are the only directories searched for initdb and
	// postgres. By default PATH is searched, then /usr/lib/postgresql/*/bin
	// (highest version first).
	BinDirs []string
	// StartTimeout bounds the wait for the server to accept connections.
	// Optional; DefaultStartTimeout if zero.
	StartTimeout time.Duration
}

// Instance is a running embedded server.
type Instance struct {
	url     string
	port    int
	dataDir string
	pgdata  string
	logPath string
	log     *slog.Logger
	lock    *os.File

	cmd    *exec.Cmd
	done   chan struct{} // closed when the child has exited
	waitMu sync.Mutex
	err    error // exit status, valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// ErrBinariesNotFound is returned (wrapped) by Start when initdb or postgres
// cannot be found.
var ErrBinariesNotFound = errors.New("PostgreSQL server binaries (initdb, postgres) not found on PATH or under /usr/lib/postgresql/*/bin; install them with `apt-get install -y postgresql`, or pass --database-url (DATABASE_URL) to use an existing server")

// ErrInUse is returned (wrapped) by Start when another process is already
// running a server on the data directory.
var ErrInUse = errors.New("data directory is in use by another process")

// URL returns the postgres:// URL of the "postgres" database of the instance,
// reachable on 127.0.0.1 only.
func (i *Instance) URL() string { return i.url }

// Port returns the loopback TCP port the server listens on.
func (i *Instance) Port() int { return i.port }

// Start initialises (first time) and starts the server, and returns once it
// accepts connections.
func Start(ctx context.Context, cfg Config) (inst *Instance, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "pgembed")
	if cfg.DataDir == "" {
		return nil, errors.New("pgembed: Config.DataDir is required")
	}
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgembed: data dir: %w", err)
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}

	bins, err := findBinaries(cfg.BinDirs)
	if err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}

	var owner *runAs
	if os.Geteuid() == 0 {
		if owner, err = lookupRunAs(superuser); err != nil {
			return nil, fmt.Errorf("pgembed: %w", err)
		}
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("pgembed: create data dir: %w", err)
	}
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()

	pgdata := filepath.Join(dataDir, pgdataName)
	if err := checkLivePostmaster(ctx, pgdata); err != nil {
		return nil, err
	}

	if owner != nil {
		changed, err := makeTraversable(dataDir)
		if err != nil {
			return nil, fmt.Errorf("pgembed: make data dir reachable for user %q: %w", superuser, err)
		}
		if len(changed) > 0 {
			log.Info("made directories traversable for the postgres user (o+x)", "dirs", changed)
		}
	}

	pwPath := filepath.Join(dataDir, passwordName)
	password, err := ensureCluster(ctx, log, bins, owner, dataDir, pgdata, pwPath)
	if err != nil {
		return nil, err
	}
	if owner != nil {
		// Repair ownership (e.g. a data dir restored by root); postgres insists on it.
		if err := chownTreeIfNeeded(pgdata, owner); err != nil {
			return nil, fmt.Errorf("pgembed: chown %s: %w", pgdata, err)
		}
	}

	logPath := filepath.Join(dataDir, logName)
	rotateLog(logPath)

	deadline := time.Now().Add(timeout)
	const attempts = 3 // a free port can be taken by someone else between choosing and binding
	for attempt := 1; ; attempt++ {
		inst, err = launch(ctx, log, bins, owner, dataDir, pgdata, logPath, password, deadline)
		if err == nil {
			inst.lock = lock
			return inst, nil
		}
		if attempt >= attempts || !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			return nil, err
		}
		log.Warn("port taken before postgres could bind it; retrying", "err", err)
	}
}

var errPortTaken = errors.New("port already in use")

// liveServerGrace is how long Start waits for a server found running on the
// data dir to exit before reporting ErrInUse (a server whose parent was just
// killed is shutting down on its own). A variable for tests.
var liveServerGrace = 5 * time.Second

func launch(ctx context.Context, log *slog.Logger, bins binaries, owner *runAs, dataDir, pgdata, logPath, password string, deadline time.Time) (*Instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pgembed: choose a free port: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("pgembed: open server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	logStart, _ := logFile.Seek(0, io.SeekEnd)

	started := time.Now()
	cmd := exec.Command(bins.postgres,
		"-D", pgdata,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "max_connections=200",
		// The event log appends tens of thousands of rows a second: a
		// bigger buffer cache keeps its indexes' hot pages in memory, and
		// rarer checkpoints write fewer full pages to the WAL (crash
		// recovery replays more WAL in exchange; see docs/PERFORMANCE.md).
		"-c", "shared_buffers=512MB",
		"-c", "max_wal_size=4GB",
		"-c", "checkpoint_timeout=15min",
		// The projections commit asynchronously; their WAL (most of the
		// WAL a message makes) is otherwise written by the WAL writer only
		// every 200 ms or per MB, so an accept's synchronous commit often
		// writes and flushes it first. A WAL writer that flushes every
		// 10 ms or 64 kB does that work in the background instead: submit
		// p50 and p99 lower in most of 6 alternated pairs at 977 msg/s,
		// with the same CPU per message (docs/PERFORMANCE.md).
		"-c", "wal_writer_delay=10ms",
		"-c", "wal_writer_flush_after=64kB",
		// A new 16 MB WAL segment is otherwise filled with zeros and
		// fsynced by whichever process crosses into it, with the WAL
		// write lock held: at ~11 MB of WAL a second that stalled every
		// commit for ~15 ms every ~1.5 s, and the accepts waiting behind
		// them were ~1 % of all: the submit p99. Unzeroed segments cost
		// ~30 µs more per fsync until their blocks are allocated, and
		// nothing once checkpoints recycle them (docs/PERFORMANCE.md).
		"-c", "wal_init_zero=off",
	)
	cmd.Dir = pgdata
	cmd.Env = childEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// SIGQUIT = immediate shutdown: if we die, the server stops at once and
		// releases the data dir; WAL recovery on the next start keeps every
		// committed transaction.
		Pdeathsig: syscall.SIGQUIT,
		Setpgid:   true, // a Ctrl-C on the terminal reaches us, and we stop the server in order
	}
	if owner != nil {
		cmd.SysProcAttr.Credential = owner.credential()
	}
	// The kernel sends Pdeathsig when the *thread* that forked the child
	// exits, not only the process. The Go runtime only ends threads whose
	// goroutine exits while locked to them, so fork from a goroutine locked
	// to its thread that lives (still locked) until the child has exited.
	startErr := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			startErr <- err
			return
		}
		startErr <- nil
		exited <- cmd.Wait()
	}()
	if err := <-startErr; err != nil {
		return nil, fmt.Errorf("pgembed: start postgres: %w", err)
	}
	inst := &Instance{
		port:    port,
		dataDir: dataDir,
		pgdata:  pgdata,
		logPath: logPath,
		log:     log,
		cmd:     cmd,
		done:    make(chan struct{}),
		url: (&url.URL{
			Scheme:   "postgres",
			User:     url.UserPassword(superuser, password),
			Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Path:     "/postgres",
			RawQuery: "sslmode=disable",
		}).String(),
	}
	go func() {
		err := <-exited
		inst.waitMu.Lock()
		inst.err = err
		inst.waitMu.Unlock()
		close(inst.done)
	}()

	if err := inst.waitReady(ctx, deadline); err != nil {
		tail := logTail(logPath, logStart, 2048)
		select {
		case <-inst.done:
			if strings.Contains(tail, "Address already in use") || strings.Contains(tail, "could not bind") {
				return nil, fmt.Errorf("pgembed: postgres exited during start: %w: %s", errPortTaken, tail)
			}
			return nil, fmt.Errorf("pgembed: postgres exited during start (%v); log %s:\n%s", inst.exitErr(), logPath, tail)
		default:
		}
		_ = inst.stop(context.Background(), 10*time.Second)
		return nil, fmt.Errorf("pgembed: postgres not ready: %w; log %s:\n%s", err, logPath, tail)
	}
	log.Info("postgres started", "port", port, "pid", cmd.Process.Pid, "data_dir", dataDir,
		"startup_ms", time.Since(started).Milliseconds())
	return inst, nil
}

// waitReady polls until the server accepts an authenticated connection.
func (i *Instance) waitReady(ctx context.Context, deadline time.Time) error {
	var lastErr error
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attemptCtx, i.url)
		if err == nil {
			err = conn.Ping(attemptCtx)
			_ = conn.Close(attemptCtx)
		}
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-i.done:
			return errors.New("server exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for connections: %w", lastErr)
		}
	}
}

// Done is closed when the server process has exited, whether by Stop or
// unexpectedly (a crash, or someone else stopping it).
func (i *Instance) Done() <-chan struct{} { return i.done }

func (i *Instance) exitErr() error {
	i.waitMu.Lock()
	defer i.waitMu.Unlock()
	return i.err
}

// Stop shuts the server down ("fast" mode: open sessions are disconnected,
// a checkpoint is written) and waits for it to exit. If ctx ends first the
// server is stopped in "immediate" mode (recovery from WAL on next start) and,
// failing that, killed. Stop is idempotent.
func (i *Instance) Stop(ctx context.Context) error {
	i.stopOnce.Do(func() {
		i.stopErr = i.stopCtx(ctx)
		if i.lock != nil {
			_ = i.lock.Close()
		}
	})
	return i.stopErr
}

func (i *Instance) stop(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return i.stopCtx(ctx)
}

func (i *Instance) stopCtx(ctx context.Context) error {
	select {
	case <-i.done:
		return fmt.Errorf("pgembed: postgres had already exited: %v", i.exitErr())
	default:
	}
	started := time.Now()
	_ = i.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-i.done:
		if err := i.exitErr(); err != nil {
			return fmt.Errorf("pgembed: postgres shutdown: %w", err)
		}
		i.log.Info("postgres stopped", "shutdown_ms", time.Since(started).Milliseconds())
		return nil
	case <-ctx.Done():
	}
	i.log.Warn("postgres fast shutdown too slow; forcing immediate shutdown")
	_ = i.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-i.done:
		return fmt.Errorf("pgembed: postgres stopped in immediate mode: %w", ctx.Err())
	case <-time.After(10 * time.Second):
	}
	_ = i.cmd.Process.Kill()
	<-i.done
	return fmt.Errorf("pgembed: postgres killed: %w", ctx.Err())
}

// ensureCluster runs initdb on first use and returns the superuser password.
func ensureCluster(ctx context.Context, log *slog.Logger, bins binaries, owner *runAs, dataDir, pgdata, pwPath string) (string, error) {
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); err == nil {
		pw, err := os.ReadFile(pwPath)
		if err != nil {
			return "", fmt.Errorf("pgembed: cluster %s exists but its password file cannot be read (%w); restore it or move the data dir away", pgdata, err)
		}
		log.Debug("reusing cluster", "pgdata", pgdata)
		return strings.TrimSpace(string(pw)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("pgembed: stat cluster: %w", err)
	}
	if entries, err := os.ReadDir(pgdata); err == nil && len(entries) > 0 {
		return "", fmt.Errorf("pgembed: %s exists, is not empty and holds no cluster (no PG_VERSION); move it away", pgdata)
	}

	// A fresh password, written before initdb reads it.
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("pgembed: generate password: %w", err)
	}
	password := hex.EncodeToString(buf)
	if err := writeFileAtomic(pwPath, []byte(password+"\n"), 0o600, owner); err != nil {
		return "", fmt.Errorf("pgembed: write password file: %w", err)
	}

	// initdb into a scratch dir, then rename: an interrupted first start never
	// leaves a half-initialised cluster behind.
	tmp := pgdata + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return "", fmt.Errorf("pgembed: remove leftover %s: %w", tmp, err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", fmt.Errorf("pgembed: create %s: %w", tmp, err)
	}
	if owner != nil {
		if err := os.Chown(tmp, owner.uid, owner.gid); err != nil {
			return "", fmt.Errorf("pgembed: chown %s: %w", tmp, err)
		}
	}
	started := time.Now()
	cmd := exec.CommandContext(ctx, bins.initdb,
		"-D", tmp,
		"-U", superuser,
		"--pwfile", pwPath,
		"--auth", "scram-sha-256",
		"--encoding", "UTF8",
		"--no-locale",
		"--no-instructions",
	)
	cmd.Dir = dataDir
	cmd.Env = childEnv()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if owner != nil {
		cmd.SysProcAttr.Credential = owner.credential()
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pgembed: initdb: %w: %s", err, tailString(out.String(), 2048))
	}
	if err := os.Rename(tmp, pgdata); err != nil {
		return "", fmt.Errorf("pgembed: install cluster: %w", err)
	}
	if err := syncDir(dataDir); err != nil {
		return "", fmt.Errorf("pgembed: sync data dir: %w", err)
	}
	log.Info("initialised new cluster", "pgdata", pgdata, "initdb_ms", time.Since(started).Milliseconds())
	return password, nil
}

// lockDataDir takes an exclusive flock on the data dir for the life of the
// instance, so two smsledger processes never start servers on it at once. The
// kernel drops the lock when the process dies.
func lockDataDir(dataDir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dataDir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgembed: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("pgembed: %s: %w (another smsledger process has an embedded PostgreSQL running there)", dataDir, ErrInUse)
		}
		return nil, fmt.Errorf("pgembed: lock data dir: %w", err)
	}
	return f, nil
}

// checkLivePostmaster returns ErrInUse if postmaster.pid names a live postgres
// process. A stale file left by a dead server is left to postgres, which
// removes it itself. A server still shutting down (e.g. after its parent was
// killed) is given a few seconds to finish.
func checkLivePostmaster(ctx context.Context, pgdata string) error {
	deadline := time.Now().Add(liveServerGrace)
	for {
		pid := livePostmaster(pgdata)
		if pid == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgembed: %s: %w: a PostgreSQL server (pid %d) is running on it; stop it first", pgdata, ErrInUse, pid)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func livePostmaster(pgdata string) int {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0 // no such process: stale
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return 0
	}
	if c := strings.TrimSpace(string(comm)); c != "postgres" && c != "postmaster" {
		return 0 // pid reused by an unrelated process
	}
	// Zombies (exited, not yet reaped) do not hold the data dir.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return 0
		}
	}
	return pid
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childEnv is our environment without PG* variables (PGDATA, PGPORT… would
// otherwise change what the server does) and with a neutral locale.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C", "LC_ALL=C")
}

func rotateLog(path string) {
	if st, err := os.Stat(path); err == nil && st.Size() > maxLogSize {
		_ = os.Rename(path, path+".1")
	}
}

// logTail returns up to max bytes of the log written since offset.
func logTail(path string, offset int64, max int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	start := offset
	if st.Size()-start > int64(max) {
		start = st.Size() - int64(max)
	}
	b := make([]byte, st.Size()-start)
	n, _ := f.ReadAt(b, start)
	return strings.TrimSpace(string(b[:n]))
}

func tailString(s string, max int) string {
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}

func writeFileAtomic(path string, data []byte, perm os.FileMode, owner *runAs) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if owner != nil {
		// initdb, running as the postgres user, reads it (--pwfile).
		if err := os.Chown(tmp, owner.uid, owner.gid); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
