package webhook

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// One tenant's endpoint never answers and it has more DLRs than its share
// of the queue: another tenant's DLRs are all accepted (never ErrQueueFull
// because of the first) and delivered promptly, and the stuck tenant holds
// at most its share of the workers and of the queue. (The stuck tenant
// used to fill the whole queue and hold every worker.)
func TestHungEndpointDoesNotStallOtherTenants(t *testing.T) {
	release := make(chan struct{})
	defer close(release) // before the servers close and the sender stops
	hung := newServer(t, func(n int, w http.ResponseWriter) { <-release })
	good := newServer(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) })
	s := start(t, Config{Workers: 4, QueueSize: 40, AttemptTimeout: time.Minute})
	if s.cfg.TenantQueueSize != 10 || s.cfg.TenantWorkers != 1 {
		t.Fatalf("tenant shares %d queued, %d workers; want 10, 1", s.cfg.TenantQueueSize, s.cfg.TenantWorkers)
	}

	accepted := 0
	for i := range 100 {
		err := s.Enqueue(Delivery{Tenant: "stuck", URL: hung.URL, Secret: secret, DLR: dlr("stuck-" + strconv.Itoa(i))})
		if errors.Is(err, ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	if accepted != s.cfg.TenantQueueSize {
		t.Fatalf("stuck tenant had %d deliveries accepted, want its share %d", accepted, s.cfg.TenantQueueSize)
	}
	for hung.calls.Load() == 0 {
		time.Sleep(time.Millisecond) // the stuck tenant's first request hangs now
	}

	began := time.Now()
	for i := range 3 * s.cfg.TenantQueueSize {
		ch := make(chan Result, 1)
		d := Delivery{Tenant: "fine", URL: good.URL, Secret: secret, DLR: dlr("fine-" + strconv.Itoa(i)), Done: func(r Result) { ch <- r }}
		if err := s.Enqueue(d); err != nil {
			t.Fatalf("DLR %d of the other tenant refused: %v", i, err)
		}
		select {
		case r := <-ch:
			if !r.Delivered() {
				t.Fatalf("DLR %d of the other tenant: %+v", i, r)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("DLR %d of the other tenant not delivered in 5 s", i)
		}
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("the other tenant's DLRs took %v", took)
	}
	if n := hung.calls.Load(); n != int32(s.cfg.TenantWorkers) {
		t.Fatalf("%d requests hang at the stuck endpoint, want %d", n, s.cfg.TenantWorkers)
	}
}

// Deliveries given up are logged per tenant with their number, one line
// per FailureLogEvery, not one per DLR.
func TestGivenUpLoggedPerTenantWithACount(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) })
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	s := start(t, Config{MaxAttempts: 1, FailureLogEvery: 50 * time.Millisecond, Logger: logger})
	const n = 12
	results := make(chan Result, n)
	for i := range n {
		if err := s.Enqueue(Delivery{Tenant: "acme", URL: srv.URL, Secret: secret, DLR: dlr("m" + strconv.Itoa(i)), Done: func(r Result) { results <- r }}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		select {
		case r := <-results:
			if !errors.Is(r.Err, ErrExhausted) {
				t.Fatalf("result %+v", r)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no result in 5 s")
		}
	}
	var lines []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		lines = nil
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, "given up") || strings.Contains(l, "giving up") {
				lines = append(lines, l)
			}
		}
		mu.Unlock()
		if len(lines) > 0 && strings.Contains(strings.Join(lines, "\n"), "deliveries=") {
			break
		}
	}
	total := 0
	for _, l := range lines {
		i := strings.Index(l, "deliveries=")
		if !strings.Contains(l, "tenant=acme") || i < 0 {
			t.Fatalf("log line without the tenant or a count: %s", l)
		}
		c, _ := strconv.Atoi(strings.Fields(l[i+len("deliveries="):])[0])
		total += c
	}
	// One or two lines (the report may fall between the failures), never
	// one per DLR.
	if len(lines) == 0 || len(lines) > 2 || total != n {
		t.Fatalf("%d lines counting %d given up, want 1 or 2 lines counting %d:\n%s", len(lines), total, n, strings.Join(lines, "\n"))
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
