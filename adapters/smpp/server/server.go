// Package server is smsledger's SMPP v3.4 ingress: an SMSC-side server that
// ESMEs (tenants) bind to. It uses gosmpp's pdu package for the wire format
// and talks to the application through the small Ingress interface, so it
// knows nothing of the event store.
//
// Guarantees:
//   - submit_sm_resp ESME_ROK (with our message id) is written only after
//     Ingress.Submit returned success, i.e. after the message is durable;
//   - every refusal has a distinct, documented command_status (StatusOf);
//   - each bind has a window of outstanding requests, beyond which
//     submit_sm is answered ESME_RTHROTTLED at once;
//   - every buffer, queue and map is bounded (connections, unbound
//     connections per address, window, reassembly bytes per bind, per
//     tenant and in all, outbound deliver_sm window, auth-failure tables);
//   - a connection binds within BindTimeout of connecting or is closed;
//     before the bind every request but a bind is answered generic_nack
//     ESME_RINVBNDSTS;
//   - a wrong password, an unknown system_id and a bind refused by a
//     failure budget get the same answer, ESME_RINVPASWD (authGuard);
//   - Shutdown stops reading, drains in-flight requests, answers them,
//     unbinds and closes.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/smsledger/smsledger/internal/backoff"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	Addr     string      // listen address (default 127.0.0.1:2775)
	TLS      *tls.Config // when set, customers connect over TLS
	Ingress  Ingress     // required
	Logger   *slog.Logger
	SystemID string // our system_id in bind responses (default "smsledger")

	WindowMax     int           // outstanding requests per bind (default 64)
	MaxConns      int           // concurrent connections (default 1024)
	GlobalTPS     float64       // submit_sm per second over all binds; 0 = unlimited
	SubmitTimeout time.Duration // deadline of one Ingress.Submit (default 10s)
	// BindTimeout: a connection must bind within this of connecting
	// (default 10s), whatever it sends: PDUs before the bind do not extend
	// it. Unbound connections only hold slots; this bounds how long.
	BindTimeout    time.Duration
	IdleTimeout    time.Duration // a bound connection silent this long is closed (default 120s)
	WriteTimeout   time.Duration // per write (default 10s)
	DrainTimeout   time.Duration // Serve's graceful shutdown bound when ctx ends (default 10s)
	ConcatTimeout  time.Duration // an incomplete concatenated message is refused after (default 30s)
	MaxConcat      int           // incomplete concatenated messages per bind (default 32)
	OutboundWindow int           // outstanding deliver_sm per bind (default 32)
	DeliverTimeout time.Duration // wait for deliver_sm_resp (default 10s)

	// MaxUnboundPerIPConns caps the connections from one source address
	// that have not bound yet (default 32, well below MaxConns): one
	// address cannot hold the slots every tenant needs. A connection
	// beyond it is closed at once.
	MaxUnboundPerIPConns int

	// Authentication failures from one IP address space that address's
	// next bind attempts (on any connection) by min(AuthFailDelay·2^(n−1),
	// AuthFailMaxDelay), n = its failures in the last AuthFailWindow (a
	// count is forgotten AuthFailWindow after its last failure). Defaults
	// 250ms, 5s, 10min.
	AuthFailDelay    time.Duration
	AuthFailMaxDelay time.Duration
	AuthFailWindow   time.Duration
	// MaxPerIPAuthFails and MaxPerSystemIDAuthFails are failure budgets
	// (defaults 20 and 10 per AuthFailWindow): beyond them binds from the
	// address, or for the system_id, are refused at once (ESME_RINVPASWD,
	// no password check) until the window passes. A success resets
	// neither; a credential that bound before is not subject to them
	// (authGuard), so guesses at a tenant do not lock it out.
	MaxPerIPAuthFails       int
	MaxPerSystemIDAuthFails int

	// Long-message reassembly holds parts until the last arrives; the
	// bytes held (each part counted at its command_length) are bounded per
	// bind (default 256 KiB: 32 messages of 255 parts of 140 octets is
	// ~1.1 MiB of text, far beyond real traffic, and 64 parts of 64 KiB
	// would be 4 MiB), per tenant over its binds (default 4 MiB) and over
	// the server (default 64 MiB, against a 1 GiB memory limit). A part
	// beyond a bound is refused ESME_RMSGQFUL, like one beyond MaxConcat.
	MaxConcatPerBindBytes   int
	MaxConcatPerTenantBytes int
	MaxConcatBytes          int
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defi := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:2775"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SystemID == "" {
		c.SystemID = "smsledger"
	}
	defi(&c.WindowMax, 64)
	defi(&c.MaxConns, 1024)
	defi(&c.MaxConcat, 32)
	defi(&c.OutboundWindow, 32)
	def(&c.SubmitTimeout, 10*time.Second)
	def(&c.BindTimeout, 10*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	def(&c.DrainTimeout, 10*time.Second)
	def(&c.ConcatTimeout, 30*time.Second)
	def(&c.DeliverTimeout, 10*time.Second)
	def(&c.AuthFailDelay, 250*time.Millisecond)
	def(&c.AuthFailMaxDelay, 5*time.Second)
	def(&c.AuthFailWindow, 10*time.Minute)
	defi(&c.MaxUnboundPerIPConns, 32)
	defi(&c.MaxPerIPAuthFails, 20)
	defi(&c.MaxPerSystemIDAuthFails, 10)
	defi(&c.MaxConcatPerBindBytes, 256<<10)
	defi(&c.MaxConcatPerTenantBytes, 4<<20)
	defi(&c.MaxConcatBytes, 64<<20)
}

