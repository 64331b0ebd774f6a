package main

// smsledger scenario run FILE: a declarative end-to-end scenario (traffic,
// faults, invariants; scenarios/README.md) run by scenarios/runner. serve
// runs in-process, or — when the scenario kills it, restarts its database
// or runs several nodes of a cluster — as a child process (this binary
// re-executed with `serve`) on the same data directory.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/smsledger/smsledger/scenarios/runner"
)

type scenarioConfig struct {
	file          string
	scale         int
	jsonOut       bool
	logFmt        string
	logLevel      slog.Level
	serveLogLevel slog.Level
	// childEnv is added to a child serve's environment (tests: run the test
	// binary as smsledger).
	childEnv []string
}

func parseScenarioFlags(args []string, stderr io.Writer, getenv func(string) string) (scenarioConfig, error) {
	var cfg scenarioConfig
	if len(args) == 0 || args[0] != "run" {
		return cfg, fmt.Errorf("%w: usage: smsledger scenario run FILE [--scale N] [--json]", errUsage)
	}
	fs := newFlagSet("scenario run", stderr)
	fs.IntVar(&cfg.scale, "scale", 1, "multiply every stream's messages and rate, every top-up and every tenant's and supplier's TPS limit by N (1..1000)")
	fs.BoolVar(&cfg.jsonOut, "json", false, "print the report as one JSON object")
	fs.StringVar(&cfg.logFmt, "log-format", "text", "log format on stderr: text or json")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log level of the runner")
	fs.TextVar(&cfg.serveLogLevel, "serve-log-level", slog.LevelWarn, "log level of serve")
	// FILE comes right after run, the flags after it.
	rest := args[1:]
	if len(rest) > 0 && len(rest[0]) > 0 && rest[0][0] != '-' {
		cfg.file, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, rest, getenv, nil); err != nil {
		return cfg, err
	}
	switch {
	case cfg.file == "":
		return cfg, fmt.Errorf("%w: scenario run needs a FILE", errUsage)
	case cfg.scale < 1 || cfg.scale > 1000:
		return cfg, fmt.Errorf("%w: --scale must be 1..1000", errUsage)
	case cfg.logFmt != "text" && cfg.logFmt != "json":
		return cfg, fmt.Errorf("%w: --log-format must be text or json", errUsage)
	}
	return cfg, nil
}

// runScenario runs the scenario, prints the report and fails when an
// invariant failed.
func runScenario(ctx context.Context, cfg scenarioConfig, stdout, stderr io.Writer) error {
	sc, err := runner.Load(cfg.file)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log := newLogger(stderr, commonConfig{logFormat: cfg.logFmt, logLevel: cfg.logLevel})
	serveLog := newLogger(stderr, commonConfig{logFormat: cfg.logFmt, logLevel: cfg.serveLogLevel})
	start := func(ctx context.Context, sc runner.ServeConfig) (runner.Serve, error) {
		args := []string{"--http-addr", "127.0.0.1:0", "--smpp-addr", "127.0.0.1:0", "--admin-token", sc.AdminToken,
			"--seal-key-file", sc.SealKeyFile, "--data-dir", sc.DataDir}
		if sc.DatabaseURL != "" {
			args = append(args, "--database-url", sc.DatabaseURL)
		}
		log := serveLog
		if sc.NodeID != "" {
			args = append(args, "--cluster", "--node-id", sc.NodeID, "--cluster-lease", sc.ClusterLease.String())
			log = serveLog.With("node", sc.NodeID)
		}
		if sc.Process { // info: its addresses are read from its log; warnings and errors are passed on
			return startServeProcess(ctx, append(args, "--log-level", "info"), cfg.childEnv, log)
		}
		args = append(args, "--log-level", cfg.serveLogLevel.String())
		info, stop, err := startServe(ctx, args, serveLog)
		if err != nil {
			return nil, err
		}
		return &inProcessServe{info: info, stop: stop}, nil
	}
	rep, err := runner.Run(ctx, sc, runner.Options{StartServe: start, Logger: log, SimLogger: serveLog, Scale: cfg.scale})
	if err != nil {
		return err
	}
	if cfg.jsonOut {
		if err := writeJSON(stdout, rep); err != nil {
			return err
		}
	} else {
		rep.PrintText(stdout)
	}
	if !rep.Passed {
		return fmt.Errorf("scenario %s: invariants failed", sc.Name)
	}
	return nil
}

type inProcessServe struct {
	info readyInfo
	stop func() error
}

func (s *inProcessServe) SMPPAddr() string { return s.info.SMPPAddr }
func (s *inProcessServe) HTTPAddr() string { return s.info.HTTPAddr }
func (s *inProcessServe) Stop() error      { return s.stop() }
func (s *inProcessServe) Kill() error {
	return errors.New("serve runs in-process: it cannot be killed")
}

// processServe is serve as a child process: this binary re-executed.
type processServe struct {
	cmd                *exec.Cmd
	smppAddr, httpAddr string
	exited             chan struct{}
}

func (s *processServe) SMPPAddr() string { return s.smppAddr }
func (s *processServe) HTTPAddr() string { return s.httpAddr }

var _ runner.Exiter = (*processServe)(nil)

// Done is closed once the process exited (runner.Exiter: a node of a
// cluster that loses its lease exits on its own).
func (s *processServe) Done() <-chan struct{} { return s.exited }

// ExitCode is the process's exit status once Done (-1: killed by a
// signal, or not exited).
func (s *processServe) ExitCode() int {
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Kill ends it with SIGKILL (its embedded PostgreSQL dies with it).
func (s *processServe) Kill() error {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.exited:
		return nil
	case <-time.After(time.Minute):
		return errors.New("serve did not exit within a minute of SIGKILL")
	}
}

// Stop asks it to shut down (SIGTERM), then kills it after a minute.
func (s *processServe) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return nil
	case <-time.After(time.Minute):
		return s.Kill()
	}
}

// startServeProcess re-executes this binary as `serve` with JSON logs and
// waits (≤ 3 min) for its "smpp listening" and "serving" lines.
func startServeProcess(ctx context.Context, args, extraEnv []string, log *slog.Logger) (*processServe, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("scenario: own executable: %w", err)
	}
	cmd := exec.Command(exe, append([]string{"serve", "--log-format", "json"}, args...)...)
	cmd.Env = append(append(os.Environ(), "DATABASE_URL=", "SMSLEDGER_DATABASE_URL="), extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("scenario: start serve: %w", err)
	}
	s := &processServe{cmd: cmd, exited: make(chan struct{})}
	smpp, httpAddr := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line["msg"] {
			case "smpp listening":
				a, _ := line["smpp_addr"].(string)
				smpp <- a
			case "serving":
				a, _ := line["http_addr"].(string)
				httpAddr <- a
			}
			if lvl, _ := line["level"].(string); lvl == "ERROR" || lvl == "WARN" {
				log.Warn("serve (child)", "line", sc.Text())
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(s.exited) }()
	timeout := time.After(3 * time.Minute)
	for s.smppAddr == "" || s.httpAddr == "" {
		select {
		case a := <-smpp:
			s.smppAddr = a
		case a := <-httpAddr:
			s.httpAddr = a
		case <-s.exited:
			return nil, errors.New("scenario: serve exited during start")
		case <-timeout:
			_ = s.Kill()
			return nil, errors.New("scenario: serve did not start within 3 minutes")
		case <-ctx.Done():
			_ = s.Kill()
			return nil, ctx.Err()
		}
	}
	return s, nil
}
