package main

// smsledger bench --sustained and --find-capacity: what the whole lifecycle
// keeps up with, not how fast submits are accepted in a burst.
//
// serve (embedded PostgreSQL in a temporary directory, or --database-url)
// and smsc-sim run as child processes — this binary re-executed — so that
// the CPU of each role is read apart from /proc: serve, PostgreSQL (the
// postmaster and its children), the simulator, and the load generator,
// which runs in bench's own process (it needs no process of its own to be
// measured apart, and its figures come back without a channel between
// processes). serve is configured over its admin API as the in-process
// bench does.
//
// A measurement ("step") at a rate R: an unmeasured warm-up at R (its DLRs
// awaited), then R msg/s offered open loop for --duration; sustained when
// accepted/s is within 95 % of R, the DLR delay p99 stays within the
// simulator's DLR delay + 1 s and, that long after the last submit_sm_resp,
// fewer than R DLRs (a second of traffic) are still missing. The wait for
// the rest goes on up to --dlr-wait, so that the next step starts clean; if
// DLRs are still missing then, the next step starts a fresh serve (as every
// step does with --capacity-fresh-serve).

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/scenarios/load"
)

// sustainedConfig are the flags of the sustained mode.
type sustainedConfig struct {
	enabled      bool // --sustained
	findCapacity bool // --find-capacity
	warmup       time.Duration
	search       capacitySearch
	freshServe   bool // --capacity-fresh-serve
	// serveCPUProfile is --serve-cpu-profile: serve profiles itself into it.
	serveCPUProfile string
	// serveMetricsAddr is --serve-metrics-addr: serve's --metrics-addr.
	serveMetricsAddr string

	// exe is the binary re-executed as serve and smsc-sim (default: this
	// one); childEnv is added to their environment (tests: the test binary
	// acting as smsledger).
	exe      string
	childEnv []string
}

// Defaults of the sustained mode.
const (
	sustainedDurationDefault = 30 * time.Second
	// acceptedShareMin: below this share of the offered rate accepted, the
	// rate was not taken (refused, or the generator's windows were full).
	acceptedShareMin = 0.95
	// dlrAllowance is what the DLR delay p99 may exceed the simulator's
	// DLR delay by.
	dlrAllowance = time.Second
	// serveStopGrace is how long serve gets to stop (its PostgreSQL too)
	// before it is killed.
	serveStopGrace = time.Minute
)

func (s *sustainedConfig) register(fs *flag.FlagSet) {
	fs.BoolVar(&s.enabled, "sustained", false, "run serve and smsc-sim as child processes and offer --rate open loop for --duration (default 30s here): sustained or not, with CPU µs per message per process")
	fs.BoolVar(&s.findCapacity, "find-capacity", false, "step the offered rate to the highest sustained one (--capacity-*; each step as --sustained)")
	fs.DurationVar(&s.warmup, "warmup", 5*time.Second, "--sustained: traffic at the rate before each measured window, not measured")
	fs.Float64Var(&s.search.Start, "capacity-start", 1000, "--find-capacity: first rate tried (msg/s)")
	fs.Float64Var(&s.search.Factor, "capacity-factor", 1.25, "--find-capacity: rate multiplied by this while sustained (divided while not), then bisected")
	fs.Float64Var(&s.search.Min, "capacity-min", 100, "--find-capacity: lowest rate tried")
	fs.Float64Var(&s.search.Max, "capacity-max", 50000, "--find-capacity: highest rate tried")
	fs.Float64Var(&s.search.Resolution, "capacity-resolution", 0.05, "--find-capacity: stop when the last sustained and the first not sustained rate are this close (relative)")
	fs.IntVar(&s.search.Steps, "capacity-steps", 20, "--find-capacity: most measurements")
	fs.StringVar(&s.serveCPUProfile, "serve-cpu-profile", "", "--sustained: write a CPU profile of serve to this file (of the n-th serve, n > 1: file-n), and its allocations since its start to file.allocs, for go tool pprof")
	fs.StringVar(&s.serveMetricsAddr, "serve-metrics-addr", "", "--sustained: serve's --metrics-addr (/metrics without auth, to watch its histograms during a run); empty: off")
	fs.BoolVar(&s.freshServe, "capacity-fresh-serve", false, "--find-capacity: every step on a fresh serve and embedded PostgreSQL (default: the same one while steps drain their DLRs)")
}

func (s *sustainedConfig) on() bool { return s.enabled || s.findCapacity }

// flagGiven reports whether a flag was set on the command line or in the
// environment (a default can then be chosen by mode).
func flagGiven(fs *flag.FlagSet, getenv func(string) string) func(string) bool {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return func(name string) bool { return given[name] || getenv(envName(name)) != "" }
}

