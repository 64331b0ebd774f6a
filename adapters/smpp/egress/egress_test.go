package egress

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
	"github.com/smsledger/smsledger/domain/message"
)

type rec struct {
	mu                          sync.Mutex
	accepted, rejected, timeout []Result
	expired                     []Result
	dlrs                        []DLR
	mos                         []MO
	moErr                       error // MOReceived's answer
}

func (r *rec) SupplierAccepted(_ context.Context, x Result) {
	r.mu.Lock()
	r.accepted = append(r.accepted, x)
	r.mu.Unlock()
}
func (r *rec) SupplierRejected(_ context.Context, x Result) {
	r.mu.Lock()
	r.rejected = append(r.rejected, x)
	r.mu.Unlock()
}
func (r *rec) SupplierTimedOut(_ context.Context, x Result) {
	r.mu.Lock()
	r.timeout = append(r.timeout, x)
	r.mu.Unlock()
}
func (r *rec) Expired(_ context.Context, x Result) {
	r.mu.Lock()
	r.expired = append(r.expired, x)
	r.mu.Unlock()
}
func (r *rec) DeliveryReport(_ context.Context, d DLR) error {
	r.mu.Lock()
	r.dlrs = append(r.dlrs, d)
	r.mu.Unlock()
	return nil
}
func (r *rec) MOReceived(_ context.Context, supplierID string, mo MO) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if supplierID != "s1" {
		panic("MO from " + supplierID)
	}
	if r.moErr != nil {
		return r.moErr
	}
	r.mos = append(r.mos, mo)
	return nil
}
func (r *rec) counts() (int, int, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted), len(r.rejected), len(r.timeout), len(r.dlrs)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startSim(t *testing.T, cfg smscsim.Config) *smscsim.Sim {
	t.Helper()
	cfg.SystemID, cfg.Password = "sup", "pw"
	return simtest.Start(t, cfg)
}

func startSupplier(t *testing.T, sim *smscsim.Sim, mod func(*Config)) (*Supplier, *rec) {
	t.Helper()
	return startSupplierAt(t, sim.Addr(), mod)
}

// startSupplierAt runs a supplier connecting to addr and waits for its binds.
func startSupplierAt(t testing.TB, addr string, mod func(*Config)) (*Supplier, *rec) {
	t.Helper()
	r := &rec{}
	cfg := Config{SupplierID: "s1", Addr: addr, SystemID: "sup", Password: "pw", Binds: 2, TPS: 1000, Window: 16,
		SubmitTimeout: 2 * time.Second, BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Logger: quiet(),
		RespIDFormat: receipt.IDHex, DLRIDFormat: receipt.IDHex}
	if mod != nil {
		mod(&cfg)
	}
	s := New(cfg, r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, func() bool { return s.BindsUp() == cfg.Binds })
	return s, r
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached")
}

func msg(id string, premium bool) Message {
	return Message{ID: id, From: "ACME", To: "4915112345678", Text: "hello from egress", RegisteredDelivery: true, Premium: premium}
}

func TestAcceptAndDLR(t *testing.T) {
	sim := startSim(t, smscsim.Config{DLRDelay: 30 * time.Millisecond})
	s, r := startSupplier(t, sim, nil)
	for i := 0; i < 20; i++ {
		if err := s.Enqueue(msg("m", i%2 == 0)); err != nil {
			t.Fatal(err)
		}
	}
	// A long message goes in message_payload.
	long := msg("long", false)
	long.Text = string(make([]byte, 0)) + "x"
	for len(long.Text) < 400 {
		long.Text += "long text "
	}
	_ = s.Enqueue(long)
	waitFor(t, func() bool { a, _, _, d := r.counts(); return a == 21 && d == 21 })
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := map[string]bool{}
	for _, a := range r.accepted {
		ids[a.SupplierMessageID] = true
	}
	for _, d := range r.dlrs {
		if !ids[d.SupplierMessageID] || d.Receipt.Stat != message.DLRDelivered || d.SupplierID != "s1" {
			t.Fatalf("dlr %+v not matching an accepted id", d)
		}
	}
}

