package lifecycle

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/eventstore"
)

// The lifecycle's tests run the real ledger on the in-memory event store,
// with a fake clock and fake ports: no PostgreSQL, no sockets.

// faultStore is an event store whose appends can be made to fail: refused
// (nothing appended, an error returned) or ambiguous (appended, an error
// returned, as when the connection is lost at COMMIT).
type faultStore struct {
	eventstore.Store
	mode atomic.Int32
}

const (
	storeOK int32 = iota
	storeRefuses
	storeAmbiguous
)

var errStoreDown = errors.New("append not durable: connection refused")

func (s *faultStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	switch s.mode.Load() {
	case storeRefuses:
		return eventstore.AppendResult{}, errStoreDown
	case storeAmbiguous:
		if _, err := s.Store.Append(ctx, stream, expected, evs...); err != nil {
			return eventstore.AppendResult{}, err
		}
		return eventstore.AppendResult{}, errStoreDown
	}
	return s.Store.Append(ctx, stream, expected, evs...)
}

// suppliers is a fake supplier side: it records the attempts it takes, or
// refuses them while refuse is set.
type suppliers struct {
	mu       sync.Mutex
	attempts []Attempt
	refuse   bool
	taken    chan Attempt
}

func newSuppliers() *suppliers { return &suppliers{taken: make(chan Attempt, 1024)} }

func (s *suppliers) Enqueue(_ context.Context, a Attempt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return errors.New("queue full")
	}
	s.attempts = append(s.attempts, a)
	s.taken <- a
	return nil
}

func (s *suppliers) setRefuse(v bool) {
	s.mu.Lock()
	s.refuse = v
	s.mu.Unlock()
}

func (s *suppliers) sent() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.attempts...)
}

// next waits for the next attempt the supplier side takes.
func (s *suppliers) next(t *testing.T) Attempt {
	t.Helper()
	select {
	case a := <-s.taken:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("no attempt reached the supplier side")
		return Attempt{}
	}
}

// receipts is a fake receipt sink. With async set, Deliver returns
// ErrDeliveryPending and the test calls the done funcs it keeps.
type receipts struct {
	mu        sync.Mutex
	ready     bool
	async     bool
	delivered []Receipt
	dones     []func(Outcome)
	got       chan Receipt
}

func newReceipts() *receipts { return &receipts{ready: true, got: make(chan Receipt, 1024)} }

func (r *receipts) Ready(string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

func (r *receipts) Deliver(_ context.Context, rc Receipt, done func(Outcome)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ready {
		return ErrNoReceiver
	}
	if r.async {
		r.dones = append(r.dones, done)
		return ErrDeliveryPending
	}
	r.delivered = append(r.delivered, rc)
	r.got <- rc
	return nil
}

func (r *receipts) set(ready, async bool) {
	r.mu.Lock()
	r.ready, r.async = ready, async
	r.mu.Unlock()
}

func (r *receipts) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.delivered)
}

// world is one ledger (tenant acme, route 49 → sup1 unless asked
// otherwise) and a driver over it with fake ports, not running: tests
// drive its steps, or Run it with run().
type world struct {
	t        *testing.T
	store    *faultStore
	clock    *ledgertest.Clock
	svc      *ledger.Service
	sup      *suppliers
	rcpt     *receipts
	d        *Driver
	forwards atomic.Int64

	afterSetup []func()
}

// worldOption adjusts a world: the ledger's options before it starts, or
// the configuration after Setup.
type worldOption func(*world, *ledger.Options)

// twoSuppliers routes 49 to sup1, then sup2.
func twoSuppliers(w *world, o *ledger.Options) {
	w.afterSetup = append(w.afterSetup, func() {
		w.addSupplier("sup2")
		w.route("sup1", "sup2")
	})
}

// outboxSize sets the ledger's outbox size.
func outboxSize(n int) worldOption {
	return func(_ *world, o *ledger.Options) { o.OutboxSize = n }
}

