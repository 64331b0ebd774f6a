package message

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
)

var (
	id = uuid.MustParse("a0c6a6f4-1b0e-4f6c-8d5e-2f9b0b1c2d3e")
	t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// accepted returns a message after the accept batch with candidates s1, s2
// (s3 excluded), price 0.10 for 2 parts; the suppliers bill on the
// tenant's basis (see acceptedWith for others).
func accepted(t *testing.T, billing money.BillingMode) *Message {
	t.Helper()
	return acceptedWith(t, billing, billing)
}

// acceptedWith is accepted with the tenant billed on tenant and the
// suppliers on supplier ("" for a candidate without a basis).
func acceptedWith(t *testing.T, tenant, supplier money.BillingMode) *Message {
	t.Helper()
	billing, sb := tenant, string(supplier)
	m, err := Rebuild([]events.Event{
		events.MessageAccepted{MessageID: id, TenantID: "acme", To: "447700900123", Parts: 2,
			PricePerPart: dec("0.05"), Price: dec("0.10"), Currency: "EUR", Billing: string(billing), At: t0},
		events.RouteSelected{MessageID: id, RoutePrefix: "44", Winner: "s1", Candidates: []events.RouteCandidate{
			{SupplierID: "s1", CostPerPart: dec("0.02"), Currency: "EUR", Billing: sb, Eligible: true},
			{SupplierID: "s2", CostPerPart: dec("0.03"), Currency: "USD", Billing: sb, Eligible: true},
			{SupplierID: "s3", CostPerPart: dec("0.01"), Currency: "EUR", Billing: sb, Excluded: "supplier_down"},
		}, At: t0},
		events.Held{MessageID: id, TenantID: "acme", Amount: dec("0.10"), Currency: "EUR", At: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// step applies what a command decided and returns the event types.
func step(t *testing.T, m *Message) func(es []events.Event, err error) []string {
	return func(es []events.Event, err error) []string {
		t.Helper()
		return stepped(t, m, es, err)
	}
}

func stepped(t *testing.T, m *Message, es []events.Event, err error) []string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ApplyAll(es); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.EventType()
	}
	return out
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}

func TestOnDeliveryHappyPath(t *testing.T) {
	m := accepted(t, money.BillOnDelivery)
	if m.State != StateRouted || !m.HoldOpen || m.Version != 3 || len(m.Candidates) != 2 {
		t.Fatalf("%+v", m)
	}
	eq(t, step(t, m)(m.Submit(t0)), events.TypeSubmittedToSupplier)
	eq(t, step(t, m)(m.Submit(t0))) // duplicate submit: no-op
	eq(t, step(t, m)(m.OnSupplierAccepted("s1", 1, "X1", 5, t0)), events.TypeSupplierAccepted)
	eq(t, step(t, m)(m.OnSupplierAccepted("s1", 1, "X1", 5, t0))) // duplicate resp
	eq(t, step(t, m)(m.OnDeliveryReport("X1", DLREnroute, "", t0, t0)), events.TypeDeliveryReported)
	eq(t, step(t, m)(m.OnDeliveryReport("X1", DLREnroute, "", t0, t0))) // repeated intermediate
	out := m.Settled
	if out {
		t.Fatal("settled before delivery")
	}
	es, err := m.OnDeliveryReport("X1", DLRDelivered, "000", t0, t0)
	eq(t, step(t, m)(es, err), events.TypeDeliveryReported, events.TypeSettled, events.TypeJournalEntryRecorded)
	if m.State != StateDelivered || !m.Settled || m.HoldOpen {
		t.Fatalf("%+v", m)
	}
	s := es[1].(events.Settled)
	if !s.Price.Equal(dec("0.10")) || !s.Cost.Equal(dec("0.04")) || s.SupplierID != "s1" {
		t.Fatalf("settled %+v", s)
	}
	entry, err := EntryFromEvent(es[2].(events.JournalEntryRecorded))
	if err != nil || len(entry.Postings) != 4 {
		t.Fatalf("entry %+v %v", entry, err)
	}
	eq(t, step(t, m)(m.OnDeliveryReport("X1", DLRDelivered, "000", t0, t0)))  // duplicate DLR
	eq(t, step(t, m)(m.OnDeliveryReport("X1", DLRUndeliverable, "", t0, t0))) // late contradicting DLR
	eq(t, step(t, m)(m.Expire(t0)))                                           // final is final
	eq(t, step(t, m)(m.OnForwarded(t0)), events.TypeDeliveryForwarded)
	eq(t, step(t, m)(m.OnForwarded(t0)))
	if m.State != StateDelivered {
		t.Fatal(m.State)
	}
}

func TestOnSubmitSettlesAtAcceptanceAndUndeliveredKeepsCharge(t *testing.T) {
	m := accepted(t, money.BillOnSubmit)
	step(t, m)(m.Submit(t0))
	eq(t, step(t, m)(m.OnSupplierAccepted("s1", 1, "X1", 5, t0)),
		events.TypeSupplierAccepted, events.TypeSettled, events.TypeJournalEntryRecorded)
	eq(t, step(t, m)(m.OnDeliveryReport("X1", DLRUndeliverable, "1", t0, t0)), events.TypeDeliveryReported)
	if m.State != StateUndelivered || !m.Settled || m.Released {
		t.Fatalf("%+v", m)
	}
}

func TestUndeliveredReleasesOnDelivery(t *testing.T) {
	for _, c := range []struct {
		status string
		state  State
	}{{DLRUndeliverable, StateUndelivered}, {DLRRejected, StateRejected}, {DLRExpired, StateExpired}, {"WHATEVER", StateUndelivered}} {
		m := accepted(t, money.BillOnDelivery)
		step(t, m)(m.Submit(t0))
		step(t, m)(m.OnSupplierAccepted("s1", 1, "X1", 5, t0))
		eq(t, step(t, m)(m.OnDeliveryReport("X1", c.status, "", t0, t0)), events.TypeDeliveryReported, events.TypeReleased)
		if m.State != c.state || !m.Released || m.HoldOpen {
			t.Fatalf("%s: %+v", c.status, m)
		}
	}
}

func TestFailoverThenFailure(t *testing.T) {
	m := accepted(t, money.BillOnDelivery)
	step(t, m)(m.Submit(t0))
	eq(t, step(t, m)(m.OnSupplierTimedOut("s1", 1, 5000, t0)), events.TypeSupplierTimedOut, events.TypeFailedOver)
	if m.Supplier().SupplierID != "s2" || m.Attempt != 2 || m.State != StateRouted {
		t.Fatalf("%+v", m)
	}
	// The late submit_sm_resp of attempt 1 is a no-op.
	eq(t, step(t, m)(m.OnSupplierAccepted("s1", 1, "LATE", 9000, t0)))
	eq(t, step(t, m)(m.Submit(t0)), events.TypeSubmittedToSupplier)
	eq(t, step(t, m)(m.OnSupplierAccepted("s1", 1, "LATE", 9000, t0)))
	eq(t, step(t, m)(m.OnSupplierRejected("s2", 2, 0x45, t0)),
		events.TypeSupplierRejected, events.TypeMessageFailed, events.TypeReleased)
	if m.State != StateFailed || !m.Released {
		t.Fatalf("%+v", m)
	}
	eq(t, step(t, m)(m.OnSupplierRejected("s2", 2, 0x45, t0))) // duplicate
	eq(t, step(t, m)(m.OnForwarded(t0)), events.TypeDeliveryForwarded)
	if m.ReceiptStatus() != DLRUndeliverable {
		t.Fatal(m.ReceiptStatus())
	}
}

func TestFailoverSettlesWithSecondSupplierCost(t *testing.T) {
	m := accepted(t, money.BillOnSubmit)
	step(t, m)(m.Failover("supplier down", t0))
	step(t, m)(m.Submit(t0))
	es, err := m.OnSupplierAccepted("s2", 2, "Y", 1, t0)
	step(t, m)(es, err)
	// Price in EUR, cost in USD: two entries, one per currency.
	if len(es) != 4 {
		t.Fatalf("%d events", len(es))
	}
	s := es[1].(events.Settled)
	if s.SupplierID != "s2" || !s.Cost.Equal(dec("0.06")) || s.CostCurrency != "USD" {
		t.Fatalf("%+v", s)
	}
}

func TestExpiryReleases(t *testing.T) {
	m := accepted(t, money.BillOnDelivery)
	step(t, m)(m.Submit(t0))
	step(t, m)(m.OnSupplierAccepted("s1", 1, "X1", 5, t0))
	eq(t, step(t, m)(m.Expire(t0)), events.TypeMessageExpired, events.TypeReleased)
	eq(t, step(t, m)(m.OnDeliveryReport("X1", DLRDelivered, "", t0, t0))) // after final: no-op
	if m.State != StateExpired || m.Settled {
		t.Fatalf("%+v", m)
	}
}

func TestIllegal(t *testing.T) {
	fresh := &Message{}
	if _, err := fresh.Submit(t0); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("submit new: %v", err)
	}
	m := accepted(t, money.BillOnDelivery)
	if _, err := m.OnDeliveryReport("X1", DLRDelivered, "", t0, t0); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("DLR before submit: %v", err)
	}
	if _, err := m.OnSupplierAccepted("s1", 1, "X", 1, t0); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("resp before submit: %v", err)
	}
	var te *TransitionError
	err := m.Apply(events.SupplierAccepted{MessageID: id, SupplierID: "s1", Attempt: 1})
	if !errors.As(err, &te) || te.From != StateRouted {
		t.Errorf("apply accepted in routed: %v", err)
	}
	if err := m.Apply(events.Held{MessageID: id}); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("second hold: %v", err)
	}
	if err := m.Apply(events.Held{MessageID: uuid.New()}); !errors.Is(err, ErrWrongMessage) {
		t.Errorf("foreign event: %v", err)
	}
	if err := m.Apply(events.TenantCreated{}); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("config event: %v", err)
	}
	step(t, m)(m.Submit(t0))
	step(t, m)(m.OnSupplierAccepted("s1", 1, "X1", 5, t0))
	if _, err := m.OnDeliveryReport("OTHER", DLRDelivered, "", t0, t0); !errors.Is(err, ErrWrongMessage) {
		t.Errorf("DLR for other supplier message: %v", err)
	}
	v := m.Version
	if err := m.Apply(events.MessageFailed{MessageID: id}); err == nil || m.Version != v {
		t.Error("failed after supplier acceptance applied")
	}
}

