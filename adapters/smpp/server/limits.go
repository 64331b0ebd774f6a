package server

// Limits: the per-bind window of outstanding requests, the per-tenant
// rate limiters, the unbound connections per address, the
// authentication-failure budgets (authGuard) and the reassembly bytes.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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

// authTableMax bounds each of the guard's tables (addresses, system_ids):
// an entry is ~150 bytes, so ~2.5 MiB each at most. Pushing a target's
// entry out takes that many failed binds (each a full hash comparison,
// bounded by the ledger's hashing semaphore): longer than its window.
const authTableMax = 16384

// knownGoodMax bounds the credentials remembered as verified (32 bytes
// each): enough for every bind of a large platform.
const knownGoodMax = 8192

// authGuard rations bind attempts. Failures (wrong password or unknown
// system_id: the guard does not tell them apart) are counted per source
// address and per system_id; within a window (a count is forgotten window
// after its last failure) an address may fail maxIP times and a
// system_id maxSID times: further attempts are refused at once, without a
// hash comparison, until the window has passed. Attempts in flight count
// against the budgets, so parallel guesses cannot overshoot them (they
// wait, bounded by the caller's context). After a failure, an address's
// attempts are also spaced: each starts d = min(base·2^(n−1), cap) after
// its last failure and d after the previous attempt, whatever connection
// it comes on (n: its failures in the window).
//
// A success resets nothing: it would let a tenant (or whoever shares its
// address) alternate its own binds with guesses. Instead, a credential
// (system_id and password) that once bound is known good: it skips the
// budgets and the spacing, so failures others cause never lock out a
// tenant that has bound before (until it is pushed out or the process
// restarts). It is remembered as an HMAC under a per-process key.
type authGuard struct {
	mu                sync.Mutex
	base, cap, window time.Duration
	maxIP, maxSID     int
	ips, sids         *simplelru.LRU[string, *failEntry] // by last use
	good              *simplelru.LRU[[32]byte, struct{}]
	key               [32]byte
}

type failEntry struct {
	n        int       // failures since the count was last forgotten
	last     time.Time // last failure
	next     time.Time // the address's next attempt starts no earlier
	inflight int       // attempts being checked
	changed  chan struct{}
}

func newAuthGuard(base, capd, window time.Duration, maxIP, maxSID int) *authGuard {
	g := &authGuard{base: min(base, capd), cap: capd, window: window, maxIP: maxIP, maxSID: maxSID}
	g.ips, _ = simplelru.NewLRU[string, *failEntry](authTableMax, nil)
	g.sids, _ = simplelru.NewLRU[string, *failEntry](authTableMax, nil)
	g.good, _ = simplelru.NewLRU[[32]byte, struct{}](knownGoodMax, nil)
	if _, err := rand.Read(g.key[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return g
}

// credKey is the HMAC of a credential under the guard's key.
func (g *authGuard) credKey(systemID, password string) [32]byte {
	m := hmac.New(sha256.New, g.key[:])
	m.Write([]byte(systemID))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// entry returns the live entry of key in t, its count forgotten when its
// last failure is older than the window. Called with g.mu held.
func (g *authGuard) entry(t *simplelru.LRU[string, *failEntry], key string, now time.Time) *failEntry {
	e, _ := t.Get(key)
	if e == nil {
		e = &failEntry{changed: make(chan struct{})}
		t.Add(key, e)
	}
	if e.n > 0 && now.Sub(e.last) > g.window {
		e.n = 0
	}
	return e
}

// authTicket is one admitted attempt; done must be called with its result.
type authTicket struct {
	ip, sid       *failEntry // nil when admitted as known good
	ipKey, sidKey string
	cred          [32]byte
}

// admit decides whether a bind from ip for systemID with password may be
// checked. It waits (bounded by ctx) while attempts in flight hold the rest
// of a budget, then for the address's spacing. ok is false when a budget is
// spent or ctx ended: the bind is refused without a check.
func (g *authGuard) admit(ctx context.Context, ip, systemID, password string) (t authTicket, ok bool) {
	t.cred, t.ipKey, t.sidKey = g.credKey(systemID, password), ip, systemID
	for {
		now := time.Now()
		g.mu.Lock()
		if _, good := g.good.Get(t.cred); good {
			g.mu.Unlock()
			return t, true
		}
		a := g.entry(g.ips, ip, now)
		s := g.entry(g.sids, systemID, now)
		if a.n >= g.maxIP || s.n >= g.maxSID {
			g.mu.Unlock()
			return t, false
		}
		var wait chan struct{}
		switch {
		case a.n+a.inflight >= g.maxIP:
			wait = a.changed
		case s.n+s.inflight >= g.maxSID:
			wait = s.changed
		}
		if wait != nil {
			g.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return t, false
			}
		}
		a.inflight++
		s.inflight++
		t.ip, t.sid = a, s
		start := now
		if a.n > 0 {
			d := backoff.Delay(g.base, g.cap, a.n)
			start = maxTime(now, maxTime(a.next, a.last.Add(d)))
			a.next = start.Add(d)
		}
		g.mu.Unlock()
		if d := start.Sub(now); d > 0 {
			tm := time.NewTimer(d)
			select {
			case <-tm.C:
			case <-ctx.Done():
				tm.Stop()
				g.done(t, false, false)
				return t, false
			}
		}
		return t, true
	}
}

// done records an admitted attempt's result: failed (bad credentials)
// counts against both budgets; succeeded marks the credential known good;
// neither (the check did not decide, e.g. an error, or a tenant refused
// after its credentials were right) counts nothing.
func (g *authGuard) done(t authTicket, failed, succeeded bool) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case succeeded:
		g.good.Add(t.cred, struct{}{})
	case failed:
		g.good.Remove(t.cred) // e.g. its password changed
	}
	ip, sid := t.ip, t.sid
	if ip == nil && failed {
		// Admitted as known good: its failure counts all the same.
		ip, sid = g.entry(g.ips, t.ipKey, now), g.entry(g.sids, t.sidKey, now)
		ip.inflight++
		sid.inflight++
	}
	for _, e := range []*failEntry{ip, sid} {
		if e == nil {
			continue
		}
		e.inflight--
		if failed {
			e.n++
			e.last = now
		}
		close(e.changed)
		e.changed = make(chan struct{})
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
