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
// for attempt from supplierID: SupplierAccepted, then the money of the
// moment (see chargeAndBook): the tenant's charge when it is billed
// on_submit, the supplier's cost when it bills on_submit. A duplicate
// response, or a late one for an earlier attempt (after a timeout and
// failover), is a no-op: the current attempt owns the message. Note that a late acceptance
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
	charge := m.Billing == money.BillOnSubmit && m.HoldOpen
	book := m.Supplier().Billing == money.BillOnSubmit && !m.CostBooked()
	mon, err := m.chargeAndBook(charge, book, at)
	if err != nil {
		return nil, err
	}
	return append(out, mon...), nil
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
// DeliveryReported, and for a final status the money: DELIVRD settles an
// open hold (on_delivery billing) and books a cost not booked yet (an
// on_delivery supplier's); any other final status releases the hold and
// books no cost but one owed since the acceptance (costOwedAtEnd). A DLR
// for a message already final is a duplicate (no-op), as is a repeated
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
	if !final {
		return out, nil
	}
	if outcome == StateDelivered {
		mon, err := m.chargeAndBook(m.HoldOpen, !m.CostBooked(), at)
		if err != nil {
			return nil, err
		}
		return append(out, mon...), nil
	}
	mon, err := m.chargeAndBook(false, m.costOwedAtEnd(), at)
	if err != nil {
		return nil, err
	}
	out = append(out, mon...)
	return append(out, m.release(string(outcome), at)...), nil
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

// HandOver decides the DispatchHandedOver by which node gives the sending
// of the current attempt to node to (a cluster's node with a bind of the
// supplier). Only a message not yet sent may change hands; otherwise it is
// a no-op (sent meanwhile: whoever sent it drives it).
func (m *Message) HandOver(node, to string, at time.Time) ([]events.Event, error) {
	if to == "" || to == node {
		return nil, fmt.Errorf("message %s: hand over from %q to %q: %w", m.ID, node, to, ErrIllegalTransition)
	}
	if !m.Sendable() {
		return nil, nil
	}
	return []events.Event{events.DispatchHandedOver{
		MessageID: m.ID, Node: node, To: to, SupplierID: m.Supplier().SupplierID, Attempt: m.Attempt, At: at,
	}}, nil
}

// Withdraw decides SubmitWithdrawn for an attempt that node recorded as
// sent but never sent (it was still queued when the node stopped binding
// the supplier): the message is routed again to the same supplier as the
// next attempt. Anything but the current attempt in flight is a no-op (an
// answer came meanwhile, or it was withdrawn already).
func (m *Message) Withdraw(supplierID string, attempt int, node, reason string, at time.Time) ([]events.Event, error) {
	if m.State != StateSubmitted || attempt != m.Attempt || supplierID != m.Supplier().SupplierID {
		return nil, nil
	}
	return []events.Event{events.SubmitWithdrawn{
		MessageID: m.ID, SupplierID: supplierID, Attempt: attempt, Node: node, Reason: reason, At: at,
	}}, nil
}

