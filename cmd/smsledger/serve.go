package main

import (
	"cmp"
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
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/smsledger/smsledger/adapters/cluster"
	"github.com/smsledger/smsledger/adapters/console"
	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/adapters/mnp"
	"github.com/smsledger/smsledger/adapters/smpp/relay"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/kurrentstore"
	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/internal/supervise"
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
	// adminTokenFile holds the admin token (instead of --admin-token, so
	// that it is not on the command line).
	adminTokenFile string
	// sealKeyFile holds the key that seals supplier passwords in the log.
	sealKeyFile string
	// metricsAddr, when set, serves /metrics without auth on a listener
	// of its own (on --http-addr it needs the admin token).
	metricsAddr string
	// httpMaxConns caps the HTTP connections open at once.
	httpMaxConns int
	// mnpURL, when set, is a number-portability provider looked up behind
	// the hot path (adapters/mnp), with its per-request deadline and how
	// long an answer is kept.
	mnpURL                  string
	mnpTimeout, mnpCacheTTL time.Duration
	// backlogMax bounds the work behind the accepts (ledger.Options.BacklogMax).
	backlogMax int
	// cluster makes this serve a node of a cluster on one log and one
	// read-model database (cluster.go), named nodeID (else the id kept in
	// the data directory), with a membership lease of clusterLease.
	cluster      bool
	nodeID       string
	clusterLease time.Duration

	// ready, if set, is called once every component has started (tests).
	ready func(readyInfo)
	// projections tunes the projections runtime (tests: fewer retries
	// before it gives up); zero values take the defaults.
	projections projections.Options
}

