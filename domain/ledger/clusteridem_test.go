package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// gatedStore is a store whose subscriptions hold back what they read while
// the gate is shut: a node that has not seen the log's latest events yet.
type gatedStore struct {
	eventstore.Store
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

func newGatedStore(s eventstore.Store) *gatedStore {
	g := &gatedStore{Store: s, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *gatedStore) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

func (g *gatedStore) reopen() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *gatedStore) gate() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open
}

func (g *gatedStore) SubscribeAll(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	sub, err := g.Store.SubscribeAll(ctx, after)
	if err != nil {
		return nil, err
	}
	return gatedSubscription{Subscription: sub, g: g}, nil
}

type gatedSubscription struct {
	eventstore.Subscription
	g *gatedStore
}

func (s gatedSubscription) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	batch, err := s.Subscription.Next(ctx)
	if err != nil {
		return nil, err
	}
	select {
	case <-s.g.gate():
		return batch, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// acceptsOf counts the MessageAccepted events of the log with the key.
func acceptsOf(t *testing.T, store eventstore.Store, key string) int {
	t.Helper()
	recs, err := store.ReadAll(context.Background(), eventstore.Start, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Type != "MessageAccepted" {
			continue
		}
		ev, err := events.Decode(r.Type, r.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.(events.MessageAccepted).IdempotencyKey == key {
			n++
		}
	}
	return n
}

// A keyed submit on a node that has not yet seen another node's accept of
// the key does not accept the message again: its append finds the key's
// message taken, gives its hold back, and answers the first accept's
// message (or a conflict, for another request).
func TestClusterKeyOnTwoNodesAcceptsOnce(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	gated := newGatedStore(store)
	a, b := startFundedPair(t, store, gated, "10", ledger.Options{})
	leaseOnEach(t, a, b) // while node-b still follows the log
	waitTenant(t, b.Service, "acme", headOf(t, store))

	gated.shut() // node-b sees nothing more
	first, err := a.Submit(ctx, "acme", keyed("k1", "body"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Submit(ctx, "acme", keyed("k1", "body"))
	if err != nil || again.MessageID != first.MessageID || again.Parts != first.Parts || !again.Price.Equal(first.Price) {
		t.Fatalf("node-b's repeat: %+v %v, node-a's accept %+v", again, err, first)
	}
	if _, err := b.Submit(ctx, "acme", keyed("k1", "other body")); !errors.Is(err, ledger.ErrIdempotencyConflict) {
		t.Fatalf("node-b, the key with another request: %v", err)
	}
	if _, err := a.Submit(ctx, "acme", keyed("k2", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Submit(ctx, "acme", keyed("k2", "y")); !errors.Is(err, ledger.ErrIdempotencyConflict) {
		t.Fatalf("node-b, a key node-a accepted with another request: %v", err)
	}
	gated.reopen()

	for _, key := range []string{"k1", "k2"} {
		if n := acceptsOf(t, store, key); n != 1 {
			t.Fatalf("key %s accepted %d times", key, n)
		}
	}
	// node-b gave back what it held for the submits it did not append.
	waitTenant(t, b.Service, "acme", headOf(t, store))
	if held, ok := b.MyLeaseHeld("acme"); !ok || held != money.MustFromDecimal(dec("0.07")) {
		t.Fatalf("node-b's lease holds %s (lease %v), want its warm-up's 0.07", held, ok)
	}
	b.stop()
	a.stop()
	if bal := checkNoOverspend(t, store, "acme"); bal.Held != "0.28" { // two warm-ups, k1, k2: 0.07 each
		t.Fatalf("held %s, want 0.28", bal.Held)
	}
}

// Submits with the same keys at once on two nodes: every key is accepted
// once, and both nodes answer it with the same message.
func TestClusterConcurrentKeysAcceptOnce(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	a, b := startFundedPair(t, store, store, "1000", ledger.Options{})
	// Each node leases first (a quarter of the balance): the keyed submits
	// below race each other, not the leases.
	leaseOnEach(t, a, b)
	const keys = 40
	type answer struct {
		node string
		acc  ledger.Accepted
		err  error
	}
	answers := make([][2]answer, keys)
	var wg sync.WaitGroup
	for i := range keys {
		for j, n := range []*node{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				acc, err := n.Submit(ctx, "acme", keyed(fmt.Sprintf("key-%d", i), "body"))
				answers[i][j] = answer{n.id, acc, err}
			}()
		}
	}
	wg.Wait()
	for i, pair := range answers {
		for _, an := range pair {
			if an.err != nil && !errors.Is(an.err, ledger.ErrIdempotencyInProgress) {
				t.Fatalf("key-%d on %s: %v", i, an.node, an.err)
			}
		}
		if pair[0].err == nil && pair[1].err == nil && pair[0].acc.MessageID != pair[1].acc.MessageID {
			t.Fatalf("key-%d: node-a answered %s, node-b %s", i, pair[0].acc.MessageID, pair[1].acc.MessageID)
		}
		if n := acceptsOf(t, store, fmt.Sprintf("key-%d", i)); n != 1 {
			t.Fatalf("key-%d accepted %d times", i, n)
		}
	}
}

// leaseOnEach submits one keyed message on each node: each leases.
func leaseOnEach(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		if _, err := n.Submit(context.Background(), "acme", keyed("warm-"+n.id, "w")); err != nil {
			t.Fatalf("%s: %v", n.id, err)
		}
	}
}

func headOf(t *testing.T, store eventstore.Store) eventstore.Position {
	t.Helper()
	h, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}
