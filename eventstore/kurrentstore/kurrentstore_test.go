package kurrentstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/eventstoretest"
	"github.com/smsledger/smsledger/eventstore/kurrentstore"
	"github.com/smsledger/smsledger/eventstore/kurrentstore/kurrenttest"
)

// KURRENTDB_URL names a real server (e.g. esdb://127.0.0.1:2113?tls=false) to
// run the contract suite against; without it the suite runs against the
// in-memory test node.
var realURL = os.Getenv("KURRENTDB_URL")

var caps = eventstoretest.Capabilities{DensePositions: false}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: testLogLevel()}))
}

func newServer(t testing.TB, opts kurrenttest.Options) *kurrenttest.Server {
	t.Helper()
	srv, err := kurrenttest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func openStore(t testing.TB, url string, opts kurrentstore.Options) *kurrentstore.Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := kurrentstore.Open(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testPrefix isolates one test's streams on a shared server.
func testPrefix() string { return "smsledger-test-" + uuid.NewString()[:8] + "-" }

// TestContract runs the shared contract suite through the official client:
// against KURRENTDB_URL when it is set, else against a fresh test node per
// test.
func TestContract(t *testing.T) {
	if realURL != "" {
		t.Log("contract suite against the server at KURRENTDB_URL, one stream prefix per test")
		eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
			return openStore(t, realURL, kurrentstore.Options{StreamPrefix: testPrefix()})
		}, caps)
		return
	}
	eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
		return openStore(t, newServer(t, kurrenttest.Options{}).URL(), kurrentstore.Options{})
	}, caps)
}

// TestContractSharedServer runs the suite the way it runs against a real
// server: one node for every test, each test with its own stream prefix, and
// other tests' events and system events in $all.
func TestContractSharedServer(t *testing.T) {
	srv := newServer(t, kurrenttest.Options{})
	eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
		srv.AppendSystemEvent("$stats-127.0.0.1:2113", "$statsCollected", []byte(`{}`))
		s := openStore(t, srv.URL(), kurrentstore.Options{StreamPrefix: testPrefix()})
		srv.AppendSystemEvent("$ce-order", "$>", []byte(`0@order-1`))
		return s
	}, caps)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenSchemesAndErrors(t *testing.T) {
	srv := newServer(t, kurrenttest.Options{})
	for _, url := range []string{
		srv.URL(),
		"kurrentdb://" + srv.Addr() + "?tls=false",
		"KurrentDB://" + srv.Addr() + "?tls=false",
		"kurrentdb+discover://" + srv.Addr() + "?tls=false",
	} {
		s := openStore(t, url, kurrentstore.Options{})
		if _, err := s.Append(ctxT(t), "scheme-"+uuid.NewString(), eventstore.NoStream, eventstoretest.Event("A", 50)); err != nil {
			t.Errorf("append through %s: %v", url, err)
		}
	}

	_, err := kurrentstore.Open(ctxT(t), "http://admin:secret@h:2113", kurrentstore.Options{Logger: quietLogger()})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("bad scheme: err = %v, want an error without the password", err)
	}

	// Nothing listens there: Open fails promptly instead of at the first
	// append.
	dead := newServer(t, kurrenttest.Options{})
	addr := dead.Addr()
	dead.Stop()
	start := time.Now()
	_, err = kurrentstore.Open(ctxT(t), "esdb://"+addr+"?tls=false", kurrentstore.Options{Logger: quietLogger()})
	if err == nil {
		t.Fatal("Open against a closed port succeeded")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("Open took %v to fail", took)
	}
}

