package runner

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// backend is one address a proxy may forward to, with the name the report
// gives it (a node id, "postgres").
type backend struct {
	Name, Addr string
}

// proxyDialTimeout bounds the dial of one backend (loopback: a node that
// is gone refuses at once; this only bounds a stuck one).
const proxyDialTimeout = time.Second

// proxy is a loopback TCP proxy. In a cluster scenario it is the load
// balancer in front of the nodes (one for SMPP, one for HTTP, as customers
// reach the nodes through a TCP load balancer in production): each
// connection goes to the next backend, round-robin over those backends()
// names, skipping one whose port refuses. It is also a node's link to
// PostgreSQL, which a partition_node fault cuts (SetDown): its connections
// are closed and new ones are closed as soon as they are accepted, until
// SetDown(false).
//
// A connection is forwarded byte for byte both ways and closed on both
// sides as soon as either side ends (a node that dies drops its clients,
// which connect again through the proxy to a live node). Bounded: one
// goroutine per direction of a live connection; Close ends every one of
// them and returns once they are done. It listens on 127.0.0.1 only.
type proxy struct {
	name     string
	ln       net.Listener
	backends func() []backend
	log      *slog.Logger
	next     atomic.Uint64
	down     atomic.Bool

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	// per backend name: connections forwarded; dials refused (skipped).
	forwarded map[string]int64
	skipped   map[string]int64
	wg        sync.WaitGroup

	// Refused counts client connections closed at once: the proxy was
	// down, or no backend took the connection.
	Refused atomic.Int64
}

// newProxy listens on a loopback port and forwards to backends().
func newProxy(name string, backends func() []backend, log *slog.Logger) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &proxy{name: name, ln: ln, backends: backends, log: log.With("proxy", name), conns: map[net.Conn]struct{}{},
		forwarded: map[string]int64{}, skipped: map[string]int64{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.accept()
	}()
	return p, nil
}

// Addr is where clients connect.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// SetDown cuts the proxy (true: every connection closed, new ones refused
// by closing them) or opens it again (false).
func (p *proxy) SetDown(down bool) {
	p.down.Store(down)
	if !down {
		return
	}
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

// Counts are the connections forwarded and the dials refused, per backend
// name (copies).
func (p *proxy) Counts() (forwarded, skipped map[string]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	forwarded, skipped = make(map[string]int64, len(p.forwarded)), make(map[string]int64, len(p.skipped))
	for k, v := range p.forwarded {
		forwarded[k] = v
	}
	for k, v := range p.skipped {
		skipped[k] = v
	}
	return forwarded, skipped
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		if p.down.Load() || !p.track(c) {
			p.Refused.Add(1)
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

// track registers a connection; false once the proxy is closed.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// dial connects to the next backend that takes the connection, starting
// after the one the previous connection went to.
func (p *proxy) dial() (net.Conn, string) {
	bs := p.backends()
	if len(bs) == 0 {
		return nil, ""
	}
	start := p.next.Add(1)
	for i := range len(bs) {
		b := bs[(start+uint64(i))%uint64(len(bs))]
		up, err := net.DialTimeout("tcp", b.Addr, proxyDialTimeout)
		if err == nil {
			return up, b.Name
		}
		p.mu.Lock()
		p.skipped[b.Name]++
		p.mu.Unlock()
		p.log.Debug("backend refused; next", "backend", b.Name, "addr", b.Addr, "err", err)
	}
	return nil, ""
}

// serve forwards one client connection until either side ends.
func (p *proxy) serve(c net.Conn) {
	defer p.untrack(c)
	up, name := p.dial()
	if up == nil {
		p.Refused.Add(1)
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	if p.down.Load() { // cut while dialling
		return
	}
	p.mu.Lock()
	p.forwarded[name]++
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	// One side ended: close both, which ends the other copy.
	_ = c.Close()
	_ = up.Close()
	<-done
}
