package mnp_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/smsledger/smsledger/adapters/mnp"
	"github.com/smsledger/smsledger/adapters/mnp/mnpsim"
)

func start(t *testing.T, sim *mnpsim.Sim, cfg mnp.Config) *mnp.Client {
	t.Helper()
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	cfg.URL = srv.URL + "/lookup"
	c, err := mnp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting: %s", what)
}

// Lookup answers from the cache only: the first ask of a number is a miss
// (looked up behind), the next ones are the provider's answer, ported or
// not, without asking it again.
func TestLookupIsCachedAndNeverWaits(t *testing.T) {
	sim := mnpsim.New(map[string]string{"4915112345678": "26202"})
	sim.SetDelay(200 * time.Millisecond)
	c := start(t, sim, mnp.Config{})
	began := time.Now()
	if _, ok := c.Lookup("4915112345678"); ok {
		t.Fatal("a first lookup answered from nowhere")
	}
	if took := time.Since(began); took > 50*time.Millisecond {
		t.Fatalf("Lookup waited %v for a slow provider", took)
	}
	eventually(t, "the ported number cached", func() bool {
		code, ok := c.Lookup("4915112345678")
		return ok && code.String() == "26202"
	})
	c.Lookup("4915112345679") // not ported: 404, cached as such
	eventually(t, "the not-ported answer cached", func() bool { return c.Stats().Cached == 2 })
	asked := sim.Requests()
	for i := 0; i < 100; i++ {
		c.Lookup("4915112345678")
		if _, ok := c.Lookup("4915112345679"); ok {
			t.Fatal("a number not ported came back ported")
		}
	}
	if sim.Requests() != asked {
		t.Errorf("cached numbers asked again: %d → %d requests", asked, sim.Requests())
	}
}

// A failing provider opens the breaker after 5 failures: later misses are
// not sent to it, and nothing is cached.
func TestBreakerStopsAskingAFailingProvider(t *testing.T) {
	sim := mnpsim.New(nil)
	sim.SetFailing(true)
	c := start(t, sim, mnp.Config{Workers: 1})
	for i := 0; i < 50; i++ {
		c.Lookup("49151000000" + string(rune('0'+i%10)) + string(rune('0'+i/10)))
	}
	eventually(t, "the queue worked through", func() bool {
		s := c.Stats()
		return s.Failures+s.BreakerOpen >= 50
	})
	if n := sim.Requests(); n > 6 {
		t.Errorf("%d requests reached a failing provider; the breaker should stop at 5 (+1 probe)", n)
	}
	if s := c.Stats(); s.Cached != 0 {
		t.Errorf("failures were cached: %+v", s)
	}
}

// A slow provider is cut at the deadline; the queue is bounded and a full
// queue drops misses instead of blocking.
func TestDeadlineAndBoundedQueue(t *testing.T) {
	sim := mnpsim.New(map[string]string{"4915112345678": "26202"})
	sim.SetDelay(2 * time.Second)
	c := start(t, sim, mnp.Config{Timeout: 50 * time.Millisecond, Workers: 1, QueueMax: 2})
	began := time.Now()
	for i := 0; i < 20; i++ {
		c.Lookup("4915100000" + string(rune('0'+i/10)) + string(rune('0'+i%10)))
	}
	if took := time.Since(began); took > 50*time.Millisecond {
		t.Fatalf("20 misses took %v", took)
	}
	if s := c.Stats(); s.Dropped == 0 {
		t.Errorf("a queue of 2 took 20 numbers: %+v", s)
	}
	eventually(t, "the slow lookups failed at their deadline", func() bool { return c.Stats().Failures >= 2 })
}

func TestConfigRefused(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "::"} {
		if _, err := mnp.New(mnp.Config{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
}
