package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// node is one cluster node of a test: a Service with its own node id on a
// shared store, stopped by stop (as a clean shutdown) or left running.
type node struct {
	*ledger.Service
	id   string
	stop func()
}

func startNode(t *testing.T, store eventstore.Store, id string, idle time.Duration, size func() int) *node {
	t.Helper()
	return startNodeAt(t, store, id, 1, idle, size)
}

// startTwoNodes starts node-a and node-b of a two-node cluster on one log,
// with tenant acme set up (budgets never idle back).
func startTwoNodes(t *testing.T) (a, b *node) {
	t.Helper()
	store := ledgertest.MemStore(t)
	size := func() int { return 2 }
	a = startNode(t, store, "node-a", time.Hour, size)
	b = startNode(t, store, "node-b", time.Hour, size)
	ledgertest.Setup(t, a.Service, "acme")
	return a, b
}

// startFundedPair starts node-a on store a and node-b on store b (one
// log; b may be a view of it) with b's extra Options (a Dispatcher), sets
// up tenant acme with topUp, and returns once node-b sees the money.
func startFundedPair(t *testing.T, a, b eventstore.Store, topUp string, bOpts ledger.Options) (*node, *node) {
	t.Helper()
	size := func() int { return 2 }
	na := startNodeWith(t, a, 1, ledger.Options{Node: "node-a", BudgetIdle: time.Hour, ClusterSize: size, OutboxSize: 16})
	bOpts.Node, bOpts.BudgetIdle, bOpts.ClusterSize, bOpts.OutboxSize = "node-b", time.Hour, size, 16
	nb := startNodeWith(t, b, 1, bOpts)
	ledgertest.Setup(t, na.Service, "acme")
	if _, err := na.TopUp(context.Background(), "acme", dec(topUp), "t1"); err != nil {
		t.Fatal(err)
	}
	waitTenant(t, nb.Service, "acme", headOf(t, a))
	return na, nb
}

// startNodeAt starts a node that joins with the given membership epoch.
func startNodeAt(t *testing.T, store eventstore.Store, id string, epoch int64, idle time.Duration, size func() int) *node {
	t.Helper()
	return startNodeWith(t, store, epoch, ledger.Options{Node: id, BudgetIdle: idle, ClusterSize: size, OutboxSize: 1})
}

// startNodeWith starts node opts.Node with opts (test secrets added).
func startNodeWith(t *testing.T, store eventstore.Store, epoch int64, opts ledger.Options) *node {
	t.Helper()
	id := opts.Node
	opts.Hasher, opts.Sealer = ledgertest.Hasher{}, ledgertest.Sealer{}
	svc, err := ledger.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("node %s: %v", id, err)
			}
		})
	}
	t.Cleanup(stop)
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := svc.WaitCaughtUp(wctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Join(wctx, epoch); err != nil {
		t.Fatalf("node %s join: %v", id, err)
	}
	return &node{Service: svc, id: id, stop: stop}
}

// checkNoOverspend asserts what the log says on a fresh service folding it:
// the tenant's available balance is not negative, no lease is overspent,
// and the leases' unspent parts fit in what is available.
func checkNoOverspend(t *testing.T, store eventstore.Store, tenant string) ledger.BalanceView {
	t.Helper()
	audit := ledgertest.Start(t, store, ledger.Options{})
	b, err := audit.Balance(tenant)
	if err != nil {
		t.Fatal(err)
	}
	avail := money.MustFromDecimal(dec(b.Balance)) + money.MustFromDecimal(dec(b.CreditLimit)) - money.MustFromDecimal(dec(b.Held))
	if avail < 0 {
		t.Fatalf("overspent: %+v", b)
	}
	var unspent money.Units
	for _, l := range audit.Leases(tenant) {
		if l.Unspent < 0 || l.Held < 0 {
			t.Fatalf("lease of %s overspent: %+v", l.Node, l)
		}
		unspent += l.Unspent
	}
	if unspent > avail {
		t.Fatalf("leases' unspent %s above available %s (%+v)", unspent, avail, b)
	}
	return b
}

