package message

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
)

// Apply evolves the message by one event from its stream. Events in the
// log were decided by the commands of this package, so an event that is not
// legal here means a corrupt or foreign stream: Apply refuses it with a
// *TransitionError and leaves the message unchanged.
func (m *Message) Apply(e events.Event) error {
	if id, ok := messageIDOf(e); ok && m.State != StateNew && id != m.ID {
		return fmt.Errorf("message %s: %s of %s: %w", m.ID, e.EventType(), id, ErrWrongMessage)
	}
	if err := m.apply(e); err != nil {
		return err
	}
	m.Version++
	return nil
}

func (m *Message) apply(e events.Event) error {
	switch e := e.(type) {
	case events.MessageAccepted:
		if m.State != StateNew {
			return m.illegal(e.EventType())
		}
		cur, err := money.ParseCurrency(e.Currency)
		if err != nil {
			return fmt.Errorf("message %s: %w", e.MessageID, err)
		}
		billing, err := money.ParseBillingMode(e.Billing)
		if err != nil {
			return fmt.Errorf("message %s: %w", e.MessageID, err)
		}
		price, err := money.FromDecimal(e.Price)
		if err != nil {
			return fmt.Errorf("message %s price: %w", e.MessageID, err)
		}
		m.ID, m.TenantID, m.Currency, m.Billing = e.MessageID, e.TenantID, cur, billing
		m.Parts, m.Price, m.RegisteredDelivery = e.Parts, price, e.RegisteredDelivery
		m.ReceiptOnFailureOnly = e.ReceiptOnFailureOnly
		m.SendAt = e.SendAt
		m.State = StateAccepted

	case events.RouteSelected:
		if m.State != StateAccepted {
			return m.illegal(e.EventType())
		}
		cands := make([]Candidate, 0, len(e.Candidates))
		for _, c := range e.Candidates {
			if !c.Eligible {
				continue
			}
			cost, err := money.FromDecimal(c.CostPerPart)
			if err != nil {
				return fmt.Errorf("message %s candidate %s: %w", m.ID, c.SupplierID, err)
			}
			billing, err := supplierBilling(c.Billing)
			if err != nil {
				return fmt.Errorf("message %s candidate %s: %w", m.ID, c.SupplierID, err)
			}
			cands = append(cands, Candidate{SupplierID: c.SupplierID, Currency: money.Currency(c.Currency), CostPerPart: cost, Billing: billing})
		}
		if len(cands) == 0 || cands[0].SupplierID != e.Winner {
			return fmt.Errorf("message %s: route selected without its winner first: %w", m.ID, ErrIllegalTransition)
		}
		m.Candidates, m.Current, m.Attempt = cands, 0, 1
		m.State = StateRouted
		if !m.SendAt.IsZero() {
			m.State = StateScheduled
		}

	case events.Held:
		if (m.State != StateAccepted && m.State != StateRouted && m.State != StateScheduled) || m.HoldOpen || m.Settled || m.Released {
			return m.illegal(e.EventType())
		}
		m.HoldOpen = true

	case events.SubmittedToSupplier:
		if !m.Sendable() || e.SupplierID != m.Supplier().SupplierID || e.Attempt != m.Attempt {
			return m.illegal(e.EventType())
		}
		m.State = StateSubmitted

	case events.SupplierAccepted:
		if m.State != StateSubmitted || e.SupplierID != m.Supplier().SupplierID || e.Attempt != m.Attempt {
			return m.illegal(e.EventType())
		}
		m.SupplierMessageID = e.SupplierMessageID
		m.State = StateSupplierAccepted

	case events.SupplierRejected:
		if m.State != StateSubmitted || e.Attempt != m.Attempt {
			return m.illegal(e.EventType())
		}
		m.State = StateSubmitFailed

	case events.SupplierTimedOut:
		if m.State != StateSubmitted || e.Attempt != m.Attempt {
			return m.illegal(e.EventType())
		}
		m.State = StateSubmitFailed

	case events.FailedOver:
		next := m.Current + 1
		if (m.State != StateSubmitFailed && !m.Sendable()) || next >= len(m.Candidates) ||
			m.Candidates[next].SupplierID != e.ToSupplierID || e.Attempt != m.Attempt+1 {
			return m.illegal(e.EventType())
		}
		m.Current, m.Attempt = next, e.Attempt
		if m.State != StateScheduled { // a failover before the time keeps it scheduled
			m.State = StateRouted
		}

	case events.SubmitWithdrawn:
		if m.State != StateSubmitted || e.SupplierID != m.Supplier().SupplierID || e.Attempt != m.Attempt {
			return m.illegal(e.EventType())
		}
		m.Attempt = e.Attempt + 1
		m.State = StateRouted

	case events.DispatchHandedOver:
		// Who sends it changes (the ledger's tracker folds the owner), not
		// what it is.
		if !m.Sendable() || e.SupplierID != m.Supplier().SupplierID || e.Attempt != m.Attempt || e.To == "" {
			return m.illegal(e.EventType())
		}

	case events.DeliveryReported:
		if m.State != StateSupplierAccepted {
			return m.illegal(e.EventType())
		}
		m.DLRStatus = e.Status
		if s, final := DLROutcome(e.Status); final {
			m.State = s
		}

	case events.DeliveryForwarded:
		if !m.State.Terminal() || m.Forwarded {
			return m.illegal(e.EventType())
		}
		m.Forwarded = true

	case events.MessageExpired:
		if m.State == StateNew || m.State.Terminal() {
			return m.illegal(e.EventType())
		}
		m.State = StateExpired

	case events.MessageFailed:
		if m.State == StateNew || m.State.Terminal() || m.State == StateSupplierAccepted {
			return m.illegal(e.EventType())
		}
		m.State = StateFailed

	case events.Settled:
		withCost := e.CostCurrency != "" // else the cost is booked apart
		if !m.HoldOpen || (withCost && m.CostBooked()) {
			return m.illegal(e.EventType())
		}
		m.HoldOpen, m.Settled = false, true
		if withCost {
			m.markCostBooked()
		}

	case events.SupplierCostBooked:
		if !m.supplierCarried() || m.CostBooked() || e.SupplierID != m.Supplier().SupplierID {
			return m.illegal(e.EventType())
		}
		m.markCostBooked()

	case events.Released:
		if !m.HoldOpen {
			return m.illegal(e.EventType())
		}
		m.HoldOpen, m.Released = false, true

	case events.JournalEntryRecorded:
		if !m.Settled && !m.CostBooked() {
			return m.illegal(e.EventType())
		}

	default:
		return m.illegal(e.EventType())
	}
	return nil
}

