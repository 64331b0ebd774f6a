// Package eventstoretest is the contract test suite of the event store: every
// backend runs it, so the product can rely on one behaviour whichever log it
// is configured with.
//
// A backend's test calls Run with a factory that returns a fresh, empty store
// for each test.
package eventstoretest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
)

// Factory returns a fresh, empty store; the factory registers its own
// cleanup with t.
type Factory func(t testing.TB) eventstore.Store

// Capabilities say what a backend promises beyond the common contract.
type Capabilities struct {
	// DensePositions: positions are 1, 2, 3… with no holes (the postgres
	// backend). KurrentDB positions are byte offsets, increasing but sparse.
	DensePositions bool
	// GlobalEventIDs: an event id stored in one stream is refused in any
	// other (the postgres backend, by a unique index). KurrentDB checks ids
	// only within a stream; its backend catches cross-stream reuse on a
	// best-effort basis.
	GlobalEventIDs bool
}

// Run runs the contract suite.
func Run(t *testing.T, newStore Factory, caps Capabilities) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s eventstore.Store, caps Capabilities)
	}{
		{"AppendAndReadStream", testAppendAndReadStream},
		{"ExpectedVersions", testExpectedVersions},
		{"IdempotentAppend", testIdempotentAppend},
		{"DuplicateEventIDElsewhere", testDuplicateEventIDElsewhere},
		{"ReadStreamNotFound", testReadStreamNotFound},
		{"ReadStreamFromVersion", testReadStreamFromVersion},
		{"ReadAllPaging", testReadAllPaging},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeFromMiddle", testSubscribeFromMiddle},
		{"SubscribeCancel", testSubscribeCancel},
		{"ConflictFailsOnlyItsCaller", testConflictFailsOnlyItsCaller},
		{"ConcurrentWritersReadersSubscribers", testConcurrentWritersReadersSubscribers},
		{"InvalidAppends", testInvalidAppends},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			tc.fn(t, s, caps)
		})
	}
}

// Event makes a test event with a fresh, time-ordered (version 7) id, as the
// product makes them, and a JSON body of about size bytes.
func Event(typ string, size int) eventstore.EventData {
	id := uuid.Must(uuid.NewV7())
	pad := ""
	if size > 40 {
		pad = strings.Repeat("x", size-40)
	}
	return eventstore.EventData{
		ID:   id,
		Type: typ,
		Data: []byte(fmt.Sprintf(`{"n":%q,"pad":%q}`, id.String()[:8], pad)),
		Metadata: eventstore.Metadata{
			CorrelationID: uuid.New(),
			CausationID:   id,
		},
	}
}