// checkSustained checks the sustained mode's flags and sets its defaults.
func (cfg *benchConfig) checkSustained(given func(string) bool) error {
	s, l := &cfg.sustained, &cfg.load
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	if !s.on() {
		for _, name := range []string{"warmup", "capacity-start", "capacity-factor", "capacity-min", "capacity-max", "capacity-resolution", "capacity-steps", "capacity-fresh-serve"} {
			if given(name) {
				return bad("--%s is for --sustained or --find-capacity", name)
			}
		}
		return nil
	}
	if !given("duration") {
		l.Duration = sustainedDurationDefault
	}
	rateMax := l.Rate
	if s.findCapacity {
		rateMax = s.search.Max
	}
	sc := s.search
	switch {
	case s.enabled && s.findCapacity:
		return bad("give --sustained or --find-capacity, not both")
	case cfg.smppAddr != "" || cfg.smscAddr != "":
		return bad("--sustained and --find-capacity run their own serve and smsc-sim: not with --smpp-addr or --smsc-addr")
	case !l.RegisteredDelivery:
		return bad("--sustained and --find-capacity measure DLRs: not with --registered-delivery=false")
	case given("messages"):
		return bad("--sustained and --find-capacity send --rate × --duration messages: no --messages")
	case s.findCapacity && given("rate"):
		return bad("--find-capacity steps the rate from --capacity-start: no --rate")
	case s.enabled && l.Rate <= 0:
		return bad("--sustained needs --rate (msg/s offered)")
	case rateMax*max(l.Duration, s.warmup).Seconds() > load.MessagesMax:
		return bad("the highest rate × --duration (or --warmup) must be ≤ %d messages", load.MessagesMax)
	case s.warmup < 0 || s.warmup > 5*time.Minute:
		return bad("--warmup must be 0..5m")
	case l.DLRWait < cfg.sim.DLRDelay+dlrAllowance:
		return bad("--dlr-wait must be at least --sim-dlr-delay + %v (the verdict's deadline)", dlrAllowance)
	case s.findCapacity && !(sc.Min > 0 && sc.Min <= sc.Start && sc.Start <= sc.Max):
		return bad("--capacity-min ≤ --capacity-start ≤ --capacity-max, all > 0")
	case s.findCapacity && (sc.Factor <= 1 || sc.Factor > 10):
		return bad("--capacity-factor must be > 1 and ≤ 10")
	case s.findCapacity && (sc.Resolution < 0.001 || sc.Resolution > 0.5):
		return bad("--capacity-resolution must be 0.001..0.5")
	case s.findCapacity && (sc.Steps < 1 || sc.Steps > 100):
		return bad("--capacity-steps must be 1..100")
	}
	l.Messages = 0 // per run: rate × duration
	return nil
}

// runSustained runs --sustained or --find-capacity and prints the report.
// --sustained fails when the rate was not sustained (after the report).
func runSustained(ctx context.Context, cfg benchConfig, stdout, stderr io.Writer) error {
	if _, err := readProcStat(os.Getpid()); err != nil {
		return fmt.Errorf("bench: --sustained reads CPU times from /proc (Linux): %w", err)
	}
	log := newLogger(stderr, commonConfig{logFormat: cfg.logFmt, logLevel: cfg.logLevel}).With("component", "bench")
	tmp, err := os.MkdirTemp("", "smsledger-bench-")
	if err != nil {
		return fmt.Errorf("bench: temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	r := &rig{cfg: cfg, log: log, stderr: &syncWriter{w: stderr}, tmp: tmp}
	defer r.stop()
	loadStart := loadAverage()
	if err := r.start(ctx); err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	head := newSustainedHead(cfg, loadStart)

	if cfg.sustained.enabled {
		step, err := r.measure(ctx, cfg.load.Rate)
		if err != nil {
			return err
		}
		head.Machine.LoadAvgEnd = loadAverage()
		rep := sustainedReport{sustainedHead: head, sustainedStep: step}
		if err := rep.print(stdout, cfg.jsonOut); err != nil {
			return err
		}
		if !step.Sustained {
			return fmt.Errorf("bench: %g msg/s not sustained: %s", step.OfferedPerS, step.Reason)
		}
		return nil
	}

	var steps []*sustainedStep
	found, err := searchCapacity(ctx, cfg.sustained.search, func(ctx context.Context, rate float64) (bool, error) {
		step, err := r.measure(ctx, rate)
		if err != nil {
			return false, err
		}
		step.Step = len(steps) + 1
		steps = append(steps, step)
		log.Info("step measured", "rate", rate, "sustained", step.Sustained, "reason", step.Reason)
		return step.Sustained, nil
	})
	head.Machine.LoadAvgEnd = loadAverage()
	rep := capacityReport{sustainedHead: head, Steps: steps, Found: found}
	if perr := rep.print(stdout, cfg.jsonOut); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("bench: capacity search stopped after %d step(s): %w", len(steps), err)
	}
	if found.Sustained == 0 {
		return fmt.Errorf("bench: not even %g msg/s sustained", cfg.sustained.search.Min)
	}
	return nil
}

// rig is what a sustained run started: the simulator, serve, the tenants
// configured on it, and where the load generator's message numbers are.
type rig struct {
	cfg    benchConfig
	log    *slog.Logger
	stderr io.Writer
	tmp    string

	sim                *child
	simAddr, simPass   string
	serve              *child
	serves             int // started so far
	dataDir            string
	smppAddr, httpAddr string
	token              string
	postmaster         int // 0: PostgreSQL not measured (--database-url)
	creds              []load.Credential

	offset int64 // message numbers used so far (every run sends to new numbers)
	// dirty: the next step starts a fresh serve (the last one left DLRs
	// missing, or --capacity-fresh-serve after a step).
	dirty bool
}

// start starts the simulator and serve and configures serve.
func (r *rig) start(ctx context.Context) error {
	if err := r.startSim(ctx); err != nil {
		return err
	}
	return r.startServe(ctx)
}

// stop ends serve, then the simulator, by their PIDs.
func (r *rig) stop() {
	if err := r.serve.stop(serveStopGrace); err != nil {
		r.log.Warn("serve", "err", err)
	}
	if err := r.sim.stop(10 * time.Second); err != nil {
		r.log.Warn("smsc-sim", "err", err)
	}
}

// exe is the binary re-executed for the children.
func (r *rig) exe() (string, error) {
	if r.cfg.sustained.exe != "" {
		return r.cfg.sustained.exe, nil
	}
	return os.Executable()
}

// childEnv is bench's environment for a child without what would override
// the flags bench gives it (SMSLEDGER_*, DATABASE_URL), plus childEnv.
func (r *rig) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, envPrefix) || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, r.cfg.sustained.childEnv...)
}

