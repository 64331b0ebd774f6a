// Package simtest runs an SMSC simulator for a test: on an ephemeral
// loopback port, quiet, stopped (and its Run checked) when the test ends.
package simtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

// Start runs a simulator with cfg on 127.0.0.1 (any port; cfg.Addr is
// ignored) until the test's cleanup. A nil cfg.Logger discards the logs.
func Start(t testing.TB, cfg smscsim.Config) *smscsim.Sim {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sim, err := smscsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("smsc-sim: %v", err)
		}
	})
	return sim
}
