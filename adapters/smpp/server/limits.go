package server

// Limits: the per-bind window of outstanding requests, the per-tenant
// rate limiters and the per-IP authentication-failure table.

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
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

// failTable remembers authentication failures per IP (bounded).
type failTable struct {
	mu                sync.Mutex
	max               int
	base, cap, window time.Duration
	entries           map[string]*failEntry
}

type failEntry struct {
	n    int
	last time.Time
}

func newFailTable(max int, base, capd, window time.Duration) *failTable {
	return &failTable{max: max, base: base, cap: capd, window: window, entries: map[string]*failEntry{}}
}

// delay is how long a bind from ip waits before being checked.
func (f *failTable) delay(ip string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[ip]
	if e == nil || now.Sub(e.last) > f.window {
		return 0
	}
	d := f.base
	for i := 1; i < e.n && d < f.cap; i++ {
		d *= 2
	}
	return min(d, f.cap)
}

func (f *failTable) fail(ip string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.entries[ip]
	if e == nil {
		if len(f.entries) >= f.max {
			var oldest string
			var ot time.Time
			for k, v := range f.entries {
				if now.Sub(v.last) > f.window {
					delete(f.entries, k)
					continue
				}
				if oldest == "" || v.last.Before(ot) {
					oldest, ot = k, v.last
				}
			}
			if len(f.entries) >= f.max {
				delete(f.entries, oldest)
			}
		}
		e = &failEntry{}
		f.entries[ip] = e
	} else if now.Sub(e.last) > f.window {
		e.n = 0
	}
	e.n++
	e.last = now
}

func (f *failTable) ok(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.entries, ip)
}