// forward passes a child's JSON log line on to bench's stderr when its level
// is at least --serve-log-level (lines that are not JSON always: a panic).
func (r *rig) forward(line []byte) {
	var l struct {
		Level slog.Level `json:"level"`
	}
	if json.Unmarshal(line, &l) == nil && l.Level < r.cfg.serveLogLevel {
		return
	}
	fmt.Fprintf(r.stderr, "%s\n", line)
}

var simListening = regexp.MustCompile(`listening on (\S+)`)

// startSim starts smsc-sim on a loopback port of its choosing and waits
// for the line saying which.
func (r *rig) startSim(ctx context.Context) error {
	exe, err := r.exe()
	if err != nil {
		return err
	}
	r.simPass = randomHex(4)
	s := r.cfg.sim
	args := []string{"smsc-sim", "--addr", "127.0.0.1:0", "--system-id", r.cfg.smscSystemID, "--password", r.simPass,
		"--latency", s.Latency.String(), "--dlr-delay", s.DLRDelay.String(),
		"--delivered", fmtFloat(s.Delivered), "--undelivered", fmtFloat(s.Undelivered), "--rejected", fmtFloat(s.Rejected),
		"--log-format", "json", "--log-level", r.cfg.serveLogLevel.String()}
	addr := make(chan string, 1)
	r.sim, err = startChild("smsc-sim", exe, args, r.childEnv(), func(line []byte) {
		if m := simListening.FindSubmatch(line); m != nil {
			select {
			case addr <- string(m[1]):
			default:
			}
		}
	}, r.forward)
	if err != nil {
		return err
	}
	r.simAddr, err = awaitChild(ctx, r.sim, addr, time.Minute)
	if err != nil {
		return err
	}
	r.log.Info("smsc-sim started", "pid", r.sim.pid(), "addr", r.simAddr, "dlr_delay", s.DLRDelay)
	return nil
}

// awaitChild waits (≤ limit) for what the child announces on ch.
func awaitChild(ctx context.Context, c *child, ch <-chan string, limit time.Duration) (string, error) {
	select {
	case v := <-ch:
		return v, nil
	case <-c.done:
		return "", fmt.Errorf("bench: %w", c.exitError())
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(limit):
		return "", fmt.Errorf("bench: %s not ready after %v; its last output:\n%s", c.name, limit, c.tail.String())
	}
}

// serveReady is serve's "serving" log line.
type serveReady struct {
	Msg      string `json:"msg"`
	HTTPAddr string `json:"http_addr"`
	SMPPAddr string `json:"smpp_addr"`
}

