package relay

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/message"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// sweepWorld is a ledger on a real (embedded) PostgreSQL with tenant acme
// routed to sup1, and a relay over it that is not running (the test drives
// its passes).
func sweepWorld(t *testing.T) (*ledger.Service, *Relay) {
	t.Helper()
	svc := ledgertest.Start(t, ledgertest.Store(t), ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(context.Background(), "acme", decimal.RequireFromString("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	return svc, New(svc, Options{SubmitTimeout: time.Second})
}

func submitted(t *testing.T, svc *ledger.Service) ledger.Work {
	t.Helper()
	ctx := context.Background()
	acc, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	<-svc.Outbox()
	if _, err := svc.SubmittedToSupplier(ctx, acc.MessageID); err != nil {
		t.Fatal(err)
	}
	w, ok := svc.WorkOf(acc.MessageID)
	if !ok || !w.InFlight() {
		t.Fatalf("not in flight: %+v", w)
	}
	return w
}

// A message marked submitted that egress never got (the mark committed
// although its caller was told otherwise) is recorded as timed out once
// the sweep has seen it so for staleAfter; one egress holds is left alone.
func TestSweepTimesOutWhatNobodyHolds(t *testing.T) {
	ctx := context.Background()
	svc, r := sweepWorld(t)
	lost, held := submitted(t, svc), submitted(t, svc)
	r.hand(attemptKey{held.Message.ID, held.Message.Attempt})

	t0 := time.Now()
	r.sweep(ctx, t0)
	r.sweep(ctx, t0.Add(r.staleAfter()/2))
	if w, _ := svc.WorkOf(lost.Message.ID); !w.InFlight() {
		t.Fatalf("timed out before staleAfter: %s", w.Message.State)
	}
	r.sweep(ctx, t0.Add(r.staleAfter()))
	v, err := svc.Message(ctx, "acme", lost.Message.ID)
	if err != nil || v.State != "failed" || v.Money != "released" {
		t.Fatalf("lost submit after the sweep: %+v %v", v, err)
	}
	if w, ok := svc.WorkOf(held.Message.ID); !ok || !w.InFlight() {
		t.Fatalf("held submit touched by the sweep: %v %s", ok, w.Message.State)
	}
}

// A supplier answer the store could not take is kept and recorded by a
// later pass.
func TestKeptAnswerRecordedLater(t *testing.T) {
	ctx := context.Background()
	svc, r := sweepWorld(t)
	w := submitted(t, svc)
	id, sup := w.Message.ID, w.Message.Supplier().SupplierID
	storeDown := true
	record := func(ctx context.Context) (ledger.Transition, error) {
		if storeDown {
			return ledger.Transition{}, errors.New("append not durable: connection refused")
		}
		return svc.SupplierAccepted(ctx, id, sup, w.Message.Attempt, "SUP-7", time.Millisecond)
	}
	r.recordAnswer(ctx, id, false, record)
	r.retryAnswers(ctx)
	if got, _ := svc.WorkOf(id); !got.InFlight() {
		t.Fatalf("recorded while the store is down: %s", got.Message.State)
	}
	// Kept answers keep the sweep off the message.
	r.sweep(ctx, time.Now())
	r.sweep(ctx, time.Now().Add(r.staleAfter()))
	if got, _ := svc.WorkOf(id); !got.InFlight() {
		t.Fatalf("swept while its answer is kept: %s", got.Message.State)
	}
	storeDown = false
	r.retryAnswers(ctx)
	v, err := svc.Message(ctx, "acme", id)
	if err != nil || v.State != "supplier_accepted" || v.SupplierMessageID != "SUP-7" {
		t.Fatalf("after the retry: %+v %v", v, err)
	}
	if len(r.answers) != 0 {
		t.Fatalf("%d answers still kept", len(r.answers))
	}
	// A refusal by the ledger is not retried.
	r.recordAnswer(ctx, id, false, func(context.Context) (ledger.Transition, error) {
		return ledger.Transition{}, &message.TransitionError{MessageID: id, From: message.StateDelivered, Event: "SupplierAccepted"}
	})
	if len(r.answers) != 0 {
		t.Fatal("a refused answer was kept")
	}
}

// A submit mark that committed although its dispatcher was told it failed
// (the connection lost at COMMIT): the log shows the attempt in flight and
// nothing was sent. The sweep sends it at once — once — instead of timing
// it out after staleAfter and failing it over (real PostgreSQL, a real
// simulator).
func TestSweepSendsAnAttemptWhoseFailedMarkCommitted(t *testing.T) {
	ctx := context.Background()
	svc, r := sweepWorld(t)
	sim := simtest.Start(t, smscsim.Config{SystemID: "simsup", Password: "pw", DLRDelay: time.Hour})
	host, portS, _ := net.SplitHostPort(sim.Addr())
	port, _ := strconv.Atoi(portS)
	if err := svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: "simsup", Name: "sim", Currency: "EUR", Host: host, Port: port,
		SystemID: "simsup", Password: "pw", Binds: 1, TPSLimit: 100, Window: 10}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetCosts(ctx, "simsup", []events.Cost{{Prefix: "49", Cost: decimal.RequireFromString("0.02")}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"simsup"}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stopSuppliers)

	acc, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	<-svc.Outbox()
	id := acc.MessageID
	w, _ := svc.WorkOf(id)
	// The dispatcher's mark: it committed, the dispatcher saw an error.
	if _, err := svc.SubmittedToSupplier(ctx, id); err != nil {
		t.Fatal(err)
	}
	r.noteUnsent(attemptKey{id, w.Message.Attempt})
	// A second dispatch finds it submitted and sends nothing.
	r.redispatch(ctx, id)
	if sim.Submitted.Load() != 0 {
		t.Fatal("a second dispatch sent it")
	}

	r.sweep(ctx, time.Now())
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := svc.Message(ctx, "acme", id)
		if err == nil && v.State == "supplier_accepted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not sent by the sweep: %+v %v", v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.sweep(ctx, time.Now())
	r.sweep(ctx, time.Now().Add(r.staleAfter()))
	if n := sim.Submitted.Load(); n != 1 {
		t.Fatalf("the simulator got %d submits, want 1", n)
	}
	if v, _ := svc.Message(ctx, "acme", id); v.State != "supplier_accepted" || v.Attempt != w.Message.Attempt {
		t.Fatalf("after more sweeps: %+v", v)
	}
}