// readyInfo describes a running serve (for tests).
type readyInfo struct {
	HTTPAddr    string
	SMPPAddr    string
	DatabaseURL string
	MetricsAddr string // "" without --metrics-addr
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
	fs.StringVar(&cfg.adminToken, "admin-token", "", fmt.Sprintf("bearer token of the admin API, at least %d characters; generated and printed once if unset (and no --admin-token-file)", adminTokenMinLen))
	fs.StringVar(&cfg.adminTokenFile, "admin-token-file", "", "file holding the admin token (not readable by group or others; surrounding whitespace ignored): keeps it out of the process list")
	fs.StringVar(&cfg.sealKeyFile, "seal-key-file", "", "32-byte key sealing supplier passwords and webhook secrets in the log, not readable by group or others; created on first start, never while the log holds sealed secrets (default <data-dir>/seal.key)")
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", "", "serve /metrics without auth on this address too (on --http-addr it needs the admin token); empty: off")
	fs.IntVar(&cfg.httpMaxConns, "http-max-conns", defaultHTTPMaxConns, "HTTP connections open at once; more wait to be accepted")
	fs.StringVar(&cfg.mnpURL, "mnp-url", "", "number-portability provider (GET ?msisdn= → {\"mccmnc\"} or 404), looked up behind the hot path and cached; empty: the local portability table only")
	fs.DurationVar(&cfg.mnpTimeout, "mnp-timeout", mnp.DefaultTimeout, "deadline of one --mnp-url lookup")
	fs.DurationVar(&cfg.mnpCacheTTL, "mnp-cache-ttl", mnp.DefaultCacheTTL, "how long a --mnp-url answer is kept")
	fs.IntVar(&cfg.backlogMax, "backlog-max", ledger.BacklogMaxDefault, "messages and DLRs accepted but not yet carried to the supplier or the tenant; over 50 % of it economy submits are throttled, over 75 % standard, premium last, every submit at 100 %")
	fs.BoolVar(&cfg.cluster, "cluster", false, "run as a node of a cluster: several serves on one log and one --database-url, each spending tenants' money from budgets leased through the log and driving the messages it accepted")
	fs.StringVar(&cfg.nodeID, "node-id", "", "--cluster: this node's id (a-z, 0-9, '-', '_'; default: one generated and kept in <data-dir>/node-id)")
	fs.DurationVar(&cfg.clusterLease, "cluster-lease", cluster.DefaultLease, "--cluster: a node's membership lease; one that cannot renew it stops, and another takes its work over once it expired")
	if err := parseFlags(fs, args, getenv, commonFallbacks); err != nil {
		return cfg, err
	}
	if err := cfg.common.validate(); err != nil {
		return cfg, err
	}
	if cfg.cluster && cfg.common.databaseURL == "" {
		return cfg, fmt.Errorf("%w: --cluster needs --database-url: the nodes share one database (the embedded one is private to one serve)", errUsage)
	}
	if !cfg.cluster && cfg.nodeID != "" {
		return cfg, fmt.Errorf("%w: --node-id is for --cluster", errUsage)
	}
	if cfg.clusterLease < time.Second || cfg.clusterLease > time.Minute {
		return cfg, fmt.Errorf("%w: --cluster-lease must be between 1s and 1m, not %s", errUsage, cfg.clusterLease)
	}
	for name, addr := range map[string]string{"--smpp-addr": cfg.smppAddr, "--http-addr": cfg.httpAddr, "--metrics-addr": cfg.metricsAddr} {
		if addr == "" && name == "--metrics-addr" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return cfg, fmt.Errorf("%w: %s %q: %v", errUsage, name, addr, err)
		}
	}
	if cfg.adminToken != "" && cfg.adminTokenFile != "" {
		return cfg, fmt.Errorf("%w: give --admin-token or --admin-token-file, not both", errUsage)
	}
	if cfg.backlogMax < 1 {
		return cfg, fmt.Errorf("%w: --backlog-max must be at least 1, not %d", errUsage, cfg.backlogMax)
	}
	if cfg.httpMaxConns < 1 {
		return cfg, fmt.Errorf("%w: --http-max-conns must be at least 1, not %d", errUsage, cfg.httpMaxConns)
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

// runServe runs the daemon until ctx is cancelled (SIGINT/SIGTERM) or a
// vital component fails for good (then it returns that failure): its
// components (see components) start in order and stop in reverse order.
func runServe(ctx context.Context, cfg serveConfig, stdout io.Writer, log *slog.Logger) error {
	tok, err := adminTokenOf(cfg)
	if err != nil {
		return err
	}
	cfg.adminToken = tok
	if cfg.adminToken == "" {
		tok, err := newToken()
		if err != nil {
			return err
		}
		cfg.adminToken = tok
		fmt.Fprintf(stdout, "admin token (generated for this run; set --admin-token or SMSLEDGER_ADMIN_TOKEN to keep one): %s\n", tok)
	}
	tlsConfig, err := loadTLS(cfg.tlsCertFile, cfg.tlsKeyFile)
	if err != nil {
		return err
	}
	d := &daemon{cfg: cfg, log: log, tls: tlsConfig, reg: prometheus.NewRegistry()}
	if cfg.cluster {
		id, err := nodeIDOf(cfg)
		if err != nil {
			return err
		}
		d.node = &clusterNode{id: id}
		d.log = log.With("node", id)
	}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.metrics = newServeMetrics(d.reg)
	return supervise.Run(ctx, log, d.components(), d.serving)
}

// daemon is what serve's components share: each sets its part in its Start
// for the ones started after it.
type daemon struct {
	cfg     serveConfig
	log     *slog.Logger
	tls     *tls.Config // nil: plain TCP
	reg     *prometheus.Registry
	metrics *serveMetrics

	dbURL      string
	stopDB     func()
	dbDied     <-chan struct{} // nil for an external database
	lock       *serveLock      // serve's exclusive lock on the database
	pool       *pgxpool.Pool
	readPool   *pgxpool.Pool // report reads (CDR pages, reconciliation), apart from the writers
	store      eventstore.Store
	closeStore func()
	svc        *ledger.Service
	proj       *projections.Runtime
	leader     *projectionsLeader // --cluster: the projections run on the node holding their lock
	node       *clusterNode       // nil outside --cluster
	hooks      *webhook.Sender
	rel        *relay.Relay
	smpp       *server.Server
	mnp        *mnp.Client // nil without --mnp-url
	httpLn     net.Listener
	console    *console.Console
	httpSrv    *http.Server
	metricsLn  net.Listener // nil without --metrics-addr
	metricsSrv *http.Server
}

// components lists serve's components in start order; they stop in reverse
// order, which gives the shutdown its guarantees: SMPP stops taking traffic
// first and drains its in-flight submits (each answered only once durable),
// HTTP finishes its requests; then the relay stops the supplier binds (what
// was in flight is resolved from the log on the next start); webhooks stop
// after the relay and before the store, so a delivery that succeeds during
// the stop is still recorded; the projections and the ledger stop following
// the log; the event store closes once every append accepted before the
// shutdown is decided; the database goes last.
func (d *daemon) components() []supervise.Component {
	return []supervise.Component{
		d.database(),
		d.eventStore(),
		d.portability(),
		d.ledger(),
		d.clusterMember(),
		d.projections(),
		d.webhooks(),
		d.relay(),
		d.routeHealth(),
		d.httpServer(),
		d.smppServer(),
	}
}

// serving runs once every component has started.
func (d *daemon) serving() {
	httpAddr, smppAddr := d.httpLn.Addr().String(), d.smpp.Addr().String()
	d.log.Info("serving", "http_addr", httpAddr, "smpp_addr", smppAddr, "eventstore", d.cfg.eventstore)
	if d.cfg.ready != nil {
		ri := readyInfo{HTTPAddr: httpAddr, SMPPAddr: smppAddr, DatabaseURL: d.dbURL}
		if d.metricsLn != nil {
			ri.MetricsAddr = d.metricsLn.Addr().String()
		}
		d.cfg.ready(ri)
	}
}

// database: --database-url or the embedded server, serve's exclusive lock
// on it (another serve holding it: refused), migrated, and the pools every
// other component uses. Vital: serve cannot outlive its database, nor go on
// without its lock.
func (d *daemon) database() supervise.Component {
	return supervise.Component{
		Name:  "database",
		Vital: true,
		Start: func(ctx context.Context) error {
			dbURL, stopDB, died, err := openDatabase(ctx, d.cfg.common, d.log)
			if err != nil {
				return err
			}
			d.dbURL, d.stopDB, d.dbDied = dbURL, stopDB, died
			lock, err := takeServeLock(ctx, dbURL, d.node != nil)
			if err != nil {
				stopDB()
				return err
			}
			d.lock = lock
			if err := d.openPool(ctx); err != nil {
				lock.release()
				stopDB()
				return err
			}
			return nil
		},
		Run: func(ctx context.Context) error {
			lost := make(chan error, 1)
			wctx, cancel := context.WithCancel(ctx)
			go func() { lost <- d.lock.watch(wctx) }()
			// The watch uses (and may replace) the lock's connection: it
			// has returned before Run does, so Stop's release never closes
			// the connection under a query of it (a data race -race found
			// at shutdown).
			stopWatch := func() { cancel(); <-lost }
			select {
			case <-ctx.Done():
				stopWatch()
				return nil
			case err := <-lost:
				cancel()
				return err
			case <-d.dbDied:
				stopWatch()
				return errors.New("embedded PostgreSQL exited unexpectedly; see postgres.log in --data-dir")
			}
		},
		Stop: func() {
			d.readPool.Close()
			d.pool.Close()
			d.lock.release()
			d.stopDB()
		},
	}
}

// openPool migrates the database and opens the pool.
func (d *daemon) openPool(ctx context.Context) error {
	if err := migrations.Apply(ctx, d.dbURL); err != nil {
		return err
	}
	poolCfg, err := pgxpool.ParseConfig(d.dbURL)
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
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("database: %w", err)
	}
	// Report reads (CDR pages, reconciliation) get a pool of their own, so
	// that heavy reads cannot take the connections the event store's
	// writers need; message views, read through the store, are bounded by
	// the HTTP API's pool of reads (httpapi.Options.TenantReads).
	readCfg := poolCfg.Copy()
	readCfg.MaxConns = readPoolConnsMax
	readPool, err := pgxpool.NewWithConfig(ctx, readCfg)
	if err != nil {
		pool.Close()
		return fmt.Errorf("database read pool: %w", err)
	}
	d.pool, d.readPool = pool, readPool
	return nil
}

