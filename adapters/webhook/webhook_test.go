package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const secret = "whsec-test-0123456789"

// server is a test receiver on 127.0.0.1 that verifies every request and
// answers with answer(n) for the n-th (1-based).
type server struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	bodies []DLR
	bad    atomic.Int32 // requests whose signature did not verify
}

func newServer(t *testing.T, answer func(n int, w http.ResponseWriter)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(s.calls.Add(1))
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			Verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), 0) != nil {
			s.bad.Add(1)
		}
		var d DLR
		if err := json.Unmarshal(body, &d); err == nil {
			s.mu.Lock()
			s.bodies = append(s.bodies, d)
			s.mu.Unlock()
		}
		answer(n, w)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func start(t *testing.T, cfg Config) *Sender {
	t.Helper()
	if cfg.InitialBackoff == 0 {
		cfg.InitialBackoff = 10 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 40 * time.Millisecond
	}
	s := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func dlr(id string) DLR {
	return DLR{MessageID: id, Status: "DELIVRD", Error: "000", Parts: 1, Price: "0.05", Currency: "EUR",
		DoneAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// refused: a finished delivery's id is refused while its Done runs
// (ErrPending) and for RecentFor after (ErrRecent).
func refused(err error) bool { return errors.Is(err, ErrPending) || errors.Is(err, ErrRecent) }

// send enqueues one delivery and waits for its result.
func send(t *testing.T, s *Sender, url, id string) Result {
	t.Helper()
	ch := make(chan Result, 1)
	if err := s.Enqueue(Delivery{URL: url, Secret: secret, DLR: dlr(id), Done: func(r Result) { ch <- r }}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no result within 20s")
		return Result{}
	}
}

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"message_id":"m1","status":"DELIVRD"}`)
	now := time.Unix(1_767_225_600, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := Sign(secret, ts, body)
	// A known vector (computed independently), so the scheme cannot drift
	// silently: hex HMAC-SHA256("whsec-test-0123456789", "1767225600." + body).
	if sig != "v1=dbed0a3a68812f123443919a4bba0f79023cc1d853b9a8a50bbbbe5e01f74bd3" {
		t.Fatalf("signature %q", sig)
	}
	if err := Verify(secret, ts, sig, body, now, 0); err != nil {
		t.Fatalf("valid signature refused: %v", err)
	}
	// Rotation: several signatures, one valid.
	if err := Verify(secret, ts, "v1=00, "+sig, body, now, 0); err != nil {
		t.Fatalf("valid signature among others refused: %v", err)
	}
	for name, c := range map[string]struct {
		secret, ts, sig string
		body            []byte
		now             time.Time
		want            error
	}{
		"wrong secret":      {"another-secret-000000", ts, sig, body, now, ErrBadSignature},
		"body changed":      {secret, ts, sig, []byte(`{"message_id":"m2","status":"DELIVRD"}`), now, ErrBadSignature},
		"timestamp moved":   {secret, strconv.FormatInt(now.Unix()+1, 10), sig, body, now, ErrBadSignature},
		"no signature":      {secret, ts, "", body, now, ErrBadSignature},
		"bare hex":          {secret, ts, sig[3:], body, now, ErrBadSignature},
		"too old":           {secret, ts, sig, body, now.Add(6 * time.Minute), ErrStaleTimestamp},
		"from the future":   {secret, ts, sig, body, now.Add(-6 * time.Minute), ErrStaleTimestamp},
		"timestamp not int": {secret, "yesterday", sig, body, now, ErrStaleTimestamp},
	} {
		if err := Verify(c.secret, c.ts, c.sig, c.body, c.now, 0); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func TestFailsTwiceThenDeliveredOnce(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s := start(t, Config{})
	r := send(t, s, srv.URL+"/dlr", "m1")
	if !r.Delivered() || r.Attempts != 3 || r.StatusCode != 200 {
		t.Fatalf("result %+v", r)
	}
	if srv.calls.Load() != 3 || srv.bad.Load() != 0 {
		t.Fatalf("%d calls, %d badly signed", srv.calls.Load(), srv.bad.Load())
	}
	srv.mu.Lock()
	got := srv.bodies[2]
	srv.mu.Unlock()
	if got != dlr("m1") {
		t.Fatalf("body %+v", got)
	}
	// Delivered once: the same message is refused for a while, and nothing
	// more reaches the receiver.
	if err := s.Enqueue(Delivery{URL: srv.URL, Secret: secret, DLR: dlr("m1")}); !refused(err) {
		t.Fatalf("re-enqueue after delivery: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if srv.calls.Load() != 3 {
		t.Fatalf("%d calls after delivery", srv.calls.Load())
	}
}

func TestPermanentFailureNotRetried(t *testing.T) {
	for _, code := range []int{400, 404, 410, 301} {
		srv := newServer(t, func(n int, w http.ResponseWriter) {
			if code == 301 {
				w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			}
			w.WriteHeader(code)
		})
		s := start(t, Config{})
		r := send(t, s, srv.URL, "m-"+strconv.Itoa(code))
		if r.Delivered() || !r.Permanent() || r.Attempts != 1 || r.StatusCode != code {
			t.Errorf("%d: result %+v", code, r)
		}
		if srv.calls.Load() != 1 {
			t.Errorf("%d: %d calls", code, srv.calls.Load())
		}
	}
}

func TestTransientStatusesRetried(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502} {
		srv := newServer(t, func(n int, w http.ResponseWriter) {
			if n == 1 {
				w.WriteHeader(code)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		s := start(t, Config{})
		if r := send(t, s, srv.URL, "m"); !r.Delivered() || r.Attempts != 2 {
			t.Errorf("%d: result %+v", code, r)
		}
	}
}

func TestTimeoutsAndAttemptsBounded(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(n int, w http.ResponseWriter) { <-release })
	defer close(release)
	s := start(t, Config{AttemptTimeout: 50 * time.Millisecond, MaxAttempts: 3, RecentFor: 300 * time.Millisecond})
	began := time.Now()
	r := send(t, s, srv.URL, "slow")
	took := time.Since(began)
	if !errors.Is(r.Err, ErrExhausted) || r.Permanent() || r.Attempts != 3 {
		t.Fatalf("result %+v", r)
	}
	// 3 attempts × 50 ms + backoffs ≤ 10+20 ms, with slack for -race.
	if took > 3*time.Second {
		t.Fatalf("took %v", took)
	}
	if n := srv.calls.Load(); n != 3 {
		t.Fatalf("%d calls", n)
	}
	// Given up: refused for RecentFor.
	if err := s.Enqueue(Delivery{URL: srv.URL, Secret: secret, DLR: dlr("slow")}); !refused(err) {
		t.Fatalf("re-enqueue right after giving up: %v", err)
	}
	// ...then accepted again (the relay's retry pass hands it over anew).
	time.Sleep(400 * time.Millisecond)
	if err := s.Enqueue(Delivery{URL: srv.URL, Secret: secret, DLR: dlr("slow")}); err != nil {
		t.Fatalf("re-enqueue after RecentFor: %v", err)
	}
}

func TestTotalTimeBounded(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter) { w.WriteHeader(503) })
	s := start(t, Config{MaxAttempts: 1000, InitialBackoff: 20 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		NoJitter: true, MaxElapsed: 200 * time.Millisecond})
	began := time.Now()
	r := send(t, s, srv.URL, "m")
	if !errors.Is(r.Err, ErrExhausted) || r.Attempts < 3 || r.Attempts > 12 {
		t.Fatalf("result %+v", r)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("took %v", took)
	}
}

func TestBackoffGrowsAndHonoursRetryAfter(t *testing.T) {
	s := New(Config{InitialBackoff: time.Second, MaxBackoff: 30 * time.Second, NoJitter: true})
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}
	for i, w := range want {
		if got := s.backoff(i+1, 0); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := s.backoff(1, 10*time.Second); got != 10*time.Second {
		t.Errorf("Retry-After 10s: %v", got)
	}
	if got := s.backoff(1, time.Hour); got != 30*time.Second {
		t.Errorf("Retry-After capped: %v", got)
	}
	j := New(Config{InitialBackoff: time.Second, MaxBackoff: 30 * time.Second})
	for range 100 {
		if d := j.backoff(3, 0); d < 2*time.Second || d > 4*time.Second {
			t.Fatalf("jittered backoff %v outside [2s, 4s]", d)
		}
	}
	if d := parseRetryAfter("7", time.Now()); d != 7*time.Second {
		t.Errorf("Retry-After 7: %v", d)
	}
}

func TestQueueBoundedAndDeduplicated(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(n int, w http.ResponseWriter) { <-release })
	s := start(t, Config{Workers: 1, QueueSize: 2})
	ok := func(id string) error { return s.Enqueue(Delivery{URL: srv.URL, Secret: secret, DLR: dlr(id)}) }
	if err := ok("a"); err != nil {
		t.Fatal(err)
	}
	if err := ok("a"); !errors.Is(err, ErrPending) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := ok("b"); err != nil {
		t.Fatal(err)
	}
	if err := ok("c"); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third into a queue of 2: %v", err)
	}
	close(release)
}

func TestStopFinishesPendingWithErrClosed(t *testing.T) {
	srv := newServer(t, func(n int, w http.ResponseWriter) { w.WriteHeader(503) })
	s := New(Config{InitialBackoff: time.Hour, MaxBackoff: time.Hour, MaxElapsed: 2 * time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	ch := make(chan Result, 1)
	if err := s.Enqueue(Delivery{URL: srv.URL, Secret: secret, DLR: dlr("m"), Done: func(r Result) { ch <- r }}); err != nil {
		t.Fatal(err)
	}
	for srv.calls.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // now waiting an hour for the retry
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return promptly with a retry pending")
	}
	if r := <-ch; !errors.Is(r.Err, ErrClosed) {
		t.Fatalf("result %+v", r)
	}
	if err := s.Enqueue(Delivery{URL: srv.URL, Secret: secret, DLR: dlr("n")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("enqueue after stop: %v", err)
	}
}

// The ids finished lately are bounded: past 4×QueueSize the oldest is
// forgotten (and accepted again) first.
func TestRecentBounded(t *testing.T) {
	s := New(Config{QueueSize: 1, RecentFor: time.Hour})
	for i := range 5 {
		s.finish(&item{d: Delivery{DLR: dlr("m" + strconv.Itoa(i))}}, nil)
	}
	for i := 1; i < 5; i++ {
		if err := s.Enqueue(Delivery{URL: "http://127.0.0.1:1", DLR: dlr("m" + strconv.Itoa(i))}); !errors.Is(err, ErrRecent) {
			t.Fatalf("m%d: %v, want ErrRecent", i, err)
		}
	}
	if err := s.Enqueue(Delivery{URL: "http://127.0.0.1:1", DLR: dlr("m0")}); err != nil {
		t.Fatalf("the oldest finished id: %v", err)
	}
}