func events(n int) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		out[i] = Event(fmt.Sprintf("Test%d", i), 60)
	}
	return out
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustAppend(t testing.TB, s eventstore.Store, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(ctxFor(t), stream, exp, evs...)
	if err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

func testAppendAndReadStream(t *testing.T, s eventstore.Store, caps Capabilities) {
	ctx := ctxFor(t)
	stream := "order-" + uuid.NewString()
	in := events(3)
	res := mustAppend(t, s, stream, eventstore.NoStream, in...)
	if res.NextExpectedVersion != 2 {
		t.Fatalf("next expected version = %d, want 2", res.NextExpectedVersion)
	}
	before := time.Now().Add(-time.Minute)
	got, err := s.ReadStream(ctx, stream, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	for i, ev := range got {
		if ev.ID != in[i].ID || ev.Type != in[i].Type || string(ev.Data) != string(in[i].Data) {
			t.Errorf("event %d = %s %s %s, want %s %s %s", i, ev.ID, ev.Type, ev.Data, in[i].ID, in[i].Type, in[i].Data)
		}
		if ev.Metadata.CorrelationID != in[i].Metadata.CorrelationID || ev.Metadata.CausationID != in[i].Metadata.CausationID {
			t.Errorf("event %d metadata = %+v, want %+v", i, ev.Metadata, in[i].Metadata)
		}
		if ev.Stream != stream || ev.Version != uint64(i) {
			t.Errorf("event %d at %s/%d, want %s/%d", i, ev.Stream, ev.Version, stream, i)
		}
		if ev.RecordedAt.Before(before) || ev.RecordedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("event %d recorded at %v, not now", i, ev.RecordedAt)
		}
		if i > 0 && ev.Position <= got[i-1].Position {
			t.Errorf("positions not increasing: %d after %d", ev.Position, got[i-1].Position)
		}
	}
	if got[2].Position != res.Position {
		t.Errorf("append result position %d, last event at %d", res.Position, got[2].Position)
	}
	if caps.DensePositions && got[0].Position != 1 {
		t.Errorf("first event of an empty log at position %d, want 1", got[0].Position)
	}
	head, err := s.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head != res.Position {
		t.Errorf("head = %d, want %d", head, res.Position)
	}
}

func testExpectedVersions(t *testing.T, s eventstore.Store, _ Capabilities) {
	ctx := ctxFor(t)
	stream := "acct-" + uuid.NewString()

	wantWrong := func(exp eventstore.ExpectedVersion, actual int64) {
		t.Helper()
		_, err := s.Append(ctx, stream, exp, Event("X", 50))
		var wev *eventstore.WrongExpectedVersionError
		if !errors.As(err, &wev) {
			t.Fatalf("append with expected %s: err = %v, want WrongExpectedVersionError", exp, err)
		}
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			t.Errorf("errors.Is(err, ErrWrongExpectedVersion) = false for %v", err)
		}
		if wev.Actual != actual || wev.Stream != stream {
			t.Errorf("wrong version error = %+v, want actual %d on %s", wev, actual, stream)
		}
	}

	wantWrong(eventstore.StreamExists, -1)
	wantWrong(eventstore.Exact(0), -1)
	mustAppend(t, s, stream, eventstore.NoStream, Event("A", 50))
	wantWrong(eventstore.NoStream, 0)
	wantWrong(eventstore.Exact(1), 0)
	r := mustAppend(t, s, stream, eventstore.Exact(0), Event("B", 50), Event("C", 50))
	if r.NextExpectedVersion != 2 {
		t.Fatalf("next expected = %d, want 2", r.NextExpectedVersion)
	}
	wantWrong(eventstore.Exact(0), 2)
	mustAppend(t, s, stream, eventstore.StreamExists, Event("D", 50))
	r = mustAppend(t, s, stream, eventstore.Any, Event("E", 50))
	if r.NextExpectedVersion != 4 {
		t.Fatalf("next expected = %d, want 4", r.NextExpectedVersion)
	}
	mustAppend(t, s, "fresh-"+uuid.NewString(), eventstore.Any, Event("F", 50))

	got, err := s.ReadStream(ctx, stream, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types string
	for _, ev := range got {
		types += ev.Type
	}
	if types != "ABCDE" {
		t.Errorf("stream holds %q, want ABCDE (failed appends must write nothing)", types)
	}
}

func testIdempotentAppend(t *testing.T, s eventstore.Store, _ Capabilities) {
	ctx := ctxFor(t)
	stream := "msg-" + uuid.NewString()
	in := events(2)
	first := mustAppend(t, s, stream, eventstore.NoStream, in...)
	// The same ids again, even with the now-stale expected version, are a
	// replay of the first append: no error, same result, nothing new.
	again := mustAppend(t, s, stream, eventstore.NoStream, in...)
	if again != first {
		t.Errorf("replayed append result %+v, want %+v", again, first)
	}
	again = mustAppend(t, s, stream, eventstore.Any, in...)
	if again != first {
		t.Errorf("replayed append (any) result %+v, want %+v", again, first)
	}
	got, err := s.ReadStream(ctx, stream, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("stream has %d events after replays, want 2", len(got))
	}
	// Part old, part new: not a replay.
	_, err = s.Append(ctx, stream, eventstore.Any, in[1], Event("New", 50))
	if !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Errorf("half-replayed append: err = %v, want ErrDuplicateEventID", err)
	}
	// Concurrent replays of one new append: exactly one copy is stored.
	stream2 := "msg-" + uuid.NewString()
	ev := Event("Once", 50)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, stream2, eventstore.NoStream, ev)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent replay failed: %v", err)
		}
	}
	got, err = s.ReadStream(ctx, stream2, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("stream has %d events after concurrent replays, want 1", len(got))
	}
}

func testDuplicateEventIDElsewhere(t *testing.T, s eventstore.Store, caps Capabilities) {
	if !caps.GlobalEventIDs {
		t.Log("backend checks event ids per stream only; cross-stream reuse is best-effort and not asserted")
		return
	}
	ctx := ctxFor(t)
	ev := Event("A", 50)
	mustAppend(t, s, "one-"+uuid.NewString(), eventstore.NoStream, ev)
	_, err := s.Append(ctx, "two-"+uuid.NewString(), eventstore.NoStream, ev)
	if err == nil {
		t.Fatal("appending an event id already stored in another stream succeeded")
	}
}

func testReadStreamNotFound(t *testing.T, s eventstore.Store, _ Capabilities) {
	_, err := s.ReadStream(ctxFor(t), "nobody-"+uuid.NewString(), 0, 10)
	if !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("err = %v, want ErrStreamNotFound", err)
	}
}

