package ledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

func keyed(key, hash string) accept.Request {
	return accept.Request{Channel: "http", To: "+4915112345678", Text: "hi", IdempotencyKey: key, RequestHash: hash}
}

// A repeated keyed submit answers the first one's message and holds
// nothing more; the key with another request is a conflict; a restart
// keeps the keys (they are in the log); after 24 h the key is new again.
func TestIdempotentSubmit(t *testing.T) {
	ctx := context.Background()
	clk := ledgertest.NewClock()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{Clock: clk.Now})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", dec("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	first, err := svc.Submit(ctx, "acme", keyed("k1", "body-a"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.Submit(ctx, "acme", keyed("k1", "body-a"))
	if err != nil || again.MessageID != first.MessageID || again.Parts != first.Parts || !again.Price.Equal(first.Price) {
		t.Fatalf("repeat: %+v %v, first %+v", again, err, first)
	}
	if b, _ := svc.Balance("acme"); b.Held != "0.07" {
		t.Fatalf("held after a repeat: %s, want one price", b.Held)
	}
	if _, err := svc.Submit(ctx, "acme", keyed("k1", "body-b")); !errors.Is(err, ledger.ErrIdempotencyConflict) ||
		ledger.CodeOf(err) != ledger.CodeIdempotencyConflict {
		t.Fatalf("key with another body: %v", err)
	}
	// Keys are per tenant: another tenant's k1 is its own.
	ledgertest.Setup(t, svc, "globex")
	if _, err := svc.TopUp(ctx, "globex", dec("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	other, err := svc.Submit(ctx, "globex", keyed("k1", "body-b"))
	if err != nil || other.MessageID == first.MessageID {
		t.Fatalf("another tenant's key: %+v %v", other, err)
	}

	// A restart rebuilds the keys from the log.
	svc2 := ledgertest.Start(t, store, ledger.Options{Clock: clk.Now})
	again, err = svc2.Submit(ctx, "acme", keyed("k1", "body-a"))
	if err != nil || again.MessageID != first.MessageID {
		t.Fatalf("repeat after a restart: %+v %v", again, err)
	}
	if _, err := svc2.Submit(ctx, "acme", keyed("k1", "body-b")); !errors.Is(err, ledger.ErrIdempotencyConflict) {
		t.Fatalf("conflict after a restart: %v", err)
	}

	// After the window the key is forgotten.
	clk.Advance(ledger.IdempotencyWindow)
	later, err := svc2.Submit(ctx, "acme", keyed("k1", "body-b"))
	if err != nil || later.MessageID == first.MessageID {
		t.Fatalf("the key after 24 h: %+v %v", later, err)
	}
	if _, err := svc2.Submit(ctx, "acme", keyed("x", "y")); err != nil {
		t.Fatal(err)
	}
	long := string(make([]byte, ledger.MaxIdempotencyKeyLen+1))
	if _, err := svc2.Submit(ctx, "acme", keyed(long, "b")); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Fatalf("a key over %d bytes: %v", ledger.MaxIdempotencyKeyLen, err)
	}
}

// A keyed submit that is refused frees its key: the retry after the cause
// is fixed is a new submit. The index is bounded: full, keyed submits are
// refused (429), unkeyed ones go on.
func TestIdempotencyKeyOfARefusedSubmitAndTheBound(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{IdempotencyMax: 2})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.Submit(ctx, "acme", keyed("k1", "a")); ledger.CodeOf(err) != ledger.CodeInsufficientFunds {
		t.Fatalf("without funds: %v", err)
	}
	if _, err := svc.TopUp(ctx, "acme", dec("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(ctx, "acme", keyed("k1", "a")); err != nil {
		t.Fatalf("the retry once funded: %v", err)
	}
	if _, err := svc.Submit(ctx, "acme", keyed("k2", "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(ctx, "acme", keyed("k3", "a")); !errors.Is(err, ledger.ErrThrottled) {
		t.Fatalf("a third key over a bound of 2: %v", err)
	}
	if _, err := svc.Submit(ctx, "acme", keyed("k1", "a")); err != nil {
		t.Fatalf("a known key while full: %v", err)
	}
	if _, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "unkeyed"}); err != nil {
		t.Fatalf("an unkeyed submit while full: %v", err)
	}
}

// The accept event carries the key, the request hash and the client_ref.
func TestKeyAndClientRefInTheAcceptEvent(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", dec("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	req := keyed("k9", "h9")
	req.ClientRef = "order-77"
	acc, err := svc.Submit(ctx, "acme", req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := store.ReadStream(ctx, events.MessageStream(acc.MessageID), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.Decode(recs[0].Type, recs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	a := ev.(events.MessageAccepted)
	if a.IdempotencyKey != "k9" || a.RequestHash != "h9" || a.ClientRef != "order-77" {
		t.Fatalf("accept event: %+v", a)
	}
	v, err := svc.Message(ctx, "acme", acc.MessageID)
	if err != nil || v.ClientRef != "order-77" {
		t.Fatalf("view: %+v %v", v, err)
	}
	req = keyed("k10", "h10")
	req.ClientRef = string(make([]byte, accept.MaxClientRefLen+1))
	if _, err := svc.Submit(ctx, "acme", req); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Fatalf("client_ref over %d bytes: %v", accept.MaxClientRefLen, err)
	}
	if b, _ := svc.Balance("acme"); b.Held != "0.07" {
		t.Fatalf("held %s after an invalid client_ref", b.Held)
	}
}