func newWorld(t *testing.T, opts ...worldOption) *world {
	t.Helper()
	w := &world{t: t, store: &faultStore{Store: ledgertest.MemStore(t)}, clock: ledgertest.NewClock(), sup: newSuppliers(), rcpt: newReceipts()}
	lo := ledger.Options{Clock: w.clock.Now, Logger: quiet()}
	for _, o := range opts {
		o(w, &lo)
	}
	w.svc = ledgertest.Start(t, w.store, lo)
	ledgertest.Setup(t, w.svc, "acme")
	for _, f := range w.afterSetup {
		f()
	}
	w.must(w.svc.TopUp(context.Background(), "acme", decimal.RequireFromString("10"), "t1"))
	w.d = w.driver(w.svc)
	return w
}

// driver makes a driver over svc with the world's ports and clock.
func (w *world) driver(svc *ledger.Service) *Driver {
	return New(svc, w.sup, w.rcpt, Options{Now: w.clock.Now, SubmitTimeout: time.Second, Workers: 4, Logger: quiet(), Observer: forwardCounter{&w.forwards}})
}

type forwardCounter struct{ n *atomic.Int64 }

func (f forwardCounter) DLRForwarded(time.Duration) { f.n.Add(1) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (w *world) must(_ any, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// addSupplier configures another supplier with costs for 49.
func (w *world) addSupplier(id string) {
	w.t.Helper()
	ctx := context.Background()
	if err := w.svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: id, Name: id, Currency: "EUR", Host: "127.0.0.1", Port: 2775,
		SystemID: id, Password: "pw", Binds: 1, TPSLimit: 100, Window: 10}); err != nil {
		w.t.Fatal(err)
	}
	if err := w.svc.SetCosts(ctx, id, []events.Cost{{Prefix: "49", Cost: decimal.RequireFromString("0.02")}}); err != nil {
		w.t.Fatal(err)
	}
}

// route sets the route 49 → suppliers.
func (w *world) route(suppliers ...string) {
	w.t.Helper()
	if err := w.svc.SetRoutes(context.Background(), []events.Route{{Prefix: "49", Suppliers: suppliers}}); err != nil {
		w.t.Fatal(err)
	}
}

// submit accepts one message that asks for a DLR, and takes its id off the
// outbox (as a dispatch worker would).
func (w *world) submit() uuid.UUID {
	w.t.Helper()
	acc, err := w.svc.Submit(context.Background(), "acme", acceptRequest())
	if err != nil {
		w.t.Fatal(err)
	}
	select {
	case id := <-w.svc.Outbox():
		if id != acc.MessageID {
			w.t.Fatalf("outbox gave %s, submitted %s", id, acc.MessageID)
		}
	case <-time.After(time.Second):
		w.t.Fatal("accepted message not on the outbox")
	}
	return acc.MessageID
}

// sent submits a message and dispatches it; it returns the message and
// the attempt the supplier side took.
func (w *world) sent(ctx context.Context) (uuid.UUID, Attempt) {
	w.t.Helper()
	id := w.submit()
	w.d.dispatch(ctx, id)
	return id, w.sup.next(w.t)
}

// view is the ledger's view of message id.
func (w *world) view(id uuid.UUID) ledger.MessageView {
	w.t.Helper()
	v, err := w.svc.Message(context.Background(), "acme", id)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// eventually waits (bounded) until cond holds.
func (w *world) eventually(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// run runs the driver until the test ends.
func (w *world) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.d.Run(ctx) }()
	w.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			w.t.Errorf("run: %v", err)
		}
	})
}

// startRedo runs the driver's resumer and redo workers until the test ends.
func (w *world) startRedo() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	w.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	startWorkers(ctx, &wg, redoWorkers, w.d.redo, func(id uuid.UUID) { w.d.redispatch(ctx, id) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.d.resumeLoop(ctx)
	}()
}

func acceptRequest() accept.Request {
	return accept.Request{To: "+4915112345678", Text: "hello", RegisteredDelivery: true}
}
