package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
)

const guardAdmin = "guard-admin-token-0123456789"

// runServeCmd runs `smsledger serve args…` to its end (it must end by
// itself) and returns the exit code and stderr.
func runServeCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	code := run(ctx, append([]string{"serve", "--http-addr", "127.0.0.1:0", "--smpp-addr", "127.0.0.1:0"}, args...), io.Discard, &stderr, env(nil))
	return code, stderr.String()
}

// TestServeRefusesSecondServe: a second serve on a database another serve
// is using exits 1 saying so; once the first loses the connection holding
// its lock, it stops (exit 1) instead of going on unguarded.
func TestServeRefusesSecondServe(t *testing.T) {
	db := pgtest.NewDatabase(t)
	info, stop := serveInProcess(t, "--database-url", db, "--admin-token", guardAdmin)

	code, stderr := runServeCmd(t, "--database-url", db, "--data-dir", filepath.Join(t.TempDir(), "data"), "--admin-token", guardAdmin)
	if code != exitError || !strings.Contains(stderr, "another smsledger serve is using this database") || !strings.Contains(stderr, "backend pid") {
		t.Fatalf("second serve: exit %d, stderr:\n%s", code, stderr)
	}
	if st, _ := apiCall(t, "GET", "http://"+info.HTTPAddr+"/healthz", "", ""); st != 200 {
		t.Fatalf("first serve after the refusal: %d", st)
	}

	// Cut the first serve's lock connection.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// A cut alone is healed: serve takes its lock again (as after a
	// PostgreSQL restart) and goes on.
	// lockConns counts serve's lock connections now.
	lockConns := func() int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, serveLockApp).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// waitLockConn waits (≤ 15 s) until serve holds its lock on one
	// connection: at start, and after it healed a cut.
	waitLockConn := func(what string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); lockConns() != 1; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: serve's lock connection not there within 15 s", what)
			}
		}
	}
	cutLock := func() {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()`, serveLockApp).Scan(&n); err != nil || n != 1 {
			t.Fatalf("terminate the lock's connection: %d %v", n, err)
		}
	}
	waitLockConn("at start")
	cutLock()
	// The cut connection goes, a new one comes back with the lock.
	time.Sleep(200 * time.Millisecond)
	waitLockConn("after a cut")
	if st, _ := apiCall(t, "GET", "http://"+info.HTTPAddr+"/healthz", "", ""); st != 200 {
		t.Fatalf("serve after regaining its lock: %d", st)
	}
	// Cut again while another holder waits for the lock: PostgreSQL grants
	// it to the waiter queued first, so the other holder gets it before
	// serve's reconnection can try, and serve stops.
	other, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	var otherPID int
	if err := other.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&otherPID); err != nil {
		t.Fatal(err)
	}
	took := make(chan error, 1)
	go func() {
		_, err := other.Exec(ctx, `SELECT pg_advisory_lock($1)`, serveLockKey)
		took <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var waiting bool
		if err := conn.QueryRow(ctx, `SELECT coalesce(wait_event_type = 'Lock', false) FROM pg_stat_activity WHERE pid = $1`, otherPID).Scan(&waiting); err == nil && waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other holder never queued for the lock")
		}
	}
	cutLock()
	select {
	case err := <-took:
		if err != nil {
			t.Fatalf("the other holder's lock: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other holder did not get the lock after the cut")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := &http.Client{Timeout: time.Second}
		resp, err := c.Get("http://" + info.HTTPAddr + "/healthz")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("serve still answering 30 s after losing its lock")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := stop(); err == nil || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("serve returned %v, want the lost lock", err)
	}
}

// TestServeSealKeyGuards: serve makes no new seal key while the log holds
// sealed secrets (a new data dir on the same database is refused, exit 1),
// and refuses a key file group or others can read.
func TestServeSealKeyGuards(t *testing.T) {
	db := pgtest.NewDatabase(t)
	dirA := filepath.Join(t.TempDir(), "a")
	info, stop := serveInProcess(t, "--database-url", db, "--data-dir", dirA, "--admin-token", guardAdmin)
	base := "http://" + info.HTTPAddr
	if st, m := apiCall(t, "POST", base+"/v1/suppliers", guardAdmin, `{"id":"sup1","name":"S","currency":"EUR","host":"127.0.0.1","port":1,"system_id":"s","password":"p","binds":1,"tps_limit":10,"window":1}`); st != 201 {
		t.Fatalf("create supplier: %d %v", st, m)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	dirB := filepath.Join(t.TempDir(), "b")
	code, stderr := runServeCmd(t, "--database-url", db, "--data-dir", dirB, "--admin-token", guardAdmin)
	if code != exitError || !strings.Contains(stderr, "holds sealed secrets") {
		t.Fatalf("serve without the seal key: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dirB, "seal.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a seal key was created: %v", err)
	}

	key := filepath.Join(dirA, "seal.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr = runServeCmd(t, "--database-url", db, "--data-dir", dirA, "--admin-token", guardAdmin)
	if code != exitError || !strings.Contains(stderr, "readable or writable by group or others") {
		t.Fatalf("serve with a 0644 seal key: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestServeAdminTokenRules: the admin token has a minimum length; it can
// come from a file (not group/other readable), not together with the flag.
func TestServeAdminTokenRules(t *testing.T) {
	dir := t.TempDir()
	code, stderr := runServeCmd(t, "--data-dir", filepath.Join(dir, "data"), "--admin-token", "short-token")
	if code != exitUsage || !strings.Contains(stderr, fmt.Sprintf("at least %d characters", adminTokenMinLen)) {
		t.Fatalf("short token: exit %d, stderr:\n%s", code, stderr)
	}
	file := filepath.Join(dir, "admin.token")
	if err := os.WriteFile(file, []byte(guardAdmin+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr = runServeCmd(t, "--data-dir", filepath.Join(dir, "data"), "--admin-token-file", file)
	if code != exitUsage || !strings.Contains(stderr, "chmod 600") {
		t.Fatalf("0644 token file: exit %d, stderr:\n%s", code, stderr)
	}
	code, stderr = runServeCmd(t, "--data-dir", filepath.Join(dir, "data"), "--admin-token-file", file, "--admin-token", guardAdmin)
	if code != exitUsage || !strings.Contains(stderr, "not both") {
		t.Fatalf("both: exit %d, stderr:\n%s", code, stderr)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseServeFlags([]string{"--data-dir", dir, "--admin-token-file", file}, io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := adminTokenOf(cfg); err != nil || tok != guardAdmin {
		t.Fatalf("token from file: %q %v", tok, err)
	}
}

// TestServeMetricsAddr: /metrics on the API's address needs the admin
// token; --metrics-addr serves it without auth.
func TestServeMetricsAddr(t *testing.T) {
	info, _ := serveInProcess(t, "--database-url", pgtest.NewDatabase(t), "--admin-token", guardAdmin, "--metrics-addr", "127.0.0.1:0")
	get := func(url, token string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, _ := get("http://"+info.HTTPAddr+"/metrics", ""); st != 401 {
		t.Errorf("/metrics on the API address without a token: %d", st)
	}
	if st, body := get("http://"+info.HTTPAddr+"/metrics", guardAdmin); st != 200 || !strings.Contains(body, "smsledger_ledger_ready") {
		t.Errorf("/metrics with the admin token: %d", st)
	}
	if info.MetricsAddr == "" {
		t.Fatal("no metrics address")
	}
	if st, body := get("http://"+info.MetricsAddr+"/metrics", ""); st != 200 || !strings.Contains(body, "smsledger_ledger_ready") {
		t.Errorf("/metrics on --metrics-addr: %d", st)
	}
	if st, _ := get("http://"+info.MetricsAddr+"/v1/balance", ""); st != 404 {
		t.Errorf("the API on --metrics-addr: %d", st)
	}
}

// TestHTTPConnectionCapAndTimeouts: at most n connections are served at
// once (the next waits), and the server's read, write and idle timeouts
// are set.
func TestHTTPConnectionCapAndTimeouts(t *testing.T) {
	srv := boundedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.ReadHeaderTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("unbounded server: %+v", srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(limitListener(ln, 2)) }()
	t.Cleanup(func() { _ = srv.Close() })
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	time.Sleep(100 * time.Millisecond) // both accepted
	third := make(chan error, 1)
	go func() {
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + ln.Addr().String() + "/")
		if err == nil {
			resp.Body.Close()
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third connection was served while two were open: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	select {
	case err := <-third:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection was not served after one closed")
	}
	held[1].Close()
}
