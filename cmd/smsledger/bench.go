package main

// smsledger bench: end-to-end load through real sockets on loopback.
//
// Self-contained (default): an in-process serve (embedded PostgreSQL in a
// temporary --data-dir, or --database-url), an in-process smsc-sim as the
// supplier, configuration through the HTTP admin API, then the load
// generator of scenarios/load (gosmpp transceiver binds with a window of
// submit_sm each, DLRs collected on the same binds). Everything started is
// stopped, and the temporary directory removed, before the report.
//
// Against a running serve: --smpp-addr and --http-addr (+ --admin-token to
// configure it, or --system-id/--password of an existing tenant to skip the
// configuration), the supplier being --smsc-addr or an in-process smsc-sim.
//
// Sustained (--sustained, --find-capacity; bench_sustained.go): serve and
// smsc-sim as child processes, an open-loop rate for a measured window, and
// the verdict whether the whole lifecycle keeps up with it.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/scenarios/load"
)

type benchConfig struct {
	load load.Config // Addr and Credentials are filled in by runBench

	tenants    int
	jsonOut    bool
	cpuProfile string
	prefix     string
	price      string
	cost       string
	logFmt     string
	logLevel   slog.Level

	// self-contained serve
	dataDir       string
	databaseURL   string
	serveLogLevel slog.Level

	// a running serve
	smppAddr   string
	httpAddr   string
	adminToken string
	systemID   string
	password   string

	// the supplier: a running SMSC, or the in-process simulator
	smscAddr, smscSystemID, smscPassword string
	sim                                  smscsim.Config
	supplierBinds, supplierWindow        int
	supplierTPS                          int

	sustained sustainedConfig // --sustained, --find-capacity
}