func TestErrorMapping(t *testing.T) {
	srv := newServer(t, kurrenttest.Options{})
	s := openStore(t, srv.URL(), kurrentstore.Options{})
	ctx := ctxT(t)
	stream := "acct-" + uuid.NewString()
	a, b, c := eventstoretest.Event("A", 50), eventstoretest.Event("B", 50), eventstoretest.Event("C", 50)
	first, err := s.Append(ctx, stream, eventstore.NoStream, a, b)
	if err != nil {
		t.Fatal(err)
	}

	// A real conflict carries the actual version.
	_, err = s.Append(ctx, stream, eventstore.Exact(5), c)
	var wev *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wev) || wev.Actual != 1 || wev.Stream != stream {
		t.Fatalf("exact 5 on a stream at 1: err = %v", err)
	}
	_, err = s.Append(ctx, stream, eventstore.NoStream, c)
	if !errors.As(err, &wev) || wev.Actual != 1 {
		t.Fatalf("no stream on a stream at 1: err = %v", err)
	}

	// KurrentDB reports a partial replay as a wrong expected version; the
	// store tells it from a conflict.
	for _, exp := range []eventstore.ExpectedVersion{eventstore.NoStream, eventstore.StreamExists, eventstore.Any} {
		_, err = s.Append(ctx, stream, exp, a, c)
		if !errors.Is(err, eventstore.ErrDuplicateEventID) || errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			t.Errorf("partial replay with %s: err = %v, want ErrDuplicateEventID", exp, err)
		}
	}

	// Full replays with an exact version behind the stream are no-ops.
	again, err := s.Append(ctx, stream, eventstore.Exact(0), b)
	if err != nil {
		t.Fatalf("replay of event 1 with exact 0: %v", err)
	}
	if again != first {
		t.Errorf("replay result %+v, want %+v", again, first)
	}

	// A conflict frees its ids: they can go to another stream afterwards.
	_, err = s.Append(ctx, stream, eventstore.Exact(9), c)
	if !errors.As(err, &wev) {
		t.Fatalf("exact 9: err = %v", err)
	}
	if _, err := s.Append(ctx, "other-"+uuid.NewString(), eventstore.NoStream, c); err != nil {
		t.Errorf("ids of a refused append are not free: %v", err)
	}

	_, err = s.ReadStream(ctx, "nobody-"+uuid.NewString(), 0, 10)
	if !errors.Is(err, eventstore.ErrStreamNotFound) || !strings.Contains(err.Error(), "nobody-") {
		t.Errorf("missing stream: err = %v", err)
	}

	invalid := map[string]func() error{
		"system stream": func() error {
			_, err := s.Append(ctx, "$settings", eventstore.Any, eventstoretest.Event("A", 50))
			return err
		},
		"system type": func() error {
			_, err := s.Append(ctx, "x-"+uuid.NewString(), eventstore.Any, eventstoretest.Event("$metadata", 50))
			return err
		},
		"beyond the server's append size": func() error {
			_, err := s.Append(ctx, "x-"+uuid.NewString(), eventstore.Any, eventstoretest.Event("Big", 600<<10), eventstoretest.Event("Big", 600<<10))
			return err
		},
	}
	for name, fn := range invalid {
		if err := fn(); !errors.Is(err, eventstore.ErrInvalidAppend) {
			t.Errorf("%s: err = %v, want ErrInvalidAppend", name, err)
		}
	}

	// The server's own limit surfaces as an error, not success, when the
	// store is told a larger limit than the server's.
	big := openStore(t, srv.URL(), kurrentstore.Options{MaxAppendBytes: 4 << 20})
	_, err = big.Append(ctx, "x-"+uuid.NewString(), eventstore.Any, eventstoretest.Event("Big", 600<<10), eventstoretest.Event("Big", 600<<10))
	if err == nil {
		t.Error("append over the server's MaxAppendSize succeeded")
	}

	s.Close()
	if _, err := s.Append(ctx, stream, eventstore.Any, eventstoretest.Event("Late", 50)); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("append after Close: err = %v", err)
	}
	if _, err := s.SubscribeAll(ctx, eventstore.Start); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("subscribe after Close: err = %v", err)
	}
}

// TestSystemEventsSkipped checks that KurrentDB's own events in $all never
// reach the ledger: not in ReadAll, not in Head, not in a subscription.
func TestSystemEventsSkipped(t *testing.T) {
	srv := newServer(t, kurrenttest.Options{})
	s := openStore(t, srv.URL(), kurrentstore.Options{})
	ctx := ctxT(t)
	if head, err := s.Head(ctx); err != nil || head != eventstore.Start {
		t.Fatalf("head of a log with only system events = %d, %v; want Start", head, err)
	}
	var want []uuid.UUID
	for i := range 5 {
		ev := eventstoretest.Event("U", 50)
		want = append(want, ev.ID)
		res, err := s.Append(ctx, fmt.Sprintf("u-%d-%s", i, uuid.NewString()), eventstore.NoStream, ev)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 100 {
			srv.AppendSystemEvent(fmt.Sprintf("$stats-%d", j%3), "$statsCollected", []byte(`{}`))
		}
		if head, err := s.Head(ctx); err != nil || head != res.Position {
			t.Fatalf("head = %d, %v; want %d", head, err, res.Position)
		}
	}
	got, err := s.ReadAll(ctx, eventstore.Start, 3)
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadAll limit 3: %d events, %v", len(got), err)
	}
	rest, err := s.ReadAll(ctx, got[2].Position, 100)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, rest...)
	sub, err := s.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	subGot := collect(t, sub, 5)
	for name, evs := range map[string][]eventstore.RecordedEvent{"ReadAll": got, "subscription": subGot} {
		if len(evs) != len(want) {
			t.Errorf("%s: %d events, want %d", name, len(evs), len(want))
			continue
		}
		for i := range evs {
			if evs[i].ID != want[i] {
				t.Errorf("%s: event %d = %s (%s), want %s", name, i, evs[i].ID, evs[i].Stream, want[i])
			}
		}
	}
}

// collect reads n events from sub within 20 s.
func collect(t testing.TB, sub eventstore.Subscription, n int) []eventstore.RecordedEvent {
	t.Helper()
	return eventstoretest.Collect(t, sub, n, 20*time.Second)
}