// ErrNoReceiverBind is returned by DeliverReceipt when the tenant has no
// receiver-capable bind (the caller keeps the DLR queued).
var ErrNoReceiverBind = errors.New("smpp: tenant has no receiver bind")

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smpp: server closed")

// Server is an SMPP v3.4 server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	global *rate.Limiter
	guard  *authGuard

	hardCtx    context.Context // canceled by Close: aborts in-flight Submits
	hardCancel context.CancelFunc

	mu        sync.Mutex
	sessions  map[*session]struct{}
	receivers map[string][]*session // tenant → receiver-capable binds
	tenantLim map[string]*rate.Limiter
	unbound   map[string]int // source address → connections not bound yet
	binds     map[string]int // tenant → its binds (BindAuthorizer)
	concatTen map[string]int // tenant → reassembly bytes held
	concatAll int            // reassembly bytes held in all
	rr        atomic.Uint64
	closing   atomic.Bool
	conns     sync.WaitGroup
	served    chan struct{} // closed when the accept loop ended
}

// New validates cfg and listens on cfg.Addr (use 127.0.0.1:0 in tests;
// Addr tells the port).
func New(cfg Config) (*Server, error) {
	cfg.defaults()
	if cfg.Ingress == nil {
		return nil, errors.New("smpp server: Config.Ingress is required")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smpp server: listen %s: %w", cfg.Addr, err)
	}
	if cfg.TLS != nil {
		ln = tls.NewListener(ln, cfg.TLS)
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger.With("component", "smpp-server"), ln: ln,
		guard:     newAuthGuard(cfg.AuthFailDelay, cfg.AuthFailMaxDelay, cfg.AuthFailWindow, cfg.MaxPerIPAuthFails, cfg.MaxPerSystemIDAuthFails),
		unbound:   map[string]int{},
		binds:     map[string]int{},
		concatTen: map[string]int{},
		sessions:  map[*session]struct{}{},
		receivers: map[string][]*session{},
		tenantLim: map[string]*rate.Limiter{},
		served:    make(chan struct{}),
	}
	if cfg.GlobalTPS > 0 {
		s.global = rate.NewLimiter(rate.Limit(cfg.GlobalTPS), burstOf(cfg.GlobalTPS))
	}
	s.hardCtx, s.hardCancel = context.WithCancel(context.Background())
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until ctx ends (then it shuts down gracefully
// within Config.DrainTimeout and returns nil) or Shutdown/Close is called
// (ErrServerClosed).
func (s *Server) Serve(ctx context.Context) error {
	defer close(s.served)
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
		defer cancel()
		_ = s.Shutdown(sctx)
	})
	defer stop()
	s.log.Info("smpp server listening", "addr", s.ln.Addr().String())
	retry := backoff.Backoff{Min: 5 * time.Millisecond, Max: time.Second}
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() {
				if ctx.Err() != nil {
					s.conns.Wait()
					return nil
				}
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Temporary failures (e.g. EMFILE): back off, bounded.
			wait := retry.Next()
			s.log.Warn("smpp accept", "err", err, "retry_in", wait)
			if backoff.Wait(s.hardCtx, wait) != nil {
				return ErrServerClosed
			}
			continue
		}
		retry.Reset()
		s.mu.Lock()
		if len(s.sessions) >= s.cfg.MaxConns || s.closing.Load() {
			s.mu.Unlock()
			s.log.Warn("smpp connection refused: too many connections", "remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		sess := newSession(s, c)
		if s.unbound[sess.ip] >= s.cfg.MaxUnboundPerIPConns {
			s.mu.Unlock()
			s.log.Warn("smpp connection refused: too many unbound connections from its address", "remote", c.RemoteAddr().String())
			_ = c.Close()
			continue
		}
		s.unbound[sess.ip]++
		sess.countedUnbound = true
		s.sessions[sess] = struct{}{}
		s.conns.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.conns.Done()
			sess.run()
		}()
	}
}