func TestRejectAndTimeout(t *testing.T) {
	sim := startSim(t, smscsim.Config{ErrorRate: 1, ErrorStatus: 0x45})
	s, r := startSupplier(t, sim, nil)
	_ = s.Enqueue(msg("rej", false))
	waitFor(t, func() bool { _, rj, _, _ := r.counts(); return rj == 1 })
	if r.rejected[0].CommandStatus != data.ESME_RSUBMITFAIL {
		t.Fatalf("%+v", r.rejected[0])
	}

	sim2 := startSim(t, smscsim.Config{NoResponseRate: 1})
	s2, r2 := startSupplier(t, sim2, func(c *Config) { c.SubmitTimeout = 200 * time.Millisecond; c.Binds = 1 })
	_ = s2.Enqueue(msg("to", false))
	waitFor(t, func() bool { _, _, to, _ := r2.counts(); return to == 1 })
}

func TestReconnectAfterOutage(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	s, r := startSupplier(t, sim, func(c *Config) { c.Binds = 1 })
	if err := sim.SetDown(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.BindsUp() == 0 })
	_ = s.Enqueue(msg("after", true))
	time.Sleep(100 * time.Millisecond)
	if err := sim.SetDown(false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.BindsUp() == 1 })
	waitFor(t, func() bool { a, _, _, _ := r.counts(); return a == 1 })
}

func TestAdaptiveThrottle(t *testing.T) {
	sim := startSim(t, smscsim.Config{Latency: 60 * time.Millisecond})
	s, r := startSupplier(t, sim, func(c *Config) {
		c.LatencyTarget = 20 * time.Millisecond
		c.AdaptEvery = 50 * time.Millisecond
		c.TPS = 400
	})
	for i := 0; i < 40; i++ {
		_ = s.Enqueue(msg("slow", false))
	}
	waitFor(t, func() bool { a, _, _, _ := r.counts(); return a == 40 })
	waitFor(t, func() bool { return s.EffectiveTPS() < 400*0.75+1 })
}

// TestQueuedMessagesFailOverWhenDown: messages waiting for a supplier that
// is down (its binds lost and not back) are reported timed out after
// QueueTimeout, so the caller fails them over; a short outage within the
// timeout keeps them.
func TestQueuedMessagesFailOverWhenDown(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	s, r := startSupplier(t, sim, func(c *Config) { c.Binds = 1; c.QueueTimeout = 300 * time.Millisecond })
	if err := sim.SetDown(true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.BindsUp() == 0 && s.Down() })
	_ = s.Enqueue(msg("stranded-1", false))
	_ = s.Enqueue(msg("stranded-2", true))
	start := time.Now()
	waitFor(t, func() bool { _, _, to, _ := r.counts(); return to == 2 })
	if waited := time.Since(start); waited > 3*time.Second {
		t.Fatalf("queued messages of a down supplier failed over after %v", waited)
	}
	if s.QueueDepth() != 0 {
		t.Fatalf("queue depth %d after the sweep", s.QueueDepth())
	}
}

// A message whose validity ran out while it waited in the queue is never
// written: it is reported expired, and the next one is sent.
func TestExpiredInTheQueueIsNeverWritten(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	s, r := startSupplier(t, sim, nil)
	old := msg("old", false)
	old.ExpiresAt = time.Now().Add(-time.Second)
	fresh := msg("fresh", false)
	fresh.ExpiresAt = time.Now().Add(time.Hour)
	_ = s.Enqueue(old)
	_ = s.Enqueue(fresh)
	waitFor(t, func() bool { a, _, _, _ := r.counts(); return a == 1 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.expired) != 1 || r.expired[0].MessageID != "old" || r.accepted[0].MessageID != "fresh" {
		t.Fatalf("expired %+v accepted %+v", r.expired, r.accepted)
	}
	if n := sim.Submitted.Load(); n != 1 {
		t.Fatalf("the supplier got %d submits, want 1", n)
	}
}
