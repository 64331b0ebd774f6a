package kurrenttest_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore/kurrentstore/kurrenttest"
)

// TestNodeThroughClient exercises the parts of the node the store does not
// use, through the official client: backwards reads, stream subscriptions,
// event-type filters with checkpoints, caught_up.
func TestNodeThroughClient(t *testing.T) {
	srv, err := kurrenttest.New(kurrenttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	conf, err := esdb.ParseConnectionString(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	conf.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	stream := "s-" + uuid.NewString()
	for i := range 5 {
		typ := "Odd"
		if i%2 == 0 {
			typ = "Even"
		}
		if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, esdb.EventData{
			EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(`{}`),
		}); err != nil {
			t.Fatal(err)
		}
	}
	srv.AppendSystemEvent("$stats", "$statsCollected", []byte(`{}`))

	read := func(rs *esdb.ReadStream, err error) []*esdb.RecordedEvent {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		var out []*esdb.RecordedEvent
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev.Event)
		}
	}
	back := read(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2))
	if len(back) != 2 || back[0].EventNumber != 4 || back[1].EventNumber != 3 {
		t.Errorf("backwards from end, 2: %d events", len(back))
	}
	back = read(c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1)}, 10))
	if len(back) != 2 || back[0].EventNumber != 1 {
		t.Errorf("backwards from 1: %d events", len(back))
	}
	all := read(c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100))
	if len(all) != 7 || all[0].StreamID != "$stats" || all[6].StreamID != "$settings" {
		t.Fatalf("$all backwards: %d events", len(all))
	}
	mid := all[3].Position
	after := read(c.ReadAll(ctx, esdb.ReadAllOptions{From: mid}, 100))
	if len(after) != 4 || after[0].Position != mid {
		t.Errorf("$all forwards from a position is inclusive: %d events", len(after))
	}
	before := read(c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: mid}, 100))
	if len(before) != 3 || before[0].Position.Commit >= mid.Commit {
		t.Errorf("$all backwards from a position is exclusive: %d events", len(before))
	}

	// A stream subscription from revision 2 starts at 3.
	ssub, err := c.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Revision(2)})
	if err != nil {
		t.Fatal(err)
	}
	defer ssub.Close()
	for _, want := range []uint64{3, 4} {
		ev := ssub.Recv()
		if ev.EventAppeared == nil || ev.EventAppeared.Event.EventNumber != want {
			t.Fatalf("stream subscription: %+v, want event %d", ev, want)
		}
	}

	// An event-type filter with a window of 1: only Even events, a
	// checkpoint for every event considered, caught_up once.
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:            esdb.Start{},
		Filter:          &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"Even"}},
		MaxSearchWindow: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var evens, checkpoints int
	for evens+checkpoints < 7 {
		ev := sub.Recv()
		switch {
		case ev.EventAppeared != nil:
			if ev.EventAppeared.Event.EventType != "Even" {
				t.Errorf("filtered subscription delivered %s", ev.EventAppeared.Event.EventType)
			}
			evens++
		case ev.CheckPointReached != nil:
			checkpoints++
		case ev.SubscriptionDropped != nil:
			t.Fatal(ev.SubscriptionDropped.Error)
		}
	}
	if ev := sub.Recv(); ev.CaughtUp == nil {
		t.Errorf("after the catch-up: %+v, want caught_up", ev)
	}
	if evens != 3 || checkpoints != 4 {
		t.Errorf("%d events and %d checkpoints, want 3 and 4", evens, checkpoints)
	}
}
