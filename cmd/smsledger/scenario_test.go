package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/smsledger/smsledger/scenarios/runner"
)

func TestScenarioFlags(t *testing.T) {
	cfg, err := parseScenarioFlags([]string{"run", "x.yaml", "--scale", "3", "--json"}, io.Discard, env(nil))
	if err != nil || cfg.file != "x.yaml" || cfg.scale != 3 || !cfg.jsonOut {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, bad := range [][]string{nil, {"walk"}, {"run"}, {"run", "x.yaml", "--scale", "0"}, {"run", "x.yaml", "extra"}} {
		if _, err := parseScenarioFlags(bad, io.Discard, env(nil)); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want a usage error", bad, err)
		}
	}
}

// TestScenarios runs every scenario file at scale 1 end to end (serve,
// simulated suppliers, SMPP traffic, faults) and requires every invariant
// to pass.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("starts embedded PostgreSQL servers")
	}
	for _, name := range []string{"happy", "supplier-outage", "balance-exhaustion", "crash-restart"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			var out bytes.Buffer
			errOut := &lockedBuf{}
			cfg := scenarioConfig{file: filepath.Join("..", "..", "scenarios", name+".yaml"), scale: 1, jsonOut: true,
				logFmt: "text", childEnv: []string{asBinaryEnv + "=1"}}
			_ = cfg.logLevel.UnmarshalText([]byte("WARN"))
			_ = cfg.serveLogLevel.UnmarshalText([]byte("WARN"))
			err := runScenario(ctx, cfg, &out, errOut)
			if err != nil {
				t.Logf("stderr:\n%s", errOut.String())
			}
			var rep runner.Report
			if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
				t.Fatalf("err %v; report is not JSON (%v): %q", err, jerr, out.String())
			}
			var text bytes.Buffer
			rep.PrintText(&text)
			t.Logf("report:\n%s", text.String())
			if err != nil || !rep.Passed {
				t.Fatalf("scenario %s: %v", name, err)
			}
			if rep.Accepted == 0 || len(rep.Invariants) != len(runner.AllInvariants) {
				t.Fatalf("accepted %d, %d invariants", rep.Accepted, len(rep.Invariants))
			}
		})
	}
}