func parseBenchFlags(args []string, stderr io.Writer, getenv func(string) string) (benchConfig, error) {
	var cfg benchConfig
	fs := newFlagSet("bench", stderr)
	l := &cfg.load
	fs.IntVar(&l.Binds, "binds", 8, "customer transceiver binds")
	// 32: with 8 binds, 256 submits in flight. The latency a closed loop
	// measures is in-flight ÷ throughput (Little's law), so the window sets
	// the floor of the p50 (at 15,000 msg/s: 17 ms with 256 in flight, 34 ms
	// with 512); 256 keeps serve saturated while the latency measured stays
	// the server's, not the load generator's own queue. Customers' ESMEs
	// typically keep 10–50 in flight per bind.
	fs.IntVar(&l.Window, "window", 32, "outstanding submit_sm per bind (serve answers ESME_RTHROTTLED beyond its per-bind window of 64)")
	fs.IntVar(&l.Messages, "messages", 20000, fmt.Sprintf("submit_sm to send (1..%d); the run stops at --messages or --duration, whichever comes first", load.MessagesMax))
	fs.DurationVar(&l.Duration, "duration", 5*time.Minute, fmt.Sprintf("longest send phase (≤ %v)", load.DurationMax))
	fs.Float64Var(&l.Rate, "rate", 0, "submit_sm per second over all binds (0: as fast as the windows allow)")
	fs.Float64Var(&l.LongShare, "long-share", 0, "fraction of long GSM texts (3 parts, in message_payload)")
	fs.Float64Var(&l.UCS2Share, "ucs2-share", 0, "fraction of short UCS-2 texts")
	fs.BoolVar(&l.RegisteredDelivery, "registered-delivery", true, "ask for DLRs and measure their round trip")
	fs.DurationVar(&l.DLRWait, "dlr-wait", time.Minute, "how long to wait for missing DLRs after the last submit_sm_resp")
	fs.DurationVar(&l.ResponseTimeout, "response-timeout", 30*time.Second, "how long to wait for missing submit_sm_resp after sending stopped")
	fs.IntVar(&cfg.tenants, "tenants", 1, "customer tenants to create (binds are spread over them)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the report as one JSON object")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of the load phase to this file (the in-process serve, simulator and load generator; not PostgreSQL)")
	fs.StringVar(&cfg.prefix, "prefix", "999", "destination prefix (routed to the simulated supplier); numbers are the prefix and a counter, 12 digits")
	fs.StringVar(&cfg.price, "price", "0.001", "tenant sell price per part")
	fs.StringVar(&cfg.cost, "cost", "0.0005", "supplier cost per part")
	fs.StringVar(&cfg.logFmt, "log-format", "text", "log format on stderr: text or json")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log level of the bench itself")

	fs.StringVar(&cfg.dataDir, "data-dir", "", "self-contained: embedded PostgreSQL directory (default: a temporary directory, removed afterwards)")
	fs.StringVar(&cfg.databaseURL, "database-url", "", "self-contained: run serve on this PostgreSQL instead of the embedded one")
	fs.TextVar(&cfg.serveLogLevel, "serve-log-level", slog.LevelWarn, "self-contained: log level of the in-process serve and smsc-sim")

	fs.StringVar(&cfg.smppAddr, "smpp-addr", "", "target a running serve: its SMPP address (else one is started in-process)")
	fs.StringVar(&cfg.httpAddr, "http-addr", "", "target a running serve: its HTTP address (needed to configure it)")
	fs.StringVar(&cfg.adminToken, "admin-token", "", "target a running serve: its admin token (configures tenants, supplier, costs and the route table — which it replaces)")
	fs.StringVar(&cfg.systemID, "system-id", "", "target a running serve: bind as this existing tenant (no configuration)")
	fs.StringVar(&cfg.password, "password", "", "password of --system-id")

	fs.StringVar(&cfg.smscAddr, "smsc-addr", "", "supplier: a running SMSC (e.g. smsledger smsc-sim) instead of the in-process simulator")
	fs.StringVar(&cfg.smscSystemID, "smsc-system-id", "smsc-sim", "supplier bind system_id")
	fs.StringVar(&cfg.smscPassword, "smsc-password", "", "supplier bind password (in-process simulator: generated)")
	fs.DurationVar(&cfg.sim.Latency, "sim-latency", 0, "in-process simulator: delay before each submit_sm_resp")
	fs.DurationVar(&cfg.sim.DLRDelay, "sim-dlr-delay", 100*time.Millisecond, "in-process simulator: delay from submit to its DLR")
	fs.Float64Var(&cfg.sim.Delivered, "sim-delivered", 0.9, "in-process simulator: weight of DELIVRD receipts")
	fs.Float64Var(&cfg.sim.Undelivered, "sim-undelivered", 0.08, "in-process simulator: weight of UNDELIV receipts")
	fs.Float64Var(&cfg.sim.Rejected, "sim-rejected", 0.02, "in-process simulator: weight of REJECTD receipts")
	fs.IntVar(&cfg.supplierBinds, "supplier-binds", 4, "binds serve opens to the supplier")
	fs.IntVar(&cfg.supplierWindow, "supplier-window", 1024, "outstanding submit_sm to the supplier over all its binds")
	fs.IntVar(&cfg.supplierTPS, "supplier-tps", 1_000_000, "supplier TPS limit")
	cfg.sustained.register(fs)

	if err := parseFlags(fs, args, getenv, nil); err != nil {
		return cfg, err
	}
	bad := func(format string, a ...any) (benchConfig, error) {
		return cfg, fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	switch {
	case l.Messages < 1 || l.Messages > load.MessagesMax:
		return bad("--messages must be 1..%d", load.MessagesMax)
	case l.Duration <= 0 || l.Duration > load.DurationMax:
		return bad("--duration must be > 0 and ≤ %v", load.DurationMax)
	case l.Binds < 1 || l.Binds > load.BindsMax:
		return bad("--binds must be 1..%d", load.BindsMax)
	case l.Window < 1 || l.Window > load.WindowMax:
		return bad("--window must be 1..%d", load.WindowMax)
	case l.Rate < 0:
		return bad("--rate must not be negative")
	case l.LongShare < 0 || l.UCS2Share < 0 || l.LongShare+l.UCS2Share > 1:
		return bad("--long-share and --ucs2-share must be ≥ 0 and sum to ≤ 1")
	case l.DLRWait < 0 || l.DLRWait > load.DurationMax:
		return bad("--dlr-wait must be 0..%v", load.DurationMax)
	case l.ResponseTimeout <= 0 || l.ResponseTimeout > 10*time.Minute:
		return bad("--response-timeout must be > 0 and ≤ 10m")
	case cfg.tenants < 1 || cfg.tenants > 100:
		return bad("--tenants must be 1..100")
	case cfg.logFmt != "text" && cfg.logFmt != "json":
		return bad("--log-format must be text or json, not %q", cfg.logFmt)
	case cfg.prefix == "" || strings.Trim(cfg.prefix, "0123456789") != "" || len(cfg.prefix) > 8:
		return bad("--prefix must be 1..8 digits")
	case cfg.supplierBinds < 1 || cfg.supplierBinds > 64:
		return bad("--supplier-binds must be 1..64")
	case cfg.supplierWindow < 1 || cfg.supplierWindow > 10_000:
		return bad("--supplier-window must be 1..10000")
	case cfg.supplierTPS < 0 || cfg.supplierTPS > 1_000_000:
		return bad("--supplier-tps must be 0..1000000")
	case (cfg.systemID == "") != (cfg.password == ""):
		return bad("--system-id and --password go together")
	case cfg.smppAddr == "" && (cfg.httpAddr != "" || cfg.adminToken != "" || cfg.systemID != ""):
		return bad("--http-addr, --admin-token and --system-id need --smpp-addr (a running serve)")
	case cfg.smppAddr != "" && cfg.systemID == "" && (cfg.httpAddr == "" || cfg.adminToken == ""):
		return bad("against a running serve, give --http-addr and --admin-token (to configure it) or --system-id and --password")
	case cfg.smppAddr != "" && (cfg.dataDir != "" || cfg.databaseURL != ""):
		return bad("--data-dir and --database-url are for the self-contained mode, not with --smpp-addr")
	}
	for _, p := range []struct{ name, v string }{{"--price", cfg.price}, {"--cost", cfg.cost}} {
		if d, err := decimal.NewFromString(p.v); err != nil || !d.IsPositive() {
			return bad("%s must be a positive decimal, not %q", p.name, p.v)
		}
	}
	for _, a := range []struct{ name, v string }{{"--smpp-addr", cfg.smppAddr}, {"--http-addr", cfg.httpAddr}, {"--smsc-addr", cfg.smscAddr}} {
		if a.v == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			return bad("%s %q: %v", a.name, a.v, err)
		}
	}
	l.DestPrefix, l.DestDigits = cfg.prefix, 12
	if err := cfg.checkSustained(flagGiven(fs, getenv)); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// runBench runs the whole bench and prints the report; it fails if nothing
// was accepted or the run counted any error.
func runBench(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	if cfg.sustained.on() {
		return runSustained(ctx, cfg, stdout, stderr)
	}
	log := newLogger(stderr, commonConfig{logFormat: cfg.logFmt, logLevel: cfg.logLevel}).With("component", "bench")
	serveLog := newLogger(stderr, commonConfig{logFormat: cfg.logFmt, logLevel: cfg.serveLogLevel})
	runID := randomHex(4)
	tmp, err := os.MkdirTemp("", "smsledger-bench-")
	if err != nil {
		return fmt.Errorf("bench: temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	// The supplier.
	smscAddr, smscSys, smscPw := cfg.smscAddr, cfg.smscSystemID, cfg.smscPassword
	var reached func() bool // the warm-up reached the supplier (nil: unknown, wait for its DLR)
	if smscAddr == "" {
		if smscPw == "" {
			smscPw = randomHex(4)
		}
		simCfg := cfg.sim
		simCfg.Addr, simCfg.SystemID, simCfg.Password = "127.0.0.1:0", smscSys, smscPw
		simCfg.Logger = serveLog.With("component", "smsc-sim")
		sim, err := smscsim.New(simCfg)
		if err != nil {
			return fmt.Errorf("bench: smsc-sim: %w", err)
		}
		simCtx, stopSim := context.WithCancel(context.WithoutCancel(ctx))
		simDone := make(chan error, 1)
		go func() { simDone <- sim.Run(simCtx) }()
		defer func() {
			stopSim()
			<-simDone
		}()
		smscAddr = sim.Addr()
		reached = func() bool { return sim.Submitted.Load() > 0 }
		log.Info("smsc-sim started", "addr", smscAddr, "latency", cfg.sim.Latency, "dlr_delay", cfg.sim.DLRDelay)
	}

	// serve: in-process, or the running one.
	smppAddr, httpAddr, token := cfg.smppAddr, cfg.httpAddr, cfg.adminToken
	mode := "target"
	if smppAddr == "" {
		mode = "self-contained"
		token = randomHex(16)
		args := []string{"--http-addr", "127.0.0.1:0", "--smpp-addr", "127.0.0.1:0", "--admin-token", token,
			"--seal-key-file", filepath.Join(tmp, "seal.key"), "--log-format", cfg.logFmt, "--log-level", cfg.serveLogLevel.String()}
		if cfg.databaseURL != "" {
			args = append(args, "--database-url", cfg.databaseURL, "--data-dir", tmp)
		} else if cfg.dataDir != "" {
			args = append(args, "--data-dir", cfg.dataDir)
		} else {
			args = append(args, "--data-dir", filepath.Join(tmp, "data"))
		}
		info, stop, err := startServe(ctx, args, serveLog)
		if err != nil {
			return err
		}
		defer func() {
			if err := stop(); err != nil {
				log.Warn("serve stopped with an error", "err", err)
			}
		}()
		smppAddr, httpAddr = info.SMPPAddr, info.HTTPAddr
		log.Info("serve started", "smpp_addr", smppAddr, "http_addr", httpAddr)
	}

	var creds []load.Credential
	if cfg.systemID != "" {
		creds = []load.Credential{{SystemID: cfg.systemID, Password: cfg.password}}
	} else {
		host, portS, _ := net.SplitHostPort(smscAddr)
		port, _ := strconv.Atoi(portS)
		a := apiClient{base: "http://" + httpAddr, token: token, hc: &http.Client{Timeout: 30 * time.Second}}
		if mode == "target" {
			log.Warn("configuring the running serve: the route table is replaced", "prefix", cfg.prefix)
		}
		creds, err = configure(ctx, a, cfg, runID, host, port, smscSys, smscPw)
		if err != nil {
			return err
		}
	}

	// Warm-up: the first accepted message proves binds, routing and the
	// supplier's health are in place (the relay binds the supplier and
	// feeds its health asynchronously); it is not part of the figures.
	if err := warmUp(ctx, smppAddr, creds[0], cfg.prefix, reached, log); err != nil {
		return err
	}

	lc := cfg.load
	lc.Addr, lc.Credentials, lc.Logger = smppAddr, creds, log
	log.Info("load starting", "binds", lc.Binds, "window", lc.Window, "messages", lc.Messages, "duration", lc.Duration, "rate", lc.Rate)
	stopProfile, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	res, err := load.Run(ctx, lc)
	stopProfile()
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	rep := newBenchReport(mode, cfg, res)
	if cfg.jsonOut {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		rep.printText(stdout)
	}
	switch {
	case res.Accepted == 0:
		return errors.New("bench: nothing was accepted")
	case res.HasErrors():
		return fmt.Errorf("bench: the run had errors: %v", load.FormatCounts(res.Errors))
	}
	return nil
}

// startServe runs runServe in-process until stop is called.
func startServe(ctx context.Context, args []string, log *slog.Logger) (readyInfo, func() error, error) {
	scfg, err := parseServeFlags(args, io.Discard, func(string) string { return "" })
	if err != nil {
		return readyInfo{}, nil, fmt.Errorf("bench: serve flags: %w", err)
	}
	readyCh := make(chan readyInfo, 1)
	scfg.ready = func(ri readyInfo) { readyCh <- ri }
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- runServe(sctx, scfg, io.Discard, log.With("component", "serve")) }()
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			return errors.New("serve did not stop within a minute")
		}
	}
	select {
	case info := <-readyCh:
		return info, stop, nil
	case err := <-done:
		cancel()
		return readyInfo{}, nil, fmt.Errorf("bench: serve exited before it was ready: %w", err)
	case <-ctx.Done():
		_ = stop()
		return readyInfo{}, nil, ctx.Err()
	case <-time.After(3 * time.Minute):
		_ = stop()
		return readyInfo{}, nil, errors.New("bench: serve not ready after 3 minutes")
	}
}

