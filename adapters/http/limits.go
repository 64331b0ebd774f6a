package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AuthLimits bound failed authentications (a wrong admin token, an unknown
// or wrong API key): after PerKey failures of one presented API key id, or
// PerAddr failures from one client address, within Window, that key id or
// address gets 429 too_many_failures (with Retry-After) without its
// credentials being looked at, until the window that started with its
// first failure ends. Memory is bounded: at most MaxEntries key ids and
// MaxEntries addresses are tracked; beyond that, new ones share a single
// overflow entry (so a spray from more addresses than that is limited as
// one client rather than not at all). Zero values take the defaults.
type AuthLimits struct {
	PerKey     int           // default 10
	PerAddr    int           // default 20
	Window     time.Duration // default 1 minute
	MaxEntries int           // default 10,000 (each map)
}

// Defaults of AuthLimits.
const (
	DefaultAuthFailuresPerKey  = 10
	DefaultAuthFailuresPerAddr = 20
	DefaultAuthFailureWindow   = time.Minute
	DefaultAuthLimitEntries    = 10_000
)

func (l *AuthLimits) setDefaults() {
	if l.PerKey <= 0 {
		l.PerKey = DefaultAuthFailuresPerKey
	}
	if l.PerAddr <= 0 {
		l.PerAddr = DefaultAuthFailuresPerAddr
	}
	if l.Window <= 0 {
		l.Window = DefaultAuthFailureWindow
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultAuthLimitEntries
	}
}

// failureLimiter counts failures per subject in fixed windows.
type failureLimiter struct {
	max    int
	window time.Duration
	cap    int
	now    func() time.Time

	mu    sync.Mutex
	m     map[string]*failWindow
	swept time.Time
}

type failWindow struct {
	start time.Time
	n     int
}

const overflowSubject = "\x00overflow"

func newFailureLimiter(max int, window time.Duration, capacity int, now func() time.Time) *failureLimiter {
	return &failureLimiter{max: max, window: window, cap: capacity, now: now, m: make(map[string]*failWindow)}
}

// blocked reports whether subject has used up its failures, and for how
// much longer.
func (l *failureLimiter) blocked(subject string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.m[subject]
	if w == nil && len(l.m) >= l.cap {
		w = l.m[overflowSubject]
	}
	if w == nil || w.n < l.max {
		return 0, false
	}
	left := w.start.Add(l.window).Sub(now)
	if left <= 0 {
		return 0, false
	}
	return left, true
}

// fail counts one failure of subject.
func (l *failureLimiter) fail(subject string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.m[subject]
	if w == nil {
		if len(l.m) >= l.cap {
			l.sweep(now)
		}
		if len(l.m) >= l.cap {
			subject = overflowSubject
			w = l.m[subject]
		}
		if w == nil {
			w = &failWindow{start: now}
			l.m[subject] = w
		}
	}
	if now.Sub(w.start) >= l.window {
		w.start, w.n = now, 0
	}
	w.n++
}

// sweep drops the windows that ended (at most once a second: it is O(n)).
func (l *failureLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Second {
		return
	}
	l.swept = now
	for k, w := range l.m {
		if now.Sub(w.start) >= l.window {
			delete(l.m, k)
		}
	}
}

// size is the number of subjects tracked (tests).
func (l *failureLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// clientAddr is the subject of a request's address: its IP, an IPv6
// address's /64 (one host usually has a whole /64). The direct peer's
// address: X-Forwarded-For is not trusted.
func clientAddr(r *http.Request) string { return clientAddrOf(r.RemoteAddr) }

func clientAddrOf(remoteAddr string) string {
	ip, host, ok := peerIP(remoteAddr)
	if !ok {
		return host
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// peerIP is the address of a request's peer (its RemoteAddr; no header is
// trusted), unmapped and without zone; ok is false when the host part is
// not an IP address (host is then that part).
func peerIP(remoteAddr string) (ip netip.Addr, host string, ok bool) {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err = netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, host, false
	}
	return ip.Unmap().WithZone(""), host, true
}

// apiKeyID is the public id part of an API key as presented
// ("sml_<16 hex>_<secret>"), or "" when it has no such shape.
func apiKeyID(tok string) string {
	rest, ok := strings.CutPrefix(tok, "sml_")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 {
		return ""
	}
	return id
}

func tooManyFailures(w http.ResponseWriter, left time.Duration) error {
	secs := int((left + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	return errorf(http.StatusTooManyRequests, "too_many_failures", "too many failed authentications; retry in %d s", max(secs, 1))
}

// DefaultTenantReads bounds the tenant reads (message views, audit trails,
// CDR pages) in progress at once; the others wait for a slot (up to their
// request's context).
const DefaultTenantReads = 8

// readGate is the pool of tenant reads: a semaphore.
type readGate chan struct{}

func (g readGate) enter(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errorf(http.StatusServiceUnavailable, "busy", "too many reads in progress; try again")
	}
}

func (g readGate) leave() { <-g }