// readPoolConnsMax bounds the read pool's connections.
const readPoolConnsMax = 8

// eventStore: the log. Vital; its failures surface in the ledger and the
// projections that follow it.
func (d *daemon) eventStore() supervise.Component {
	return supervise.Component{
		Name:  "event store",
		Vital: true,
		Start: func(ctx context.Context) error {
			store, closeStore, err := openEventStore(ctx, d.cfg.eventstore, d.pool, d.log, d.metrics.onBatch)
			if err != nil {
				return fmt.Errorf("event store: %w", err)
			}
			head, err := store.Head(ctx)
			if err != nil {
				closeStore()
				return fmt.Errorf("event store: %w", err)
			}
			d.store, d.closeStore = store, closeStore
			d.log.Info("event store open", "backend", backendName(d.cfg.eventstore), "head", uint64(head))
			return nil
		},
		Stop: func() { d.closeStore() },
	}
}

// ledger: the use cases behind SMPP and HTTP, with the hot path's snapshots
// rebuilt from the log before any traffic is taken (ready once caught up).
func (d *daemon) ledger() supervise.Component {
	return supervise.Component{
		Name:  "ledger",
		Vital: true,
		Start: func(ctx context.Context) error {
			sealer, hasher, err := loadSecrets(ctx, d.cfg.sealKeyFile, d.cfg.common.dataDir, d.log, d.logHoldsSealed)
			if err != nil {
				return err
			}
			opts := ledger.Options{Logger: d.log, Sealer: sealer, Hasher: hasher, BacklogMax: d.cfg.backlogMax}
			if d.node != nil {
				opts.Node, opts.ClusterSize, opts.Forwarder, opts.Dispatcher = d.node.id, d.node.size, d.node.forwarder, d.node.dispatcher
			}
			if d.mnp != nil {
				opts.Portability = d.mnp
			}
			svc, err := ledger.New(d.store, opts)
			if err != nil {
				return fmt.Errorf("ledger: %w", err)
			}
			d.svc = svc
			if d.node != nil {
				d.node.svc.Store(svc)
			}
			d.reg.MustRegister(newBacklogCollector(svc))
			return nil
		},
		Run: func(ctx context.Context) error {
			if err := d.svc.Run(ctx); err != nil && ctx.Err() == nil {
				return fmt.Errorf("stopped following the log: %w", err)
			}
			return nil
		},
		Ready: func(ctx context.Context) error {
			if err := d.svc.WaitCaughtUp(ctx); err != nil {
				return fmt.Errorf("ledger catch-up: %w", err)
			}
			d.log.Info("ledger caught up with the log", "position", uint64(d.svc.Position()))
			return nil
		},
	}
}