// configure creates the supplier (costs, route) and the tenants (rates,
// SMPP credentials, credit for the whole run) and returns the credentials.
func configure(ctx context.Context, a apiClient, cfg benchConfig, runID, smscHost string, smscPort int, smscSys, smscPw string) ([]load.Credential, error) {
	supplier := "bench-sim-" + runID
	steps := []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/suppliers", map[string]any{"id": supplier, "name": "bench simulated supplier", "currency": "EUR",
			"host": smscHost, "port": smscPort, "system_id": smscSys, "password": smscPw,
			"binds": cfg.supplierBinds, "tps_limit": cfg.supplierTPS, "window": cfg.supplierWindow}},
		{"PUT", "/v1/suppliers/" + supplier + "/costs", []map[string]string{{"prefix": cfg.prefix, "cost": cfg.cost}}},
		{"PUT", "/v1/routes", []map[string]any{{"prefix": cfg.prefix, "suppliers": []string{supplier}}}},
	}
	// Credit: every message at the largest part count of the mix, twice
	// over (messages are shared between the tenants, so each gets enough
	// for all), plus the warm-up.
	price, _ := decimal.NewFromString(cfg.price)
	parts := int64(1)
	if cfg.load.LongShare > 0 {
		parts = 3
	}
	credit := price.Mul(decimal.NewFromInt(2 * parts * int64(cfg.load.Messages+10)))
	var creds []load.Credential
	for i := 1; i <= cfg.tenants; i++ {
		id := fmt.Sprintf("bench-%s-%d", runID, i)
		c := load.Credential{SystemID: id, Password: randomHex(4)} // SMPP passwords are ≤ 8 octets
		creds = append(creds, c)
		steps = append(steps, []struct {
			method, path string
			body         any
		}{
			{"POST", "/v1/tenants", map[string]any{"id": id, "name": "bench tenant " + strconv.Itoa(i), "currency": "EUR",
				"billing": "on_submit", "tps_limit": 0, "credit_limit": "0", "tier": "standard"}},
			{"PUT", "/v1/tenants/" + id + "/rates", []map[string]string{{"prefix": cfg.prefix, "price": cfg.price}}},
			{"POST", "/v1/tenants/" + id + "/smpp-credentials", map[string]string{"system_id": c.SystemID, "password": c.Password}},
			{"POST", "/v1/tenants/" + id + "/topups", map[string]string{"amount": credit.String(), "reference": "bench-" + runID}},
		}...)
	}
	for _, s := range steps {
		if _, err := a.call(ctx, s.method, s.path, a.token, s.body, nil); err != nil {
			return nil, fmt.Errorf("bench: configure serve: %w", err)
		}
	}
	return creds, nil
}