// messageIDOf extracts the message id of a message-stream event.
func messageIDOf(e events.Event) (uuid.UUID, bool) {
	switch e := e.(type) {
	case events.MessageAccepted:
		return e.MessageID, true
	case events.RouteSelected:
		return e.MessageID, true
	case events.Held:
		return e.MessageID, true
	case events.SubmittedToSupplier:
		return e.MessageID, true
	case events.SupplierAccepted:
		return e.MessageID, true
	case events.SupplierRejected:
		return e.MessageID, true
	case events.SupplierTimedOut:
		return e.MessageID, true
	case events.FailedOver:
		return e.MessageID, true
	case events.DispatchHandedOver:
		return e.MessageID, true
	case events.SubmitWithdrawn:
		return e.MessageID, true
	case events.DeliveryReported:
		return e.MessageID, true
	case events.DeliveryForwarded:
		return e.MessageID, true
	case events.MessageExpired:
		return e.MessageID, true
	case events.MessageFailed:
		return e.MessageID, true
	case events.Settled:
		return e.MessageID, true
	case events.Released:
		return e.MessageID, true
	case events.JournalEntryRecorded:
		return e.MessageID, true
	case events.SupplierCostBooked:
		return e.MessageID, true
	}
	return uuid.Nil, false
}

// supplierBilling parses a candidate's billing basis; empty (a supplier
// without one, or a log from before bases existed) is on_submit.
func supplierBilling(s string) (money.BillingMode, error) {
	if s == "" {
		return money.BillOnSubmit, nil
	}
	return money.ParseBillingMode(s)
}

// CostBooked reports whether the cost of the supplier that carried the
// message is booked.
func (m *Message) CostBooked() bool { return m.Supplier().CostBooked }

// markCostBooked records the current supplier's cost as booked, on a copy
// of Candidates: a Message copied by value (the ledger's tracker hands out
// copies) keeps its own.
func (m *Message) markCostBooked() {
	if m.Current >= len(m.Candidates) {
		return // a Settled with no route behind it: no supplier to mark
	}
	cs := slices.Clone(m.Candidates)
	cs[m.Current].CostBooked = true
	m.Candidates = cs
}

// supplierCarried reports whether the current supplier accepted the
// message: it is awaiting the DLR or ended by one (states reached only
// through SupplierAccepted).
func (m *Message) supplierCarried() bool {
	switch m.State {
	case StateSupplierAccepted, StateDelivered, StateUndelivered, StateRejected:
		return true
	}
	return false
}