// projections: the read models in PostgreSQL (journal, balances, CDRs,
// route health), each following the log from its checkpoint. Vital: once
// they give up, reports, balances and routing health go stale.
func (d *daemon) projections() supervise.Component {
	return supervise.Component{
		Name:  "projections",
		Vital: true,
		Start: func(ctx context.Context) error {
			if d.node != nil {
				d.leader = &projectionsLeader{}
				return nil // Run leads or stands by
			}
			proj, err := d.startProjections(ctx)
			if err != nil {
				return err
			}
			d.proj = proj
			return nil
		},
		Run: func(ctx context.Context) error {
			if d.leader != nil {
				return d.leader.lead(ctx, d)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-d.proj.Done():
				return cmp.Or(d.proj.Err(), errors.New("stopped"))
			}
		},
		Stop: func() {
			if d.proj != nil {
				_ = d.proj.Close()
			}
		},
	}
}

// startProjections starts the read models' runtime with serve's options.
func (d *daemon) startProjections(ctx context.Context) (*projections.Runtime, error) {
	opts := d.cfg.projections
	opts.Logger = d.log
	proj, err := projections.StartWithOptions(ctx, d.store, d.pool, opts)
	if err != nil {
		return nil, fmt.Errorf("projections: %w", err)
	}
	return proj, nil
}

// webhooks: tenants with a webhook get their final DLRs POSTed (signed,
// retried with backoff) instead of on an SMPP receiver bind.
func (d *daemon) webhooks() supervise.Component {
	return supervise.Component{
		Name:  "webhooks",
		Vital: true,
		Start: func(context.Context) error {
			d.hooks = webhook.New(webhook.Config{Logger: d.log})
			return nil
		},
		Run: func(ctx context.Context) error {
			d.hooks.Run(ctx)
			return nil
		},
	}
}