// startServe starts serve (a fresh data directory each time, unless
// --data-dir), waits for it to serve, configures it and sends the first
// message through the whole path.
func (r *rig) startServe(ctx context.Context) error {
	exe, err := r.exe()
	if err != nil {
		return err
	}
	r.serves++
	r.token = randomHex(16)
	tokenFile := filepath.Join(r.tmp, fmt.Sprintf("admin-token-%d", r.serves))
	if err := os.WriteFile(tokenFile, []byte(r.token), 0o600); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	r.dataDir = r.cfg.dataDir
	if r.dataDir == "" {
		r.dataDir = filepath.Join(r.tmp, fmt.Sprintf("data-%d", r.serves))
	}
	args := []string{"serve", "--http-addr", "127.0.0.1:0", "--smpp-addr", "127.0.0.1:0", "--admin-token-file", tokenFile,
		"--seal-key-file", filepath.Join(r.tmp, fmt.Sprintf("seal-%d.key", r.serves)), "--data-dir", r.dataDir,
		// info: serve says where it listens in its "serving" line.
		"--log-format", "json", "--log-level", "info"}
	if r.cfg.databaseURL != "" {
		args = append(args, "--database-url", r.cfg.databaseURL)
	}
	if a := r.cfg.sustained.serveMetricsAddr; a != "" {
		args = append(args, "--metrics-addr", a)
	}
	env := r.childEnv()
	if p := r.cfg.sustained.serveCPUProfile; p != "" {
		if r.serves > 1 {
			p = fmt.Sprintf("%s-%d", p, r.serves)
		}
		env = append(env, cpuProfileEnv+"="+p)
	}
	ready := make(chan string, 1)
	r.serve, err = startChild("serve", exe, args, env, nil, func(line []byte) {
		var l serveReady
		if json.Unmarshal(line, &l) == nil && l.Msg == "serving" {
			select {
			case ready <- l.HTTPAddr + " " + l.SMPPAddr:
			default:
			}
		}
		r.forward(line)
	})
	if err != nil {
		return err
	}
	addrs, err := awaitChild(ctx, r.serve, ready, 3*time.Minute)
	if err != nil {
		return err
	}
	r.httpAddr, r.smppAddr, _ = strings.Cut(addrs, " ")
	r.postmaster = 0
	if r.cfg.databaseURL == "" {
		if r.postmaster, err = postmasterPID(filepath.Join(r.dataDir, "pgdata")); err != nil {
			return fmt.Errorf("bench: the embedded PostgreSQL's PID: %w", err)
		}
	}
	r.log.Info("serve started", "pid", r.serve.pid(), "postgres_pid", r.postmaster, "smpp_addr", r.smppAddr, "http_addr", r.httpAddr)

	host, portS, _ := net.SplitHostPort(r.simAddr)
	port, _ := strconv.Atoi(portS)
	ccfg := r.cfg
	ccfg.load.Messages = 0 // credit for the warm-up message; each step tops up
	if r.creds, err = configure(ctx, r.api(), ccfg, randomHex(4), host, port, r.cfg.smscSystemID, r.simPass); err != nil {
		return err
	}
	return warmUp(ctx, r.smppAddr, r.creds[0], r.cfg.prefix, nil, r.log)
}

func (r *rig) api() apiClient {
	return apiClient{base: "http://" + r.httpAddr, token: r.token, hc: &http.Client{Timeout: 30 * time.Second}}
}

// topUp credits every tenant for n messages at the largest part count of
// the mix (each tenant may send them all), twice over.
func (r *rig) topUp(ctx context.Context, n int64) error {
	price, _ := decimal.NewFromString(r.cfg.price)
	parts := int64(1)
	if r.cfg.load.LongShare > 0 {
		parts = 3
	}
	amount := price.Mul(decimal.NewFromInt(2 * parts * n))
	a := r.api()
	for _, c := range r.creds {
		body := map[string]string{"amount": amount.String(), "reference": "bench-step-" + randomHex(4)}
		if _, err := a.call(ctx, "POST", "/v1/tenants/"+c.SystemID+"/topups", a.token, body, nil); err != nil {
			return fmt.Errorf("bench: top-up: %w", err)
		}
	}
	return nil
}

// cpuUse is the CPU time used so far by each role.
type cpuUse struct {
	serve, postgres, sim, load time.Duration
}

// sample reads the CPU time of each role.
func (r *rig) sample() (cpuUse, error) {
	var u cpuUse
	var err error
	if u.serve, err = processCPU(r.serve.pid()); err != nil {
		return u, fmt.Errorf("bench: serve's CPU: %w", err)
	}
	if u.sim, err = processCPU(r.sim.pid()); err != nil {
		return u, fmt.Errorf("bench: smsc-sim's CPU: %w", err)
	}
	if u.load, err = processCPU(os.Getpid()); err != nil {
		return u, err
	}
	if r.postmaster != 0 {
		if u.postgres, err = treeCPU(r.postmaster); err != nil {
			return u, fmt.Errorf("bench: PostgreSQL's CPU: %w", err)
		}
	}
	return u, nil
}

