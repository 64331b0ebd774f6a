package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp"
)

func TestSmscSimFlagsAndRun(t *testing.T) {
	env := map[string]string{"SMSLEDGER_SYSTEM_ID": "envsys"}
	cfg, err := parseSmscSimFlags([]string{"--addr", "127.0.0.1:0", "--password", "pw", "--error-rate", "0.5"}, &bytes.Buffer{}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.sim.SystemID != "envsys" || cfg.sim.ErrorRate != 0.5 || cfg.sim.ErrorStatus != 0x45 {
		t.Fatalf("%+v", cfg.sim)
	}
	if _, err := parseSmscSimFlags([]string{"--error-rate", "2"}, &bytes.Buffer{}, func(string) string { return "" }); err == nil {
		t.Fatal("out-of-range rate accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuf{}
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"smsc-sim", "--addr", "127.0.0.1:0", "--system-id", "s", "--password", "p"}, out, &errb, func(string) string { return "" })
	}()
	var addr string
	for i := 0; i < 200 && addr == ""; i++ {
		time.Sleep(10 * time.Millisecond)
		if s := out.String(); strings.Contains(s, "listening on ") {
			addr = strings.Fields(strings.SplitN(s, "listening on ", 2)[1])[0]
		}
	}
	if addr == "" {
		t.Fatalf("no listen line: %s %s", out.String(), errb.String())
	}
	sess, err := gosmpp.NewSession(gosmpp.TXConnector(gosmpp.NonTLSDialer, gosmpp.Auth{SMSC: addr, SystemID: "s", Password: "p"}), gosmpp.Settings{ReadTimeout: 5 * time.Second}, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = sess.Close()
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