// relay: between the ledger and the suppliers' binds. It also makes the
// SMPP ingress server (listening, not yet accepting; see smppServer), which
// forwards tenants' DLRs through it.
func (d *daemon) relay() supervise.Component {
	return supervise.Component{
		Name:  "relay",
		Vital: true,
		Start: func(context.Context) error {
			ropts := relay.Options{Logger: d.log, Observer: d.metrics, Webhooks: d.hooks}
			if d.node != nil {
				ropts.SupplierConfig = d.node.shareOf // this node's share of binds and TPS
			}
			rel := relay.New(d.svc, ropts)
			smppSrv, err := server.New(server.Config{Addr: d.cfg.smppAddr, Ingress: rel.Ingress(), Logger: d.log, TLS: d.tls})
			if err != nil {
				return err
			}
			rel.Attach(smppSrv)
			d.rel, d.smpp = rel, smppSrv
			if d.node != nil {
				d.node.relay.Store(rel)
			}
			var lag lagger = d.proj
			if d.leader != nil {
				lag = d.leader
			}
			d.reg.MustRegister(newStateCollector(rel, smppSrv, lag))
			return nil
		},
		Run: func(ctx context.Context) error {
			if err := d.rel.Run(ctx); err != nil && ctx.Err() == nil {
				return err
			}
			return nil
		},
		// The listener, if the start failed before the smpp server ran
		// (after its graceful stop, a no-op).
		Stop: func() { d.smpp.Close() },
	}
}

// routeHealth feeds routing the suppliers' health. Not vital: without it
// routing goes on with the last health it was given.
func (d *daemon) routeHealth() supervise.Component {
	return supervise.Component{
		Name: "route health",
		Run: func(ctx context.Context) error {
			var remote func(map[string]routing.SupplierHealth, time.Time)
			if d.node != nil {
				remote = func(states map[string]routing.SupplierHealth, now time.Time) { d.node.remoteHealth(d.svc, states, now) }
			}
			feedHealth(ctx, d.svc, d.rel, remote, d.pool, d.log, d.metrics)
			return nil
		},
	}
}

