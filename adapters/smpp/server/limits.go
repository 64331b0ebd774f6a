package server

// Limits: the per-bind window of outstanding requests, the per-tenant
// rate limiters and the per-IP authentication-failure table.

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"

	"github.com/smsledger/smsledger/internal/backoff"
)

// acquire takes a window slot without blocking.
func (s *session) acquire() bool {
	select {
	case s.window <- struct{}{}:
		return true
	default:
		return false
	}
}

// release frees a window slot.
func (s *session) release() { <-s.window }

// burstOf is the token-bucket burst for a rate: max(1, tps/10).
func burstOf(tps float64) int {
	b := int(tps / 10)
	if b < 1 {
		b = 1
	}
	return b
}

// tenantLimiter returns the tenant's limiter (updated to p.TPS), nil when
// unlimited.
func (s *Server) tenantLimiter(p Principal) *rate.Limiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.tenantLim[p.TenantID]
	if p.TPS <= 0 {
		delete(s.tenantLim, p.TenantID)
		return nil
	}
	if l == nil {
		l = rate.NewLimiter(rate.Limit(p.TPS), burstOf(p.TPS))
		s.tenantLim[p.TenantID] = l
	} else if l.Limit() != rate.Limit(p.TPS) {
		l.SetLimit(rate.Limit(p.TPS))
		l.SetBurst(burstOf(p.TPS))
	}
	return l
}

// failTable remembers authentication failures per IP. It holds at most max
// addresses: a new one pushes out the address whose last failure is the
// oldest (an address whose failures are older than window counts as having
// none, so those go first).
type failTable struct {
	mu                sync.Mutex
	base, cap, window time.Duration
	entries           *simplelru.LRU[string, *failEntry] // by last failure
}

type failEntry struct {
	n    int
	last time.Time
}

func newFailTable(max int, base, capd, window time.Duration) *failTable {
	entries, err := simplelru.NewLRU[string, *failEntry](max, nil)
	if err != nil {
		panic(err) // only for a max below 1; NewServer passes a constant
	}
	// A cap below base caps every wait: min(base·2^(n−1), cap).
	return &failTable{base: min(base, capd), cap: capd, window: window, entries: entries}
}

// delay is how long a bind from ip waits before being checked.
func (f *failTable) delay(ip string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, _ := f.entries.Peek(ip)
	if e == nil || now.Sub(e.last) > f.window {
		return 0
	}
	return backoff.Delay(f.base, f.cap, e.n)
}

func (f *failTable) fail(ip string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, _ := f.entries.Get(ip) // now its most recent failure
	if e == nil {
		e = &failEntry{}
		f.entries.Add(ip, e)
	} else if now.Sub(e.last) > f.window {
		e.n = 0
	}
	e.n++
	e.last = now
}

func (f *failTable) ok(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries.Remove(ip)
}
