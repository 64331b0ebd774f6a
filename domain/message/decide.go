package message

import (
	"fmt"
	"time"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
)

// Commands. Each decides the events to append for one input, without
// changing the message; nil events with a nil error means "nothing to do"
// (a duplicate or a late answer). After appending, Apply the events.

// Submit decides the SubmittedToSupplier event for the current supplier
// and attempt. Repeating it after the submit is recorded is a no-op. A
// scheduled message is not submitted before its SendAt (ErrTooEarly).
func (m *Message) Submit(at time.Time) ([]events.Event, error) {
	switch {
	case m.State == StateScheduled && at.Before(m.SendAt):
		return nil, fmt.Errorf("message %s: submit at %s, scheduled for %s: %w", m.ID, at.UTC().Format(time.RFC3339), m.SendAt.UTC().Format(time.RFC3339), ErrTooEarly)
	case m.Sendable():
		return []events.Event{events.SubmittedToSupplier{
			MessageID: m.ID, SupplierID: m.Supplier().SupplierID, Attempt: m.Attempt, At: at,
		}}, nil
	case m.State == StateNew || m.State == StateAccepted || m.State == StateSubmitFailed:
		return nil, m.illegal("Submit")
	}
	return nil, nil // already submitted, answered or final
}

// OnSupplierAccepted decides the events for a successful submit_sm_resp
// for attempt from supplierID: SupplierAccepted, and with on_submit billing
// the settlement (Settled and its journal entries). A duplicate response,
// or a late one for an earlier attempt (after a timeout and failover), is a
// no-op: the current attempt owns the message. Note that a late acceptance
// means the earlier supplier may still deliver (and bill us): the route
// health projection sees it through the SupplierTimedOut already recorded.
func (m *Message) OnSupplierAccepted(supplierID string, attempt int, supplierMessageID string, latencyMs int64, at time.Time) ([]events.Event, error) {
	if m.State == StateNew {
		return nil, m.illegal(events.TypeSupplierAccepted)
	}
	if attempt != m.Attempt || supplierID != m.Supplier().SupplierID || m.State != StateSubmitted {
		if m.State == StateRouted && attempt == m.Attempt {
			return nil, m.illegal(events.TypeSupplierAccepted) // answer before the submit is recorded
		}
		return nil, nil
	}
	out := []events.Event{events.SupplierAccepted{
		MessageID: m.ID, SupplierID: supplierID, Attempt: attempt,
		SupplierMessageID: supplierMessageID, LatencyMs: latencyMs, At: at,
	}}
	if m.Billing == money.BillOnSubmit && m.HoldOpen {
		s, err := m.settle(at)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

// OnSupplierRejected decides the events for an error submit_sm_resp:
// SupplierRejected, then either FailedOver to the next candidate or, when
// none is left, MessageFailed and the release of the hold. Duplicates and
// answers for other attempts are no-ops.
func (m *Message) OnSupplierRejected(supplierID string, attempt int, commandStatus uint32, at time.Time) ([]events.Event, error) {
	if m.State != StateSubmitted || attempt != m.Attempt || supplierID != m.Supplier().SupplierID {
		return nil, nil
	}
	out := []events.Event{events.SupplierRejected{
		MessageID: m.ID, SupplierID: supplierID, Attempt: attempt, CommandStatus: commandStatus, At: at,
	}}
	return append(out, m.failover(fmt.Sprintf("rejected command_status 0x%08x", commandStatus), at)...), nil
}

// OnSupplierTimedOut is OnSupplierRejected for a submit_sm_resp that did not
// come within timeoutMs (or a bind lost with the request outstanding).
func (m *Message) OnSupplierTimedOut(supplierID string, attempt int, timeoutMs int64, at time.Time) ([]events.Event, error) {
	if m.State != StateSubmitted || attempt != m.Attempt || supplierID != m.Supplier().SupplierID {
		return nil, nil
	}
	out := []events.Event{events.SupplierTimedOut{
		MessageID: m.ID, SupplierID: supplierID, Attempt: attempt, TimeoutMs: timeoutMs, At: at,
	}}
	return append(out, m.failover("timed out", at)...), nil
}

// Failover decides moving to the next candidate without a supplier answer
// (e.g. the supplier went down before the submit was sent), or failing the
// message when none is left. Legal only in StateRouted or StateScheduled.
func (m *Message) Failover(reason string, at time.Time) ([]events.Event, error) {
	if !m.Sendable() {
		return nil, m.illegal("Failover")
	}
	return m.failover(reason, at), nil
}

func (m *Message) failover(reason string, at time.Time) []events.Event {
	next := m.Current + 1
	if next < len(m.Candidates) {
		return []events.Event{events.FailedOver{
			MessageID: m.ID, FromSupplierID: m.Supplier().SupplierID, ToSupplierID: m.Candidates[next].SupplierID,
			Attempt: m.Attempt + 1, Reason: reason, At: at,
		}}
	}
	out := []events.Event{events.MessageFailed{
		MessageID: m.ID, Reason: fmt.Sprintf("no supplier accepted after %d attempts: %s", m.Attempt, reason), At: at,
	}}
	return append(out, m.release("failed", at)...)
}

// OnDeliveryReport decides the events for a DLR from the supplier:
// DeliveryReported, and for a final status the money: with on_delivery
// billing DELIVRD settles and any other final status releases. A DLR for a
// message already final is a duplicate (no-op), as is a repeated
// intermediate status. A DLR before the submit_sm_resp was recorded is
// illegal: the adapter should retry it once the response is in.
func (m *Message) OnDeliveryReport(supplierMessageID, status, errorCode string, doneAt, at time.Time) ([]events.Event, error) {
	if m.State.Terminal() {
		return nil, nil
	}
	if m.State != StateSupplierAccepted {
		return nil, m.illegal(events.TypeDeliveryReported)
	}
	if supplierMessageID != m.SupplierMessageID {
		return nil, fmt.Errorf("message %s: DLR for supplier message %q, expected %q: %w",
			m.ID, supplierMessageID, m.SupplierMessageID, ErrWrongMessage)
	}
	outcome, final := DLROutcome(status)
	if !final && status == m.DLRStatus {
		return nil, nil
	}
	out := []events.Event{events.DeliveryReported{
		MessageID: m.ID, SupplierID: m.Supplier().SupplierID, SupplierMessageID: supplierMessageID,
		Status: status, ErrorCode: errorCode, DoneAt: doneAt, At: at,
	}}
	if final && m.HoldOpen {
		if outcome == StateDelivered {
			s, err := m.settle(at)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		} else {
			out = append(out, m.release(string(outcome), at)...)
		}
	}
	return out, nil
}

// OnForwarded decides DeliveryForwarded once the final DLR went to the
// tenant; repeating it is a no-op.
func (m *Message) OnForwarded(at time.Time) ([]events.Event, error) {
	if m.Forwarded {
		return nil, nil
	}
	if !m.State.Terminal() {
		return nil, m.illegal(events.TypeDeliveryForwarded)
	}
	return []events.Event{events.DeliveryForwarded{MessageID: m.ID, TenantID: m.TenantID, Status: m.ReceiptStatus(), At: at}}, nil
}

// ReceiptStatus is the "stat:" the tenant's DLR carries: the supplier's
// final status, or for a message that never reached one, EXPIRED or UNDELIV.
func (m *Message) ReceiptStatus() string {
	switch {
	case m.DLRStatus != "" && m.State != StateExpired && m.State != StateFailed:
		return m.DLRStatus
	case m.State == StateExpired:
		return DLRExpired
	case m.State == StateDelivered:
		return DLRDelivered
	}
	return DLRUndeliverable
}

// Expire decides MessageExpired when the validity period ran out before a
// final outcome, releasing the hold if it was not settled. A final message
// is left alone (no-op).
func (m *Message) Expire(at time.Time) ([]events.Event, error) {
	if m.State == StateNew {
		return nil, m.illegal(events.TypeMessageExpired)
	}
	if m.State.Terminal() {
		return nil, nil
	}
	out := []events.Event{events.MessageExpired{MessageID: m.ID, At: at}}
	return append(out, m.release("expired", at)...), nil
}

func (m *Message) release(reason string, at time.Time) []events.Event {
	if !m.HoldOpen {
		return nil
	}
	return []events.Event{events.Released{
		MessageID: m.ID, TenantID: m.TenantID, Amount: m.Price.Decimal(), Currency: string(m.Currency), Reason: reason, At: at,
	}}
}

// settle decides Settled and the settlement journal entries for the
// current supplier: the price held, and the supplier's cost per part times
// the parts.
func (m *Message) settle(at time.Time) ([]events.Event, error) {
	sup := m.Supplier()
	cost, err := sup.CostPerPart.MulInt(m.Parts)
	if err != nil {
		return nil, fmt.Errorf("message %s: cost: %w", m.ID, err)
	}
	price := money.Money{Amount: m.Price.Decimal(), Currency: m.Currency}
	costM := money.Money{Amount: cost.Decimal(), Currency: sup.Currency}
	entries, err := money.SettlementEntries(m.ID, m.TenantID, sup.SupplierID, price, costM)
	if err != nil {
		// Inputs come from validated events; an unbalanced or mixed entry
		// here is a bug in this package, not bad input.
		panic(fmt.Sprintf("message %s: settlement entries: %v", m.ID, err))
	}
	out := []events.Event{events.Settled{
		MessageID: m.ID, TenantID: m.TenantID, SupplierID: sup.SupplierID,
		Held: price.Amount, Price: price.Amount, Currency: string(m.Currency),
		Cost: costM.Amount, CostCurrency: string(sup.Currency), At: at,
	}}
	for _, e := range entries {
		out = append(out, JournalEvent(e, m.TenantID, at))
	}
	return out, nil
}

// JournalEvent converts a journal entry into its event.
func JournalEvent(e money.Entry, tenantID string, at time.Time) events.JournalEntryRecorded {
	ps := make([]events.Posting, len(e.Postings))
	for i, p := range e.Postings {
		ps[i] = events.Posting{Account: string(p.Account), Amount: p.Amount}
	}
	return events.JournalEntryRecorded{
		EntryID: e.ID, Kind: string(e.Kind), Currency: string(e.Currency), Postings: ps,
		MessageID: e.MessageID, TenantID: tenantID, Reference: e.Reference, At: at,
	}
}

// EntryFromEvent converts a JournalEntryRecorded back into a validated
// journal entry (for projections and the Ledger).
func EntryFromEvent(e events.JournalEntryRecorded) (money.Entry, error) {
	ps := make([]money.Posting, len(e.Postings))
	for i, p := range e.Postings {
		ps[i] = money.Posting{Account: money.AccountName(p.Account), Amount: p.Amount}
	}
	entry := money.Entry{
		ID: e.EntryID, Kind: money.EntryKind(e.Kind), Currency: money.Currency(e.Currency),
		Postings: ps, MessageID: e.MessageID, Reference: e.Reference,
	}
	if err := entry.Validate(); err != nil {
		return money.Entry{}, err
	}
	return entry, nil
}

// ApplyToAccount mirrors a money event of this tenant's messages onto the
// tenant's in-memory Account: Settled closes the hold and charges the price,
// Released closes the hold. Held is not applied here: the hot path holds
// before the accept events are appended (see package accept), and a
// restarted process rebuilds the Account with its open holds.
func ApplyToAccount(a *money.Account, e events.Event) error {
	switch e := e.(type) {
	case events.Settled:
		held, err := money.FromDecimal(e.Held)
		if err != nil {
			return err
		}
		price, err := money.FromDecimal(e.Price)
		if err != nil {
			return err
		}
		return a.Settle(held, price)
	case events.Released:
		amt, err := money.FromDecimal(e.Amount)
		if err != nil {
			return err
		}
		return a.Release(amt)
	}
	return nil
}