// settle waits (≤ 5 s) until serve and PostgreSQL are about idle, so that
// work behind the DLRs (projections) is counted in the window it belongs to.
func (r *rig) settle(ctx context.Context) {
	const tick, busy = 250 * time.Millisecond, 20 * time.Millisecond
	prev, err := r.sample()
	for i := 0; i < 20 && err == nil; i++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
		cur, err2 := r.sample()
		if err2 != nil || (cur.serve+cur.postgres)-(prev.serve+prev.postgres) < busy {
			return
		}
		prev = cur
	}
}

// measure runs one step at rate: warm-up, the measured window, the drain.
func (r *rig) measure(ctx context.Context, rate float64) (*sustainedStep, error) {
	fresh := r.dirty
	if r.dirty {
		if err := r.restartServe(ctx); err != nil {
			return nil, err
		}
	}
	sc := r.cfg.sustained
	perRun := func(d time.Duration) int { return int(math.Ceil(rate * d.Seconds())) }
	if err := r.topUp(ctx, int64(perRun(sc.warmup)+perRun(r.cfg.load.Duration)+10)); err != nil {
		return nil, err
	}
	lc := r.cfg.load
	lc.Addr, lc.Credentials, lc.Logger, lc.Rate = r.smppAddr, r.creds, r.log, rate
	var warmMissing int64
	if sc.warmup > 0 {
		w := lc
		w.Duration, w.Messages, w.Offset = sc.warmup, perRun(sc.warmup), r.offset
		res, err := load.Run(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("bench: warm-up: %w", err)
		}
		r.offset += res.Sent
		warmMissing = res.Accepted - res.DLRs
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	limit := r.cfg.sim.DLRDelay + dlrAllowance
	lc.Messages, lc.Offset, lc.DLRMark = perRun(lc.Duration), r.offset, limit
	before, err := r.sample()
	if err != nil {
		return nil, err
	}
	res, err := load.Run(ctx, lc)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	r.offset += res.Sent
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.settle(ctx)
	after, err := r.sample()
	if err != nil {
		return nil, err
	}
	if r.serve.exited() {
		return nil, fmt.Errorf("bench: %w", r.serve.exitError())
	}
	rss, _ := peakRSS(r.serve.pid())
	step := newSustainedStep(rate, limit, res, cpuUse{
		serve: after.serve - before.serve, postgres: after.postgres - before.postgres,
		sim: after.sim - before.sim, load: after.load - before.load}, r.postmaster != 0)
	step.ServePeakRSSMiB = float64(rss) / (1 << 20)
	step.FreshServe, step.WarmupDLRsMissing = fresh, warmMissing
	if step.DLRsMissing > 0 || warmMissing > 0 {
		r.log.Warn("the step left DLRs missing: the next starts a fresh serve", "missing", step.DLRsMissing, "warmup_missing", warmMissing)
		r.dirty = true
	}
	r.dirty = r.dirty || r.cfg.sustained.freshServe
	return step, nil
}

// restartServe replaces serve by a fresh one (its temporary data directory
// removed: a step leaves a large database at high rates).
func (r *rig) restartServe(ctx context.Context) error {
	if err := r.serve.stop(serveStopGrace); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if r.cfg.dataDir == "" {
		if err := os.RemoveAll(r.dataDir); err != nil {
			r.log.Warn("removing the last serve's data", "err", err)
		}
	}
	r.dirty = false
	return r.startServe(ctx)
}

// sustainedStep is one measured rate; its JSON keys are the report's.
type sustainedStep struct {
	Step            int              `json:"step,omitempty"` // --find-capacity: its place in the search
	OfferedPerS     float64          `json:"offered_per_s"`
	WindowS         float64          `json:"window_s"` // first submit_sm to last submit_sm_resp
	Sent            int64            `json:"sent"`
	SentPerS        float64          `json:"sent_per_s"`
	Accepted        int64            `json:"accepted"`
	AcceptedPerS    float64          `json:"accepted_per_s"`
	Refused         int64            `json:"refused"`
	RefusedByStatus map[string]int64 `json:"refused_by_status"`
	SubmitP50ms     float64          `json:"submit_p50_ms"`
	SubmitP99ms     float64          `json:"submit_p99_ms"`
	SubmitP999ms    float64          `json:"submit_p999_ms"`
	// DLR delay: submit_sm to the DLR at the customer, over every accepted
	// message; those whose DLR was not back by the deadline count as
	// later than it (then the p99 is "at least" the latest one back).
	DLRP50ms      float64 `json:"dlr_p50_ms"`
	DLRP99ms      float64 `json:"dlr_p99_ms"`
	DLRP50AtLeast bool    `json:"dlr_p50_at_least,omitempty"`
	DLRP99AtLeast bool    `json:"dlr_p99_at_least,omitempty"`
	DLRP99LimitMs float64 `json:"dlr_p99_limit_ms"` // the simulator's DLR delay + 1 s
	// EndToEndPerS is DLRs back at the customer per second of the window.
	EndToEndPerS float64 `json:"end_to_end_per_s"`
	// Backlog is accepted minus DLRs back, BacklogAtS seconds (the DLR
	// limit) after the window.
	Backlog      int64   `json:"backlog"`
	BacklogAtS   float64 `json:"backlog_at_s"`
	BacklogLimit int64   `json:"backlog_limit"` // a second of traffic
	// DLRsMissing are still missing after the drain (≤ --dlr-wait).
	DLRsMissing       int64            `json:"dlrs_missing_after_drain"`
	DrainS            float64          `json:"drain_s"`
	WarmupDLRsMissing int64            `json:"warmup_dlrs_missing"`
	CPU               sustainedCPU     `json:"cpu"`
	ServePeakRSSMiB   float64          `json:"serve_peak_rss_mib"`
	Errors            map[string]int64 `json:"errors"`
	Sustained         bool             `json:"sustained"`
	Reason            string           `json:"reason"` // why not (empty when sustained)
	FreshServe        bool             `json:"fresh_serve,omitempty"`
}

// sustainedCPU is the CPU per accepted message of each process, from the
// start of the window to the end of the drain (and a settle of ≤ 5 s).
type sustainedCPU struct {
	ServeUsPerMsg    float64 `json:"serve_us_per_msg"`
	PostgresUsPerMsg float64 `json:"postgres_us_per_msg"`
	SimUsPerMsg      float64 `json:"sim_us_per_msg"`
	LoadUsPerMsg     float64 `json:"load_us_per_msg"` // bench's own process: the load generator
	TotalUsPerMsg    float64 `json:"total_us_per_msg"`
	ServeS           float64 `json:"serve_s"`
	PostgresS        float64 `json:"postgres_s"`
	SimS             float64 `json:"sim_s"`
	LoadS            float64 `json:"load_s"`
	PostgresMeasured bool    `json:"postgres_measured"` // false with --database-url
}

func newSustainedStep(rate float64, limit time.Duration, res *load.Result, cpu cpuUse, pgMeasured bool) *sustainedStep {
	s := &sustainedStep{OfferedPerS: rate, WindowS: res.SubmitPhase.Seconds(), Sent: res.Sent, Accepted: res.Accepted,
		Refused: res.Refused, RefusedByStatus: map[string]int64{},
		SubmitP50ms: ms(res.Submit.P50), SubmitP99ms: ms(res.Submit.P99), SubmitP999ms: ms(res.Submit.P999),
		DLRP99LimitMs: ms(limit), BacklogAtS: res.AtMark.After.Seconds(), BacklogLimit: int64(math.Ceil(rate)),
		Backlog: res.Accepted - res.AtMark.DLRs, DLRsMissing: res.Accepted - res.DLRs, DrainS: res.DLRWaited.Seconds(),
		Errors: res.Errors}
	for st, n := range res.Statuses {
		if st != "ESME_ROK" {
			s.RefusedByStatus[st] = n
		}
	}
	if s.WindowS > 0 {
		s.SentPerS = float64(res.Sent) / s.WindowS
		s.AcceptedPerS = float64(res.Accepted) / s.WindowS
		s.EndToEndPerS = float64(res.DLRsInSubmitPhase) / s.WindowS
	}
	p50, atLeast50 := censoredQuantile(&res.AtMark.Hist, res.Accepted, 0.5)
	p99, atLeast99 := censoredQuantile(&res.AtMark.Hist, res.Accepted, 0.99)
	s.DLRP50ms, s.DLRP99ms, s.DLRP50AtLeast, s.DLRP99AtLeast = ms(p50), ms(p99), atLeast50, atLeast99
	s.CPU = cpuPerMessage(cpu, res.Accepted, pgMeasured)
	s.Sustained, s.Reason = s.verdict()
	return s
}

// censoredQuantile is the q-quantile over n samples of which h holds the
// smallest (the rest not measured, known to be larger): past h's count it
// is h's maximum, a lower bound (atLeast).
func censoredQuantile(h *load.Histogram, n int64, q float64) (d time.Duration, atLeast bool) {
	rank := uint64(math.Ceil(q * float64(n)))
	if rank > h.Count() {
		return h.Max(), true
	}
	return h.Rank(rank), false
}

func cpuPerMessage(u cpuUse, accepted int64, pgMeasured bool) sustainedCPU {
	c := sustainedCPU{ServeS: u.serve.Seconds(), PostgresS: u.postgres.Seconds(), SimS: u.sim.Seconds(), LoadS: u.load.Seconds(),
		PostgresMeasured: pgMeasured}
	if accepted > 0 {
		per := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/float64(accepted)*10) / 10 }
		c.ServeUsPerMsg, c.PostgresUsPerMsg, c.SimUsPerMsg, c.LoadUsPerMsg = per(u.serve), per(u.postgres), per(u.sim), per(u.load)
		c.TotalUsPerMsg = per(u.serve + u.postgres + u.sim + u.load)
	}
	return c
}

