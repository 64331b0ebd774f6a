package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/adapters/secret"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestAdminCommandsValidateAndApply(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")

	err := svc.CreateTenant(ctx, ledger.TenantSpec{ID: "acme", Name: "x", Currency: "EUR", Billing: "on_submit", Tier: "standard"})
	if !errors.Is(err, ledger.ErrAlreadyExists) {
		t.Fatalf("duplicate tenant: %v", err)
	}
	for _, spec := range []ledger.TenantSpec{
		{ID: "", Name: "x", Currency: "EUR", Billing: "on_submit", Tier: "standard"},
		{ID: "b", Name: "x", Currency: "eur", Billing: "on_submit", Tier: "standard"},
		{ID: "b", Name: "x", Currency: "EUR", Billing: "monthly", Tier: "standard"},
		{ID: "b", Name: "x", Currency: "EUR", Billing: "on_submit", Tier: "gold"},
		{ID: "b", Name: "x", Currency: "EUR", Billing: "on_submit", Tier: "standard", CreditLimit: dec("0.000000001")},
		{ID: "b", Name: "x", Currency: "EUR", Billing: "on_submit", Tier: "standard", CreditLimit: dec("-1")},
	} {
		if err := svc.CreateTenant(ctx, spec); !errors.Is(err, ledger.ErrInvalid) || ledger.CodeOf(err) != ledger.CodeInvalid {
			t.Errorf("CreateTenant(%+v) = %v, want invalid", spec, err)
		}
	}
	if _, err := svc.TopUp(ctx, "nobody", dec("1"), "r"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("top-up of unknown tenant: %v", err)
	}
	if err := svc.SetRoutes(ctx, []events.Route{{Prefix: "1", Suppliers: []string{"ghost"}}}); !errors.Is(err, ledger.ErrInvalid) {
		t.Errorf("route to unknown supplier: %v", err)
	}
	if err := svc.SetRates(ctx, "acme", []events.Rate{{Prefix: "4x", Price: dec("1")}}); !errors.Is(err, ledger.ErrInvalid) {
		t.Errorf("bad rate prefix: %v", err)
	}

	// Top-ups are idempotent by reference.
	r1, err := svc.TopUp(ctx, "acme", dec("10.50"), "inv-1")
	if err != nil || r1.Duplicate {
		t.Fatalf("top-up: %+v %v", r1, err)
	}
	r2, err := svc.TopUp(ctx, "acme", dec("10.50"), "inv-1")
	if err != nil || !r2.Duplicate || r2.EntryID != r1.EntryID {
		t.Fatalf("repeated top-up: %+v %v", r2, err)
	}
	if _, err := svc.TopUp(ctx, "acme", dec("11"), "inv-1"); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("reference reused with another amount: %v", err)
	}
	b, _ := svc.Balance("acme")
	if b.Balance != "10.5" || b.Available != "10.5" || b.Held != "0" {
		t.Fatalf("balance after top-ups: %+v", b)
	}

	// Credentials.
	if err := svc.SetSmppCredentials(ctx, "acme", "acme01", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if id, err := svc.AuthenticateSMPP(ctx, "acme01", "s3cret"); err != nil || id != "acme" {
		t.Fatalf("smpp auth: %q %v", id, err)
	}
	if id, err := svc.AuthenticateSMPP(ctx, "acme01", "s3cret"); err != nil || id != "acme" { // cached
		t.Fatalf("smpp auth (cached): %q %v", id, err)
	}
	if _, err := svc.AuthenticateSMPP(ctx, "acme01", "wrong"); !errors.Is(err, ledger.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := svc.AuthenticateSMPP(ctx, "nobody", "s3cret"); !errors.Is(err, ledger.ErrUnknownSystemID) {
		t.Fatalf("unknown system id: %v", err)
	}
	if err := svc.SetSmppCredentials(ctx, "acme", "acme01", "n3w"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateSMPP(ctx, "acme01", "s3cret"); !errors.Is(err, ledger.ErrBadCredentials) {
		t.Fatalf("old password after change (cache must not win): %v", err)
	}
	key, keyID, err := svc.IssueAPIKey(ctx, "acme")
	if err != nil || keyID == "" {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if id, err := svc.AuthenticateAPIKey(ctx, key); err != nil || id != "acme" {
			t.Fatalf("api key: %q %v", id, err)
		}
	}
	bad := key[:len(key)-1] + "A"
	if bad == key {
		bad = key[:len(key)-1] + "B"
	}
	for _, k := range []string{bad, "", "sml_x", key + "x"} {
		if _, err := svc.AuthenticateAPIKey(ctx, k); !errors.Is(err, ledger.ErrBadCredentials) {
			t.Errorf("key %q: %v", k, err)
		}
	}
	if pw, err := svc.SupplierPassword("sup1"); err != nil || pw != "pw" {
		t.Fatalf("supplier password: %q %v", pw, err)
	}
}

func TestSubmitLifecycleAndAudit(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	ledgertest.Setup(t, svc, "other")
	if _, err := svc.TopUp(ctx, "acme", dec("1"), "t1"); err != nil {
		t.Fatal(err)
	}

	// Refusals with stable codes.
	cases := map[ledger.Code]accept.Request{
		ledger.CodeInvalidDestination: {To: "abc", Text: "hi"},
		ledger.CodeNoRate:             {To: "+33612345678", Text: "hi"},
	}
	for want, req := range cases {
		if _, err := svc.Submit(ctx, "acme", req); ledger.CodeOf(err) != want {
			t.Errorf("submit %+v: %v (code %s), want %s", req, err, ledger.CodeOf(err), want)
		}
	}
	if _, err := svc.Submit(ctx, "ghost", accept.Request{To: "+4915112345678"}); ledger.CodeOf(err) != ledger.CodeUnknownTenant {
		t.Errorf("unknown tenant: %v", err)
	}
	if _, err := svc.Submit(ctx, "other", accept.Request{To: "+4915112345678", Text: "x"}); ledger.CodeOf(err) != ledger.CodeInsufficientFunds {
		t.Errorf("no funds: %v", err)
	}

	acc, err := svc.Submit(ctx, "acme", accept.Request{Channel: "http", From: "ACME", To: "+49 151 12345678", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if acc.Parts != 1 || !acc.Price.Equal(dec("0.07")) || acc.Currency != "EUR" || acc.MessageID.Version() != 7 {
		t.Fatalf("accepted: %+v", acc)
	}
	b, _ := svc.Balance("acme")
	if b.Held != "0.07" || b.Available != "0.93" || b.Balance != "1" {
		t.Fatalf("balance after submit: %+v", b)
	}
	select {
	case id := <-svc.Outbox():
		if id != acc.MessageID {
			t.Fatalf("dispatch of %s, want %s", id, acc.MessageID)
		}
	default:
		t.Fatal("nothing in the outbox")
	}
	// What egress sends it with: the tracker's copy, from the log.
	var w ledger.Work
	for deadline := time.Now().Add(10 * time.Second); ; {
		var ok bool
		if w, ok = svc.WorkOf(acc.MessageID); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("accepted message not tracked within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(w.Message.Candidates) != 1 || w.Message.Candidates[0].SupplierID != "sup1" || w.Message.Version != 3 ||
		!w.NeedsDispatch() || w.To != "4915112345678" {
		t.Fatalf("tracked message: %+v", w)
	}
	v, err := svc.Message(ctx, "acme", acc.MessageID)
	if err != nil || v.State != "routed" || v.Supplier != "sup1" || v.Price != "0.07" || v.To != "4915112345678" || v.Money != "held" {
		t.Fatalf("message view: %+v %v", v, err)
	}
	if _, err := svc.Message(ctx, "other", acc.MessageID); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("other tenant reads message: %v", err)
	}

	// Egress: submitted, accepted (settles on_submit), DLR delivered, forwarded.
	if _, err := svc.SubmittedToSupplier(ctx, acc.MessageID); err != nil {
		t.Fatal(err)
	}
	tr, err := svc.SupplierAccepted(ctx, acc.MessageID, "sup1", 1, "SUP-1", 20*time.Millisecond)
	if err != nil || len(tr.Events) < 2 {
		t.Fatalf("supplier accepted: %+v %v", tr, err)
	}
	if tr, err := svc.SupplierAccepted(ctx, acc.MessageID, "sup1", 1, "SUP-1", 0); err != nil || len(tr.Events) != 0 {
		t.Fatalf("duplicate resp: %+v %v", tr, err)
	}
	if _, err := svc.DeliveryReported(ctx, "sup1", "SUP-1", "DELIVRD", "000", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeliveryReported(ctx, "sup1", "nope", "DELIVRD", "000", time.Now()); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown DLR: %v", err)
	}
	if _, err := svc.DeliveryForwarded(ctx, acc.MessageID); err != nil {
		t.Fatal(err)
	}
	v, err = svc.Message(ctx, "acme", acc.MessageID)
	if err != nil || v.State != "delivered" || v.Money != "settled" || v.Cost != "0.02" || v.SupplierAcceptedAt == nil || v.FinalAt == nil {
		t.Fatalf("final view: %+v %v", v, err)
	}
	evs, err := svc.MessageEvents(ctx, "acme", acc.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	want := fmt.Sprint([]string{"MessageAccepted", "RouteSelected", "Held", "SubmittedToSupplier", "SupplierAccepted", "Settled", "JournalEntryRecorded", "DeliveryReported", "DeliveryForwarded"})
	if fmt.Sprint(types) != want {
		t.Fatalf("audit trail %v, want %v", types, want)
	}
	waitBalance(t, svc, "acme", ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "0.93", CreditLimit: "0", Held: "0", Available: "0.93"})

	// A failing supplier: reject → no more candidates → failed, released.
	acc2, err := svc.Submit(ctx, "acme", accept.Request{To: "+4930123456", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SubmittedToSupplier(ctx, acc2.MessageID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SupplierRejected(ctx, acc2.MessageID, "sup1", 1, 0x45); err != nil {
		t.Fatal(err)
	}
	v, _ = svc.Message(ctx, "acme", acc2.MessageID)
	if v.State != "failed" || v.Money != "released" {
		t.Fatalf("rejected message: %+v", v)
	}
	waitBalance(t, svc, "acme", ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "0.93", CreditLimit: "0", Held: "0", Available: "0.93"})
}

// failingStore fails every message append.
type failingStore struct{ eventstore.Store }

func (f failingStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if _, ok := events.MessageIDFromStream(stream); ok {
		return eventstore.AppendResult{}, errors.New("disk on fire")
	}
	return f.Store.Append(ctx, stream, exp, evs...)
}

func TestSubmitNotDurableReleasesHold(t *testing.T) {
	ctx := context.Background()
	svc := startAcmeOn(t, failingStore{ledgertest.MemStore(t)})
	_, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if !errors.Is(err, ledger.ErrNotDurable) || ledger.CodeOf(err) != ledger.CodeSystemError {
		t.Fatalf("submit on a failing store: %v", err)
	}
	if b, _ := svc.Balance("acme"); b.Held != "0" || b.Available != "1" {
		t.Fatalf("hold not released: %+v", b)
	}
}

// startAcmeOn runs a Service over store until the test ends, with tenant
// acme (ledgertest.Setup) topped up by 1.
func startAcmeOn(t *testing.T, store eventstore.Store) *ledger.Service {
	t.Helper()
	ctx := context.Background()
	hasher, err := secret.NewBcryptHasher(secret.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewRandomSealer()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ledger.New(store, ledger.Options{Hasher: hasher, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go svc.Run(rctx)
	if err := svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", dec("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	return svc
}

func waitBalance(t *testing.T, svc *ledger.Service, tenant string, want ledger.BalanceView) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := svc.Balance(tenant)
		if err == nil && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("balance of %s: %+v (%v), want %+v", tenant, got, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Many goroutines submitting for one tenant never overspend: accepted
// prices sum to the holds, available never goes below zero, and a new
// Service on the same log rebuilds the same balance with the open holds.
func TestConcurrentSubmitsNeverOverspendAndRestartRebuilds(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{OutboxSize: 1})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", dec("10"), "t1"); err != nil { // 10 / 0.07 = 142 messages
		t.Fatal(err)
	}
	var accepted, refused atomic.Int64
	var sum money.Units
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				acc, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
				switch ledger.CodeOf(err) {
				case ledger.CodeOK:
					accepted.Add(1)
					mu.Lock()
					sum += money.MustFromDecimal(acc.Price)
					mu.Unlock()
				case ledger.CodeInsufficientFunds:
					refused.Add(1)
				default:
					t.Errorf("submit: %v", err)
					return
				}
				b, _ := svc.Balance("acme")
				if d, _ := decimal.NewFromString(b.Available); d.IsNegative() {
					t.Errorf("available below zero: %+v", b)
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != 142 || refused.Load() != 16*15-142 {
		t.Fatalf("accepted %d refused %d, want 142 and %d", accepted.Load(), refused.Load(), 16*15-142)
	}
	b, _ := svc.Balance("acme")
	if b.Held != sum.String() || b.Balance != "10" || b.Available != "0.06" {
		t.Fatalf("balance %+v, holds sum %s", b, sum)
	}
	if svc.OutboxDropped() != 141 {
		t.Errorf("outbox dropped %d, want 141", svc.OutboxDropped())
	}

	// Settle one message so the rebuild covers a settlement too.
	id := <-svc.Outbox()
	if _, err := svc.SubmittedToSupplier(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SupplierAccepted(ctx, id, "sup1", 1, "S1", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	want := ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "9.93", CreditLimit: "0", Held: "9.87", Available: "0.06"}
	waitBalance(t, svc, "acme", want)

	svc2 := ledgertest.Start(t, store, ledger.Options{})
	waitBalance(t, svc2, "acme", want)
	if _, err := svc2.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"}); ledger.CodeOf(err) != ledger.CodeInsufficientFunds {
		t.Fatalf("restarted service overspends: %v", err)
	}
	// The restarted service knows the supplier message id for DLRs.
	if _, err := svc2.DeliveryReported(ctx, "sup1", "S1", "DELIVRD", "", time.Now()); err != nil {
		t.Fatalf("DLR after restart: %v", err)
	}
}

func BenchmarkSubmit(b *testing.B) {
	ctx := context.Background()
	store := ledgertest.MemStore(b)
	svc := ledgertest.Start(b, store, ledger.Options{OutboxSize: 1})
	ledgertest.Setup(b, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", dec("100000000"), "t1"); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "bench"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// heldStore holds back what its subscriptions deliver while hold is set, so
// that a test can run commands while the ledger's follower lags.
type heldStore struct {
	eventstore.Store
	hold    atomic.Bool
	release chan struct{}
}

func (h *heldStore) SubscribeAll(ctx context.Context, after eventstore.Position) (eventstore.Subscription, error) {
	sub, err := h.Store.SubscribeAll(ctx, after)
	if err != nil {
		return nil, err
	}
	return heldSub{sub, h}, nil
}

type heldSub struct {
	eventstore.Subscription
	h *heldStore
}

func (s heldSub) Next(ctx context.Context) ([]eventstore.RecordedEvent, error) {
	batch, err := s.Subscription.Next(ctx)
	if s.h.hold.Load() {
		select {
		case <-s.h.release:
		case <-ctx.Done():
		}
	}
	return batch, err
}

// The commands write their events through to the tracker of unfinished
// messages: the next command starts from the current state while the
// follower lags, and the follower, catching up, applies nothing twice and
// still removes the message once it is finished.
func TestTrackerWritesThroughAheadOfTheFollower(t *testing.T) {
	ctx := context.Background()
	store := &heldStore{Store: ledgertest.MemStore(t), release: make(chan struct{})}
	svc := startAcmeOn(t, store)
	waitBalance(t, svc, "acme", ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "1", CreditLimit: "0", Held: "0", Available: "1"})

	store.hold.Store(true) // the follower stops at the next batch
	acc, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x", RegisteredDelivery: true})
	if err != nil {
		t.Fatal(err)
	}
	w, ok := svc.WorkOf(acc.MessageID)
	if !ok || w.Message.Version != 3 || !w.NeedsDispatch() {
		t.Fatalf("tracked right after submit: %v %+v", ok, w)
	}
	if _, err := svc.SubmittedToSupplier(ctx, acc.MessageID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SupplierAccepted(ctx, acc.MessageID, "sup1", 1, "SUP-9", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DeliveryReported(ctx, "sup1", "SUP-9", "DELIVRD", "000", time.Now()); err != nil {
		t.Fatal(err)
	}
	w, ok = svc.WorkOf(acc.MessageID)
	if !ok || w.Message.Version != 8 || !w.NeedsForward() {
		t.Fatalf("tracked after the DLR: %v version %d state %s", ok, w.Message.Version, w.Message.State)
	}
	store.hold.Store(false)
	close(store.release)
	if err := svc.WaitCaughtUp(ctx); err != nil {
		t.Fatal(err)
	}
	// Caught up: the same copy, nothing applied twice.
	w, ok = svc.WorkOf(acc.MessageID)
	if !ok || w.Message.Version != 8 || !w.NeedsForward() {
		t.Fatalf("tracked after catching up: %v version %d state %s", ok, w.Message.Version, w.Message.State)
	}
	if _, err := svc.DeliveryForwarded(ctx, acc.MessageID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := svc.WorkOf(acc.MessageID); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("finished message still tracked 10s after its last event")
		}
	}
	evs, err := svc.MessageEvents(ctx, "acme", acc.MessageID)
	if err != nil || len(evs) != 9 {
		t.Fatalf("audit trail: %d events, %v", len(evs), err)
	}
}

// doubtfulStore fails message appends the way a lost connection does:
// with written set the events are appended and an error returned all the
// same (the commit landed, the caller was told it failed); with readsFail
// set reading a message stream fails too (the store is down).
type doubtfulStore struct {
	eventstore.Store
	written, readsFail atomic.Bool
}

func (d *doubtfulStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if _, ok := events.MessageIDFromStream(stream); !ok {
		return d.Store.Append(ctx, stream, exp, evs...)
	}
	if d.written.Load() {
		if _, err := d.Store.Append(ctx, stream, exp, evs...); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return eventstore.AppendResult{}, errors.New("connection lost at COMMIT")
}

func (d *doubtfulStore) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if _, ok := events.MessageIDFromStream(stream); ok && d.readsFail.Load() {
		return nil, errors.New("store down")
	}
	return d.Store.ReadStream(ctx, stream, from, limit)
}

// The commit landed although the append reported an error, and a read
// says so: the submit is accepted (its outcome is known), held once.
func TestSubmitWrittenDespiteAnErrorIsAccepted(t *testing.T) {
	ctx := context.Background()
	store := &doubtfulStore{Store: ledgertest.MemStore(t)}
	svc := startAcmeOn(t, store)
	store.written.Store(true)
	acc, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if err != nil {
		t.Fatalf("submit whose events were written: %v", err)
	}
	if _, err := svc.Message(ctx, "acme", acc.MessageID); err != nil {
		t.Fatalf("message: %v", err)
	}
	waitBalance(t, svc, "acme", ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "1", CreditLimit: "0", Held: "0.07", Available: "0.93"})
}

// The outcome cannot be learned (the read fails too): the submit is
// refused (not durable) but its hold stays while the message may exist; a
// later read settles it — not written: released; written: kept, the log's.
// Never an overspend, never a message sent without its hold.
func TestSubmitInDoubtKeepsItsHoldUntilTheLogSays(t *testing.T) {
	for _, written := range []bool{false, true} {
		ctx := context.Background()
		store := &doubtfulStore{Store: ledgertest.MemStore(t)}
		svc := startAcmeOn(t, store)
		store.written.Store(written)
		store.readsFail.Store(true)
		id := uuid.Must(uuid.NewV7())
		_, err := svc.Submit(ctx, "acme", accept.Request{MessageID: id, To: "+4915112345678", Text: "x"})
		if !errors.Is(err, ledger.ErrNotDurable) {
			t.Fatalf("written=%v: submit in doubt: %v, want ErrNotDurable", written, err)
		}
		if b, _ := svc.Balance("acme"); b.Held != "0.07" || b.Available != "0.93" {
			t.Fatalf("written=%v: hold released while in doubt: %+v", written, b)
		}
		if svc.InDoubt() != 1 {
			t.Fatalf("written=%v: %d submits in doubt, want 1", written, svc.InDoubt())
		}
		store.readsFail.Store(false) // the store is back; the resolver reads
		want := ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "1", CreditLimit: "0", Held: "0", Available: "1"}
		if written {
			want.Held, want.Available = "0.07", "0.93"
		}
		waitBalance(t, svc, "acme", want)
		deadline := time.Now().Add(10 * time.Second)
		for svc.InDoubt() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("written=%v: still in doubt", written)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Written, it is dispatched at once, as a submit found written after
		// a failed append is; not left to the resumer's stuck pass (~10 s
		// later, after the postgres-restart scenario's customer had gone).
		select {
		case got := <-svc.Outbox():
			if !written || got != id {
				t.Fatalf("written=%v: dispatched %s, want %s only when written", written, got, id)
			}
		case <-time.After(time.Second):
			if written {
				t.Fatalf("written=%v: the message found in the log was not dispatched", written)
			}
		}
	}
}

// The caller giving up (an HTTP client that disconnects, a deadline) does
// not cut the accept append off: the submit ends with the log's outcome,
// here accepted, and not "refused" with a message that exists.
func TestSubmitOutlivesItsCallersContext(t *testing.T) {
	svc := startAcmeOn(t, ledgertest.MemStore(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	acc, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if err != nil {
		t.Fatalf("submit with a cancelled context: %v", err)
	}
	if _, err := svc.Message(context.Background(), "acme", acc.MessageID); err != nil {
		t.Fatalf("message: %v", err)
	}
}

// A submit whose message's stream already holds other events (its id
// taken) is not written: refused, its own hold released.
func TestSubmitOfAnExistingMessageIDIsNotWritten(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := startAcmeOn(t, store)
	id := uuid.Must(uuid.NewV7())
	if _, err := store.Append(ctx, events.MessageStream(id), eventstore.NoStream,
		eventstore.EventData{ID: uuid.New(), Type: "Other", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(ctx, "acme", accept.Request{MessageID: id, To: "+4915112345678", Text: "y"}); !errors.Is(err, ledger.ErrNotDurable) {
		t.Fatalf("submit onto a taken stream: %v", err)
	}
	if b, _ := svc.Balance("acme"); b.Held != "0" || b.Available != "1" {
		t.Fatalf("hold kept: %+v", b)
	}
}