// Shutdown stops accepting, stops reading on every session, waits for
// in-flight requests to be answered, unbinds and closes. If ctx ends first,
// the remaining sessions are closed hard (Close) and ctx's error returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	_ = s.ln.Close()
	s.mu.Lock()
	for sess := range s.sessions {
		sess.stopReading(stopShutdown)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.conns.Wait(); close(done) }()
	select {
	case <-done:
		s.hardCancel()
		return nil
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes the listener and every connection at once, aborting
// in-flight Submits (their ESMEs get no answer and must retry).
func (s *Server) Close() {
	s.closing.Store(true)
	_ = s.ln.Close()
	s.hardCancel()
	s.mu.Lock()
	for sess := range s.sessions {
		_ = sess.conn.Close()
	}
	s.mu.Unlock()
}

// Sessions is the number of open connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
	s.boundLocked(sess)
	if sess.tenant != "" {
		if s.binds[sess.tenant]--; s.binds[sess.tenant] <= 0 {
			delete(s.binds, sess.tenant)
		}
		rs := s.receivers[sess.tenant]
		for i, r := range rs {
			if r == sess {
				rs = append(rs[:i:i], rs[i+1:]...)
				break
			}
		}
		if len(rs) == 0 {
			delete(s.receivers, sess.tenant)
		} else {
			s.receivers[sess.tenant] = rs
		}
	}
}

// boundLocked takes sess off its address's unbound connections (it bound,
// or it ends); s.mu held.
func (s *Server) boundLocked(sess *session) {
	if !sess.countedUnbound {
		return
	}
	sess.countedUnbound = false
	if s.unbound[sess.ip]--; s.unbound[sess.ip] <= 0 {
		delete(s.unbound, sess.ip)
	}
}

// reserveBind counts a bind of tenant and returns its binds, this one
// included (what a BindAuthorizer checks).
func (s *Server) reserveBind(tenant string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.binds[tenant]++
	return s.binds[tenant]
}

// unreserveBind undoes reserveBind for a refused bind.
func (s *Server) unreserveBind(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.binds[tenant]--; s.binds[tenant] <= 0 {
		delete(s.binds, tenant)
	}
}

// bound records a successful bind: sess leaves the unbound connections of
// its address and, when it can receive, joins its tenant's receivers.
func (s *Server) bound(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boundLocked(sess)
	sess.boundAt = time.Now()
	if sess.kind.canReceive() {
		s.receivers[sess.tenant] = append(s.receivers[sess.tenant], sess)
	}
}

// reserveConcat adds n reassembly bytes of tenant to the server's counts
// unless that would pass MaxConcatPerTenantBytes or MaxConcatBytes.
func (s *Server) reserveConcat(tenant string, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.concatTen[tenant]+n > s.cfg.MaxConcatPerTenantBytes || s.concatAll+n > s.cfg.MaxConcatBytes {
		return false
	}
	s.concatTen[tenant] += n
	s.concatAll += n
	return true
}

// releaseConcat gives back what reserveConcat took.
func (s *Server) releaseConcat(tenant string, n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.concatAll -= n
	if s.concatTen[tenant] -= n; s.concatTen[tenant] <= 0 {
		delete(s.concatTen, tenant)
	}
}

// ReceiverBinds is the number of receiver-capable binds of a tenant.
func (s *Server) ReceiverBinds(tenantID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.receivers[tenantID])
}

// ReceiverTenants lists the tenants with at least one receiver-capable
// bind, in no particular order (a cluster node publishes them: cluster
// DLR forwarding).
func (s *Server) ReceiverTenants() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.receivers))
	for id, binds := range s.receivers {
		if len(binds) > 0 {
			out = append(out, id)
		}
	}
	return out
}
