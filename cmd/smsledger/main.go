// Command smsledger is the smsledger binary: the `serve` daemon and its
// operational subcommands (migrate, replay, audit, reconcile, smsc-sim, bench, scenario).
//
// Every flag of a subcommand can also be set from the environment as
// SMSLEDGER_<NAME> (upper case, dashes as underscores, e.g.
// SMSLEDGER_HTTP_ADDR); --database-url also reads DATABASE_URL. A flag given on
// the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // bad usage, or a subcommand that is not implemented yet
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// After the first signal, restore the default so a second one
		// terminates at once (the embedded server dies with us: Pdeathsig).
		<-ctx.Done()
		stop()
	}()
	setGCDefaults(os.Getenv)
	stopProfile, err := startCPUProfile(os.Getenv(cpuProfileEnv))
	if err != nil {
		fmt.Fprintf(os.Stderr, "smsledger: %s: %v\n", cpuProfileEnv, err)
		stopProfile = func() {}
	}
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	stopProfile()
	os.Exit(code)
}

// cpuProfileEnv names a file for a CPU profile of the whole command, for
// diagnosis (bench --serve-cpu-profile sets it for serve). It is not a
// flag: it applies to every subcommand alike.
const cpuProfileEnv = "SMSLEDGER_CPU_PROFILE"

// gcPercentDefault is the garbage collector's target when GOGC is not set:
// serve's live heap is modest (snapshots, the tracker of unfinished
// messages, bounded queues) and churns fast at thousands of messages a
// second, so collecting at 5× the live heap instead of 2× spends less CPU on
// GC (see docs/PERFORMANCE.md) for more memory; memoryLimitDefault (unless
// GOMEMLIMIT is set) makes the collector work harder instead of letting the
// heap grow past it. GOGC and GOMEMLIMIT in the environment win.
const (
	gcPercentDefault = 400
	// memoryLimitDefault keeps serve's peak RSS under 512 MiB at full load
	// (issue 18: ten minutes at 2,000 msg/s offered on the 2-core box
	// peaked at 582 MiB with 1 GiB here, 450 MiB with this, at the same
	// serve CPU per message).
	memoryLimitDefault = 448 << 20 // bytes
)

// setGCDefaults applies gcPercentDefault and memoryLimitDefault where the
// environment does not set GOGC or GOMEMLIMIT.
func setGCDefaults(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercentDefault)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimitDefault)
	}
}

// errUsage marks errors that are the caller's (exit code 2).
var errUsage = errors.New("usage")

const usage = `smsledger — event-sourced billing and routing ledger for wholesale SMS

Usage: smsledger <command> [flags]

Commands:
  serve       run the daemon (SMPP ingress, HTTP API, projections)
  migrate     apply database migrations, then exit
  replay      rebuild all read models from the event log (--verify)
  audit       print a message's event history
  reconcile   reconciliation report for a period (--from --to)
  smsc-sim    run an SMSC simulator
  bench       end-to-end load test through real sockets (msg/s, latency percentiles)
  scenario    run a scenario file: traffic, faults, invariants (scenario run FILE)
  provision   configure a running serve from a YAML file (suppliers, routes, tenants, money, API keys)

Run 'smsledger <command> -h' for a command's flags. Every flag can also be set
as an environment variable SMSLEDGER_<NAME> (e.g. SMSLEDGER_HTTP_ADDR);
--database-url also reads DATABASE_URL.
`

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		var cfg serveConfig
		if cfg, err = parseServeFlags(rest, stderr, getenv); err == nil {
			err = runServe(ctx, cfg, stdout, newLogger(stderr, cfg.common))
		}
	case "migrate":
		var cfg migrateConfig
		if cfg, err = parseMigrateFlags(rest, stderr, getenv); err == nil {
			err = runMigrate(ctx, cfg, stdout, newLogger(stderr, cfg.common))
		}
	case "replay":
		var cfg replayConfig
		if cfg, err = parseReplayFlags(rest, stderr, getenv); err == nil {
			err = runReplay(ctx, cfg, stdout, newLogger(stderr, cfg.common))
		}
	case "audit":
		var cfg auditConfig
		if cfg, err = parseAuditFlags(rest, stderr, getenv); err == nil {
			err = runAudit(ctx, cfg, stdout, newLogger(stderr, cfg.common))
		}
	case "reconcile":
		var cfg reconcileConfig
		if cfg, err = parseReconcileFlags(rest, stderr, getenv); err == nil {
			err = runReconcile(ctx, cfg, stdout, newLogger(stderr, cfg.common))
		}
	case "smsc-sim":
		var cfg smscSimConfig
		if cfg, err = parseSmscSimFlags(rest, stderr, getenv); err == nil {
			err = runSmscSim(ctx, cfg, stdout, newLogger(stderr, commonConfig{logFormat: cfg.logFormat, logLevel: cfg.logLevel}))
		}
	case "bench":
		var cfg benchConfig
		if cfg, err = parseBenchFlags(rest, stderr, getenv); err == nil {
			err = runBench(ctx, cfg, stdout, stderr)
		}
	case "provision":
		var cfg provisionConfig
		if cfg, err = parseProvisionFlags(rest, stderr, getenv); err == nil {
			err = runProvision(ctx, cfg, stdout)
		}
	case "scenario":
		var cfg scenarioConfig
		if cfg, err = parseScenarioFlags(rest, stderr, getenv); err == nil {
			err = runScenario(ctx, cfg, stdout, stderr)
		}
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "smsledger: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "smsledger %s: %v\n", cmd, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "smsledger %s: %v\n", cmd, err)
		return exitError
	}
}