// Three nodes submitting at once for one tenant whose balance covers 142
// messages never accept more; once the idle leases have gone back, the
// whole balance is usable from any one node.
func TestClusterNodesNeverOverspendOneTenant(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	nodes := []*node{}
	size := func() int { return 3 }
	for _, id := range []string{"node-a", "node-b", "node-c"} {
		nodes = append(nodes, startNode(t, store, id, 100*time.Millisecond, size))
	}
	ledgertest.Setup(t, nodes[0].Service, "acme")
	if _, err := nodes[0].TopUp(ctx, "acme", dec("10"), "t1"); err != nil { // 10 / 0.07 = 142 messages
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitTenant(t, n.Service, "acme", nodes[0].Position())
	}
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for _, n := range nodes {
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 15; i++ {
					_, err := n.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
					switch ledger.CodeOf(err) {
					case ledger.CodeOK:
						accepted.Add(1)
					case ledger.CodeInsufficientFunds, ledger.CodeThrottled:
					default:
						t.Errorf("node %s submit: %v", n.id, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if got := accepted.Load(); got > 142 || got < 100 {
		t.Fatalf("accepted %d across the nodes, want at most 142 (and most of it)", got)
	}
	// The other nodes' unused leases go back; then one node spends the rest.
	deadline := time.Now().Add(10 * time.Second)
	for accepted.Load() < 142 && time.Now().Before(deadline) {
		_, err := nodes[2].Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
		switch ledger.CodeOf(err) {
		case ledger.CodeOK:
			accepted.Add(1)
		case ledger.CodeInsufficientFunds:
			time.Sleep(20 * time.Millisecond)
		default:
			t.Fatal(err)
		}
	}
	if accepted.Load() != 142 {
		b, _ := nodes[2].Balance("acme")
		t.Fatalf("accepted %d in all, want the whole balance's 142; balance %+v, leases %+v", accepted.Load(), b, nodes[2].Leases("acme"))
	}
	if _, err := nodes[1].Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"}); ledger.CodeOf(err) != ledger.CodeInsufficientFunds {
		t.Fatalf("143rd message: %v, want insufficient funds", err)
	}
	b := checkNoOverspend(t, store, "acme")
	if b.Held != "9.94" || b.Balance != "10" {
		t.Fatalf("balance %+v, want 9.94 held of 10", b)
	}
}

// A node that dies holding a lease and messages is taken over: its lease
// and its unfinished messages pass to the taker, which returns the unused
// part; the dead node, if it still runs, learns it was taken over.
func TestClusterTakeoverMovesLeasesAndMessages(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	size := func() int { return 2 }
	a := startNode(t, store, "node-a", time.Hour, size) // never returns by itself
	b := startNode(t, store, "node-b", 50*time.Millisecond, size)
	ledgertest.Setup(t, a.Service, "acme")
	if _, err := a.TopUp(ctx, "acme", dec("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	waitTenant(t, b.Service, "acme", a.Position())
	var ids []uuid.UUID
	for range 3 {
		acc, err := a.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, acc.MessageID)
	}
	// a leased a share (10 / (2·2) = 2.5) and holds 0.21 of it.
	waitLease(t, b.Service, "acme", "node-a", func(l ledger.LeaseView) bool {
		return l.Leased == money.MustFromDecimal(dec("2.5")) && l.Held == money.MustFromDecimal(dec("0.21"))
	})
	if got := b.Unfinished(func(*ledger.Work) bool { return true }, 10); len(got) != 0 {
		t.Fatalf("node-b drives %d of node-a's messages before a takeover", len(got))
	}
	took, err := b.TakeOver(ctx, "node-a", 1)
	if err != nil || !took {
		t.Fatalf("take over: %v %v", took, err)
	}
	select {
	case <-a.TakenOver():
	case <-time.After(5 * time.Second):
		t.Fatal("node-a was not told it was taken over")
	}
	// A second takeover of the same epoch is a no-op.
	if took, err := b.TakeOver(ctx, "node-a", 1); err != nil || took {
		t.Fatalf("second take over: %v %v", took, err)
	}
	got := b.Unfinished(func(*ledger.Work) bool { return true }, 10)
	if len(got) != 3 {
		t.Fatalf("node-b drives %d messages after the takeover, want node-a's 3", len(got))
	}
	for _, w := range got {
		if w.Owner != "node-b" {
			t.Fatalf("message %s owned by %q", w.Message.ID, w.Owner)
		}
	}
	// b returns what it does not hold: only the 3 holds stay leased.
	waitLease(t, b.Service, "acme", "node-b", func(l ledger.LeaseView) bool {
		return l.Held == money.MustFromDecimal(dec("0.21")) && l.Unspent == 0
	})
	for _, l := range b.Leases("acme") {
		if l.Node == "node-a" {
			t.Fatalf("node-a still has a lease after the takeover: %+v", l)
		}
	}
	// The taken-over holds close on b's lease: failing one releases it.
	if _, err := b.SubmittedToSupplier(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SupplierRejected(ctx, ids[0], "sup1", 1, 0x58); err != nil {
		t.Fatal(err)
	}
	waitLease(t, b.Service, "acme", "node-b", func(l ledger.LeaseView) bool {
		return l.Held == money.MustFromDecimal(dec("0.14"))
	})

	// A return node-a appends after its takeover (one it decided before it
	// saw it) is void: node-b holds those leases now.
	late := events.BudgetReturned{TenantID: "acme", Node: "node-a", Amount: dec("1"), Currency: "EUR", ID: uuid.New(), At: time.Now().UTC()}
	typ, data, err := events.Encode(late)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, "tenant-acme", eventstore.Any, eventstore.EventData{ID: late.ID, Type: typ, Data: data}); err != nil {
		t.Fatal(err)
	}
	// And the taken-over node-a appends nothing more of its own accord.
	if _, err := a.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"}); err == nil {
		t.Fatal("node-a accepted a submit after it was taken over")
	}

	// node-a restarts with its next epoch: the takeover of its first is
	// history it replays, not news; its old messages stay node-b's, its
	// new ones are its own.
	a.stop()
	a2 := startNodeAt(t, store, "node-a", 2, time.Hour, size)
	select {
	case <-a2.TakenOver():
		t.Fatal("the restarted node-a takes the takeover of its previous epoch for its own")
	case <-time.After(200 * time.Millisecond):
	}
	if got := a2.Unfinished(func(*ledger.Work) bool { return true }, 10); len(got) != 0 {
		t.Fatalf("the restarted node-a drives %d messages node-b took over", len(got))
	}
	acc, err := a2.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := a2.WorkOf(acc.MessageID); !ok || w.Owner != "node-a" {
		t.Fatalf("new message of the restarted node-a: %+v %v", w.Owner, ok)
	}
	// A takeover of its old epoch again is refused: it joined since.
	if took, err := b.TakeOver(ctx, "node-a", 1); err != nil || took {
		t.Fatalf("takeover of node-a's old epoch after it rejoined: %v %v", took, err)
	}
	checkNoOverspend(t, store, "acme")
}

// Random operations on random nodes (submits, settlements, failures,
// top-ups, debits, takeovers) never overspend, at any point of the log.
func TestClusterRandomOperationsNeverOverspend(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { randomCluster(t, seed) })
	}
}

func randomCluster(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed))
	store := ledgertest.MemStore(t)
	size := func() int { return 3 }
	var nodes []*node
	for _, id := range []string{"node-a", "node-b", "node-c"} {
		nodes = append(nodes, startNode(t, store, id, time.Duration(20+rng.IntN(200))*time.Millisecond, size))
	}
	ledgertest.Setup(t, nodes[0].Service, "acme")
	if _, err := nodes[0].TopUp(ctx, "acme", dec("1"), "t0"); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitTenant(t, n.Service, "acme", nodes[0].Position()) // the routes came before the top-up
	}
	dead := map[string]bool{}
	live := func() *node {
		for {
			n := nodes[rng.IntN(len(nodes))]
			if !dead[n.id] {
				return n
			}
		}
	}
	for step := 0; step < 60; step++ {
		switch op := rng.IntN(10); {
		case op < 5: // a burst of submits on every live node at once
			var wg sync.WaitGroup
			for _, n := range nodes {
				if dead[n.id] {
					continue
				}
				wg.Add(1)
				burst := 1 + rng.IntN(5)
				go func() {
					defer wg.Done()
					for range burst {
						_, err := n.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
						if c := ledger.CodeOf(err); c != ledger.CodeOK && c != ledger.CodeInsufficientFunds && c != ledger.CodeThrottled {
							t.Errorf("submit on %s: %v", n.id, err)
						}
					}
				}()
			}
			wg.Wait()
		case op < 7: // a node settles or fails one of its messages
			n := live()
			ws := n.Unfinished((*ledger.Work).NeedsDispatch, 1)
			if len(ws) == 0 {
				continue
			}
			id := ws[0].Message.ID
			if _, err := n.SubmittedToSupplier(ctx, id); err != nil {
				continue // e.g. a conflict with the follower: not what this test is about
			}
			if rng.IntN(2) == 0 {
				_, _ = n.SupplierAccepted(ctx, id, "sup1", 1, uuid.NewString(), time.Millisecond)
			} else {
				_, _ = n.SupplierRejected(ctx, id, "sup1", 1, 0x58)
			}
		case op < 8:
			if _, err := live().TopUp(ctx, "acme", dec("0.3"), fmt.Sprintf("t%d", step)); err != nil {
				t.Fatal(err)
			}
		case op < 9:
			_, err := live().Adjust(ctx, "acme", dec("-0.2"), fmt.Sprintf("a%d", step), "test")
			if c := ledger.CodeOf(err); err != nil && c != ledger.CodeInsufficientFunds {
				t.Fatalf("debit: %v", err)
			}
		default: // a node dies and another takes it over (at most two die)
			if len(dead) == 2 {
				continue
			}
			victim := live()
			dead[victim.id] = true
			if _, err := live().TakeOver(ctx, victim.id, 1); err != nil {
				t.Fatal(err)
			}
			<-victim.TakenOver()
			victim.stop()
		}
	}
	checkNoOverspend(t, store, "acme")
	// Every prefix of the log, too: fold it event by event.
	checkEveryPrefix(t, store, "acme")
}

