package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/eventstoretest"
	"github.com/smsledger/smsledger/eventstore/memstore"
)

func newStore(t testing.TB, opts memstore.Options) *memstore.Store {
	t.Helper()
	s := memstore.New(opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestContract(t *testing.T) {
	eventstoretest.Run(t, func(t testing.TB) eventstore.Store {
		return newStore(t, memstore.Options{})
	}, eventstoretest.Capabilities{DensePositions: true, GlobalEventIDs: true})
}

func BenchmarkAppend(b *testing.B) {
	// The benchmark keeps every event it makes; lift the cap so that a long
	// -benchtime measures the store rather than fails.
	eventstoretest.BenchmarkAppend(b, newStore(b, memstore.Options{BytesMax: 1 << 40}), 64, 1)
}

// A waiting subscriber is woken by the append itself, not by a poll.
func TestSubscriberWakesPromptly(t *testing.T) {
	s := newStore(t, memstore.Options{})
	ctx := context.Background()
	sub, err := s.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for i := range 20 {
		got := make(chan time.Time, 1)
		go func() {
			if _, err := sub.Next(ctx); err != nil {
				t.Error(err)
			}
			got <- time.Now()
		}()
		time.Sleep(2 * time.Millisecond) // let Next start waiting
		sent := time.Now()
		if _, err := s.Append(ctx, "wake-"+uuid.NewString(), eventstore.NoStream, eventstoretest.Event("Wake", 50)); err != nil {
			t.Fatal(err)
		}
		select {
		case at := <-got:
			if d := at.Sub(sent); d > 500*time.Millisecond {
				t.Fatalf("append %d reached the subscriber after %v", i, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("append %d never reached the waiting subscriber", i)
		}
	}
}

func TestBytesMax(t *testing.T) {
	s := newStore(t, memstore.Options{BytesMax: 4096})
	ctx := context.Background()
	var stored int
	for {
		_, err := s.Append(ctx, "full-"+uuid.NewString(), eventstore.NoStream, eventstoretest.Event("Big", 1000))
		if errors.Is(err, memstore.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if stored++; stored > 10 {
			t.Fatal("store took more than 10 KB under a 4 KB cap")
		}
	}
	if stored == 0 {
		t.Fatal("no append fitted under the cap")
	}
	head, err := s.Head(ctx)
	if err != nil || head != eventstore.Position(stored) {
		t.Fatalf("head %d (%v) after %d appends and a refused one", head, err, stored)
	}
}

func TestClose(t *testing.T) {
	s := memstore.New(memstore.Options{})
	ctx := context.Background()
	stream := "c-" + uuid.NewString()
	if _, err := s.Append(ctx, stream, eventstore.NoStream, eventstoretest.Event("A", 50)); err != nil {
		t.Fatal(err)
	}
	sub, err := s.SubscribeAll(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx)
		ended <- err
	}()
	time.Sleep(5 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("waiting Next after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting Next")
	}
	if _, err := s.Append(ctx, stream, eventstore.Any, eventstoretest.Event("B", 50)); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("append after Close: %v", err)
	}
	if _, err := s.ReadAll(ctx, eventstore.Start, 10); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("read after Close: %v", err)
	}
	if _, err := s.SubscribeAll(ctx, eventstore.Start); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("subscribe after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSubscriptionClose(t *testing.T) {
	s := newStore(t, memstore.Options{})
	sub, err := s.SubscribeAll(context.Background(), eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Next(context.Background()); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// The store keeps its own copy of what was appended: neither the caller's
// buffer nor a reader's slice can change it.
func TestStoredEventsAreIsolated(t *testing.T) {
	s := newStore(t, memstore.Options{})
	ctx := context.Background()
	ev := eventstoretest.Event("A", 50)
	ev.Metadata.Extra = map[string]string{"k": "v"}
	want := string(ev.Data)
	stream := "iso-" + uuid.NewString()
	if _, err := s.Append(ctx, stream, eventstore.NoStream, ev); err != nil {
		t.Fatal(err)
	}
	ev.Data[0] = 'X'
	ev.Metadata.Extra["k"] = "changed"
	page, err := s.ReadAll(ctx, eventstore.Start, 10)
	if err != nil {
		t.Fatal(err)
	}
	page[0].Type = "Mutated"
	got, err := s.ReadStream(ctx, stream, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || string(got[0].Data) != want || got[0].Metadata.Extra["k"] != "v" || got[0].Type != "A" {
		t.Fatalf("stored event changed: %+v", got)
	}
}

func TestAppendWithDoneContext(t *testing.T) {
	s := newStore(t, memstore.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, "x", eventstore.Any, eventstoretest.Event("A", 50)); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v", err)
	}
	if head, _ := s.Head(context.Background()); head != eventstore.Start {
		t.Fatalf("head %d after a cancelled append", head)
	}
}

// Urgency is a hint the store may ignore; urgent appends work as any other.
func TestUrgentAppend(t *testing.T) {
	s := newStore(t, memstore.Options{})
	res, err := s.Append(eventstore.WithUrgency(context.Background()), "u", eventstore.NoStream, eventstoretest.Event("A", 50))
	if err != nil || res.Position != 1 || res.NextExpectedVersion != 0 {
		t.Fatalf("urgent append: %+v %v", res, err)
	}
}