func TestApplyToAccount(t *testing.T) {
	a, _ := money.NewAccount("EUR", money.MustFromDecimal(dec("1")), 0, 0)
	if err := a.Hold(money.MustFromDecimal(dec("0.10"))); err != nil {
		t.Fatal(err)
	}
	m := accepted(t, money.BillOnDelivery)
	step(t, m)(m.Submit(t0))
	step(t, m)(m.OnSupplierAccepted("s1", 1, "X1", 5, t0))
	es, err := m.OnDeliveryReport("X1", DLRDelivered, "", t0, t0)
	step(t, m)(es, err)
	for _, e := range es {
		if err := ApplyToAccount(a, e); err != nil {
			t.Fatal(err)
		}
	}
	if s := a.State(); s.Balance.String() != "0.9" || s.Held != 0 {
		t.Fatalf("%+v", s)
	}
}

// A routed message may be handed to another node before it is sent; the
// hand-over changes who sends it, not its state. Sent, it is not handed
// over; an attempt or supplier other than the current one does not apply.
func TestHandOver(t *testing.T) {
	m := accepted(t, money.BillOnSubmit)
	if _, err := m.HandOver("node-b", "node-b", t0); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("to itself: %v", err)
	}
	v := m.Version
	eq(t, step(t, m)(m.HandOver("node-b", "node-a", t0)), events.TypeDispatchHandedOver)
	if m.State != StateRouted || m.Version != v+1 || m.Attempt != 1 {
		t.Fatalf("after the hand-over: %+v", m)
	}
	if err := m.Apply(events.DispatchHandedOver{MessageID: id, Node: "node-a", To: "node-c", SupplierID: "s2", Attempt: 1, At: t0}); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("for another supplier: %v", err)
	}
	step(t, m)(m.Submit(t0))
	eq(t, step(t, m)(m.HandOver("node-a", "node-c", t0)))
	if err := m.Apply(events.DispatchHandedOver{MessageID: id, Node: "node-a", To: "node-c", SupplierID: "s1", Attempt: 1, At: t0}); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("once submitted: %v", err)
	}
}

