// Package pgtest gives tests across the repository a PostgreSQL database.
//
// If DATABASE_URL is set, databases are created on that server. Otherwise one
// embedded server per test binary is started lazily through pgembed (the same
// code path as `smsledger serve`) in a temporary directory, and stopped by
// Main. Each NewDatabase call gets a fresh, empty database that is dropped when
// the test ends. Tests never skip silently: if no server can be had, the test
// fails with the reason.
//
// Use it as:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		url := pgtest.NewDatabase(t)
//		...
//	}
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/adapters/pgembed"
)

var (
	once     sync.Once
	inst     *pgembed.Instance
	tmpDir   string
	admin    *pgxpool.Pool
	adminURL string
	setupErr error
)

// Main runs the tests, then stops the shared embedded server (if one was
// started) and exits with the tests' exit code. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if err := shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func shutdown() error {
	if admin != nil {
		admin.Close()
	}
	var err error
	if inst != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = inst.Stop(ctx)
	}
	if tmpDir != "" {
		if rmErr := os.RemoveAll(tmpDir); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	return err
}

// ServerURL returns the URL of the server's maintenance database ("postgres"),
// starting the embedded server if needed. Most tests want NewDatabase instead.
func ServerURL(t testing.TB) string {
	t.Helper()
	setup()
	if setupErr != nil {
		t.Fatalf("pgtest: no PostgreSQL available: %v", setupErr)
	}
	return adminURL
}

func setup() {
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		adminURL = os.Getenv("DATABASE_URL")
		if adminURL == "" {
			dir, err := os.MkdirTemp("", "smsledger-pgtest-")
			if err != nil {
				setupErr = fmt.Errorf("temp dir: %w", err)
				return
			}
			tmpDir = dir
			// pgembed makes the directory traversable for the postgres user when root.
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
			inst, err = pgembed.Start(ctx, pgembed.Config{DataDir: dir, Logger: logger})
			if err != nil {
				setupErr = fmt.Errorf("start embedded PostgreSQL (set DATABASE_URL to use an existing server): %w", err)
				return
			}
			adminURL = inst.URL()
		}
		cfg, err := pgxpool.ParseConfig(adminURL)
		if err != nil {
			setupErr = fmt.Errorf("parse DATABASE_URL: %w", err)
			return
		}
		cfg.MaxConns = 4
		admin, err = pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = admin.Ping(ctx)
		}
		if err != nil {
			setupErr = fmt.Errorf("connect to %s: %w", redact(adminURL), err)
		}
	})
}

// NewDatabase creates a fresh, empty database for this test and returns its
// URL. The database is dropped (WITH (FORCE), so leaked connections do not
// block it) when the test and its subtests finish.
func NewDatabase(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	name := dbName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: parse server URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// dbName derives a unique, valid database name from the test name:
// lower-case letters, digits and underscores, at most 63 bytes.
func dbName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 40 {
		s = s[:40]
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	return "t_" + s + "_" + hex.EncodeToString(suffix)
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
