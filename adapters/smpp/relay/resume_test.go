package relay

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// A burst larger than the ledger's outbox: the ids it drops are found by
// the resumer and dispatched by the workers, every one of them, without a
// second submit of any (real PostgreSQL).
func TestResumerDispatchesWhatTheFullOutboxDropped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := ledgertest.Start(t, ledgertest.Store(t), ledger.Options{OutboxSize: 4})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", decimal.RequireFromString("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	const burst = 60
	for range burst {
		if _, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := svc.OutboxDropped(); got != burst-4 {
		t.Fatalf("outbox dropped %d, want %d", got, burst-4)
	}
	routed := func() int {
		return len(svc.Unfinished((*ledger.Work).NeedsDispatch, burst))
	}
	if got := routed(); got != burst {
		t.Fatalf("%d messages waiting for dispatch, want %d", got, burst)
	}

	r := New(svc, Options{SubmitTimeout: time.Second, Workers: 4})
	runResumer(t, r)
	r.wakeResumer(0)
	deadline := time.Now().Add(20 * time.Second)
	for routed() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still waiting for dispatch", routed())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Each message was submitted once: its first attempt, no second.
	for _, w := range svc.Unfinished(func(*ledger.Work) bool { return true }, 2*burst) {
		if w.Message.Attempt > 1 {
			t.Errorf("message %s at attempt %d", w.Message.ID, w.Message.Attempt)
		}
	}
}

// A message a dispatch worker gave up on (the store refused its submit
// mark) a moment after its accept is taken by the resumer's next pass,
// although it is younger than the age the pass looks for (it used to wait
// for the sweep's staleAfter: 11 s for one DLR in the postgres-restart
// scenario).
func TestResumerTakesWhatAWorkerGaveUpOnWhateverItsAge(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := ledgertest.Start(t, ledgertest.Store(t), ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", decimal.RequireFromString("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	acc, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	<-svc.Outbox() // taken by a worker, which gives up on it
	r := New(svc, Options{SubmitTimeout: time.Second})
	r.giveUp(acc.MessageID)

	runResumer(t, r)
	if !r.gaveUpAny() {
		t.Fatal("the relay does not know a worker gave up")
	}
	r.wakeResumer(droppedAfter)
	deadline := time.Now().Add(droppedAfter / 2)
	for {
		w, ok := svc.WorkOf(acc.MessageID)
		if !ok || !w.NeedsDispatch() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for dispatch after %s", droppedAfter/2)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r.gaveUpAny() {
		t.Fatal("given-up set not emptied by the pass")
	}
}

// runResumer runs r's resumer and redo workers until the test ends.
func runResumer(t *testing.T, r *Relay) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	startWorkers(ctx, &wg, redoWorkers, r.redo, func(id uuid.UUID) { r.redispatch(ctx, id) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.resumeLoop(ctx)
	}()
}
