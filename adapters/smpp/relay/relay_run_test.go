package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/smpp/egress"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/lifecycle"
	"github.com/smsledger/smsledger/eventstore"
)

// A supplier switched off while submits are in flight on it: the sync
// that stops its egress does not wait on itself (the in-flight answers
// fail over, and their dispatch looks the suppliers up; this deadlocked
// when the relay held its lock while the egress drained), and every
// message reaches the second supplier. Real sockets on 127.0.0.1, the
// ledger on the in-memory store.
func TestDisablingASupplierWithSubmitsInFlight(t *testing.T) {
	slow := simtest.Start(t, smscsim.Config{SystemID: "slow", Password: "pw", Latency: time.Hour, DLRDelay: time.Hour})
	w := newRelayWorld(t, slow.Addr())
	w.waitFor("every message submitted to the slow supplier", func() bool {
		for _, id := range w.ids {
			if v, err := w.svc.Message(context.Background(), "acme", id); err != nil || v.State != "submitted" || queued(w.r, "slow") != 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond) // the submit_sm written, the answer an hour away
	w.disableSlowAndCheck()
}

// A supplier switched off with messages waiting in its queue (its binds
// never came up): the queued messages, which nobody reported, are handed
// back to the lifecycle as refused and fail over, instead of staying in
// flight until a restart.
func TestDisablingASupplierWithMessagesQueued(t *testing.T) {
	dead := deadAddr(t) // binds fail, messages queue
	w := newRelayWorld(t, dead)
	w.waitFor("every message queued at the slow supplier", func() bool { return queued(w.r, "slow") == relayBurst })
	w.disableSlowAndCheck()
}

// A supplier whose binds move to other nodes (a cluster's bind share:
// SupplierConfig says no) with messages waiting in this node's queue: the
// queued messages, recorded as submitted but never sent, are withdrawn
// (routed again to the same supplier, for a node with a bind), not
// refused. Outside a cluster nobody else binds it, so the next attempt
// fails over; what counts here is that the first attempt was withdrawn.
func TestSupplierShareMovedWithMessagesQueued(t *testing.T) {
	dead := deadAddr(t) // binds fail, messages queue
	var slowElsewhere atomic.Bool
	w := newRelayWorldWith(t, dead, func(c *egress.Config) bool {
		c.QueueTimeout = time.Hour
		return c.SupplierID != "slow" || !slowElsewhere.Load()
	})
	w.waitFor("every message queued at the slow supplier", func() bool { return queued(w.r, "slow") == relayBurst })
	slowElsewhere.Store(true)
	w.r.ResyncSuppliers()
	w.waitFor("every message withdrawn from the slow supplier's queue", func() bool {
		for _, id := range w.ids {
			if !hasEvent(w.svc, id, events.TypeSubmitWithdrawn) {
				return false
			}
		}
		return true
	})
	for _, id := range w.ids {
		if hasEvent(w.svc, id, events.TypeSupplierRejected) && !hasEventAfter(w.svc, id, events.TypeSubmitWithdrawn, events.TypeSupplierRejected) {
			t.Fatalf("message %s refused before it was withdrawn: %s", id, w.describe())
		}
	}
	if queued(w.r, "slow") != -1 {
		t.Fatal("the slow supplier's egress still runs on this node")
	}
}

// hasEvent reports whether the message's stream has an event of type typ.
func hasEvent(svc *ledger.Service, id uuid.UUID, typ string) bool {
	return hasEventAfter(svc, id, "", typ)
}

// hasEventAfter reports whether the message's stream has an event of type
// typ after one of type first ("": from the start).
func hasEventAfter(svc *ledger.Service, id uuid.UUID, first, typ string) bool {
	evs, err := svc.MessageEvents(context.Background(), "acme", id)
	if err != nil {
		return false
	}
	seen := first == ""
	for _, e := range evs {
		if seen && e.Type == typ {
			return true
		}
		seen = seen || e.Type == first
	}
	return false
}

const relayBurst = 6

// deadAddr is an address on 127.0.0.1 where nobody listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type relayWorld struct {
	t     *testing.T
	store eventstore.Store
	svc   *ledger.Service
	r     *Relay
	fast  *smscsim.Sim
	slow  string // the slow supplier's address
	ids   []uuid.UUID
}

// newRelayWorld runs a relay over a ledger routing 49 to "slow" (at
// slowAddr, cheaper, so first) then "sup1" (a simulator), and submits
// relayBurst messages.
func newRelayWorld(t *testing.T, slowAddr string) *relayWorld {
	return newRelayWorldWith(t, slowAddr, func(c *egress.Config) bool { c.QueueTimeout = time.Hour; return true })
}

// newRelayWorldWith is newRelayWorld with the relay's SupplierConfig.
func newRelayWorldWith(t *testing.T, slowAddr string, supplierConfig func(*egress.Config) bool) *relayWorld {
	ctx := context.Background()
	w := &relayWorld{t: t, store: ledgertest.MemStore(t), slow: slowAddr}
	w.svc = ledgertest.Start(t, w.store, ledger.Options{})
	w.fast = simtest.Start(t, smscsim.Config{SystemID: "sup1", Password: "pw", DLRDelay: time.Hour})
	// The suppliers exist before Setup, which then adds none of its own.
	addSimSupplier(t, w.svc, "slow", slowAddr, "0.01")
	addSimSupplier(t, w.svc, "sup1", w.fast.Addr(), "0.02")
	ledgertest.Setup(t, w.svc, "acme")
	if _, err := w.svc.TopUp(ctx, "acme", decimal.RequireFromString("10"), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"slow", "sup1"}}}); err != nil {
		t.Fatal(err)
	}
	w.r = New(w.svc, Options{Logger: slog.New(slog.DiscardHandler), SubmitTimeout: time.Hour, RetryEvery: 50 * time.Millisecond,
		SupplierConfig: supplierConfig})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.r.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done })
	for range relayBurst {
		acc, err := w.svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		w.ids = append(w.ids, acc.MessageID)
	}
	return w
}