// A submit recorded but never sent (queued when the node's bind share
// moved) is withdrawn: routed again to the same supplier as the next
// attempt, so that a node with a bind sends it. Only the current attempt
// in flight is withdrawn; an answer to the withdrawn attempt is a no-op.
func TestWithdraw(t *testing.T) {
	m := accepted(t, money.BillOnSubmit)
	eq(t, step(t, m)(m.Withdraw("s1", 1, "node-a", "share moved", t0))) // not sent yet: nothing
	step(t, m)(m.Submit(t0))
	eq(t, step(t, m)(m.Withdraw("s2", 1, "node-a", "share moved", t0)))
	eq(t, step(t, m)(m.Withdraw("s1", 2, "node-a", "share moved", t0)))
	eq(t, step(t, m)(m.Withdraw("s1", 1, "node-a", "share moved", t0)), events.TypeSubmitWithdrawn)
	if m.State != StateRouted || m.Attempt != 2 || m.Supplier().SupplierID != "s1" || m.Current != 0 {
		t.Fatalf("after the withdrawal: %+v", m)
	}
	eq(t, step(t, m)(m.OnSupplierAccepted("s1", 1, "late", 5, t0))) // the withdrawn attempt's
	eq(t, step(t, m)(m.Withdraw("s1", 1, "node-a", "share moved", t0)))
	if err := m.Apply(events.SubmitWithdrawn{MessageID: id, SupplierID: "s1", Attempt: 2, Node: "node-a", At: t0}); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("withdrawn while routed: %v", err)
	}
	eq(t, step(t, m)(m.Submit(t0)), events.TypeSubmittedToSupplier)
	eq(t, step(t, m)(m.OnSupplierAccepted("s1", 2, "smid-2", 5, t0)), events.TypeSupplierAccepted, events.TypeSettled, events.TypeJournalEntryRecorded)
}
