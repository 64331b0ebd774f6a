package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smsledger/smsledger/adapters/pgembed"
	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/eventstore/kurrentstore/kurrenttest"
	"github.com/smsledger/smsledger/migrations"
)

// When set, the test binary acts as the smsledger binary (subprocess tests).
const asBinaryEnv = "SMSLEDGER_TEST_AS_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(asBinaryEnv) == "1" {
		main()
		return
	}
	pgtest.Main(m)
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestServeFlagsDefaultsEnvAndPrecedence(t *testing.T) {
	cfg, err := parseServeFlags(nil, io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.smppAddr != "127.0.0.1:2775" || cfg.httpAddr != "127.0.0.1:8080" || cfg.common.dataDir != "./data" ||
		cfg.eventstore != "postgres" || cfg.adminToken != "" || cfg.common.databaseURL != "" {
		t.Fatalf("defaults: %+v", cfg)
	}

	e := env(map[string]string{
		"SMSLEDGER_HTTP_ADDR":   "127.0.0.1:9999",
		"SMSLEDGER_SMPP_ADDR":   "0.0.0.0:2776",
		"SMSLEDGER_DATA_DIR":    "/srv/x",
		"SMSLEDGER_ADMIN_TOKEN": "tok",
		"SMSLEDGER_LOG_FORMAT":  "json",
		"DATABASE_URL":          "postgres://a@b/c",
	})
	cfg, err = parseServeFlags(nil, io.Discard, e)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.httpAddr != "127.0.0.1:9999" || cfg.smppAddr != "0.0.0.0:2776" || cfg.common.dataDir != "/srv/x" ||
		cfg.adminToken != "tok" || cfg.common.logFormat != "json" || cfg.common.databaseURL != "postgres://a@b/c" {
		t.Fatalf("from env: %+v", cfg)
	}

	// The command line wins over the environment; SMSLEDGER_DATABASE_URL over DATABASE_URL.
	e2 := env(map[string]string{"SMSLEDGER_HTTP_ADDR": "127.0.0.1:9999", "DATABASE_URL": "postgres://a/1", "SMSLEDGER_DATABASE_URL": "postgres://a/2"})
	cfg, err = parseServeFlags([]string{"--http-addr", "127.0.0.1:1"}, io.Discard, e2)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.httpAddr != "127.0.0.1:1" || cfg.common.databaseURL != "postgres://a/2" {
		t.Fatalf("precedence: %+v", cfg)
	}

	for _, bad := range [][]string{{"--http-addr", "nope"}, {"--eventstore", "mysql"}, {"--log-format", "xml"}, {"extra"}, {"--nosuchflag"}} {
		if _, err := parseServeFlags(bad, io.Discard, env(nil)); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want usage error", bad, err)
		}
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"replay", "--batch-size", "0"}, exitUsage, "--batch-size"},
		{[]string{"audit", "m1"}, exitUsage, "message id"},
		{[]string{"reconcile"}, exitUsage, "--from and --to"},
		{[]string{"smsc-sim", "--error-rate", "2"}, exitUsage, "--error-rate"},
		{[]string{"bench", "--messages", "0"}, exitUsage, "--messages must be"},
		{[]string{"scenario", "run"}, exitUsage, "needs a FILE"},
		{[]string{"bench", "--http-addr", "127.0.0.1:1"}, exitUsage, "need --smpp-addr"},
		{[]string{"serve", "--eventstore", "redis://127.0.0.1:6379", "--admin-token", "admin-token-0123456789"}, exitUsage, "--eventstore must be"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{nil, exitUsage, "Usage"},
		{[]string{"serve", "--http-addr"}, exitUsage, "flag needs an argument"},
		{[]string{"serve", "-h"}, exitOK, "--smpp-addr"},
		{[]string{"help"}, exitOK, ""},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errOut, env(nil))
		if code != tc.code || !strings.Contains(out.String()+errOut.String(), tc.want) {
			t.Errorf("%v: code %d (want %d), output %q (want %q)", tc.args, code, tc.code, out.String()+errOut.String(), tc.want)
		}
	}
}

func TestServeMissingBinaries(t *testing.T) {
	cfg, err := parseServeFlags([]string{"--data-dir", t.TempDir(), "--admin-token", "admin-token-0123456789", "--http-addr", "127.0.0.1:0"}, io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.common.pgBinDirs = []string{t.TempDir()}
	err = runServe(context.Background(), cfg, io.Discard, slog.New(slog.DiscardHandler))
	if !errors.Is(err, pgembed.ErrBinariesNotFound) || !strings.Contains(err.Error(), "apt-get install -y postgresql") ||
		!strings.Contains(err.Error(), "--database-url") {
		t.Fatalf("err = %v", err)
	}
}

// serveInProcess runs runServe in a goroutine and returns once it is ready.
func serveInProcess(t *testing.T, args ...string) (info readyInfo, stop func() error) {
	t.Helper()
	// A private data dir (embedded database, seal key) unless the test
	// names one: later flags win.
	defaults := []string{"--http-addr", "127.0.0.1:0", "--smpp-addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data")}
	cfg, err := parseServeFlags(append(defaults, args...), io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	readyCh := make(chan readyInfo, 1)
	cfg.ready = func(ri readyInfo) { readyCh <- ri }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stdout bytes.Buffer
	go func() {
		done <- runServe(ctx, cfg, &stdout, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	}()
	select {
	case info = <-readyCh:
	case err := <-done:
		cancel()
		t.Fatalf("serve exited before ready: %v", err)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatal("serve not ready after 2 minutes")
	}
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(time.Minute):
				stopErr = errors.New("serve did not return within a minute of cancellation")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() }) // also when the test fails early
	return info, stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s: Content-Type %q", url, ct)
	}
	return resp.StatusCode, body
}

