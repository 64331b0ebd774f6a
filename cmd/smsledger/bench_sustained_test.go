package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBenchSustainedFlags(t *testing.T) {
	cfg, err := parseBenchFlags([]string{"--sustained", "--rate", "500"}, io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.sustained.on() || cfg.load.Duration != sustainedDurationDefault || cfg.sustained.warmup != 5*time.Second || cfg.load.Messages != 0 {
		t.Fatalf("sustained defaults: %+v", cfg)
	}
	cfg, err = parseBenchFlags([]string{"--sustained", "--rate", "500"}, io.Discard, env(map[string]string{"SMSLEDGER_DURATION": "7s"}))
	if err != nil || cfg.load.Duration != 7*time.Second {
		t.Fatalf("--duration from the environment: %v %v", cfg.load.Duration, err)
	}
	cfg, err = parseBenchFlags([]string{"--find-capacity", "--capacity-start", "2000", "--duration", "10s"}, io.Discard, env(nil))
	if err != nil || cfg.sustained.search.Start != 2000 || cfg.sustained.search.Factor != 1.25 || cfg.load.Duration != 10*time.Second {
		t.Fatalf("find-capacity: %+v %v", cfg.sustained, err)
	}
	// Without the mode, the bench is as it was.
	cfg, err = parseBenchFlags(nil, io.Discard, env(nil))
	if err != nil || cfg.sustained.on() || cfg.load.Duration != 5*time.Minute || cfg.load.Messages != 20000 {
		t.Fatalf("default mode changed: %+v %v", cfg, err)
	}
	for _, bad := range [][]string{
		{"--sustained"}, {"--sustained", "--find-capacity", "--rate", "1"}, {"--find-capacity", "--rate", "1000"},
		{"--sustained", "--rate", "100", "--messages", "5"}, {"--sustained", "--rate", "100", "--smsc-addr", "127.0.0.1:1"},
		{"--sustained", "--rate", "100", "--smpp-addr", "127.0.0.1:1", "--system-id", "a", "--password", "b"},
		{"--sustained", "--rate", "100", "--registered-delivery=false"}, {"--sustained", "--rate", "100", "--dlr-wait", "1s"},
		{"--sustained", "--rate", "1000000", "--duration", "1h"}, {"--sustained", "--rate", "100", "--warmup", "1h"},
		{"--find-capacity", "--capacity-factor", "1"}, {"--find-capacity", "--capacity-start", "50"},
		{"--find-capacity", "--capacity-resolution", "0"}, {"--find-capacity", "--capacity-steps", "0"},
		{"--warmup", "1s"}, {"--capacity-max", "10"}, {"--capacity-fresh-serve"},
	} {
		if _, err := parseBenchFlags(bad, io.Discard, env(nil)); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want a usage error", bad, err)
		}
	}
}