// checkEveryPrefix folds the log one position at a time into a fresh
// service and checks no overspend after each event.
func checkEveryPrefix(t *testing.T, store eventstore.Store, tenant string) {
	t.Helper()
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for pos := eventstore.Position(1); pos <= head; pos += eventstore.Position(max(1, int(head)/40)) {
		prefix := ledgertest.MemStore(t)
		all, err := store.ReadAll(context.Background(), 0, int(pos))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if _, err := prefix.Append(context.Background(), e.Stream, eventstore.Any, eventstore.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}); err != nil {
				t.Fatal(err)
			}
		}
		if _, ok := tenantIn(all, tenant); ok {
			checkNoOverspend(t, prefix, tenant)
		}
	}
}

func tenantIn(evs []eventstore.RecordedEvent, tenant string) (int, bool) {
	for i, e := range evs {
		if e.Stream == "tenant-"+tenant {
			return i, true
		}
	}
	return 0, false
}

// waitTenant waits until svc has folded the log up to head (the tenant's
// set-up and top-up published: a top-up shows on the Account before the
// routes of the same batch are) and the tenant has money.
func waitTenant(t *testing.T, svc *ledger.Service, tenant string, head eventstore.Position) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, err := svc.Balance(tenant); err == nil && b.Balance != "0" && svc.Position() >= head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant %s not funded on this node", tenant)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitLease(t *testing.T, svc *ledger.Service, tenant, nodeID string, ok func(ledger.LeaseView) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range svc.Leases(tenant) {
			if l.Node == nodeID && ok(l) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease of %s: %+v", nodeID, svc.Leases(tenant))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A supplier's DLR may reach any node: the node that records it is not
