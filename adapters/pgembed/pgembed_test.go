package pgembed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const childEnvVar = "PGEMBED_TEST_CHILD_DATADIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnvVar); dir != "" {
		// Child mode for TestParentKilled: start a server, report, wait to be killed.
		inst, err := Start(context.Background(), Config{DataDir: dir})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("PID", inst.cmd.Process.Pid)
		select {}
	}
	os.Exit(m.Run())
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func mustStart(t *testing.T, dir string) *Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inst, err := Start(ctx, Config{DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return inst
}

func mustStop(t *testing.T, inst *Instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := inst.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func exec1(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestStartStopReuse(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")

	t0 := time.Now()
	inst := mustStart(t, dir)
	t.Logf("first start (initdb + start): %v", time.Since(t0))
	if !strings.HasPrefix(inst.URL(), "postgres://postgres:") || !strings.Contains(inst.URL(), "@127.0.0.1:") {
		t.Fatalf("unexpected URL %q", inst.URL())
	}
	exec1(t, inst.URL(), "CREATE TABLE marker (v text)")
	exec1(t, inst.URL(), "INSERT INTO marker VALUES ('kept')")

	// Settings we rely on.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, inst.URL())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"server_encoding": "UTF8", "fsync": "on", "synchronous_commit": "on",
		"listen_addresses": "127.0.0.1", "unix_socket_directories": "", "max_connections": "200",
		"password_encryption": "scram-sha-256",
		"shared_buffers":      "512MB", "max_wal_size": "4GB", "checkpoint_timeout": "15min",
		"wal_writer_delay": "10ms", "wal_writer_flush_after": "64kB", "wal_init_zero": "off",
	}
	for k, v := range want {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", k).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	conn.Close(ctx)

	// A wrong password is refused (scram over TCP, not trust).
	bad := strings.Replace(inst.URL(), "postgres://postgres:", "postgres://postgres:wrong", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Error("connection with a wrong password succeeded")
	}

	st, err := os.Stat(filepath.Join(dir, passwordName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %v, want 0600", st.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		owner, err := lookupRunAs(superuser)
		if err != nil {
			t.Fatal(err)
		}
		pst, _ := os.Stat(filepath.Join(dir, pgdataName))
		if uid := pst.Sys().(*syscall.Stat_t).Uid; int(uid) != owner.uid {
			t.Errorf("pgdata owned by uid %d, want %d", uid, owner.uid)
		}
	}

	// A second Start on the same dir while running is refused clearly.
	if _, err := Start(ctx, Config{DataDir: dir, Logger: testLogger(t)}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Start on a live dir: err = %v, want ErrInUse", err)
	}

	t1 := time.Now()
	mustStop(t, inst)
	t.Logf("stop: %v", time.Since(t1))
	if err := inst.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, pgdataName, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid still present after Stop (err=%v)", err)
	}

	t2 := time.Now()
	inst2 := mustStart(t, dir)
	t.Logf("second start (reuse): %v", time.Since(t2))
	defer mustStop(t, inst2)
	var v string
	conn, err = pgx.Connect(ctx, inst2.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SELECT v FROM marker").Scan(&v); err != nil || v != "kept" {
		t.Fatalf("data not kept across restarts: %q, %v", v, err)
	}
}

func TestMissingBinaries(t *testing.T) {
	_, err := Start(context.Background(), Config{DataDir: t.TempDir(), BinDirs: []string{t.TempDir()}})
	if !errors.Is(err, ErrBinariesNotFound) {
		t.Fatalf("err = %v, want ErrBinariesNotFound", err)
	}
	for _, s := range []string{"apt-get install -y postgresql", "--database-url", "initdb"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestFindBinariesVersionOrder(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "16", "notaversion"} {
		d := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{"initdb", "postgres"} {
			if err := os.WriteFile(filepath.Join(d, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	bins, err := findBinaries(versionedDirs(filepath.Join(root, "*", "bin")))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "16", "bin", "postgres"); bins.postgres != want {
		t.Fatalf("picked %s, want %s", bins.postgres, want)
	}
}

func TestEarlyExitReportsLog(t *testing.T) {
	dir := t.TempDir()
	mustStop(t, mustStart(t, dir))
	conf := filepath.Join(dir, pgdataName, "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "shared_buffers = 'not-a-size'")
	f.Close()
	_, err = Start(context.Background(), Config{DataDir: dir, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "exited during start") || !strings.Contains(err.Error(), "shared_buffers") {
		t.Fatalf("err = %v, want early exit with the log tail naming shared_buffers", err)
	}
}

func TestLivePostmasterDetected(t *testing.T) {
	old := liveServerGrace
	liveServerGrace = 300 * time.Millisecond
	defer func() { liveServerGrace = old }()

	dir := t.TempDir()
	inst := mustStart(t, dir)
	defer mustStop(t, inst)
	// Drop our flock to simulate a server started by someone else.
	inst.lock.Close()
	inst.lock = nil
	_, err := Start(context.Background(), Config{DataDir: dir, Logger: testLogger(t)})
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), strconv.Itoa(inst.cmd.Process.Pid)) {
		t.Fatalf("err = %v, want ErrInUse naming pid %d", err, inst.cmd.Process.Pid)
	}
}

// TestParentKilled: when the process that started the server is killed with
// SIGKILL, the server goes away (parent-death signal) and the next Start on
// the same data dir succeeds and keeps the data.
func TestParentKilled(t *testing.T) {
	dir := t.TempDir()
	inst := mustStart(t, dir)
	exec1(t, inst.URL(), "CREATE TABLE survived (v int)")
	mustStop(t, inst)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnvVar+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PID ") {
		_ = cmd.Process.Kill()
		t.Fatalf("child: %q %v", line, err)
	}
	pgPid, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "PID ")))
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for livePostmaster(filepath.Join(dir, pgdataName)) != 0 || syscall.Kill(pgPid, 0) == nil && !isZombie(pgPid) {
		if time.Now().After(deadline) {
			t.Fatalf("postgres pid %d still alive 15s after its parent was killed", pgPid)
		}
		time.Sleep(50 * time.Millisecond)
	}

	inst2 := mustStart(t, dir)
	defer mustStop(t, inst2)
	exec1(t, inst2.URL(), "INSERT INTO survived VALUES (1)")
}

func isZombie(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(st), ')')
	return i >= 0 && i+2 < len(st) && st[i+2] == 'Z'
}
