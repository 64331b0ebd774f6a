package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
)

// TestGettingStarted runs the README's getting started: serve, the
// simulator with its defaults (as examples/quickstart.yaml expects them),
// then provision with that very file and --send-to: the message ends
// delivered with a DELIVRD DLR. Provisioning again is harmless. The
// README's commands must stay the ones tested here.
func TestGettingStarted(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"export SMSLEDGER_ADMIN_TOKEN=",
		"go run ./cmd/smsledger serve ",
		"go run ./cmd/smsledger smsc-sim ",
		"go run ./cmd/smsledger provision --send-to +4915112345678 examples/quickstart.yaml",
	} {
		if !strings.Contains(string(readme), want) {
			t.Fatalf("the README's getting started lacks %q: update it with this test", want)
		}
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The simulator with smsc-sim's default credentials, on a free port
	// instead of 2776.
	sim := startSim(t, smscsim.Config{SystemID: "smsc-sim", Password: "secret", DLRDelay: 50 * time.Millisecond})
	_, port, _ := net.SplitHostPort(sim.Addr())
	if !strings.Contains(string(example), "port: 2776") {
		t.Fatal("examples/quickstart.yaml no longer names port 2776")
	}
	file := filepath.Join(t.TempDir(), "quickstart.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(string(example), "port: 2776", "port: "+port, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	info, stop := serveInProcess(t, "--admin-token", testAdminToken)
	defer stop()
	getenv := env(map[string]string{"SMSLEDGER_ADMIN_TOKEN": testAdminToken})
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, []string{"provision", "--http-addr", info.HTTPAddr, "--send-to", "+4915112345678", file}, &out, &errb, getenv); code != exitOK {
		t.Fatalf("provision: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"supplier sim:", "tenant acme: API key sml_", "accepted, price 0.01 EUR", "delivered, DLR DELIVRD"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("provision printed no %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(ctx, []string{"provision", "--http-addr", info.HTTPAddr, file}, &out, &errb, getenv); code != exitOK {
		t.Fatalf("provision again: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if code := run(ctx, []string{"provision", "--http-addr", info.HTTPAddr}, &out, &errb, getenv); code != exitUsage {
		t.Fatalf("provision without a file: exit %d, want usage", code)
	}
}
