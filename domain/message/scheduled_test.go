package message

import (
	"errors"
	"testing"
	"time"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
)

// scheduledAt returns a message accepted with a send_at of at.
func scheduledAt(t *testing.T, at time.Time) *Message {
	t.Helper()
	m, err := Rebuild([]events.Event{
		events.MessageAccepted{MessageID: id, TenantID: "acme", To: "447700900123", Parts: 1,
			PricePerPart: dec("0.05"), Price: dec("0.05"), Currency: "EUR", Billing: string(money.BillOnSubmit), SendAt: at, At: t0},
		events.RouteSelected{MessageID: id, RoutePrefix: "44", Winner: "s1", Candidates: []events.RouteCandidate{
			{SupplierID: "s1", CostPerPart: dec("0.02"), Currency: "EUR", Eligible: true},
			{SupplierID: "s2", CostPerPart: dec("0.03"), Currency: "EUR", Eligible: true},
		}, At: t0},
		events.Held{MessageID: id, TenantID: "acme", Amount: dec("0.05"), Currency: "EUR", At: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestScheduledIsNotSubmittedBeforeItsTime(t *testing.T) {
	sendAt := t0.Add(time.Hour)
	m := scheduledAt(t, sendAt)
	if m.State != StateScheduled || !m.SendAt.Equal(sendAt) || !m.HoldOpen {
		t.Fatalf("after accept: state %s send_at %s hold %v", m.State, m.SendAt, m.HoldOpen)
	}
	if _, err := m.Submit(sendAt.Add(-time.Second)); !errors.Is(err, ErrTooEarly) {
		t.Fatalf("submit a second early: %v, want ErrTooEarly", err)
	}
	eq(t, step(t, m)(m.Submit(sendAt)), events.TypeSubmittedToSupplier)
	if m.State != StateSubmitted {
		t.Fatalf("state %s, want submitted", m.State)
	}
}

func TestScheduledFailoverKeepsItScheduledAndExpiryEndsIt(t *testing.T) {
	sendAt := t0.Add(time.Hour)
	m := scheduledAt(t, sendAt)
	eq(t, step(t, m)(m.Failover("supplier disabled", t0.Add(time.Minute))), events.TypeFailedOver)
	if m.State != StateScheduled || m.Supplier().SupplierID != "s2" {
		t.Fatalf("after failover: state %s supplier %s", m.State, m.Supplier().SupplierID)
	}
	if _, err := m.Submit(t0.Add(2 * time.Minute)); !errors.Is(err, ErrTooEarly) {
		t.Fatalf("submit early after failover: %v", err)
	}
	eq(t, step(t, m)(m.Expire(t0.Add(30*time.Minute))), events.TypeMessageExpired, events.TypeReleased)
	if m.State != StateExpired || m.HoldOpen {
		t.Fatalf("after expiry: state %s hold %v", m.State, m.HoldOpen)
	}
}
