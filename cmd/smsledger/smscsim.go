package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

type smscSimConfig struct {
	logFormat   string
	logLevel    slog.Level
	sim         smscsim.Config
	errorStatus uint
	outageAfter time.Duration
	outageFor   time.Duration
	controlAddr string
}

func parseSmscSimFlags(args []string, stderr io.Writer, getenv func(string) string) (smscSimConfig, error) {
	var cfg smscSimConfig
	fs := newFlagSet("smsc-sim", stderr)
	fs.StringVar(&cfg.sim.Addr, "addr", "127.0.0.1:2776", "listen address")
	fs.StringVar(&cfg.sim.SystemID, "system-id", "smsc-sim", "system_id ESMEs bind with")
	fs.StringVar(&cfg.sim.Password, "password", "secret", "password ESMEs bind with")
	fs.DurationVar(&cfg.sim.Latency, "latency", 0, "delay before each submit_sm_resp")
	fs.DurationVar(&cfg.sim.DLRDelay, "dlr-delay", time.Second, "delay from submit to its DLR")
	fs.Float64Var(&cfg.sim.Delivered, "delivered", 0.9, "weight of DELIVRD receipts")
	fs.Float64Var(&cfg.sim.Undelivered, "undelivered", 0.08, "weight of UNDELIV receipts")
	fs.Float64Var(&cfg.sim.Rejected, "rejected", 0.02, "weight of REJECTD receipts")
	fs.Float64Var(&cfg.sim.ErrorRate, "error-rate", 0, "fraction of submit_sm answered with --error-status")
	fs.UintVar(&cfg.errorStatus, "error-status", 0x45, "command_status of erroneous submit_sm_resp")
	fs.Float64Var(&cfg.sim.NoResponseRate, "no-response-rate", 0, "fraction of submit_sm never answered")
	fs.Float64Var(&cfg.sim.DLRDropRate, "dlr-drop-rate", 0, "fraction of DLRs never sent (a supplier that loses them)")
	fs.IntVar(&cfg.sim.WindowMax, "window", 256, "outstanding requests per bind")
	fs.DurationVar(&cfg.outageAfter, "outage-after", 0, "go down after this long (0: never; SIGUSR1 toggles down/up)")
	fs.DurationVar(&cfg.outageFor, "outage-for", 10*time.Second, "how long an --outage-after outage lasts")
	fs.StringVar(&cfg.controlAddr, "control-addr", "", "HTTP listen address of the control endpoint (POST /mo from=&to=&text= sends an MO); empty: none")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format on stderr: text or json")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	if err := parseFlags(fs, args, getenv, nil); err != nil {
		return cfg, err
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("%w: --log-format must be text or json, not %q", errUsage, cfg.logFormat)
	}
	for name, v := range map[string]float64{"error-rate": cfg.sim.ErrorRate, "no-response-rate": cfg.sim.NoResponseRate,
		"dlr-drop-rate": cfg.sim.DLRDropRate, "delivered": cfg.sim.Delivered, "undelivered": cfg.sim.Undelivered, "rejected": cfg.sim.Rejected} {
		if v < 0 || (v > 1 && (name == "error-rate" || name == "no-response-rate" || name == "dlr-drop-rate")) {
			return cfg, fmt.Errorf("%w: --%s out of range: %v", errUsage, name, v)
		}
	}
	cfg.sim.ErrorStatus = uint32(cfg.errorStatus)
	return cfg, nil
}

// runSmscSim runs the simulator until ctx ends. SIGUSR1 toggles an outage.
func runSmscSim(ctx context.Context, cfg smscSimConfig, stdout io.Writer, log *slog.Logger) error {
	cfg.sim.Logger = log
	sim, err := smscsim.New(cfg.sim)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "smsc-sim listening on %s (system_id %s)\n", sim.Addr(), cfg.sim.SystemID)
	if cfg.controlAddr != "" {
		ln, err := net.Listen("tcp", cfg.controlAddr)
		if err != nil {
			return fmt.Errorf("smsc-sim control listener: %w", err)
		}
		ctl := &http.Server{Handler: sim.MOHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = ctl.Serve(ln) }()
		defer ctl.Close()
		fmt.Fprintf(stdout, "smsc-sim control on http://%s (POST /mo)\n", ln.Addr())
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		var outage <-chan time.Time
		if cfg.outageAfter > 0 {
			outage = time.After(cfg.outageAfter)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				if err := sim.Toggle(); err != nil {
					log.Error("smsc-sim toggle", "err", err)
				}
			case <-outage:
				outage = nil
				_ = sim.SetDown(true)
				select {
				case <-time.After(cfg.outageFor):
					if err := sim.SetDown(false); err != nil {
						log.Error("smsc-sim back up", "err", err)
					}
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return sim.Run(ctx)
}
