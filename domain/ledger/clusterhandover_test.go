package ledger_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/message"
)

// toNodeA is a Dispatcher for which node-a binds every supplier.
func toNodeA(string, uuid.UUID) string { return "node-a" }

func waitWork(t *testing.T, n *node, id uuid.UUID, ok func(ledger.Work) bool) ledger.Work {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if w, found := n.WorkOf(id); found && ok(w) {
			return w
		}
		if time.Now().After(deadline) {
			w, found := n.WorkOf(id)
			t.Fatalf("%s: message %s tracked %v: %+v", n.id, id, found, w)
		}
	}
}

func drives(n *node, id uuid.UUID) bool {
	for _, w := range n.Unfinished(func(*ledger.Work) bool { return true }, 1000) {
		if w.Message.ID == id {
			return true
		}
	}
	return false
}

// A node without a bind of a message's supplier hands its sending to the
// node its Dispatcher names: that node owns it from then on (its outbox is
// told, it lists it, it records the submit); the first lets go of it. A
// message already sent is not handed over.
func TestClusterHandOverToTheNodeWithABind(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	a, b := startFundedPair(t, store, store, "10", ledger.Options{Dispatcher: toNodeA})

	acc, err := b.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x", RegisteredDelivery: true})
	if err != nil {
		t.Fatal(err)
	}
	id := acc.MessageID
	if got := <-b.Outbox(); got != id {
		t.Fatalf("node-b's outbox: %s, want %s", got, id)
	}
	w := waitWork(t, b, id, func(w ledger.Work) bool { return w.NeedsDispatch() })
	if w.Owner != "node-b" || !drives(b, id) {
		t.Fatalf("before the hand-over: owner %q, node-b drives it %v", w.Owner, drives(b, id))
	}
	if handed, err := a.HandOver(ctx, &w); handed || err != nil {
		t.Fatalf("node-a, whose Dispatcher is itself, handed over: %v %v", handed, err)
	}
	handed, err := b.HandOver(ctx, &w)
	if err != nil || !handed {
		t.Fatalf("node-b's hand-over: %v %v", handed, err)
	}
	select {
	case got := <-a.Outbox():
		if got != id {
			t.Fatalf("node-a's outbox: %s, want %s", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node-a was not told to send the message handed to it")
	}
	waitWork(t, a, id, func(w ledger.Work) bool { return w.Owner == "node-a" })
	if w, _ := b.WorkOf(id); w.Owner != "node-a" || drives(b, id) {
		t.Fatalf("node-b after the hand-over: owner %q, drives it %v", w.Owner, drives(b, id))
	}
	if !drives(a, id) {
		t.Fatal("node-a does not list the message handed to it")
	}
	if err := ledger.CheckBacklog(a.Service); err != nil {
		t.Fatalf("node-a's backlog: %v", err)
	}
	if err := ledger.CheckBacklog(b.Service); err != nil {
		t.Fatalf("node-b's backlog: %v", err)
	}
	if a.Backlog().Dispatch != 1 || b.Backlog().Dispatch != 0 {
		t.Fatalf("backlogs to dispatch: node-a %d, node-b %d; want 1, 0", a.Backlog().Dispatch, b.Backlog().Dispatch)
	}
	tr, err := a.SubmittedToSupplier(ctx, id)
	if err != nil || len(tr.Events) != 1 {
		t.Fatalf("node-a records the submit: %+v %v", tr, err)
	}
	w = waitWork(t, b, id, func(w ledger.Work) bool { return w.InFlight() })
	if handed, err := b.HandOver(ctx, &w); handed || err != nil {
		t.Fatalf("a sent message handed over: %v %v", handed, err)
	}
	recs, err := store.ReadStream(ctx, events.MessageStream(id), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type == events.TypeDispatchHandedOver {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d DispatchHandedOver in the stream, want 1", n)
	}
}

// A message handed to a node that is then taken over is the taker's; a
// hand-over decided on a view from before a takeover names the node taken
// over: the taker keeps the message and sends it.
func TestClusterHandOverAndTakeover(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	a, b := startFundedPair(t, store, store, "10", ledger.Options{Dispatcher: toNodeA})
	submit := func() ledger.Work {
		t.Helper()
		acc, err := b.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		<-b.Outbox()
		return waitWork(t, b, acc.MessageID, func(w ledger.Work) bool { return w.NeedsDispatch() })
	}
	first := submit()
	if handed, err := b.HandOver(ctx, &first); err != nil || !handed {
		t.Fatalf("hand-over: %v %v", handed, err)
	}
	waitWork(t, a, first.Message.ID, func(w ledger.Work) bool { return w.Owner == "node-a" })
	<-a.Outbox()
	a.stop()
	if took, err := b.TakeOver(ctx, "node-a", 1); err != nil || !took {
		t.Fatalf("take over: %v %v", took, err)
	}
	waitWork(t, b, first.Message.ID, func(w ledger.Work) bool { return w.Owner == "node-b" })
	if !drives(b, first.Message.ID) {
		t.Fatal("node-b does not drive the message it took over")
	}
	// Its Dispatcher still names node-a: node-b keeps the message.
	second := submit()
	if handed, err := b.HandOver(ctx, &second); err != nil || handed {
		t.Fatalf("a hand-over to the node taken over: %v %v", handed, err)
	}
	if !drives(b, second.Message.ID) {
		t.Fatal("node-b does not drive its own message")
	}
}

// Two nodes that each think the other binds the supplier (a view a
// heartbeat behind, a node warming up) do not hand a message to and fro:
// the node it was handed to keeps it and waits, and hands it on only
// after a while.
func TestClusterHandOverNotToAndFro(t *testing.T) {
	ctx := context.Background()
	clk := ledgertest.NewClock()
	store := ledgertest.MemStore(t)
	size := func() int { return 2 }
	toB := func(string, uuid.UUID) string { return "node-b" }
	a := startNodeWith(t, store, 1, ledger.Options{Node: "node-a", BudgetIdle: time.Hour, ClusterSize: size, OutboxSize: 16, Clock: clk.Now, Dispatcher: toB})
	b := startNodeWith(t, store, 1, ledger.Options{Node: "node-b", BudgetIdle: time.Hour, ClusterSize: size, OutboxSize: 16, Clock: clk.Now, Dispatcher: toNodeA})
	ledgertest.Setup(t, a.Service, "acme")
	if _, err := a.TopUp(ctx, "acme", dec("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	waitTenant(t, b.Service, "acme", headOf(t, store))
	acc, err := b.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	w := waitWork(t, b, acc.MessageID, func(w ledger.Work) bool { return w.NeedsDispatch() })
	if handed, err := b.HandOver(ctx, &w); err != nil || !handed {
		t.Fatalf("node-b's hand-over: %v %v", handed, err)
	}
	w = waitWork(t, a, acc.MessageID, func(w ledger.Work) bool { return w.Owner == "node-a" })
	if handed, err := a.HandOver(ctx, &w); handed || !errors.Is(err, ledger.ErrHandOverWait) {
		t.Fatalf("node-a hands it straight back: %v %v", handed, err)
	}
	clk.Advance(6 * time.Second)
	if handed, err := a.HandOver(ctx, &w); err != nil || !handed {
		t.Fatalf("node-a, a while later: %v %v", handed, err)
	}
	waitWork(t, b, acc.MessageID, func(w ledger.Work) bool { return w.Owner == "node-b" })
}

// A submit node-b recorded but never sent (still queued when its share of
// the supplier's binds moved to node-a) is withdrawn: the message is
// routed again to the same supplier as the next attempt, node-b hands it
// to node-a, and node-a sends that attempt. Money does not move: the hold
// stays, and the withdrawal charges nothing.
func TestClusterWithdrawnSubmitHandedOver(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	var binder atomic.Value
	binder.Store("node-b")
	dispatcher := func(string, uuid.UUID) string { return binder.Load().(string) }
	a, b := startFundedPair(t, store, store, "10", ledger.Options{Dispatcher: dispatcher})
	acc, err := b.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	id := acc.MessageID
	<-b.Outbox()
	w := waitWork(t, b, id, func(w ledger.Work) bool { return w.NeedsDispatch() })
	if handed, err := b.HandOver(ctx, &w); handed || err != nil {
		t.Fatalf("node-b, which binds the supplier, handed over: %v %v", handed, err)
	}
	tr, err := b.SubmittedToSupplier(ctx, id)
	if err != nil || len(tr.Events) != 1 {
		t.Fatalf("node-b records the submit: %+v %v", tr, err)
	}
	supplier := tr.Message.Supplier().SupplierID
	held := func() string {
		waitTenant(t, b.Service, "acme", headOf(t, store)) // the follower folded the money
		v, err := b.Balance("acme")
		if err != nil {
			t.Fatal(err)
		}
		return v.Held
	}
	heldBefore := held()

	binder.Store("node-a") // the share moved; node-b's queue is handed back
	if tr, err := b.SubmitWithdrawn(ctx, id, supplier, 2, "share moved"); err != nil || len(tr.Events) != 0 {
		t.Fatalf("another attempt withdrawn: %+v %v", tr, err)
	}
	tr, err = b.SubmitWithdrawn(ctx, id, supplier, 1, "share moved")
	if err != nil || len(tr.Events) != 1 || tr.Events[0].EventType() != events.TypeSubmitWithdrawn {
		t.Fatalf("the withdrawal: %+v %v", tr, err)
	}
	if m := tr.Message; m.State != message.StateRouted || m.Attempt != 2 || m.Supplier().SupplierID != supplier {
		t.Fatalf("after the withdrawal: %+v", m)
	}
	w = waitWork(t, b, id, func(w ledger.Work) bool { return w.NeedsDispatch() && w.Message.Attempt == 2 })
	if handed, err := b.HandOver(ctx, &w); !handed || err != nil {
		t.Fatalf("node-b's hand-over of the withdrawn message: %v %v", handed, err)
	}
	select {
	case got := <-a.Outbox():
		if got != id {
			t.Fatalf("node-a's outbox: %s, want %s", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node-a was not told to send the withdrawn message")
	}
	waitWork(t, a, id, func(w ledger.Work) bool { return w.Owner == "node-a" && w.Message.Attempt == 2 })
	tr, err = a.SubmittedToSupplier(ctx, id)
	if err != nil || len(tr.Events) != 1 || tr.Message.Attempt != 2 {
		t.Fatalf("node-a records the submit of attempt 2: %+v %v", tr, err)
	}
	if got := held(); got != heldBefore || got == "0" {
		t.Fatalf("held %s after the withdrawal and hand-over, %s before", got, heldBefore)
	}
}