// Expire decides MessageExpired when the validity period ran out before a
// final outcome, releasing the hold if it was not settled. A cost owed
// since a supplier's acceptance and not booked yet (costOwedAtEnd) is
// booked first, while the message is still the supplier's. A final
// message is left alone (no-op).
func (m *Message) Expire(at time.Time) ([]events.Event, error) {
	if m.State == StateNew {
		return nil, m.illegal(events.TypeMessageExpired)
	}
	if m.State.Terminal() {
		return nil, nil
	}
	out, err := m.chargeAndBook(false, m.costOwedAtEnd(), at)
	if err != nil {
		return nil, err
	}
	out = append(out, events.MessageExpired{MessageID: m.ID, At: at})
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

// Money: when the tenant is charged and when the supplier is owed.
//
// Two clocks run independently. The tenant's billing mode decides when its
// hold is settled: on_submit at the supplier's acceptance, on_delivery at a
// delivered DLR; a message that ends otherwise releases it. The billing
// basis of the supplier that carried the message (Candidate.Billing)
// decides when we owe that supplier its cost: on_submit at its
// submit_sm_resp, and that stands whatever the message's outcome;
// on_delivery only at a delivered DLR. Each moment's money is decided by
// chargeAndBook, and every message's cost is booked at most once:
//
//   - tenant and supplier at the same moment: one Settled carrying price
//     and cost, with the settlement entries, exactly as before suppliers
//     had a basis (older logs replay to the same read models);
//   - the tenant alone: Settled without a cost (zero, no cost currency)
//     and the sell side's entry;
//   - the supplier alone: SupplierCostBooked and its supplier_cost entry,
//     leaving the tenant's hold as it is (ApplyToAccount ignores it).
//
// A message accepted by a supplier before its basis was known to this
// package (an on_delivery tenant's, its cost not booked at the acceptance)
// has it booked when it ends: delivered, like any; otherwise, when the
// supplier bills on submit (costOwedAtEnd).

// chargeAndBook decides the money of one moment: charge settles the
// tenant's hold, book books the current supplier's cost.
func (m *Message) chargeAndBook(charge, book bool, at time.Time) ([]events.Event, error) {
	switch {
	case charge:
		return m.settle(book, at)
	case book:
		return m.bookCost(at)
	}
	return nil, nil
}

// costOwedAtEnd reports whether a message ending without delivery owes its
// supplier a cost not booked yet: one its on_submit supplier accepted.
// Only a message accepted before candidates carried a basis gets here
// with its cost unbooked (otherwise it was booked at the acceptance).
func (m *Message) costOwedAtEnd() bool {
	return m.State == StateSupplierAccepted && m.Supplier().Billing == money.BillOnSubmit && !m.CostBooked()
}

// cost is the current supplier's cost: its cost per part times the parts.
func (m *Message) cost() (money.Money, error) {
	sup := m.Supplier()
	cost, err := sup.CostPerPart.MulInt(m.Parts)
	if err != nil {
		return money.Money{}, fmt.Errorf("message %s: cost: %w", m.ID, err)
	}
	return money.Money{Amount: cost.Decimal(), Currency: sup.Currency}, nil
}

// settle decides Settled and the settlement journal entries for the
// current supplier: the price held, and with withCost the supplier's cost
// (else the cost is booked apart and Settled carries none).
func (m *Message) settle(withCost bool, at time.Time) ([]events.Event, error) {
	sup := m.Supplier()
	price := money.Money{Amount: m.Price.Decimal(), Currency: m.Currency}
	costM := money.Money{Currency: m.Currency} // zero: the sell side alone
	s := events.Settled{
		MessageID: m.ID, TenantID: m.TenantID, SupplierID: sup.SupplierID,
		Held: price.Amount, Price: price.Amount, Currency: string(m.Currency), At: at,
	}
	if withCost {
		var err error
		if costM, err = m.cost(); err != nil {
			return nil, err
		}
		s.Cost, s.CostCurrency = costM.Amount, string(costM.Currency)
	}
	entries, err := money.SettlementEntries(m.ID, m.TenantID, sup.SupplierID, price, costM)
	if err != nil {
		// Inputs come from validated events; an unbalanced or mixed entry
		// here is a bug in this package, not bad input.
		panic(fmt.Sprintf("message %s: settlement entries: %v", m.ID, err))
	}
	return m.withEntries([]events.Event{s}, entries, at), nil
}

// bookCost decides SupplierCostBooked and its journal entry for the
// current supplier, apart from the tenant's charge.
func (m *Message) bookCost(at time.Time) ([]events.Event, error) {
	sup := m.Supplier()
	cost, err := m.cost()
	if err != nil {
		return nil, err
	}
	entries, err := money.SupplierCostEntries(m.ID, sup.SupplierID, cost)
	if err != nil {
		panic(fmt.Sprintf("message %s: supplier cost entries: %v", m.ID, err)) // as in settle
	}
	b := events.SupplierCostBooked{
		MessageID: m.ID, TenantID: m.TenantID, SupplierID: sup.SupplierID, Attempt: m.Attempt,
		Cost: cost.Amount, CostCurrency: string(cost.Currency), At: at,
	}
	return m.withEntries([]events.Event{b}, entries, at), nil
}

// withEntries appends the journal entries' events to out.
func (m *Message) withEntries(out []events.Event, entries []money.Entry, at time.Time) []events.Event {
	for _, e := range entries {
		out = append(out, JournalEvent(e, m.TenantID, at))
	}
	return out
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