// verdict: sustained when the rate was taken (accepted ≥ 95 % of it), the
// DLR p99 is within the limit and the backlog under a second of traffic.
func (s *sustainedStep) verdict() (bool, string) {
	var why []string
	if s.Accepted == 0 {
		why = append(why, "nothing accepted")
	} else if s.AcceptedPerS < acceptedShareMin*s.OfferedPerS {
		why = append(why, fmt.Sprintf("accepted %.0f/s < %.0f %% of the %g/s offered", s.AcceptedPerS, 100*acceptedShareMin, s.OfferedPerS))
	}
	if s.DLRP99AtLeast {
		why = append(why, fmt.Sprintf("DLR p99 > %.0f ms (over 1 %% of DLRs not back by then)", s.DLRP99LimitMs))
	} else if s.DLRP99ms > s.DLRP99LimitMs {
		why = append(why, fmt.Sprintf("DLR p99 %.0f ms > %.0f ms (the simulator's DLR delay + 1 s)", s.DLRP99ms, s.DLRP99LimitMs))
	}
	if s.Backlog >= s.BacklogLimit {
		why = append(why, fmt.Sprintf("backlog %d ≥ %d (a second of traffic) %.1fs after the window", s.Backlog, s.BacklogLimit, s.BacklogAtS))
	}
	return len(why) == 0, strings.Join(why, "; ")
}