// warmUp sends single messages (≤ 30 s) until the whole path works: one
// is accepted and reaches the supplier — seen by the in-process simulator's
// counter, or (an external SMSC) by its DLR coming back. The relay binds the
// supplier asynchronously after it is configured; until then messages are
// accepted but cannot be sent, which would distort the figures.
func warmUp(ctx context.Context, addr string, cred load.Credential, prefix string, reached func() bool, log *slog.Logger) error {
	deadline := time.Now().Add(30 * time.Second)
	cfg := load.Config{Addr: addr, Credentials: []load.Credential{cred}, Binds: 1, Window: 1,
		Messages: 1, DestPrefix: prefix, DestDigits: 12, ResponseTimeout: 10 * time.Second}
	if reached == nil {
		cfg.RegisteredDelivery, cfg.DLRWait = true, 5*time.Second
	}
	var last string
	for attempt := 1; ; attempt++ {
		res, err := load.Run(ctx, cfg)
		switch {
		case err != nil:
			last = err.Error()
		case res.Accepted == 1 && reached == nil && res.DLRs == 1:
			log.Info("warm-up message delivered", "attempts", attempt)
			return nil
		case res.Accepted == 1 && reached != nil:
			wait := time.Now().Add(2 * time.Second) // then send another: this one may have failed for want of a bind
			for time.Now().Before(wait) && !reached() && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			if reached() {
				log.Info("warm-up message reached the supplier", "attempts", attempt)
				return nil
			}
			last = "accepted, never reached the supplier"
		default:
			last = load.FormatCounts(res.Errors)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: the path to the supplier did not work within 30s of warm-up; last: %s", last)
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// benchReport is the report; its JSON keys are part of the contract
// (msg_per_s, p50_ms, p99_ms, p999_ms, dlr_p50_ms, dlr_p99_ms, errors).
type benchReport struct {
	Mode          string           `json:"mode"`
	Sent          int64            `json:"sent"`
	Accepted      int64            `json:"accepted"`
	Refused       int64            `json:"refused"`
	Statuses      map[string]int64 `json:"statuses"`
	Errors        map[string]int64 `json:"errors"`
	SubmitPhaseS  float64          `json:"submit_phase_s"`
	MsgPerS       float64          `json:"msg_per_s"`
	P50ms         float64          `json:"p50_ms"`
	P90ms         float64          `json:"p90_ms"`
	P99ms         float64          `json:"p99_ms"`
	P999ms        float64          `json:"p999_ms"`
	MaxMs         float64          `json:"max_ms"`
	DLRsExpected  int64            `json:"dlrs_expected"`
	DLRs          int64            `json:"dlrs"`
	DLRByStat     map[string]int64 `json:"dlr_by_stat"`
	DLRDuplicates int64            `json:"dlr_duplicates"`
	DLRP50ms      float64          `json:"dlr_p50_ms"`
	DLRP90ms      float64          `json:"dlr_p90_ms"`
	DLRP99ms      float64          `json:"dlr_p99_ms"`
	DLRP999ms     float64          `json:"dlr_p999_ms"`
	DLRMaxMs      float64          `json:"dlr_max_ms"`
	DLRWaitedS    float64          `json:"dlr_waited_s"`
	// CompletedPerS is the end-to-end rate: DLRs back at the customer per
	// second from the first submit to the last DLR (accept, supplier,
	// DLR recorded and forwarded; all on this machine).
	CompletedPerS float64      `json:"completed_per_s"`
	Params        benchParams  `json:"params"`
	Machine       benchMachine `json:"machine"`
	dlrsRequested bool
}

type benchParams struct {
	Binds              int     `json:"binds"`
	Window             int     `json:"window"`
	Messages           int     `json:"messages"`
	DurationS          float64 `json:"duration_s"`
	Rate               float64 `json:"rate"`
	Tenants            int     `json:"tenants"`
	LongShare          float64 `json:"long_share"`
	UCS2Share          float64 `json:"ucs2_share"`
	RegisteredDelivery bool    `json:"registered_delivery"`
	DLRWaitS           float64 `json:"dlr_wait_s"`
	SimLatencyMs       float64 `json:"sim_latency_ms,omitempty"`
	SimDLRDelayMs      float64 `json:"sim_dlr_delay_ms,omitempty"`
	SupplierBinds      int     `json:"supplier_binds"`
	SupplierWindow     int     `json:"supplier_window"`
}

type benchMachine struct {
	CPUs      int    `json:"cpus"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func newBenchReport(mode string, cfg benchConfig, res *load.Result) *benchReport {
	l := cfg.load
	r := &benchReport{
		Mode: mode, Sent: res.Sent, Accepted: res.Accepted, Refused: res.Refused, Statuses: res.Statuses, Errors: res.Errors,
		SubmitPhaseS: res.SubmitPhase.Seconds(), MsgPerS: res.MsgPerS,
		P50ms: ms(res.Submit.P50), P90ms: ms(res.Submit.P90), P99ms: ms(res.Submit.P99), P999ms: ms(res.Submit.P999), MaxMs: ms(res.Submit.Max),
		DLRs: res.DLRs, DLRByStat: res.DLRByStat, DLRDuplicates: res.DLRDuplicates,
		DLRP50ms: ms(res.DLR.P50), DLRP90ms: ms(res.DLR.P90), DLRP99ms: ms(res.DLR.P99), DLRP999ms: ms(res.DLR.P999), DLRMaxMs: ms(res.DLR.Max),
		DLRWaitedS: res.DLRWaited.Seconds(),
		Params: benchParams{Binds: l.Binds, Window: l.Window, Messages: l.Messages, DurationS: l.Duration.Seconds(), Rate: l.Rate,
			Tenants: cfg.tenants, LongShare: l.LongShare, UCS2Share: l.UCS2Share, RegisteredDelivery: l.RegisteredDelivery,
			DLRWaitS: l.DLRWait.Seconds(), SupplierBinds: cfg.supplierBinds, SupplierWindow: cfg.supplierWindow},
		Machine:       benchMachine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version()},
		dlrsRequested: l.RegisteredDelivery,
	}
	if l.RegisteredDelivery {
		r.DLRsExpected = res.Accepted
		if t := r.SubmitPhaseS + r.DLRWaitedS; t > 0 {
			r.CompletedPerS = float64(r.DLRs) / t
		}
	}
	if cfg.smscAddr == "" {
		r.Params.SimLatencyMs, r.Params.SimDLRDelayMs = ms(cfg.sim.Latency), ms(cfg.sim.DLRDelay)
	}
	if r.Errors == nil {
		r.Errors = map[string]int64{}
	}
	return r
}

func (r *benchReport) printText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := r.Params
	fmt.Fprintf(tw, "smsledger bench (%s)\t%d binds × window %d, %d messages (≤ %gs), rate %s, %d tenant(s), long %.0f%%, UCS-2 %.0f%%\n",
		r.Mode, p.Binds, p.Window, p.Messages, p.DurationS, rateText(p.Rate), p.Tenants, 100*p.LongShare, 100*p.UCS2Share)
	fmt.Fprintf(tw, "machine\t%d CPUs, %s/%s, %s\n", r.Machine.CPUs, r.Machine.GOOS, r.Machine.GOARCH, r.Machine.GoVersion)
	fmt.Fprintf(tw, "submitted\t%d sent, %d accepted, %d refused\n", r.Sent, r.Accepted, r.Refused)
	fmt.Fprintf(tw, "statuses\t%s\n", load.FormatCounts(r.Statuses))
	fmt.Fprintf(tw, "throughput\t%.0f msg/s accepted (submit phase %.2fs)\n", r.MsgPerS, r.SubmitPhaseS)
	fmt.Fprintf(tw, "submit_sm_resp\tp50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n", r.P50ms, r.P90ms, r.P99ms, r.P999ms, r.MaxMs)
	if r.dlrsRequested {
		fmt.Fprintf(tw, "DLRs\t%d of %d within %.1fs (%s), %d duplicate(s)\n", r.DLRs, r.DLRsExpected, r.DLRWaitedS, load.FormatCounts(r.DLRByStat), r.DLRDuplicates)
		fmt.Fprintf(tw, "end to end\t%.0f msg/s completed (DLR back at the customer; first submit to last DLR %.1fs)\n", r.CompletedPerS, r.SubmitPhaseS+r.DLRWaitedS)
		fmt.Fprintf(tw, "DLR round trip\tp50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms (includes the simulator's DLR delay %g ms)\n",
			r.DLRP50ms, r.DLRP90ms, r.DLRP99ms, r.DLRP999ms, r.DLRMaxMs, r.Params.SimDLRDelayMs)
	}
	fmt.Fprintf(tw, "errors\t%s\n", load.FormatCounts(r.Errors))
	_ = tw.Flush()
}

func rateText(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s", r)
}

// startCPUProfile starts a CPU profile into path (nothing when empty).
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
		// Beside it, what was allocated where since the start (sampled):
		// go tool pprof -sample_index=alloc_space <path>.allocs
		if a, err := os.Create(path + ".allocs"); err == nil {
			_ = pprof.Lookup("allocs").WriteTo(a, 0)
			_ = a.Close()
		}
	}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
