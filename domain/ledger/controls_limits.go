package ledger

import (
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smsledger/smsledger/domain/controls"
)

// The stateful controls: a tenant's per-destination rate limit and its
// duplicate window. Both are windows keyed by a 64-bit hash (of tenant
// and destination; of tenant, destination and text), opened by the first
// message and counting the messages in them until they end. A duplicate
// is a rate limit of one message per window.
//
// Bounds and memory: at most MaxRateWindows + MaxDuplicateWindows =
// 1,000,000 open windows, each a map entry and a heap entry (60-75 bytes,
// as the maps' growth falls: 60-75 MB with both full, measured by
// TestLimitsMemory). Windows leave as
// they end. When the rate windows are full, the one ending first is
// forgotten (its destination may get up to its count again: harmless);
// when the duplicate windows are full, a submit that needs a new one is
// refused (ErrThrottled) rather than forgetting one, which would let a
// duplicate through and charge the tenant for it; so the duplicate
// windows have the larger share: 750,000 hold 75 seconds of windows at
// 10,000 messages a second.
const (
	MaxRateWindows      = 250_000
	MaxDuplicateWindows = 750_000
)

// limits is the stateful controls' counters and the refusal audit's
// counters, made once (emptyState) and shared by every snapshot.
type limits struct {
	seed      maphash.Seed
	rate, dup *windows
	// auditPending counts SubmitRefused appends in flight; auditDropped
	// those not recorded.
	auditPending atomic.Int64
	auditDropped atomic.Uint64
}

func newLimits() *limits {
	return &limits{seed: maphash.MakeSeed(), rate: newWindows(MaxRateWindows, true), dup: newWindows(MaxDuplicateWindows, false)}
}

// ticket is what take took from the windows, given back (release) when the
// message is not accepted after all.
type ticket struct {
	l               *limits
	rateKey, dupKey uint64
	rateEnd, dupEnd int64 // 0: nothing taken
}

func (tk ticket) release() {
	if tk.rateEnd != 0 {
		tk.l.rate.release(tk.rateKey, tk.rateEnd)
	}
	if tk.dupEnd != 0 {
		tk.l.dup.release(tk.dupKey, tk.dupEnd)
	}
}

const (
	keyRate byte = iota + 1
	keyDup
)

func (l *limits) key(kind byte, tenantID, to, text string) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteByte(kind)
	h.WriteString(tenantID)
	h.WriteByte(0)
	h.WriteString(to)
	if kind == keyDup {
		h.WriteByte(0)
		h.WriteString(text)
	}
	return h.Sum64()
}

// take counts a message of t to destination to in its tenant's windows,
// or returns the Verdict refusing it: a duplicate (checked first, so that
// a duplicate takes nothing from the rate limit) or over the rate limit.
// It errs (ErrThrottled) when the duplicate windows are full.
func (l *limits) take(t *tenantSnap, to, text string, now time.Time) (ticket, controls.Verdict, error) {
	tk := ticket{l: l}
	at := now.UnixNano()
	if w := t.DuplicateWindowS; w > 0 {
		key := l.key(keyDup, t.accept.ID, to, text)
		end, res := l.dup.take(key, at, int64(w)*int64(time.Second), 1)
		switch res {
		case windowOver:
			return tk, controls.Verdict{Refusal: controls.RefusedDuplicate, Scope: controls.ScopeTenant,
				Kind: controls.KindDuplicateWindow, Rule: fmt.Sprintf("%ds", w)}, nil
		case windowFull:
			return tk, controls.Verdict{}, fmt.Errorf("%d duplicate windows open, the bound: %w", MaxDuplicateWindows, ErrThrottled)
		}
		tk.dupKey, tk.dupEnd = key, end
	}
	if r := t.DestRate; r.Count > 0 {
		key := l.key(keyRate, t.accept.ID, to, "")
		end, res := l.rate.take(key, at, int64(r.WindowS)*int64(time.Second), r.Count)
		if res == windowOver {
			tk.release()
			return ticket{}, controls.Verdict{Refusal: controls.RefusedDestinationRateLimited, Scope: controls.ScopeTenant,
				Kind: controls.KindDestRateLimit, Rule: fmt.Sprintf("%d per %ds", r.Count, r.WindowS)}, nil
		}
		tk.rateKey, tk.rateEnd = key, end
	}
	return tk, controls.Verdict{}, nil
}