func testReadStreamFromVersion(t *testing.T, s eventstore.Store, _ Capabilities) {
	ctx := ctxFor(t)
	stream := "s-" + uuid.NewString()
	mustAppend(t, s, stream, eventstore.NoStream, events(10)...)
	got, err := s.ReadStream(ctx, stream, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Version != 4 || got[2].Version != 6 {
		t.Fatalf("read from 4 limit 3 gave %d events starting at %v", len(got), got)
	}
	got, err = s.ReadStream(ctx, stream, 10, 3)
	if err != nil {
		t.Fatalf("read past the end of an existing stream: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("read past the end gave %d events", len(got))
	}
}

func testReadAllPaging(t *testing.T, s eventstore.Store, caps Capabilities) {
	ctx := ctxFor(t)
	var want []uuid.UUID
	for i := range 7 {
		evs := events(i%3 + 1)
		mustAppend(t, s, fmt.Sprintf("p-%d-%s", i, uuid.NewString()), eventstore.NoStream, evs...)
		for _, e := range evs {
			want = append(want, e.ID)
		}
	}
	var got []eventstore.RecordedEvent
	after := eventstore.Start
	for pages := 0; pages < 100; pages++ {
		page, err := s.ReadAll(ctx, after, 4)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 4 {
			t.Fatalf("page of %d events, limit 4", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Position
	}
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].ID != want[i] {
			t.Errorf("event %d is %s, want %s", i, got[i].ID, want[i])
		}
		if caps.DensePositions && got[i].Position != eventstore.Position(i+1) {
			t.Errorf("event %d at position %d, want %d", i, got[i].Position, i+1)
		}
	}
}

// Collect reads from sub until it has n events or the deadline passes.
func Collect(t testing.TB, sub eventstore.Subscription, n int, timeout time.Duration) []eventstore.RecordedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []eventstore.RecordedEvent
	for len(out) < n {
		batch, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("subscription after %d of %d events: %v", len(out), n, err)
		}
		out = append(out, batch...)
	}
	return out
}

func testSubscribeCatchUpThenLive(t *testing.T, s eventstore.Store, _ Capabilities) {
	ctx := ctxFor(t)
	var want []uuid.UUID
	for i := range 5 {
		e := Event("Before", 50)
		want = append(want, e.ID)
		mustAppend(t, s, fmt.Sprintf("b-%d-%s", i, uuid.NewString()), eventstore.NoStream, e)
	}
	sub, err := s.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := Collect(t, sub, 5, 10*time.Second)
	// Live: appended while the subscriber waits.
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := range 5 {
			time.Sleep(5 * time.Millisecond)
			e := Event("After", 50)
			if _, err := s.Append(ctx, fmt.Sprintf("a-%d-%s", i, uuid.NewString()), eventstore.NoStream, e); err != nil {
				t.Errorf("live append: %v", err)
				return
			}
		}
	}()
	got = append(got, Collect(t, sub, 5, 10*time.Second)...)
	<-appended
	if len(got) != 10 {
		t.Fatalf("got %d events, want 10", len(got))
	}
	for i := range want {
		if got[i].ID != want[i] {
			t.Errorf("catch-up event %d = %s, want %s", i, got[i].ID, want[i])
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].Position <= got[i-1].Position {
			t.Errorf("positions out of order: %d after %d", got[i].Position, got[i-1].Position)
		}
	}
	for _, ev := range got[5:] {
		if ev.Type != "After" {
			t.Errorf("live event of type %s", ev.Type)
		}
	}
}

func testSubscribeFromMiddle(t *testing.T, s eventstore.Store, _ Capabilities) {
	ctx := ctxFor(t)
	var results []eventstore.AppendResult
	for i := range 6 {
		results = append(results, mustAppend(t, s, fmt.Sprintf("m-%d-%s", i, uuid.NewString()), eventstore.NoStream, Event("M", 50)))
	}
	sub, err := s.SubscribeAll(ctx, results[2].Position)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	got := Collect(t, sub, 3, 10*time.Second)
	if len(got) != 3 {
		t.Fatalf("got %d events after position %d, want 3", len(got), results[2].Position)
	}
	for i, ev := range got {
		if ev.Position != results[3+i].Position {
			t.Errorf("event %d at %d, want %d", i, ev.Position, results[3+i].Position)
		}
	}
}

func testSubscribeCancel(t *testing.T, s eventstore.Store, _ Capabilities) {
	sub, err := s.SubscribeAll(ctxFor(t), eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = sub.Next(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty log with a 100ms deadline: err = %v", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("Next ignored its context for %v", waited)
	}
}

func testConflictFailsOnlyItsCaller(t *testing.T, s eventstore.Store, _ Capabilities) {
	ctx := ctxFor(t)
	contested := "contested-" + uuid.NewString()
	const callers = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	var wins, conflicts, others int
	for i := range callers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, contested, eventstore.NoStream, Event("Claim", 50))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, eventstore.ErrWrongExpectedVersion):
				conflicts++
			default:
				t.Errorf("contested append: unexpected error %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, fmt.Sprintf("free-%d-%s", i, uuid.NewString()), eventstore.NoStream, Event("Free", 50))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("uncontested append failed beside a conflict: %v", err)
				return
			}
			others++
		}()
	}
	wg.Wait()
	if wins != 1 || conflicts != callers-1 || others != callers {
		t.Fatalf("wins %d conflicts %d uncontested %d; want 1, %d, %d", wins, conflicts, others, callers-1, callers)
	}
}

