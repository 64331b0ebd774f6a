package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// The failure limiter's memory is bounded: beyond its capacity new
// subjects share one overflow entry, which is limited like any other (a
// spray over more addresses than it tracks is not let through).
func TestFailureLimiterBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newFailureLimiter(2, time.Minute, 100, func() time.Time { return now })
	for i := range 10_000 {
		l.fail(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
	}
	if n := l.size(); n > 101 {
		t.Fatalf("%d subjects tracked, capacity 100 (+ overflow)", n)
	}
	if _, blocked := l.blocked("198.51.100.1"); !blocked {
		t.Fatal("a new subject while full is not limited by the overflow entry")
	}
	// Once the windows end they are swept and subjects count on their own.
	now = now.Add(2 * time.Minute)
	if _, blocked := l.blocked("198.51.100.1"); blocked {
		t.Fatal("still blocked after the window")
	}
	l.fail("198.51.100.1")
	if n := l.size(); n != 1 {
		t.Fatalf("after the sweep: %d subjects, want 1", n)
	}
}

func TestClientAddr(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1:5000":          "192.0.2.1",
		"[2001:db8:1:2:3::4]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.9]:80":   "192.0.2.9",
		"not an address":          "not an address",
	} {
		if got := clientAddrOf(addr); got != want {
			t.Errorf("clientAddr(%q) = %q, want %q", addr, got, want)
		}
	}
}
