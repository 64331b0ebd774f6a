package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/eventstoretest"
	"github.com/smsledger/smsledger/eventstore/pgstore"
)

// A database that goes back behind positions already committed (a failover
// to a lagging replica, simulated by deleting the last events and moving the
// head back) is detected: appends, subscriptions and Head fail with
// ErrRewound, for good, instead of handing positions readers already passed
// to new events that they would never see.
func TestRewoundLogStopsLoudly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := newPool(t, 8)
	s := openStore(t, pool, pgstore.Options{PollInterval: 50 * time.Millisecond})
	for i := range 10 {
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i), eventstore.NoStream, eventstoretest.Event("A", 50)); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := s.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for seen < 10 {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(evs)
	}

	// The "replica" lacks the last 4 events.
	if _, err := pool.Exec(ctx, `DELETE FROM es_events WHERE global_position > 6`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE es_head SET position = 6 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}

	// The subscriber at 10 finds out on its next poll.
	subErr := make(chan error, 1)
	go func() {
		_, err := sub.Next(ctx)
		subErr <- err
	}()
	select {
	case err := <-subErr:
		if !errors.Is(err, eventstore.ErrRewound) {
			t.Fatalf("subscription after a rewind: %v, want ErrRewound", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber waits for ever after a rewind")
	}
	if _, err := s.Append(ctx, "after", eventstore.NoStream, eventstoretest.Event("B", 50)); !errors.Is(err, eventstore.ErrRewound) {
		t.Fatalf("append after a rewind: %v, want ErrRewound", err)
	}
	if _, err := s.Head(ctx); !errors.Is(err, eventstore.ErrRewound) {
		t.Fatalf("head after a rewind: %v, want ErrRewound", err)
	}
	var head int64
	if err := pool.QueryRow(ctx, `SELECT position FROM es_head WHERE id = 1`).Scan(&head); err != nil || head != 6 {
		t.Fatalf("head in the database: %d %v; nothing may have been written at reused positions", head, err)
	}
}

// The writer detects it too: a batch that lands at positions already seen
// (the first append after the rewind, before any read noticed) fails with
// ErrRewound.
func TestRewoundLogDetectedByTheWriter(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := newPool(t, 8)
	s := openStore(t, pool, pgstore.Options{})
	for i := range 5 {
		if _, err := s.Append(ctx, fmt.Sprintf("s-%d", i), eventstore.NoStream, eventstoretest.Event("A", 50)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `DELETE FROM es_events WHERE global_position > 3; UPDATE es_head SET position = 3 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "after", eventstore.NoStream, eventstoretest.Event("B", 50)); !errors.Is(err, eventstore.ErrRewound) {
		t.Fatalf("append at reused positions: %v, want ErrRewound", err)
	}
	if _, err := s.Append(ctx, "later", eventstore.NoStream, eventstoretest.Event("C", 50)); !errors.Is(err, eventstore.ErrRewound) {
		t.Fatalf("append once rewound: %v, want ErrRewound", err)
	}
}
