package pgstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/eventstoretest"
	"github.com/smsledger/smsledger/eventstore/pgstore"
)

// A writer notifies the other nodes at most every NotifyEvery, and its
// last batch is announced all the same: another node's subscriber gets
// every event, and the last notification names the log's head.
func TestNotificationsSpacedAndTheLastAnnounced(t *testing.T) {
	pool := newPool(t, 16)
	const every = 20 * time.Millisecond
	w := openStore(t, pool, pgstore.Options{NotifyEvery: every})
	other := openStore(t, pool, pgstore.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listener := conn.Hijack()
	defer listener.Close(context.Background())
	if _, err := listener.Exec(ctx, "LISTEN smsledger_events"); err != nil {
		t.Fatal(err)
	}
	sub, err := other.SubscribeAll(ctx, eventstore.Start)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const appends = 150
	started := time.Now()
	var head eventstore.Position
	for i := range appends {
		res, err := w.Append(ctx, fmt.Sprintf("spaced-%d", i), eventstore.NoStream, eventstoretest.Event("T", 40))
		if err != nil {
			t.Fatal(err)
		}
		head = res.Position
	}
	took := time.Since(started)
	got := 0
	for got < appends {
		evs, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("the other node's subscriber after %d of %d events: %v", got, appends, err)
		}
		got += len(evs)
	}

	var notes []int64
	for {
		nctx, ncancel := context.WithTimeout(ctx, 3*every)
		n, err := listener.WaitForNotification(nctx)
		ncancel()
		if err != nil {
			break // quiet for 3 × NotifyEvery: the writer is done announcing
		}
		pos, _, _ := strings.Cut(n.Payload, " ")
		p, err := strconv.ParseInt(pos, 10, 64)
		if err != nil {
			t.Fatalf("payload %q", n.Payload)
		}
		notes = append(notes, p)
	}
	if len(notes) == 0 || notes[len(notes)-1] != int64(head) {
		t.Fatalf("%d notifications, the last %v, want the head %d", len(notes), notes, head)
	}
	if bound := int(took/every) + 2; len(notes) > bound {
		t.Fatalf("%d notifications for %d appends in %s, want at most %d (one per %s)", len(notes), appends, took, bound, every)
	}
	t.Logf("%d appends in %s: %d notifications", appends, took.Round(time.Millisecond), len(notes))
}