// sustainedHead is what every sustained report carries: how it was run,
// on what.
type sustainedHead struct {
	Mode    string           `json:"mode"` // sustained or find-capacity
	Params  sustainedParams  `json:"params"`
	Machine sustainedMachine `json:"machine"`
}

type sustainedParams struct {
	DurationS      float64         `json:"duration_s"`
	WarmupS        float64         `json:"warmup_s"`
	Binds          int             `json:"binds"`
	Window         int             `json:"window"`
	Tenants        int             `json:"tenants"`
	LongShare      float64         `json:"long_share"`
	UCS2Share      float64         `json:"ucs2_share"`
	SimLatencyMs   float64         `json:"sim_latency_ms"`
	SimDLRDelayMs  float64         `json:"sim_dlr_delay_ms"`
	SupplierBinds  int             `json:"supplier_binds"`
	SupplierWindow int             `json:"supplier_window"`
	Database       string          `json:"database"` // embedded or external
	Search         *capacitySearch `json:"search,omitempty"`
}

type sustainedMachine struct {
	benchMachine
	LoadAvgStart [3]float64 `json:"load_avg_start"`
	LoadAvgEnd   [3]float64 `json:"load_avg_end"`
}

func newSustainedHead(cfg benchConfig, loadStart [3]float64) sustainedHead {
	l := cfg.load
	h := sustainedHead{Mode: "sustained",
		Params: sustainedParams{DurationS: l.Duration.Seconds(), WarmupS: cfg.sustained.warmup.Seconds(), Binds: l.Binds, Window: l.Window,
			Tenants: cfg.tenants, LongShare: l.LongShare, UCS2Share: l.UCS2Share, SimLatencyMs: ms(cfg.sim.Latency),
			SimDLRDelayMs: ms(cfg.sim.DLRDelay), SupplierBinds: cfg.supplierBinds, SupplierWindow: cfg.supplierWindow, Database: "embedded"},
		Machine: sustainedMachine{benchMachine: benchMachine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
			GoVersion: runtime.Version()}, LoadAvgStart: loadStart}}
	if cfg.databaseURL != "" {
		h.Params.Database = "external"
	}
	if cfg.sustained.findCapacity {
		h.Mode = "find-capacity"
		s := cfg.sustained.search
		h.Params.Search = &s
	}
	return h
}

func (h *sustainedHead) printHead(w io.Writer) {
	p, m := h.Params, h.Machine
	fmt.Fprintf(w, "smsledger bench --%s: %gs windows after %gs warm-up, %d binds × window %d, %d tenant(s), long %.0f%%, UCS-2 %.0f%%, sim DLR delay %g ms, %s PostgreSQL\n",
		h.Mode, p.DurationS, p.WarmupS, p.Binds, p.Window, p.Tenants, 100*p.LongShare, 100*p.UCS2Share, p.SimDLRDelayMs, p.Database)
	fmt.Fprintf(w, "machine: %d CPUs, %s/%s, %s, load average %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end\n",
		m.CPUs, m.GOOS, m.GOARCH, m.GoVersion, m.LoadAvgStart[0], m.LoadAvgStart[1], m.LoadAvgStart[2], m.LoadAvgEnd[0], m.LoadAvgEnd[1], m.LoadAvgEnd[2])
}

// sustainedReport is --sustained's report: one object.
type sustainedReport struct {
	sustainedHead
	*sustainedStep
}