// disableSlowAndCheck switches the slow supplier off and checks that every
// message is then accepted by sup1, and that the slow egress is gone.
func (w *relayWorld) disableSlowAndCheck() {
	ctx := context.Background()
	disableSupplier(w.t, w.svc, w.store, "slow", w.slow)
	w.waitFor("every message accepted by sup1", func() bool {
		for _, id := range w.ids {
			v, err := w.svc.Message(ctx, "acme", id)
			if err != nil || v.Supplier != "sup1" || v.State != "supplier_accepted" || v.Attempt != 2 {
				return false
			}
		}
		return true
	})
	if got := w.fast.Submitted.Load(); got != relayBurst {
		w.t.Fatalf("sup1 got %d submits, want %d", got, relayBurst)
	}
	if queued(w.r, "slow") != -1 {
		w.t.Fatal("the disabled supplier's egress still runs")
	}
}

func (w *relayWorld) waitFor(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting: %s; messages: %s; queued at slow: %d", what, w.describe(), queued(w.r, "slow"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// describe lists the messages' states, for a failure's message.
func (w *relayWorld) describe() string {
	var b strings.Builder
	for _, id := range w.ids {
		v, err := w.svc.Message(context.Background(), "acme", id)
		fmt.Fprintf(&b, "[%s %s@%s attempt %d err %v] ", id, v.State, v.Supplier, v.Attempt, err)
	}
	if len(w.ids) > 0 {
		evs, _ := w.svc.MessageEvents(context.Background(), "acme", w.ids[0])
		b.WriteString("; the first's events:")
		for _, e := range evs {
			fmt.Fprintf(&b, " %s@%s %s", e.Type, e.RecordedAt.Format("15:04:05.000"), e.Data)
		}
	}
	return b.String()
}

func addSimSupplier(t *testing.T, svc *ledger.Service, id, addr, cost string) {
	t.Helper()
	host, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	ctx := context.Background()
	if err := svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: id, Name: id, Currency: "EUR", Host: host, Port: port,
		SystemID: id, Password: "pw", Binds: 1, TPSLimit: 1000, Window: 10}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetCosts(ctx, id, []events.Cost{{Prefix: "49", Cost: decimal.RequireFromString(cost)}}); err != nil {
		t.Fatal(err)
	}
}

// disableSupplier appends SupplierChanged{Enabled: false} (the admin API
// has no command for it yet) and waits until the ledger has applied it.
func disableSupplier(t *testing.T, svc *ledger.Service, store eventstore.Store, id, addr string) {
	t.Helper()
	ctx := context.Background()
	host, portS, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portS)
	sealed, err := ledgertest.Sealer{}.Seal([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	typ, data, err := events.Encode(events.SupplierChanged{SupplierID: id, Name: id, Host: host, Port: port, SystemID: id,
		PasswordSealed: sealed, Binds: 1, TPSLimit: 1000, Window: 10, Enabled: false, At: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, events.SupplierStream(id), eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: typ, Data: data}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ledger sees the supplier disabled", func() bool { sp, err := svc.Supplier(id); return err == nil && !sp.Enabled })
}

func queued(r *Relay, id string) int {
	for _, s := range r.Stats() {
		if s.ID == id {
			return s.QueueDepth
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The receipt sink's answers to the lifecycle: no server, or no receiver
// bind, is ErrNoReceiver (pending), and the webhook sender's results map to
// Delivered, Refused (recorded) or NotDelivered (pending).
func TestReceiptSinkOutcomes(t *testing.T) {
	r := &Relay{log: slog.New(slog.DiscardHandler)}
	s := receiptSink{r}
	if err := s.Deliver(context.Background(), lifecycle.Receipt{}, nil); !errors.Is(err, lifecycle.ErrNoReceiver) {
		t.Fatalf("no server: %v", err)
	}
	for _, tc := range []struct {
		res  webhook.Result
		want lifecycle.Outcome
	}{
		{webhook.Result{StatusCode: 200, Attempts: 1}, lifecycle.Delivered},
		{webhook.Result{StatusCode: 410, Attempts: 1, Err: fmt.Errorf("410: %w", webhook.ErrPermanent)}, lifecycle.Refused},
		{webhook.Result{StatusCode: 503, Attempts: 8, Err: fmt.Errorf("503: %w", webhook.ErrExhausted)}, lifecycle.NotDelivered},
		{webhook.Result{Err: webhook.ErrClosed}, lifecycle.NotDelivered},
	} {
		if got := s.webhookOutcome(lifecycle.Receipt{}, tc.res); got != tc.want {
			t.Errorf("%+v → %d, want %d", tc.res, got, tc.want)
		}
	}
}