// TestSubscriptionResume drops the server side of the subscription again and
// again while writers append: the subscriber must still see every event
// exactly once, in order.
func TestSubscriptionResume(t *testing.T) {
	srv := newServer(t, kurrenttest.Options{})
	s := openStore(t, srv.URL(), kurrentstore.Options{ResubscribeMin: 5 * time.Millisecond, ResubscribeMax: 50 * time.Millisecond})
	ctx := ctxT(t)
	for i := range 3 {
		if _, err := s.Append(ctx, fmt.Sprintf("r-%d-%s", i, uuid.NewString()), eventstore.NoStream, eventstoretest.Event("R", 50)); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := s.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := collect(t, sub, 3)

	const writers, perWriter = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				evs := []eventstore.EventData{eventstoretest.Event("R", 50), eventstoretest.Event("R", 50)}
				if _, err := s.Append(ctx, fmt.Sprintf("r-%d-%d", w, i), eventstore.NoStream, evs...); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	var drops atomic.Int64
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
				srv.DropSubscriptions()
				drops.Add(1)
			}
		}
	}()
	wg.Wait()
	total := 3 + writers*perWriter*2
	got = append(got, collect(t, sub, total-3)...)
	close(stop)
	if len(got) != total {
		t.Fatalf("got %d events, want %d", len(got), total)
	}
	seen := make(map[uuid.UUID]bool, total)
	for i, ev := range got {
		if seen[ev.ID] {
			t.Errorf("event %s delivered twice", ev.ID)
		}
		seen[ev.ID] = true
		if i > 0 && ev.Position <= got[i-1].Position {
			t.Errorf("position %d after %d", ev.Position, got[i-1].Position)
		}
	}
	all, err := s.ReadAll(ctx, eventstore.Start, eventstore.ReadLimitMax)
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		if all[i].ID != got[i].ID {
			t.Fatalf("subscription order differs from the log at %d", i)
		}
	}
	t.Logf("%d events through %d drops", total, drops.Load())
}

// TestServerRestart takes the node down for longer than the client's
// discovery (which then closes the client for good) and brings it back with
// its log: calls fail promptly while it is away, the store replaces the
// closed client, and appends and the subscription carry on, exactly once.
func TestServerRestart(t *testing.T) {
	srv := newServer(t, kurrenttest.Options{})
	s := openStore(t, srv.URL(), kurrentstore.Options{ResubscribeMin: 20 * time.Millisecond, ResubscribeMax: 200 * time.Millisecond})
	ctx := ctxT(t)
	var want []uuid.UUID
	appendOne := func(timeout time.Duration) error {
		ev := eventstoretest.Event("A", 50)
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := s.Append(actx, "restart-"+uuid.NewString(), eventstore.NoStream, ev)
		if err == nil {
			want = append(want, ev.ID)
		}
		return err
	}
	if err := appendOne(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	sub, err := s.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := collect(t, sub, 1)

	restarted := make(chan error, 1)
	go func() { restarted <- srv.Restart(2 * time.Second) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := appendOne(time.Second); err == nil {
		t.Fatal("append succeeded while the node was down")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("append against a down node took %v for a 1s context", took)
	}
	if err := <-restarted; err != nil {
		t.Skipf("cannot restart the node on its port: %v", err)
	}

	deadline := time.Now().Add(20 * time.Second)
	for appendOne(2*time.Second) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store did not recover after the node came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for range 3 {
		if err := appendOne(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	got = append(got, collect(t, sub, len(want)-1)...)
	if len(got) != len(want) {
		t.Fatalf("subscription delivered %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i] {
			t.Errorf("event %d = %s, want %s", i, got[i].ID, want[i])
		}
	}
}

// BenchmarkAppend measures appends through the official client against the
// in-memory test node from 64 concurrent callers, each append to a new
// stream with one ~300-byte event per call and with four.
//
//	go test -run=^$ -bench=Append -benchtime=20000x ./eventstore/kurrentstore/
func BenchmarkAppend(b *testing.B) {
	for _, perCall := range []int{1, 4} {
		b.Run(fmt.Sprintf("events=%d/callers=64", perCall), func(b *testing.B) {
			benchmarkAppend(b, 64, perCall)
		})
	}
}

func benchmarkAppend(b *testing.B, callers, perCall int) {
	url := realURL
	if url == "" {
		url = newServer(b, kurrenttest.Options{}).URL()
	}
	s := openStore(b, url, kurrentstore.Options{StreamPrefix: testPrefix()})
	eventstoretest.BenchmarkAppend(b, s, callers, perCall)
}

// testLogLevel is error unless KURRENTSTORE_TEST_LOG=debug|info|warn.
func testLogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("KURRENTSTORE_TEST_LOG"))); err != nil {
		return slog.LevelError
	}
	return l
}
