package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestBenchFlags(t *testing.T) {
	cfg, err := parseBenchFlags(nil, io.Discard, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.load
	if l.Binds != 8 || l.Window != 32 || l.Messages != 20000 || !l.RegisteredDelivery || cfg.tenants != 1 ||
		cfg.smppAddr != "" || l.DestPrefix != "999" || l.DestDigits != 12 {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = parseBenchFlags([]string{"--binds", "3"}, io.Discard, env(map[string]string{"SMSLEDGER_BINDS": "5", "SMSLEDGER_WINDOW": "7"}))
	if err != nil || cfg.load.Binds != 3 || cfg.load.Window != 7 {
		t.Fatalf("env and precedence: %+v %v", cfg.load, err)
	}
	if _, err := parseBenchFlags([]string{"--smpp-addr", "127.0.0.1:2775", "--system-id", "a", "--password", "b"}, io.Discard, env(nil)); err != nil {
		t.Fatalf("target mode with credentials: %v", err)
	}
	for _, bad := range [][]string{
		{"--messages", "0"}, {"--messages", "10000001"}, {"--duration", "2h"}, {"--binds", "0"}, {"--window", "0"},
		{"--rate", "-1"}, {"--long-share", "0.7", "--ucs2-share", "0.4"}, {"--tenants", "0"}, {"--prefix", "49x"},
		{"--price", "0"}, {"--cost", "abc"}, {"--system-id", "a"}, {"--admin-token", "x"},
		{"--smpp-addr", "127.0.0.1:2775"}, {"--smpp-addr", "127.0.0.1:2775", "--system-id", "a", "--password", "b", "--data-dir", "d"},
		{"--smsc-addr", "nope"}, {"--log-format", "xml"}, {"extra"},
	} {
		if _, err := parseBenchFlags(bad, io.Discard, env(nil)); !errors.Is(err, errUsage) {
			t.Errorf("%v: err = %v, want a usage error", bad, err)
		}
	}
}

// TestBenchSelfContained runs the real thing at small scale: an in-process
// serve on its embedded PostgreSQL, the in-process smsc-sim, configuration
// over HTTP, 300 messages over 2 binds with a long/UCS-2 mix, DLRs back.
func TestBenchSelfContained(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	errOut := &lockedBuf{}
	code := run(ctx, []string{"bench", "--json", "--messages", "300", "--binds", "2", "--window", "16", "--tenants", "2",
		"--long-share", "0.1", "--ucs2-share", "0.1", "--sim-dlr-delay", "10ms", "--dlr-wait", "90s"}, &out, errOut, env(nil))
	t.Logf("stderr:\n%s", errOut.String())
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("exit %d, report is not JSON (%v): %q", code, err, out.String())
	}
	t.Logf("report: %s", out.String())
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if rep.Mode != "self-contained" || rep.Sent != 300 || rep.Accepted != 300 || rep.Refused != 0 || rep.Statuses["ESME_ROK"] != 300 {
		t.Fatalf("submit side: %+v", rep)
	}
	if len(rep.Errors) != 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	if rep.MsgPerS <= 0 || rep.P50ms <= 0 || rep.P99ms < rep.P50ms || rep.MaxMs < rep.P999ms {
		t.Fatalf("latency/throughput: %+v", rep)
	}
	var byStat int64
	for _, n := range rep.DLRByStat {
		byStat += n
	}
	if rep.DLRsExpected != 300 || rep.DLRs != 300 || byStat != 300 || rep.DLRP50ms < 10 {
		t.Fatalf("DLRs: %d of %d, by stat %v, p50 %v ms", rep.DLRs, rep.DLRsExpected, rep.DLRByStat, rep.DLRP50ms)
	}
	// End to end: every DLR back, so no faster than the submit phase and
	// no slower than 300 messages over the whole run.
	if whole := rep.SubmitPhaseS + rep.DLRWaitedS; rep.CompletedPerS <= 0 || rep.CompletedPerS > rep.MsgPerS*1.0001 || rep.CompletedPerS*whole < 299.9 {
		t.Fatalf("completed %v msg/s (submit %v msg/s over %vs, DLRs waited %vs)", rep.CompletedPerS, rep.MsgPerS, rep.SubmitPhaseS, rep.DLRWaitedS)
	}
	if rep.Machine.CPUs <= 0 || rep.Params.Binds != 2 || rep.Params.Tenants != 2 {
		t.Fatalf("params/machine: %+v %+v", rep.Params, rep.Machine)
	}
	// The text report carries the same run's headline lines.
	var txt bytes.Buffer
	rep.dlrsRequested = true
	rep.printText(&txt)
	for _, want := range []string{"300 accepted", "msg/s", "p99.9", "DLRs", "end to end", "errors"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
}
