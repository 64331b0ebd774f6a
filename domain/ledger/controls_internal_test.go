package ledger

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/smsledger/smsledger/domain/controls"
	"github.com/smsledger/smsledger/domain/numbering"
)

// keyIn returns n keys of shard 0 (its top 4 bits clear).
func keysIn(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// Full rate windows forget the one ending first; full duplicate windows
// refuse a new one; ended windows leave; a release gives one back.
func TestWindowsBounded(t *testing.T) {
	const sec = int64(time.Second)
	keys := keysIn(3)
	rate := newWindows(2*windowShards, true) // two a shard
	if _, r := rate.take(keys[0], 0, 60*sec, 5); r != windowTaken {
		t.Fatal(r)
	}
	if _, r := rate.take(keys[1], 10*sec, 60*sec, 5); r != windowTaken {
		t.Fatal(r)
	}
	if _, r := rate.take(keys[2], 20*sec, 60*sec, 5); r != windowTaken { // evicts keys[0]'s
		t.Fatal(r)
	}
	sh := rate.shard(keys[0])
	if _, ok := sh.m[keys[0]]; ok || len(sh.m) != 2 {
		t.Fatalf("the window ending first was not evicted: %v", sh.m)
	}

	dup := newWindows(2*windowShards, false)
	for i, k := range keys[:2] {
		if _, r := dup.take(k, int64(i)*sec, 60*sec, 1); r != windowTaken {
			t.Fatal(r)
		}
	}
	if _, r := dup.take(keys[0], 30*sec, 60*sec, 1); r != windowOver {
		t.Fatalf("duplicate: %v", r)
	}
	if _, r := dup.take(keys[2], 30*sec, 60*sec, 1); r != windowFull {
		t.Fatalf("full: %v", r)
	}
	if _, r := dup.take(keys[2], 60*sec, 60*sec, 1); r != windowTaken { // keys[0]'s ended at 60 s
		t.Fatalf("after one ended: %v", r)
	}
	half := sec / 2
	if _, r := dup.take(keys[0], 60*sec+half, 60*sec, 1); r != windowFull { // keys[1]'s ends at 61 s
		t.Fatalf("still full: %v", r)
	}
	dup.release(keys[2], 120*sec) // gives keys[2]'s message back: its window admits one again
	if end, r := dup.take(keys[2], 60*sec+half, 60*sec, 1); r != windowTaken || end != 120*sec {
		t.Fatalf("after a release: %v %d", r, end)
	}
	dup.release(keys[2], 1) // another window's end: nothing
	if _, r := dup.take(keys[2], 60*sec+half, 60*sec, 1); r != windowOver {
		t.Fatalf("a release of another window changed this one: %v", r)
	}
	if end, r := dup.take(keys[0], 61*sec, 60*sec, 1); r != windowTaken || end != 121*sec {
		t.Fatalf("once keys[1]'s window ended: %v %d", r, end)
	}
	if dup.len() != 2 || len(dup.shard(keys[0]).ends) != 2 {
		t.Fatalf("%d windows, %d heap entries", dup.len(), len(dup.shard(keys[0]).ends))
	}
}

// The heap stays a heap through pushes and pops in any order.
func TestWindowHeapOrder(t *testing.T) {
	var sh windowShard
	ends := []int64{5, 3, 9, 1, 7, 3, 8, 2, 6, 4}
	for i, e := range ends {
		sh.push(windowEnd{uint64(i), e})
	}
	prev := int64(-1)
	for len(sh.ends) > 0 {
		e := sh.pop()
		if e.end < prev {
			t.Fatalf("%d after %d", e.end, prev)
		}
		prev = e.end
	}
}

// TestLimitsMemory measures the windows at their bounds (go test -v -run
// LimitsMemory): the figure in controls_limits.go's comment.
func TestLimitsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a million windows")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newLimits()
	for i := range MaxRateWindows + MaxDuplicateWindows {
		k := uint64(i) * 0x9E3779B97F4A7C15 // spread over the shards
		w := l.dup
		if i < MaxRateWindows {
			w = l.rate
		}
		w.take(k, 0, int64(time.Hour), 1)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	n := l.rate.len() + l.dup.len()
	t.Logf("%d windows: %.1f MB (%.0f bytes each)", n, float64(after.HeapAlloc-before.HeapAlloc)/1e6, float64(after.HeapAlloc-before.HeapAlloc)/float64(n))
	if n < (MaxRateWindows+MaxDuplicateWindows)*95/100 {
		t.Errorf("only %d windows held", n)
	}
	runtime.KeepAlive(l)
}

// benchTenant is a tenant with rules in both sets, a rate limit and a
// duplicate window.
func benchControls(b *testing.B, keywords int) (global *controls.Set, t *tenantSnap) {
	words := func(n int, prefix string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s%dqz", prefix, i)
		}
		return out
	}
	var err error
	global, err = controls.Compile(controls.Rules{Keywords: words(keywords, "kw"), URLDomains: words(1000, "d"), Patterns: []string{`(?i)bonus\s+\d+`}})
	if err != nil {
		b.Fatal(err)
	}
	set, err := controls.Compile(controls.Rules{SenderAllow: []string{"Acme"}, Keywords: words(keywords/10+1, "tk"),
		SenderRewrites: []controls.Rewrite{{MCCMNC: "23415", From: "*", To: "447700900999"}}})
	if err != nil {
		b.Fatal(err)
	}
	t = &tenantSnap{controls: set, DestRate: DestRateLimit{Count: 1_000_000, WindowS: 60}, DuplicateWindowS: 60}
	t.accept.ID = "acme"
	return global, t
}

// BenchmarkControls is what the controls add to an accepted message:
// Check with both sets (nothing matching) and a take from both windows,
// given back (as a message not accepted after all would) so the windows
// stay small; 4,096 destinations.
func BenchmarkControls(b *testing.B) {
	net, _ := numbering.ParseCode("23415")
	const text = "Your verification code is 123456. It expires in 10 minutes."
	dests := make([]string, 4096)
	for i := range dests {
		dests[i] = fmt.Sprintf("4477009%05d", i)
	}
	for _, n := range []int{100, 10_000} {
		global, t := benchControls(b, n)
		l := newLimits()
		now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		b.Run(fmt.Sprintf("keywords=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, v := controls.Check(global, t.controls, "Acme", net, text); v.Refused() {
					b.Fatal(v)
				}
				tk, v, err := l.take(t, dests[i&4095], text, now)
				if err != nil || v.Refused() {
					b.Fatal(v, err)
				}
				tk.release()
			}
		})
	}
}