// TestSearchCapacity steps against a fake system that sustains up to a
// capacity: up by the factor, then bisection to the resolution; the
// bounds, the step limit and a failing measurement end it.
func TestSearchCapacity(t *testing.T) {
	def := capacitySearch{Start: 1000, Factor: 1.25, Min: 100, Max: 50000, Resolution: 0.05, Steps: 20}
	run := func(s capacitySearch, capacity float64) (capacityFound, []float64, error) {
		var tried []float64
		f, err := searchCapacity(context.Background(), s, func(_ context.Context, rate float64) (bool, error) {
			tried = append(tried, rate)
			return rate <= capacity, nil
		})
		return f, tried, err
	}

	f, tried, err := run(def, 3337)
	if err != nil {
		t.Fatal(err)
	}
	// Up: 1000 1250 1563 1954 2443 3054 3818 (not), then bisection.
	want := []float64{1000, 1250, 1563, 1954, 2443, 3054, 3818}
	if len(tried) < len(want) || !equalFloats(tried[:len(want)], want) {
		t.Fatalf("tried %v, want it to start %v", tried, want)
	}
	if !f.Resolved || f.Sustained > 3337 || f.NotSustained <= 3337 || f.NotSustained-f.Sustained > 0.05*f.Sustained || f.Sustained < 3337*0.95 {
		t.Fatalf("found %+v after %v", f, tried)
	}
	for i, r := range tried[len(want):] { // each bisection strictly inside the bracket
		if r <= 3054 || r >= 3818 {
			t.Fatalf("bisection step %d at %v, outside (3054, 3818): %v", i, r, tried)
		}
	}

	// Not even the start: down by the factor, then bisection.
	f, tried, _ = run(def, 640)
	if tried[0] != 1000 || tried[1] != 800 || tried[2] != 640 || !f.Resolved || f.Sustained < 608 || f.Sustained > 640 {
		t.Fatalf("down: found %+v after %v", f, tried)
	}
	// Beyond the bounds.
	if f, tried, _ := run(capacitySearch{Start: 1000, Factor: 2, Min: 100, Max: 3000, Resolution: 0.05, Steps: 20}, 1e9); f.Sustained != 3000 ||
		f.NotSustained != 0 || !f.Resolved || !equalFloats(tried, []float64{1000, 2000, 3000}) {
		t.Fatalf("above max: %+v after %v", f, tried)
	}
	if f, tried, _ := run(capacitySearch{Start: 400, Factor: 2, Min: 100, Max: 3000, Resolution: 0.05, Steps: 20}, 10); f.Sustained != 0 ||
		f.NotSustained != 100 || !f.Resolved || !equalFloats(tried, []float64{400, 200, 100}) {
		t.Fatalf("below min: %+v after %v", f, tried)
	}
	// The step limit.
	lim := def
	lim.Steps = 4
	if f, tried, _ := run(lim, 3337); len(tried) != 4 || f.Resolved || f.Sustained != 1954 || f.NotSustained != 0 {
		t.Fatalf("4 steps: %+v after %v", f, tried)
	}
	// A failing measurement ends the search with what was found.
	boom := errors.New("serve died")
	n := 0
	f, err = searchCapacity(context.Background(), def, func(_ context.Context, rate float64) (bool, error) {
		if n++; n == 3 {
			return false, boom
		}
		return true, nil
	})
	if !errors.Is(err, boom) || f.Sustained != 1250 {
		t.Fatalf("error: %+v %v", f, err)
	}
	if _, err := searchCapacity(context.Background(), capacitySearch{Start: 10, Factor: 1.25, Min: 100, Max: 50, Resolution: 0.05, Steps: 3}, nil); !errors.Is(err, errSearchBounds) {
		t.Fatalf("bad bounds: %v", err)
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSustainedVerdict: each reason on its own.
func TestSustainedVerdict(t *testing.T) {
	ok := sustainedStep{OfferedPerS: 1000, Accepted: 30000, AcceptedPerS: 998, DLRP99ms: 400, DLRP99LimitMs: 1100, Backlog: 50, BacklogLimit: 1000}
	if s, why := ok.verdict(); !s || why != "" {
		t.Fatalf("ok: %v %q", s, why)
	}
	for name, c := range map[string]struct {
		change func(*sustainedStep)
		want   string
	}{
		"refused":   {func(s *sustainedStep) { s.AcceptedPerS = 900 }, "accepted 900/s < 95 % of the 1000/s offered"},
		"slow DLRs": {func(s *sustainedStep) { s.DLRP99ms = 1200 }, "DLR p99 1200 ms > 1100 ms"},
		"missing":   {func(s *sustainedStep) { s.DLRP99AtLeast = true }, "DLR p99 > 1100 ms"},
		"backlog":   {func(s *sustainedStep) { s.Backlog = 1000 }, "backlog 1000 ≥ 1000"},
		"nothing":   {func(s *sustainedStep) { s.Accepted, s.AcceptedPerS = 0, 0 }, "nothing accepted"},
	} {
		s := ok
		c.change(&s)
		if sus, why := s.verdict(); sus || !strings.Contains(why, c.want) {
			t.Errorf("%s: %v %q, want %q", name, sus, why, c.want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	st, err := parseProcStat("4242 (postgres: a (b) c) S 17 4242 4242 0 -1 4194304 1 0 0 0 250 130 7 3 20 0 1 0 100 0 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 17 || st.cpu != 3800*time.Millisecond || st.reaped != 100*time.Millisecond {
		t.Fatalf("%+v", st)
	}
	if _, err := parseProcStat("4242 (x) S 1 2"); err == nil {
		t.Fatal("a short line parsed")
	}
}

// TestChildStopAndExit: a child is ended by its PID, and one that exits
// early is reported with its last output.
func TestChildStopAndExit(t *testing.T) {
	c, err := startChild("sleeper", "/bin/sh", []string{"-c", "echo started; exec sleep 60"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.stop(10 * time.Second); err != nil || time.Since(start) > 5*time.Second || !c.exited() {
		t.Fatalf("stop: %v after %v", err, time.Since(start))
	}
	if err := c.stop(time.Second); err != nil {
		t.Fatalf("second stop: %v", err)
	}

	c, err = startChild("quitter", "/bin/sh", []string{"-c", "echo first line; echo bad flag >&2; exit 3"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = awaitChild(context.Background(), c, make(chan string), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "bad flag") {
		t.Fatalf("early exit: %v", err)
	}
}

// TestBenchSustained runs --sustained for real at a rate any machine
// sustains: serve (its embedded PostgreSQL) and smsc-sim as child processes
// (this test binary re-executed), 200 msg/s for 3 s after a 1 s warm-up.
// The report is consistent, every process used CPU, and every child is gone
// afterwards.
func TestBenchSustained(t *testing.T) {
	if testing.Short() {
		t.Skip("starts serve and an embedded PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg, err := parseBenchFlags([]string{"--sustained", "--rate", "200", "--duration", "3s", "--warmup", "1s", "--binds", "2",
		"--sim-dlr-delay", "50ms", "--json", "--log-format", "json"}, io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.sustained.childEnv = []string{asBinaryEnv + "=1"}
	var out bytes.Buffer
	errOut := &lockedBuf{}
	err = runBench(ctx, cfg, &out, errOut)
	t.Logf("stderr:\n%s", errOut.String())
	t.Logf("report: %s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		sustainedStep
		Mode    string           `json:"mode"`
		Machine sustainedMachine `json:"machine"`
		Params  sustainedParams  `json:"params"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	s := rep.sustainedStep
	if rep.Mode != "sustained" || rep.Params.DurationS != 3 || rep.Params.SimDLRDelayMs != 50 || rep.Machine.CPUs <= 0 {
		t.Fatalf("head: %+v %+v", rep.Params, rep.Machine)
	}
	if !s.Sustained || s.Reason != "" {
		t.Fatalf("200/s not sustained: %s", s.Reason)
	}
	if s.OfferedPerS != 200 || s.Sent < 500 || s.Accepted != s.Sent || s.Refused != 0 || len(s.RefusedByStatus) != 0 {
		t.Fatalf("submit side: %+v", s)
	}
	// The generator offers the rate (its limiter's small burst aside) and
	// DLRs come back behind the accepts.
	if s.AcceptedPerS > s.OfferedPerS*1.05 || s.AcceptedPerS < s.OfferedPerS*0.95 || s.EndToEndPerS > s.AcceptedPerS || s.EndToEndPerS <= 0 {
		t.Fatalf("rates: offered %v, accepted %v, end to end %v", s.OfferedPerS, s.AcceptedPerS, s.EndToEndPerS)
	}
	if s.SubmitP50ms <= 0 || s.SubmitP99ms < s.SubmitP50ms || s.SubmitP999ms < s.SubmitP99ms {
		t.Fatalf("submit latency: %+v", s)
	}
	if s.DLRP50ms < 50 || s.DLRP99ms < s.DLRP50ms || s.DLRP99ms > s.DLRP99LimitMs || s.DLRP99LimitMs != 1050 || s.DLRP99AtLeast {
		t.Fatalf("DLR delay: p50 %v p99 %v limit %v", s.DLRP50ms, s.DLRP99ms, s.DLRP99LimitMs)
	}
	if s.Backlog < 0 || s.Backlog >= s.BacklogLimit || s.BacklogLimit != 200 || s.DLRsMissing != 0 || len(s.Errors) != 0 {
		t.Fatalf("backlog %d (limit %d), missing %d, errors %v", s.Backlog, s.BacklogLimit, s.DLRsMissing, s.Errors)
	}
	c := s.CPU
	if !c.PostgresMeasured || c.ServeUsPerMsg <= 0 || c.PostgresUsPerMsg <= 0 || c.SimUsPerMsg <= 0 || c.LoadUsPerMsg <= 0 {
		t.Fatalf("CPU per message: %+v", c)
	}
	if sum := c.ServeUsPerMsg + c.PostgresUsPerMsg + c.SimUsPerMsg + c.LoadUsPerMsg; math.Abs(sum-c.TotalUsPerMsg) > 1 {
		t.Fatalf("CPU parts add up to %v, total %v", sum, c.TotalUsPerMsg)
	}
	if s.ServePeakRSSMiB < 10 {
		t.Fatalf("serve's peak RSS %v MiB", s.ServePeakRSSMiB)
	}
	// Every child (and PostgreSQL) is gone.
	pids := childPIDs(t, errOut.String())
	if len(pids) != 3 {
		t.Fatalf("child PIDs in the log: %v", pids)
	}
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still there: %v", name, pid, err)
		}
	}
}

// childPIDs reads the PIDs bench logged for smsc-sim, serve and PostgreSQL.
func childPIDs(t *testing.T, log string) map[string]int {
	pids := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Msg      string `json:"msg"`
			PID      int    `json:"pid"`
			Postgres int    `json:"postgres_pid"`
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch l.Msg {
		case "smsc-sim started":
			pids["smsc-sim"] = l.PID
		case "serve started":
			pids["serve"], pids["postgres"] = l.PID, l.Postgres
		}
	}
	return pids
}
