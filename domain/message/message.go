// Package message is the lifecycle of one SMS as a state machine over its
// events. A Message is rebuilt by applying the events of its stream in
// order (Apply); commands (Submit, OnSupplierAccepted, OnDeliveryReport …)
// decide, without mutating the message, which events to append next. The
// caller appends them to the message stream and then applies them.
//
// Rules the machine enforces:
//   - only legal transitions are applied (Apply returns *TransitionError);
//   - duplicates (the same DLR twice, a second submit_sm_resp, a late
//     submit_sm_resp for an attempt already timed out and failed over) decide
//     no events: they are idempotent no-ops;
//   - terminal states (delivered, undelivered, rejected, expired, failed) are
//     final: nothing but forwarding the DLR follows them;
//   - money follows the tenant's billing mode: on_submit settles when a
//     supplier accepts, on_delivery settles on a delivered DLR; a message that
//     ends without being settled releases its hold. Exactly one of Settled or
//     Released closes every hold;
//   - the supplier's cost follows the supplier's billing basis, independently:
//     on_submit books it at the supplier's acceptance (it stands whatever
//     follows), on_delivery only on a delivered DLR; booked once, with the
//     tenant's Settled when both fall on the same event, else apart
//     (SupplierCostBooked);
//   - a scheduled message (SendAt) is not submitted before its time.
package message

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
)

// State is where a message is in its lifecycle.
type State string

// States. Terminal ones are marked.
const (
	StateNew              State = ""
	StateAccepted         State = "accepted"
	StateRouted           State = "routed"            // a supplier is chosen, not yet submitted
	StateScheduled        State = "scheduled"         // routed, to be submitted at SendAt (not before)
	StateSubmitted        State = "submitted"         // submit_sm sent, awaiting submit_sm_resp
	StateSubmitFailed     State = "submit_failed"     // rejected or timed out; failover or failure follows
	StateSupplierAccepted State = "supplier_accepted" // awaiting the DLR
	StateDelivered        State = "delivered"         // terminal
	StateUndelivered      State = "undelivered"       // terminal
	StateRejected         State = "rejected"          // terminal: DLR REJECTD
	StateExpired          State = "expired"           // terminal
	StateFailed           State = "failed"            // terminal: no supplier accepted
)

// Terminal reports whether s is final.
func (s State) Terminal() bool {
	switch s {
	case StateDelivered, StateUndelivered, StateRejected, StateExpired, StateFailed:
		return true
	}
	return false
}

// Errors for errors.Is.
var (
	ErrIllegalTransition = errors.New("illegal message transition")
	ErrWrongMessage      = errors.New("event belongs to another message")
	// ErrTooEarly: a scheduled message may not be submitted before its time.
	ErrTooEarly = errors.New("scheduled message submitted before its time")
)

// Sendable reports whether the message waits for its current supplier's
// submit: routed, or scheduled (Submit checks the time).
func (m *Message) Sendable() bool { return m.State == StateRouted || m.State == StateScheduled }

// TransitionError reports an event or command that is not legal in the
// message's current state.
type TransitionError struct {
	MessageID uuid.UUID
	From      State
	Event     string
}

func (e *TransitionError) Error() string {
	from := e.From
	if from == StateNew {
		from = "new"
	}
	return fmt.Sprintf("message %s: %s in state %s: %s", e.MessageID, e.Event, from, ErrIllegalTransition)
}

// Is makes errors.Is(err, ErrIllegalTransition) true.
func (e *TransitionError) Is(target error) bool { return target == ErrIllegalTransition }

// Candidate is a supplier from the RouteSelected event, in try order.
type Candidate struct {
	SupplierID  string
	Currency    money.Currency
	CostPerPart money.Units
	// Billing is when we owe this supplier its cost (its basis when it
	// was chosen): on_submit, at its submit_sm_resp; on_delivery, only for
	// a delivered message. Independent of the tenant's billing mode.
	Billing money.BillingMode
	// CostBooked: this supplier's cost for the message is booked (by a
	// Settled with a cost or by SupplierCostBooked). Only the supplier that
	// accepted the message is ever booked, once. It lives here, with the
	// attempt that carried the message, and Apply sets it on a copy of
	// Candidates, so that copies of a Message never share it.
	CostBooked bool
}

// Message is the aggregate: the state of one message rebuilt from its
// stream. The zero Message is a message with no events yet.
type Message struct {
	ID       uuid.UUID
	TenantID string
	State    State
	Billing  money.BillingMode
	Currency money.Currency
	Parts    int
	Price    money.Units // the tenant price, held at accept
	// RegisteredDelivery says the tenant asked for a DLR;
	// ReceiptOnFailureOnly, only if the message does not end delivered.
	RegisteredDelivery, ReceiptOnFailureOnly bool

	// SendAt is the scheduled delivery time (zero: at once); the message
	// is not submitted before it.
	SendAt time.Time

	Candidates []Candidate // eligible candidates in try order
	Current    int         // index into Candidates of the supplier in use
	Attempt    int         // 1-based number of the current attempt

	SupplierMessageID string
	DLRStatus         string

	HoldOpen  bool
	Settled   bool
	Released  bool
	Forwarded bool

	// Version is the number of events applied: the expected version for
	// the next append is Version-1 (0-based stream revisions).
	Version int
}

// Supplier returns the supplier currently in use.
func (m *Message) Supplier() Candidate {
	if m.Current < len(m.Candidates) {
		return m.Candidates[m.Current]
	}
	return Candidate{}
}

func (m *Message) illegal(e string) error {
	return &TransitionError{MessageID: m.ID, From: m.State, Event: e}
}

// Rebuild applies a stream's events in order to a new Message.
func Rebuild(stream []events.Event) (*Message, error) {
	m := &Message{}
	for i, e := range stream {
		if err := m.Apply(e); err != nil {
			return nil, fmt.Errorf("rebuild at event %d: %w", i, err)
		}
	}
	return m, nil
}

// ReceiptDue reports whether the tenant is owed a DLR it has not had: the
// message is final, a receipt was asked for, and not only on failure for a
// message that ended delivered.
func (m *Message) ReceiptDue() bool {
	if !m.State.Terminal() || !m.RegisteredDelivery || m.Forwarded {
		return false
	}
	return !m.ReceiptOnFailureOnly || m.State != StateDelivered
}

// ApplyAll applies events in order, stopping at the first error.
func (m *Message) ApplyAll(es []events.Event) error {
	for _, e := range es {
		if err := m.Apply(e); err != nil {
			return err
		}
	}
	return nil
}