// httpServer: the API, /healthz, /readyz and /metrics (admin token), and
// with --metrics-addr /metrics without auth on a listener of its own. It
// finishes the requests in progress when stopped. Bounded: read, write and
// idle timeouts, header size, and at most --http-max-conns connections.
func (d *daemon) httpServer() supervise.Component {
	return supervise.Component{
		Name:  "http",
		Vital: true,
		Start: func(context.Context) error {
			ln, err := net.Listen("tcp", d.cfg.httpAddr)
			if err != nil {
				return fmt.Errorf("http listen: %w", err)
			}
			ln = limitListener(ln, d.cfg.httpMaxConns)
			if d.tls != nil {
				ln = tls.NewListener(ln, d.tls)
			}
			d.httpLn = ln
			api := httpapi.NewHandler(d.svc, httpapi.Options{
				AdminToken: d.cfg.adminToken,
				Logger:     d.log,
				Readiness:  d.pool.Ping,
				Reports:    reports{store: d.store, pool: d.readPool},
				Registry:   d.reg,
				// The suppliers' live state (binds, queue, TPS, health) on the admin endpoints.
				SupplierStates: d.rel,
				// Tenants' SMPP binds now, on the admin endpoints and the console.
				TenantBinds: smppBinds{d},
			})
			// The web console is a front end of the same API, beside it.
			con, err := console.New(console.Options{API: api, Gatherer: d.reg, Logger: d.log, SecureCookie: d.tls != nil})
			if err != nil {
				ln.Close()
				return err
			}
			d.console = con
			mux := http.NewServeMux()
			mux.Handle(console.Prefix, con)
			mux.Handle("/", api)
			d.httpSrv = boundedServer(mux, d.log)
			if d.cfg.metricsAddr != "" {
				mln, err := net.Listen("tcp", d.cfg.metricsAddr)
				if err != nil {
					ln.Close()
					return fmt.Errorf("metrics listen: %w", err)
				}
				d.metricsLn = limitListener(mln, metricsMaxConns)
				mux := http.NewServeMux()
				mux.Handle("GET /metrics", httpapi.MetricsHandler(d.reg))
				d.metricsSrv = boundedServer(mux, d.log)
				d.log.Info("metrics listening (no auth)", "metrics_addr", mln.Addr().String())
			}
			return nil
		},
		Run: func(ctx context.Context) error {
			served := make(chan error, 2)
			conCtx, stopConsole := context.WithCancel(ctx)
			defer stopConsole()
			go func() { _ = d.console.Run(conCtx) }()
			go func() { served <- d.httpSrv.Serve(d.httpLn) }()
			if d.metricsSrv != nil {
				go func() { served <- d.metricsSrv.Serve(d.metricsLn) }()
			}
			select {
			case err := <-served:
				if d.metricsSrv != nil {
					_ = d.metricsSrv.Close()
				}
				_ = d.httpSrv.Close()
				return err
			case <-ctx.Done():
			}
			shutCtx, cancel := context.WithTimeout(context.Background(), httpShutdownMax)
			defer cancel()
			if d.metricsSrv != nil {
				_ = d.metricsSrv.Shutdown(shutCtx)
			}
			if err := d.httpSrv.Shutdown(shutCtx); err != nil {
				return fmt.Errorf("http shutdown: %w", err)
			}
			if err := <-served; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
}

// HTTP server bounds (both listeners).
const (
	defaultHTTPMaxConns = 1024
	metricsMaxConns     = 64
	httpReadTimeout     = 30 * time.Second  // a whole request, body included
	httpWriteTimeout    = 120 * time.Second // a whole answer (a CDR page as CSV); reconciliation and replay lift it
	httpIdleTimeout     = 120 * time.Second // a kept-alive connection between requests
	httpMaxHeaderBytes  = 64 << 10
)

func boundedServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// limitListener accepts at most n connections open at once: the next
// Accept waits until one closes.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// httpShutdownMax bounds the wait for HTTP requests in progress at a stop.
const httpShutdownMax = 15 * time.Second

// smppServer: the SMPP ingress customers bind to. Stopped first: it stops
// accepting and drains its in-flight submits (server.Config.DrainTimeout).
func (d *daemon) smppServer() supervise.Component {
	return supervise.Component{
		Name:  "smpp",
		Vital: true,
		Start: func(context.Context) error {
			d.log.Info("smpp listening", "smpp_addr", d.smpp.Addr().String())
			return nil
		},
		Run: func(ctx context.Context) error { return d.smpp.Serve(ctx) },
	}
}

// feedHealth keeps the routing health snapshot fresh: a supplier with no
// bind up is down; otherwise its score comes from the route-health read
// model (submit success, delivery rate, latency over the last 15 minutes),
// and so do its scores per destination network and route prefix (those
// with enough answers, the busiest routing.MaxDestinationHealth), which
// routing prefers where they apply. In a cluster, remote adds the
// suppliers this node binds none of, as the nodes that bind them publish
// them (clusterNode.remoteHealth).
func feedHealth(ctx context.Context, svc *ledger.Service, rel *relay.Relay, remote func(map[string]routing.SupplierHealth, time.Time),
	pool *pgxpool.Pool, log *slog.Logger, m *serveMetrics) {
	const every = time.Second
	tick := time.NewTicker(every)
	defer tick.Stop()
	warned := false
	for {
		states := rel.Health()
		if remote != nil {
			remote(states, time.Now())
		}
		qctx, cancel := context.WithTimeout(ctx, every)
		levels, err := projections.RouteHealthLevels(qctx, pool, time.Now(), 15*time.Minute)
		cancel()
		if err != nil && !warned && ctx.Err() == nil {
			log.Warn("route health read model unavailable; routing uses bind state only", "err", err)
			warned = true
		}
		if err == nil {
			for id, st := range states {
				if h, ok := levels.Suppliers[id]; ok {
					st.Score = h.Score
				}
				states[id] = st
			}
		}
		svc.SetRouteHealth(states, levels.Destinations)
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
