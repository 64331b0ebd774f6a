package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/adapters/smpp/relay"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/kurrentstore"
	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/migrations"
	"github.com/smsledger/smsledger/projections"
)

type serveConfig struct {
	common   commonConfig
	smppAddr string
	httpAddr string
	// tlsCertFile and tlsKeyFile, when set, put HTTP and SMPP on TLS.
	tlsCertFile, tlsKeyFile string
	eventstore              string
	adminToken              string
	// sealKeyFile holds the key that seals supplier passwords in the log.
	sealKeyFile string

	// ready, if set, is called once the HTTP listener is up (tests).
	ready func(readyInfo)
}

// readyInfo describes a running serve (for tests).
type readyInfo struct {
	HTTPAddr    string
	SMPPAddr    string
	DatabaseURL string
}

func parseServeFlags(args []string, stderr io.Writer, getenv func(string) string) (serveConfig, error) {
	var cfg serveConfig
	fs := newFlagSet("serve", stderr)
	cfg.common.register(fs)
	fs.StringVar(&cfg.smppAddr, "smpp-addr", "127.0.0.1:2775", "SMPP listen address")
	fs.StringVar(&cfg.httpAddr, "http-addr", "127.0.0.1:8080", "HTTP listen address (API, /healthz, /readyz, /metrics)")
	fs.StringVar(&cfg.tlsCertFile, "tls-cert-file", "", "PEM certificate (chain): serve HTTP and SMPP over TLS (with --tls-key-file)")
	fs.StringVar(&cfg.tlsKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&cfg.eventstore, "eventstore", "postgres", "event store backend: postgres, or an esdb:// / kurrentdb:// URL")
	fs.StringVar(&cfg.adminToken, "admin-token", "", "bearer token of the admin API; generated and printed once if unset")
	fs.StringVar(&cfg.sealKeyFile, "seal-key-file", "", "32-byte key sealing supplier passwords in the log; created on first start (default <data-dir>/seal.key)")
	if err := parseFlags(fs, args, getenv, commonFallbacks); err != nil {
		return cfg, err
	}
	if err := cfg.common.validate(); err != nil {
		return cfg, err
	}
	for name, addr := range map[string]string{"--smpp-addr": cfg.smppAddr, "--http-addr": cfg.httpAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return cfg, fmt.Errorf("%w: %s %q: %v", errUsage, name, addr, err)
		}
	}
	switch {
	case cfg.eventstore == "postgres":
	case strings.HasPrefix(cfg.eventstore, "esdb://"), strings.HasPrefix(cfg.eventstore, "esdb+discover://"),
		strings.HasPrefix(cfg.eventstore, "kurrentdb://"), strings.HasPrefix(cfg.eventstore, "kurrentdb+discover://"):
	default:
		return cfg, fmt.Errorf("%w: --eventstore must be postgres or an esdb:// / kurrentdb:// URL, not %q", errUsage, cfg.eventstore)
	}
	return cfg, nil
}