func testConcurrentWritersReadersSubscribers(t *testing.T, s eventstore.Store, caps Capabilities) {
	ctx := ctxFor(t)
	const (
		writers          = 16
		appendsPerWriter = 40
	)
	sub, err := s.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written = make(map[uuid.UUID]struct{})
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			own := fmt.Sprintf("w-%d-%s", w, uuid.NewString())
			for i := range appendsPerWriter {
				evs := events(1 + rng.IntN(4))
				var err error
				if rng.IntN(2) == 0 {
					_, err = s.Append(ctx, own, eventstore.Any, evs...)
				} else {
					_, err = s.Append(ctx, fmt.Sprintf("%s-%d", own, i), eventstore.NoStream, evs...)
				}
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
				mu.Lock()
				for _, e := range evs {
					written[e.ID] = struct{}{}
				}
				mu.Unlock()
			}
		}()
	}

	// A catch-up reader polls ReadAll while the writers run; a live
	// subscriber follows from the start. Each must see every event exactly
	// once, in order.
	readerDone := make(chan []eventstore.RecordedEvent)
	stopReader := make(chan struct{})
	go func() {
		var seen []eventstore.RecordedEvent
		after := eventstore.Start
		for {
			page, err := s.ReadAll(ctx, after, 50)
			if err != nil {
				t.Errorf("reader: %v", err)
				readerDone <- seen
				return
			}
			seen = append(seen, page...)
			if len(page) > 0 {
				after = page[len(page)-1].Position
				continue
			}
			select {
			case <-stopReader:
				readerDone <- seen
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	wg.Wait()
	total := len(written)

	subSeen := Collect(t, sub, total, 30*time.Second)
	close(stopReader)
	readerSeen := <-readerDone
	// The reader stopped once it saw an empty page after the writers were
	// done; read the rest to be sure it is complete.
	if len(readerSeen) < total {
		rest, err := s.ReadAll(ctx, readerSeen[len(readerSeen)-1].Position, eventstore.ReadLimitMax)
		if err != nil {
			t.Fatal(err)
		}
		readerSeen = append(readerSeen, rest...)
	}

	check := func(name string, seen []eventstore.RecordedEvent) {
		t.Helper()
		if len(seen) != total {
			t.Errorf("%s saw %d events, %d were written", name, len(seen), total)
		}
		ids := make(map[uuid.UUID]struct{}, len(seen))
		for i, ev := range seen {
			if _, dup := ids[ev.ID]; dup {
				t.Errorf("%s saw %s twice", name, ev.ID)
			}
			ids[ev.ID] = struct{}{}
			if _, ok := written[ev.ID]; !ok {
				t.Errorf("%s saw %s, which nobody wrote", name, ev.ID)
			}
			if i > 0 && ev.Position <= seen[i-1].Position {
				t.Errorf("%s: position %d after %d", name, ev.Position, seen[i-1].Position)
			}
			if caps.DensePositions && ev.Position != eventstore.Position(i+1) {
				t.Errorf("%s: event %d at position %d, want %d (a gap)", name, i, ev.Position, i+1)
				return
			}
		}
	}
	check("catch-up reader", readerSeen)
	check("subscriber", subSeen)
}

func testInvalidAppends(t *testing.T, s eventstore.Store, _ Capabilities) {
	ctx := ctxFor(t)
	good := Event("Good", 50)
	noID := Event("NoID", 50)
	noID.ID = uuid.Nil
	notJSON := Event("NotJSON", 50)
	notJSON.Data = []byte("{not json")
	cases := map[string]struct {
		stream string
		evs    []eventstore.EventData
	}{
		"empty stream":  {"", []eventstore.EventData{good}},
		"no events":     {"s", nil},
		"nil id":        {"s", []eventstore.EventData{noID}},
		"not json":      {"s", []eventstore.EventData{notJSON}},
		"id twice":      {"s", []eventstore.EventData{good, good}},
		"too many":      {"s", events(eventstore.AppendEventsMax + 1)},
		"no event type": {"s", []eventstore.EventData{{ID: uuid.New(), Data: []byte("{}")}}},
	}
	for name, c := range cases {
		if _, err := s.Append(ctx, c.stream, eventstore.Any, c.evs...); !errors.Is(err, eventstore.ErrInvalidAppend) {
			t.Errorf("%s: err = %v, want ErrInvalidAppend", name, err)
		}
	}
}