func (r sustainedReport) print(w io.Writer, jsonOut bool) error {
	if jsonOut {
		return writeJSON(w, r)
	}
	r.printHead(w)
	s := r.sustainedStep
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "offered\t%g msg/s: %d sent (%.0f/s), %d accepted (%.0f/s) over %.2fs, %d refused (%s)\n",
		s.OfferedPerS, s.Sent, s.SentPerS, s.Accepted, s.AcceptedPerS, s.WindowS, s.Refused, load.FormatCounts(s.RefusedByStatus))
	fmt.Fprintf(tw, "submit_sm_resp\tp50 %.2f ms  p99 %.2f ms  p99.9 %.2f ms\n", s.SubmitP50ms, s.SubmitP99ms, s.SubmitP999ms)
	fmt.Fprintf(tw, "DLR delay\tp50 %s%.0f ms  p99 %s%.0f ms  (limit %.0f ms)\n",
		atLeastMark(s.DLRP50AtLeast), s.DLRP50ms, atLeastMark(s.DLRP99AtLeast), s.DLRP99ms, s.DLRP99LimitMs)
	fmt.Fprintf(tw, "end to end\t%.0f msg/s (DLRs back at the customer during the window)\n", s.EndToEndPerS)
	fmt.Fprintf(tw, "backlog\t%d accepted without their DLR %.1fs after the window (limit %d); %d after the drain of %.1fs\n",
		s.Backlog, s.BacklogAtS, s.BacklogLimit, s.DLRsMissing, s.DrainS)
	fmt.Fprintf(tw, "CPU µs/msg\t%s\n", s.CPU.text())
	fmt.Fprintf(tw, "serve peak RSS\t%.0f MiB\n", s.ServePeakRSSMiB)
	fmt.Fprintf(tw, "errors\t%s\n", load.FormatCounts(s.Errors))
	fmt.Fprintf(tw, "verdict\t%s\n", s.verdictText())
	return tw.Flush()
}

func (c sustainedCPU) text() string {
	pg := fmt.Sprintf("%.0f", c.PostgresUsPerMsg)
	if !c.PostgresMeasured {
		pg = "not measured (--database-url)"
	}
	return fmt.Sprintf("serve %.0f  PostgreSQL %s  smsc-sim %.0f  load generator %.0f  (all %.0f)",
		c.ServeUsPerMsg, pg, c.SimUsPerMsg, c.LoadUsPerMsg, c.TotalUsPerMsg)
}

func (s *sustainedStep) verdictText() string {
	if s.Sustained {
		return "sustained"
	}
	return "not sustained: " + s.Reason
}

func atLeastMark(b bool) string {
	if b {
		return "≥ "
	}
	return ""
}

// capacityReport is --find-capacity's report: the steps and the capacity.
type capacityReport struct {
	sustainedHead
	Steps []*sustainedStep `json:"steps"`
	Found capacityFound    `json:"found"`
}

func (r capacityReport) print(w io.Writer, jsonOut bool) error {
	if r.Steps == nil {
		r.Steps = []*sustainedStep{}
	}
	if jsonOut {
		return writeJSON(w, r)
	}
	r.printHead(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "step\toffered/s\taccepted/s\tsubmit p50/p99/p99.9 ms\tDLR p50/p99 ms\tend to end/s\tbacklog\tserve µs\tPG µs\tsim µs\tload µs\tRSS MiB\t")
	for _, s := range r.Steps {
		verdict := s.verdictText()
		if s.FreshServe {
			verdict += " (fresh serve)"
		}
		fmt.Fprintf(tw, "%d\t%g\t%.0f\t%.1f / %.1f / %.1f\t%s%.0f / %s%.0f\t%.0f\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t  %s\n",
			s.Step, s.OfferedPerS, s.AcceptedPerS, s.SubmitP50ms, s.SubmitP99ms, s.SubmitP999ms, atLeastMark(s.DLRP50AtLeast), s.DLRP50ms,
			atLeastMark(s.DLRP99AtLeast), s.DLRP99ms, s.EndToEndPerS, s.Backlog, s.CPU.ServeUsPerMsg, s.CPU.PostgresUsPerMsg, s.CPU.SimUsPerMsg,
			s.CPU.LoadUsPerMsg, s.ServePeakRSSMiB, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	f := r.Found
	switch {
	case f.Sustained == 0:
		fmt.Fprintf(w, "capacity: none sustained (the lowest rate tried, %g/s, was not)\n", f.NotSustained)
	case f.NotSustained == 0:
		fmt.Fprintf(w, "capacity: %g msg/s sustained, the highest rate tried\n", f.Sustained)
	default:
		res := "resolved"
		if !f.Resolved {
			res = "not resolved: the steps ran out"
		}
		fmt.Fprintf(w, "capacity: %g msg/s sustained; %g msg/s not (%s)\n", f.Sustained, f.NotSustained, res)
	}
	return nil
}

// syncWriter serialises writes of the children's output copiers.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