// record counts a message accepted at `at` (replaying the log) in the
// windows still open at now, refusing nothing.
func (l *limits) record(t *tenantSnap, to, text string, at, now time.Time) {
	open := func(s int) bool { return at.Add(time.Duration(s) * time.Second).After(now) } // else nothing to hash
	if w := t.DuplicateWindowS; w > 0 && open(w) {
		l.dup.record(l.key(keyDup, t.accept.ID, to, text), at.UnixNano(), now.UnixNano(), int64(w)*int64(time.Second))
	}
	if r := t.DestRate; r.Count > 0 && open(r.WindowS) {
		l.rate.record(l.key(keyRate, t.accept.ID, to, ""), at.UnixNano(), now.UnixNano(), int64(r.WindowS)*int64(time.Second))
	}
}

// windows is a bounded set of windows keyed by hash, sharded to keep
// submits of different destinations off each other's lock.
type windows struct {
	shards   [windowShards]windowShard
	perShard int
	evict    bool // full: forget the window ending first (else refuse)
}

const windowShards = 16

type windowShard struct {
	mu   sync.Mutex
	m    map[uint64]window
	ends []windowEnd // a min-heap by end, one entry per window
}

type window struct {
	end   int64 // unix ns
	count int32
}

type windowEnd struct {
	key uint64
	end int64
}

type windowResult uint8

const (
	windowTaken windowResult = iota
	windowOver               // the window is full: refused
	windowFull               // no room for a new window: refused
)

func newWindows(max int, evict bool) *windows {
	w := &windows{perShard: max / windowShards, evict: evict}
	for i := range w.shards {
		w.shards[i].m = make(map[uint64]window)
	}
	return w
}

func (w *windows) shard(key uint64) *windowShard { return &w.shards[key>>60] }

// take counts one message in key's window at now, opening a window of
// length span if none is open; limit is how many a window admits.
func (w *windows) take(key uint64, now, span int64, limit int) (end int64, res windowResult) {
	sh := w.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.expire(now)
	if cur, ok := sh.m[key]; ok {
		if int(cur.count) >= limit {
			return 0, windowOver
		}
		cur.count++
		sh.m[key] = cur
		return cur.end, windowTaken
	}
	if !sh.room(w) {
		return 0, windowFull
	}
	end = now + span
	sh.m[key] = window{end: end, count: 1}
	sh.push(windowEnd{key, end})
	return end, windowTaken
}

// release gives back one message taken from the window ending at end.
func (w *windows) release(key uint64, end int64) {
	sh := w.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur, ok := sh.m[key]
	if !ok || cur.end != end {
		return
	}
	// Kept even when empty, until it ends: its heap entry stays its
	// own, so the heap never holds more entries than the map.
	cur.count = max(cur.count-1, 0)
	sh.m[key] = cur
}

// record counts a message of time at in key's window if it is still open
// at now, without a limit.
func (w *windows) record(key uint64, at, now, span int64) {
	if at+span <= now {
		return
	}
	sh := w.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.expire(now)
	if cur, ok := sh.m[key]; ok {
		cur.count++
		sh.m[key] = cur
		return
	}
	if !sh.room(w) {
		return // replaying: nothing left to refuse
	}
	sh.m[key] = window{end: at + span, count: 1}
	sh.push(windowEnd{key, at + span})
}

// len is the number of open windows (expired ones included until a take
// sweeps them).
func (w *windows) len() int {
	n := 0
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// room makes room for one more window if the shard is full and w evicts.
func (sh *windowShard) room(w *windows) bool {
	for len(sh.m) >= w.perShard {
		if !w.evict || len(sh.ends) == 0 {
			return false
		}
		sh.drop(sh.pop())
	}
	return true
}

// expire forgets the windows that ended by now.
func (sh *windowShard) expire(now int64) {
	for len(sh.ends) > 0 && sh.ends[0].end <= now {
		sh.drop(sh.pop())
	}
}

// drop forgets e's window unless it is another (renewed) one.
func (sh *windowShard) drop(e windowEnd) {
	if cur, ok := sh.m[e.key]; ok && cur.end == e.end {
		delete(sh.m, e.key)
	}
}

func (sh *windowShard) push(e windowEnd) {
	h := append(sh.ends, e)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].end <= h[i].end {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	sh.ends = h
}

func (sh *windowShard) pop() windowEnd {
	h := sh.ends
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].end < h[m].end {
			m = l
		}
		if r < len(h) && h[r].end < h[m].end {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	sh.ends = h
	return top
}
