package server

import (
	"context"
	"sync"
	"testing"
	"time"
)

// The failure budgets: per address and per system_id, forgotten a window
// after the last failure, reset by no success (another identity's or the
// same one's), waived for a credential that bound before.
func TestAuthGuardBudgets(t *testing.T) {
	ctx := context.Background()
	g := newAuthGuard(time.Millisecond, time.Millisecond, 300*time.Millisecond, 4, 2)
	try := func(ip, sid, pw string, result int) bool { // result: 0 fail, 1 ok
		t.Helper()
		tk, ok := g.admit(ctx, ip, sid, pw)
		if ok {
			g.done(tk, result == 0, result == 1)
		}
		return ok
	}
	// A tenant binds (its credential is now known good).
	if !try("10.0.0.1", "acme", "secret", 1) {
		t.Fatal("first bind refused")
	}
	// Two guesses at acme spend its budget; a third is refused unchecked,
	// from any address, even with the right password of a new credential.
	try("10.0.0.2", "acme", "g1", 0)
	try("10.0.0.3", "acme", "g2", 0)
	if try("10.0.0.4", "acme", "g3", 0) {
		t.Fatal("system_id budget not enforced")
	}
	// Another identity's success does not reset it, nor does acme's own.
	try("10.0.0.2", "beta", "pw2", 1)
	if !try("10.0.0.9", "acme", "secret", 1) {
		t.Fatal("known-good credential locked out by others' guesses")
	}
	if try("10.0.0.2", "acme", "g4", 0) {
		t.Fatal("a success reset the system_id budget")
	}
	// Address budget: 4 failures from one address over many system_ids.
	for i, sid := range []string{"x1", "x2", "x3"} {
		if !try("10.0.0.5", sid, "p", 0) {
			t.Fatalf("guess %d refused early", i)
		}
	}
	try("10.0.0.5", "beta", "pw2", 1) // a success from the address
	try("10.0.0.5", "x4", "p", 0)
	if try("10.0.0.5", "x5", "p", 0) {
		t.Fatal("address budget not enforced (or reset by a success)")
	}
	if !try("10.0.0.5", "beta", "pw2", 1) {
		t.Fatal("known-good credential refused from a spent address")
	}
	// Forgotten a window after the last failure.
	time.Sleep(350 * time.Millisecond)
	if !try("10.0.0.5", "x6", "p", 0) || !try("10.0.0.7", "acme", "g5", 0) {
		t.Fatal("budgets not forgotten after the window")
	}
}

// Parallel guesses cannot overshoot a budget (attempts in flight count,
// the rest wait bounded by their context), and an address's attempts are
// spaced whatever connection they come on.
func TestAuthGuardParallel(t *testing.T) {
	g := newAuthGuard(50*time.Millisecond, time.Second, time.Minute, 100, 3)
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			tk, ok := g.admit(ctx, "10.0.0."+string(rune('a'+i)), "acme", "guess")
			if !ok {
				return
			}
			mu.Lock()
			admitted++
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // the check
			g.done(tk, true, false)
		}()
	}
	wg.Wait()
	if admitted != 3 {
		t.Fatalf("%d parallel guesses checked, budget 3", admitted)
	}

	// Spacing: after 2 failures from an address (delay 100ms), three
	// parallel attempts start ~100ms apart.
	h := newAuthGuard(50*time.Millisecond, time.Second, time.Minute, 100, 100)
	for _, s := range []string{"a", "b"} {
		tk, _ := h.admit(context.Background(), "ip", s, "p")
		h.done(tk, true, false)
	}
	start := time.Now()
	var last time.Duration
	var lmu sync.Mutex
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk, ok := h.admit(context.Background(), "ip", "s"+string(rune('0'+i)), "p")
			if ok {
				lmu.Lock()
				last = max(last, time.Since(start))
				lmu.Unlock()
				h.done(tk, false, false)
			}
		}()
	}
	wg.Wait()
	if last < 250*time.Millisecond {
		t.Fatalf("parallel attempts not spaced: the last started after %v", last)
	}
	// A wait is bounded by the caller's context.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, ok := h.admit(ctx, "ip", "s9", "p"); ok {
		t.Fatal("admitted past the context's deadline")
	}
}
