package runner

import (
	"bufio"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// nameServer accepts connections and answers each line with its name and
// the line; closeAll drops its connections (the node died).
type nameServer struct {
	name string
	ln   net.Listener
	mu   sync.Mutex
	cs   []net.Conn
	wg   sync.WaitGroup
}

func startNameServer(t *testing.T, name string) *nameServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &nameServer{name: name, ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.cs = append(s.cs, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := io.WriteString(c, s.name+" "+sc.Text()+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *nameServer) addr() string { return s.ln.Addr().String() }

// dropAll closes every connection it has (the listener stays).
func (s *nameServer) dropAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cs {
		_ = c.Close()
	}
	s.cs = nil
}

func (s *nameServer) stop() {
	_ = s.ln.Close()
	s.dropAll()
	s.wg.Wait()
}

// ask sends one line on c and returns the answer's first word (the
// server's name), or an error.
func ask(c net.Conn, line string) (string, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	name, rest, _ := strings.Cut(strings.TrimSpace(got), " ")
	if rest != line {
		return "", errors.New("echo mismatch: " + got)
	}
	return name, nil
}

func dialProxy(t *testing.T, p *proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedAddr is a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// backendsVar is a backends() the test changes as it goes.
type backendsVar struct {
	mu sync.Mutex
	bs []backend
}

func (v *backendsVar) set(bs ...backend) { v.mu.Lock(); v.bs = bs; v.mu.Unlock() }
func (v *backendsVar) get() []backend {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]backend(nil), v.bs...)
}

func TestProxyRoundRobin(t *testing.T) {
	a, b, c := startNameServer(t, "a"), startNameServer(t, "b"), startNameServer(t, "c")
	var bs backendsVar
	bs.set(backend{"a", a.addr()}, backend{"b", b.addr()}, backend{"c", c.addr()})
	p, err := newProxy("lb", bs.get, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got := map[string]int{}
	var order []string
	for i := range 9 {
		name, err := ask(dialProxy(t, p), "hello")
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		got[name]++
		order = append(order, name)
	}
	if got["a"] != 3 || got["b"] != 3 || got["c"] != 3 {
		t.Fatalf("9 connections over 3 backends: %v (order %v)", got, order)
	}
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			t.Fatalf("two connections in a row to %s: %v", order[i], order)
		}
	}
	fwd, skipped := p.Counts()
	if fwd["a"] != 3 || fwd["b"] != 3 || fwd["c"] != 3 || len(skipped) != 0 {
		t.Fatalf("counts: forwarded %v, skipped %v", fwd, skipped)
	}
}

// A backend whose port refuses is skipped: every connection reaches a live
// one, and the skips are counted.
func TestProxySkipsRefusingBackend(t *testing.T) {
	a := startNameServer(t, "a")
	var bs backendsVar
	bs.set(backend{"gone", closedAddr(t)}, backend{"a", a.addr()}, backend{"gone2", closedAddr(t)})
	p, err := newProxy("lb", bs.get, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range 6 {
		name, err := ask(dialProxy(t, p), "x")
		if err != nil || name != "a" {
			t.Fatalf("connection %d: %q, %v", i, name, err)
		}
	}
	fwd, skipped := p.Counts()
	if fwd["a"] != 6 || skipped["gone"] == 0 || skipped["gone2"] == 0 {
		t.Fatalf("forwarded %v, skipped %v", fwd, skipped)
	}

	// No backend at all, or none that answers: the client is closed.
	for _, set := range [][]backend{nil, {{"gone", closedAddr(t)}}} {
		bs.set(set...)
		if _, err := ask(dialProxy(t, p), "x"); err == nil {
			t.Fatalf("backends %v: a connection was served", set)
		}
	}
	if p.Refused.Load() != 2 {
		t.Fatalf("refused %d, want 2", p.Refused.Load())
	}
}

// A backend that drops its connections drops the client's too; the client
// connects again and reaches a live backend.
func TestProxyBackendDies(t *testing.T) {
	a, b := startNameServer(t, "a"), startNameServer(t, "b")
	var bs backendsVar
	bs.set(backend{"a", a.addr()}, backend{"b", b.addr()})
	p, err := newProxy("lb", bs.get, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dialProxy(t, p)
	first, err := ask(c, "1")
	if err != nil {
		t.Fatal(err)
	}
	dead, live := a, "b"
	if first == "b" {
		dead, live = b, "a"
	}
	dead.stop() // the node dies: connections closed, port refuses
	if _, err := ask(c, "2"); err == nil {
		t.Fatal("the connection to a dead backend still answers")
	}
	for i := range 4 {
		name, err := ask(dialProxy(t, p), "3")
		if err != nil || name != live {
			t.Fatalf("reconnection %d: %q, %v (want %s)", i, name, err, live)
		}
	}
}

// SetDown closes every connection and refuses new ones until it is up
// again (a node's link to PostgreSQL cut by partition_node).
func TestProxyDown(t *testing.T) {
	a := startNameServer(t, "db")
	p, err := newProxy("pg", func() []backend { return []backend{{"db", a.addr()}} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dialProxy(t, p)
	if _, err := ask(c, "before"); err != nil {
		t.Fatal(err)
	}
	p.SetDown(true)
	if _, err := ask(c, "during"); err == nil {
		t.Fatal("a connection survived the cut")
	}
	for range 3 {
		if _, err := ask(dialProxy(t, p), "during"); err == nil {
			t.Fatal("a new connection was served while down")
		}
	}
	p.SetDown(false)
	if name, err := ask(dialProxy(t, p), "after"); err != nil || name != "db" {
		t.Fatalf("after the cut: %q, %v", name, err)
	}
	if p.Refused.Load() < 3 {
		t.Fatalf("refused %d, want ≥ 3", p.Refused.Load())
	}
}

// Close ends every connection and goroutine of the proxy.
func TestProxyCloseBounded(t *testing.T) {
	a := startNameServer(t, "a")
	before := runtime.NumGoroutine()
	p, err := newProxy("lb", func() []backend { return []backend{{"a", a.addr()}} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 5 {
		c := dialProxy(t, p)
		if _, err := ask(c, "x"); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for i, c := range conns {
		if _, err := ask(c, "y"); err == nil {
			t.Fatalf("connection %d still served after Close", i)
		}
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("the proxy still listens after Close")
	}
	if !strings.HasPrefix(p.Addr(), "127.0.0.1:") {
		t.Fatalf("listens on %s, want loopback", p.Addr())
	}
	// The proxy's goroutines are gone (the backend's own may linger a
	// moment as it sees its connections close).
	a.dropAll()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before the proxy", n, before)
	}
}

func TestMaxWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	for _, tc := range []struct {
		times []time.Time
		want  int
		from  int // ms
	}{
		{nil, 0, -1},
		{at(0), 1, 0},
		// Unsorted: sorted first. 0..999 is one window, 1000 the next.
		{at(999, 0, 500, 1000), 3, 0},
		// The busiest second is 900..1899.
		{at(0, 900, 1000, 1100, 1899, 1900, 3000), 4, 900},
	} {
		n, from := maxWindow(tc.times, time.Second)
		if n != tc.want || tc.from >= 0 && !from.Equal(t0.Add(time.Duration(tc.from)*time.Millisecond)) {
			t.Errorf("%v: %d from %v, want %d from %d ms", tc.times, n, from, tc.want, tc.from)
		}
	}
}
