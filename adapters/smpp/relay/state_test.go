package relay

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/smpp/egress"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/routing"
)

// A supplier's live state: binds up of those configured, what waits in its
// queue, the adaptive TPS, and routing's health; a disabled supplier is
// not running and not up; an unknown one is not ok. A real simulator on
// 127.0.0.1 that answers no submit (window 1: the rest queue).
func TestSupplierState(t *testing.T) {
	ctx := context.Background()
	sim := simtest.Start(t, smscsim.Config{SystemID: "slow", Password: "pw", Latency: time.Hour, DLRDelay: time.Hour})
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	addSimSupplier(t, svc, "slow", sim.Addr(), "0.01")
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", decimal.RequireFromString("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"slow"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PatchSupplier(ctx, "slow", ledger.SupplierPatch{Binds: ref(2), Window: ref(1), TPSLimit: ref(500)}); err != nil {
		t.Fatal(err)
	}
	r := New(svc, Options{Logger: slog.New(slog.DiscardHandler), SubmitTimeout: time.Hour, RetryEvery: 50 * time.Millisecond,
		SupplierConfig: func(c *egress.Config) bool { c.QueueTimeout = time.Hour; return true }})
	if _, ok := r.SupplierState("slow"); !ok {
		t.Fatal("a known supplier is not ok")
	}
	if live, _ := r.SupplierState("slow"); live.Running || live.Up || live.Binds != 2 {
		t.Fatalf("before Run: %+v", live)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })

	waitFor(t, "both binds up", func() bool { live, _ := r.SupplierState("slow"); return live.BindsUp == 2 })
	const n = 5
	for range n {
		if _, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// Two binds, window 1 each, never answered: some in flight, the rest
	// stay queued.
	waitFor(t, "messages queued", func() bool { live, _ := r.SupplierState("slow"); return live.QueueDepth > 0 })
	time.Sleep(100 * time.Millisecond)
	live, ok := r.SupplierState("slow")
	want := ledger.SupplierLive{Running: true, BindsUp: 2, Binds: 2, QueueDepth: queued(r, "slow"), TPS: 500, Up: true, HealthScore: routing.ScoreMax}
	if want.QueueDepth < 1 || want.QueueDepth > n-2 {
		t.Fatalf("queued %d of %d on two binds of window 1", want.QueueDepth, n)
	}
	if !ok || live != want {
		t.Fatalf("live state\n got %+v\nwant %+v", live, want)
	}
	svc.SetSupplierHealth(map[string]routing.SupplierHealth{"slow": {Up: true, Score: 420}})
	if live, _ := r.SupplierState("slow"); live.HealthScore != 420 || !live.Up {
		t.Fatalf("health fed: %+v", live)
	}
	svc.SetSupplierHealth(map[string]routing.SupplierHealth{"slow": {Up: false, Score: 420}})
	if live, _ := r.SupplierState("slow"); live.Up {
		t.Fatalf("routing has it down: %+v", live)
	}

	if _, err := svc.PatchSupplier(ctx, "slow", ledger.SupplierPatch{Enabled: ref(false)}); err != nil {
		t.Fatal(err)
	}
	r.syncSuppliers()
	if live, ok := r.SupplierState("slow"); !ok || live.Running || live.Up || live.BindsUp != 0 || live.QueueDepth != 0 {
		t.Fatalf("disabled: %+v %v", live, ok)
	}
	if _, ok := r.SupplierState("ghost"); ok {
		t.Fatal("an unknown supplier is ok")
	}
}

func ref[T any](v T) *T { return &v }