// always the one that forwards it. The forwarder (here the owner: no
// Forwarder rule) is handed the id at once; the recorder is not.
func TestClusterDLRRecordedElsewhereIsOwedToTheForwarder(t *testing.T) {
	ctx := context.Background()
	a, b := startTwoNodes(t)
	if _, err := a.TopUp(ctx, "acme", dec("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	acc, err := a.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x", RegisteredDelivery: true})
	if err != nil {
		t.Fatal(err)
	}
	id := acc.MessageID
	if _, err := a.SubmittedToSupplier(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SupplierAccepted(ctx, id, "sup1", 1, "S-1", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := b.DeliveryReported(ctx, "sup1", "S-1", "DELIVRD", "000", time.Now())
		if err == nil {
			break
		}
		if !errors.Is(err, ledger.ErrNotFound) || time.Now().After(deadline) {
			t.Fatalf("DLR on node-b: %v", err)
		}
	}
	if w, ok := b.WorkOf(id); !ok || !w.NeedsForward() || b.Forwards(&w) {
		t.Fatalf("node-b: tracked %v, forwards it %v", ok, ok && b.Forwards(&w))
	}
	select {
	case got := <-a.Owed():
		if got != id {
			t.Fatalf("node-a owes %s, want %s", got, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node-a was not handed the DLR node-b recorded")
	}
	select {
	case got := <-b.Owed():
		t.Fatalf("node-b, which recorded it, is handed %s too", got)
	case <-time.After(100 * time.Millisecond):
	}
}

// Every node knows every MO waiting for its tenant; only the node that
// received it (with no Forwarder rule) lists it to forward, so one sends it.
func TestClusterPendingMOListedByOneNode(t *testing.T) {
	ctx := context.Background()
	a, b := startTwoNodes(t)
	if _, err := a.SetTenantNumbers(ctx, "acme", []string{"+4915112345678"}); err != nil {
		t.Fatal(err)
	}
	waitTenantNumbers := func(n *node) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			_, err := n.ReceiveMO(ctx, ledger.MOIn{SupplierID: "sup1", From: "4917600000001", To: "4915112345678", Text: "hi " + n.id, Encoding: "gsm7"})
			if err == nil {
				return
			}
			if !errors.Is(err, ledger.ErrUnknownNumber) || time.Now().After(deadline) {
				t.Fatalf("MO on %s: %v", n.id, err)
			}
		}
	}
	waitTenantNumbers(b) // received on node-b
	for deadline := time.Now().Add(5 * time.Second); a.PendingMOCount() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node-a never folded node-b's MO")
		}
	}
	if got := a.PendingMOs(10); len(got) != 0 {
		t.Fatalf("node-a lists %d MOs node-b received", len(got))
	}
	if got := b.PendingMOs(10); len(got) != 1 || got[0].Owner != "node-b" {
		t.Fatalf("node-b lists %+v, want its own MO", got)
	}
}