func checkProbes(t *testing.T, addr string) {
	t.Helper()
	if code, body := getJSON(t, "http://"+addr+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatalf("/healthz: %d %v", code, body)
	}
	if code, body := getJSON(t, "http://"+addr+"/readyz"); code != 200 || body["status"] != "ready" {
		t.Fatalf("/readyz: %d %v", code, body)
	}
}

// TestServeEmbeddedEndToEnd: serve with no database URL initialises the
// embedded server, migrates, answers the probes, stops cleanly on
// cancellation, and a second start reuses the data.
func TestServeEmbeddedEndToEnd(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	start := time.Now()
	info, stop := serveInProcess(t, "--data-dir", dataDir)
	t.Logf("first start (initdb, start, migrate): %v", time.Since(start))
	checkProbes(t, info.HTTPAddr)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, info.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE e2e_marker (v int); INSERT INTO e2e_marker VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after cancellation", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pgdata", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("embedded server still running after serve returned (postmaster.pid: %v)", err)
	}
	if _, err := http.Get("http://" + info.HTTPAddr + "/healthz"); err == nil {
		t.Fatal("HTTP still answering after serve returned")
	}

	start = time.Now()
	info2, stop2 := serveInProcess(t, "--data-dir", dataDir)
	t.Logf("second start (reuse): %v", time.Since(start))
	defer stop2()
	checkProbes(t, info2.HTTPAddr)
	conn, err = pgx.Connect(ctx, info2.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM e2e_marker").Scan(&v); err != nil || v != 42 {
		t.Fatalf("data not reused: %d %v", v, err)
	}
	cur, latest, err := migrations.Version(ctx, info2.DatabaseURL)
	if err != nil || cur != latest {
		t.Fatalf("schema version %d of %d (%v)", cur, latest, err)
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
}

func TestServeExternalDatabase(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	info, stop := serveInProcess(t, "--database-url", dbURL, "--admin-token", "admin-secret-0123456789")
	checkProbes(t, info.HTTPAddr)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	cur, latest, err := migrations.Version(context.Background(), dbURL)
	if err != nil || cur != latest || latest < 1 {
		t.Fatalf("schema version %d of %d (%v)", cur, latest, err)
	}
}

// TestServeKurrentDB runs serve with its log on KurrentDB (the in-memory
// gRPC node the kurrentstore tests use) and its read models in PostgreSQL.
func TestServeKurrentDB(t *testing.T) {
	node, err := kurrenttest.New(kurrenttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Stop)
	dbURL := pgtest.NewDatabase(t)
	info, stop := serveInProcess(t, "--database-url", dbURL, "--admin-token", "admin-secret-0123456789", "--eventstore", node.URL())
	checkProbes(t, info.HTTPAddr)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestBinarySIGINT runs the real binary (this test binary re-executed as
// smsledger) and stops it with SIGINT: exit code 0, the embedded server gone,
// the generated admin token printed once on stdout, JSON logs on stderr.
func TestBinarySIGINT(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(os.Args[0], "serve", "--http-addr", "127.0.0.1:0", "--log-format", "json")
	cmd.Env = append(os.Environ(), asBinaryEnv+"=1", "SMSLEDGER_DATA_DIR="+dataDir, "DATABASE_URL=", "SMSLEDGER_ADMIN_TOKEN=")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	addrCh := make(chan string, 1)
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
			var line map[string]any
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Errorf("stderr line is not JSON: %q", sc.Text())
				continue
			}
			if line["msg"] == "serving" {
				addrCh <- line["http_addr"].(string)
			}
		}
	}()
	var addr string
	select {
	case addr = <-addrCh:
	case <-time.After(2 * time.Minute):
		t.Fatal("serve did not log \"serving\"")
	}
	checkProbes(t, addr)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { <-logDone; waitErr <- cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGINT", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not exit within a minute of SIGINT")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pgdata", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("embedded server left running (postmaster.pid: %v)", err)
	}
	if n := strings.Count(stdout.String(), "admin token"); n != 1 {
		t.Fatalf("admin token printed %d times; stdout %q", n, stdout.String())
	}
}

// TestServeExitsWhenEmbeddedDBDies: if the embedded server goes away under
// serve, serve says so and exits non-zero instead of lingering unready.
func TestServeExitsWhenEmbeddedDBDies(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg, err := parseServeFlags([]string{"--http-addr", "127.0.0.1:0", "--smpp-addr", "127.0.0.1:0", "--data-dir", dataDir, "--admin-token", "admin-token-0123456789"}, io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan readyInfo, 1)
	cfg.ready = func(ri readyInfo) { ready <- ri }
	done := make(chan error, 1)
	go func() {
		done <- runServe(context.Background(), cfg, io.Discard, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve exited early: %v", err)
	}
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "pgdata", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(pidFile), &pid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "exited unexpectedly") {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve still running 30s after its database died")
	}
}
