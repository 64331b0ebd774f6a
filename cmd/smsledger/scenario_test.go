package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
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
	files, err := filepath.Glob(filepath.Join("..", "..", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			sc, err := runner.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if !sc.InCI() {
				t.Skipf("scenario %s has ci: false (run it by hand: smsledger scenario run %s)", name, filepath.Base(file))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			var out bytes.Buffer
			errOut := &lockedBuf{}
			cfg := scenarioConfig{file: file, scale: 1, jsonOut: true,
				logFmt: "text", childEnv: []string{asBinaryEnv + "=1"}}
			_ = cfg.logLevel.UnmarshalText([]byte("WARN"))
			_ = cfg.serveLogLevel.UnmarshalText([]byte("WARN"))
			err = runScenario(ctx, cfg, &out, errOut)
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
