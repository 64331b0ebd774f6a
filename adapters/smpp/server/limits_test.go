package server

import (
	"strconv"
	"testing"
	"time"
)

// The failed-bind slowdown per address: doubling from base to the cap,
// forgotten after window without failures or after a successful bind, and
// bounded — the address whose last failure is oldest goes first.
func TestFailTable(t *testing.T) {
	const (
		base   = 100 * time.Millisecond
		capd   = time.Second
		window = time.Minute
	)
	f := newFailTable(3, base, capd, window)
	t0 := time.Unix(1_700_000_000, 0)
	if d := f.delay("a", t0); d != 0 {
		t.Fatalf("delay before any failure: %s", d)
	}
	want := []time.Duration{base, 2 * base, 4 * base, 8 * base, capd, capd}
	for i, w := range want {
		f.fail("a", t0.Add(time.Duration(i)*time.Second))
		if d := f.delay("a", t0.Add(time.Duration(i)*time.Second)); d != w {
			t.Errorf("after %d failures: delay %s, want %s", i+1, d, w)
		}
	}
	last := t0.Add(time.Duration(len(want)-1) * time.Second)
	if d := f.delay("a", last.Add(window+time.Second)); d != 0 {
		t.Errorf("delay after a quiet window: %s", d)
	}
	f.fail("a", last.Add(window+2*time.Second))
	if d := f.delay("a", last.Add(window+2*time.Second)); d != base {
		t.Errorf("first failure after a quiet window: delay %s, want %s", d, base)
	}
	f.ok("a")
	if d := f.delay("a", last.Add(window+2*time.Second)); d != 0 {
		t.Errorf("delay after a successful bind: %s", d)
	}

	// Bounded: a fourth address evicts the one whose last failure is oldest.
	g := newFailTable(3, base, capd, window)
	for i := range 3 {
		g.fail(strconv.Itoa(i), t0.Add(time.Duration(i)*time.Second))
	}
	g.fail("0", t0.Add(5*time.Second)) // "1" is now the oldest
	g.fail("3", t0.Add(6*time.Second))
	now := t0.Add(7 * time.Second)
	if d := g.delay("1", now); d != 0 {
		t.Errorf("oldest address kept: delay %s", d)
	}
	for _, ip := range []string{"0", "2", "3"} {
		if d := g.delay(ip, now); d == 0 {
			t.Errorf("address %s evicted", ip)
		}
	}
}
