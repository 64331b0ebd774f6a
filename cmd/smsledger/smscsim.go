package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

type smscSimConfig struct {
	log         commonConfig
	sim         smscsim.Config
	outageAfter time.Duration
	outageFor   time.Duration
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
	fs.UintVar((*uint)(nil), "", 0, "") // placeholder removed below
	return cfg, nil
}

var _ = slog.Default
var _ = fmt.Sprint
var _ = os.Stdout
var _ = signal.Notify
var _ = syscall.SIGUSR1
var _ context.Context