// openEventStore opens the log: the postgres backend on the read models'
// database, or KurrentDB at an esdb:// / kurrentdb:// URL (read models stay
// in PostgreSQL).
func openEventStore(ctx context.Context, spec string, pool *pgxpool.Pool, log *slog.Logger, onBatch func(appends, events int, took time.Duration)) (eventstore.Store, func(), error) {
	if spec == "postgres" {
		s, err := pgstore.Open(ctx, pool, pgstore.Options{Logger: log, OnBatch: onBatch})
		if err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	}
	s, err := kurrentstore.Open(ctx, spec, kurrentstore.Options{Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("kurrentdb at %s: %w", redactURL(spec), err)
	}
	return s, func() { s.Close() }, nil
}

func backendName(spec string) string {
	if spec == "postgres" {
		return "postgres"
	}
	return "kurrentdb"
}

// poolConnsMax bounds the connections serve opens to PostgreSQL.
const poolConnsMax = 32

// runServe runs the daemon until ctx is cancelled (SIGINT/SIGTERM), then
// shuts down in order: HTTP, event store, pool, embedded PostgreSQL.
func runServe(ctx context.Context, cfg serveConfig, stdout io.Writer, log *slog.Logger) error {
	if cfg.adminToken == "" {
		tok, err := newToken()
		if err != nil {
			return err
		}
		cfg.adminToken = tok
		fmt.Fprintf(stdout, "admin token (generated for this run; set --admin-token or SMSLEDGER_ADMIN_TOKEN to keep one): %s\n", tok)
	}

	// Database: external, or the embedded server (stopped last, by the defer).
	dbURL, stopDB, dbDied, err := openDatabase(ctx, cfg.common, log)
	if err != nil {
		return err
	}
	defer stopDB()

	if err := migrations.Apply(ctx, dbURL); err != nil {
		return err
	}
	poolCfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("database pool: %w", err)
	}
	// Two event store writers, its listener, subscribers and HTTP readers
	// share the pool; pgx's default (4 on this machine) would make them queue.
	poolCfg.MaxConns = poolConnsMax
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("database pool: %w", err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}

	// The event store; closed after HTTP (and SMPP) have stopped, so every
	// append accepted before shutdown is decided.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newServeMetrics(reg)
	store, closeStore, err := openEventStore(ctx, cfg.eventstore, pool, log, metrics.onBatch)
	if err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	defer closeStore()
	head, err := store.Head(ctx)
	if err != nil {
		return fmt.Errorf("event store: %w", err)
	}
	log.Info("event store open", "backend", backendName(cfg.eventstore), "head", uint64(head))

	// The ledger: the use cases behind SMPP and HTTP, with the hot path's
	// snapshots rebuilt from the log before any traffic is taken.
	sealer, hasher, err := loadSecrets(cfg.sealKeyFile, cfg.common.dataDir, log)
	if err != nil {
		return err
	}
	svc, err := ledger.New(store, ledger.Options{Logger: log, Sealer: sealer, Hasher: hasher})
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	ledgerCtx, stopLedger := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLedger()
	ledgerErr := make(chan error, 1)
	go func() { ledgerErr <- svc.Run(ledgerCtx) }()
	if err := waitCaughtUp(ctx, svc, ledgerErr); err != nil {
		return err
	}
	log.Info("ledger caught up with the log", "position", uint64(svc.Position()))

	// Projections: the read models in PostgreSQL (journal, balances, CDRs,
	// route health), each following the log from its checkpoint.
	proj, err := projections.Start(ctx, store, pool, log)
	if err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	defer proj.Close()

	// DLR webhooks: tenants with a webhook get their final DLRs POSTed
	// (signed, retried with backoff) instead of on an SMPP receiver bind.
	// Stopped after the relay and before the store, so a delivery that
	// succeeds during the stop is still recorded.
	hooks := webhook.New(webhook.Config{Logger: log})
	hooksCtx, stopHooks := context.WithCancel(context.WithoutCancel(ctx))
	hooksDone := make(chan struct{})
	go func() { defer close(hooksDone); hooks.Run(hooksCtx) }()
	defer func() { stopHooks(); <-hooksDone }()

	// SMPP: the relay between the ledger and the suppliers' binds, and the
	// ingress server customers bind to.
	rel := relay.New(svc, relay.Options{Logger: log, Observer: metrics, Webhooks: hooks})
	tlsConfig, err := loadTLS(cfg.tlsCertFile, cfg.tlsKeyFile)
	if err != nil {
		return err
	}
	smppSrv, err := server.New(server.Config{Addr: cfg.smppAddr, Ingress: rel.Ingress(), Logger: log, TLS: tlsConfig})
	if err != nil {
		return err
	}
	rel.Attach(smppSrv)
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	relayDone := make(chan error, 1)
	go func() { relayDone <- rel.Run(relayCtx) }()
	go feedHealth(relayCtx, svc, rel, pool, log, metrics)
	reg.MustRegister(newStateCollector(rel, smppSrv, proj))
	smppCtx, stopSMPP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSMPP()
	smppDone := make(chan error, 1)
	go func() { smppDone <- smppSrv.Serve(smppCtx) }()
	log.Info("smpp listening", "smpp_addr", smppSrv.Addr().String())

	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler: httpapi.NewHandler(svc, httpapi.Options{
			AdminToken: cfg.adminToken,
			Logger:     log,
			Readiness:  pool.Ping,
			Reports:    reports{store: store, pool: pool},
			Registry:   reg,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("serving", "http_addr", ln.Addr().String(), "eventstore", cfg.eventstore)
	if cfg.ready != nil {
		cfg.ready(readyInfo{HTTPAddr: ln.Addr().String(), SMPPAddr: smppSrv.Addr().String(), DatabaseURL: dbURL})
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down", "cause", context.Cause(ctx))
	case err := <-serveErr:
		return fmt.Errorf("http: %w", err)
	case err := <-ledgerErr:
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		return fmt.Errorf("ledger stopped following the log: %w", err)
	case err := <-smppDone:
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		return fmt.Errorf("smpp server: %w", err)
	case <-proj.Done():
		log.Error("projections stopped; read models no longer follow the log", "err", proj.Err())
	case <-dbDied: // nil (never ready) for an external database
		err := errors.New("embedded PostgreSQL exited unexpectedly; see postgres.log in --data-dir")
		log.Error("shutting down", "err", err)
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		return err
	}
	// Stop taking traffic: SMPP drains in-flight submits (each answered
	// only once durable), HTTP finishes its requests; then the relay stops
	// the supplier binds (what was in flight is resolved from the log on the
	// next start).
	stopSMPP()
	if err := <-smppDone; err != nil {
		log.Warn("smpp server stopped with an error", "err", err)
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	stopRelay()
	<-relayDone
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http: %w", err)
	}
	return nil
}

// feedHealth keeps the routing health snapshot fresh: a supplier with no
// bind up is down; otherwise its score comes from the route-health read
// model (submit success, delivery rate, latency over the last 15 minutes).
func feedHealth(ctx context.Context, svc *ledger.Service, rel *relay.Relay, pool *pgxpool.Pool, log *slog.Logger, m *serveMetrics) {
	const every = time.Second
	tick := time.NewTicker(every)
	defer tick.Stop()
	warned := false
	for {
		states := rel.Health()
		qctx, cancel := context.WithTimeout(ctx, every)
		scores, err := projections.HealthSnapshot(qctx, pool, time.Now(), 15*time.Minute, 0)
		cancel()
		if err != nil && !warned && ctx.Err() == nil {
			log.Warn("route health read model unavailable; routing uses bind state only", "err", err)
			warned = true
		}
		if err == nil {
			for id, st := range states {
				st.Score = scores.Of(id).Score
				states[id] = st
			}
		}
		svc.SetSupplierHealth(states)
		for id, st := range states {
			score := float64(st.Score)
			if !st.Up {
				score = 0
			}
			m.supplierScore.WithLabelValues(id).Set(score)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// waitCaughtUp waits until the ledger has applied the log up to its head,
// or fails if the ledger stops first.
func waitCaughtUp(ctx context.Context, svc *ledger.Service, ledgerErr <-chan error) error {
	caught := make(chan error, 1)
	go func() { caught <- svc.WaitCaughtUp(ctx) }()
	select {
	case err := <-caught:
		if err != nil {
			return fmt.Errorf("ledger catch-up: %w", err)
		}
		return nil
	case err := <-ledgerErr:
		return fmt.Errorf("ledger stopped during catch-up: %w", err)
	}
}

// loadTLS loads the certificate HTTP and SMPP present; nil without one.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w: --tls-cert-file and --tls-key-file go together", errUsage)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
