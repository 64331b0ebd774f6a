package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ids"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/eventstore"
)

// Transition is what a lifecycle command did: the events appended (none
// for a duplicate or late input) and the message afterwards.
type Transition struct {
	Events  []events.Event
	Message *message.Message
}

const lifecycleRetries = 3

// advance reads a message, lets decide choose the events for its current
// state, and appends them with the expected version; on a concurrent
// append it re-reads and decides again (bounded).
//
// The first try starts from the ledger's own copy of the message (the
// tracker, fed by the log): no read at all when that copy is current, which
// it is unless the follower lags behind this very message. The append's
// expected version makes a stale copy harmless: it conflicts, and the retry
// reads the stream.
func (s *Service) advance(ctx context.Context, id uuid.UUID, decide func(m *message.Message, at time.Time) ([]events.Event, error)) (Transition, error) {
	return s.advanceWithIDs(ctx, id, decide, nil)
}

// advanceWithIDs is advance with the appended events' ids made by eventID
// (the i-th event of the decision) instead of drawn: a decision two
// processes may take alike (an expiry) then appends the same events, and
// a retried append is a no-op.
func (s *Service) advanceWithIDs(ctx context.Context, id uuid.UUID, decide func(m *message.Message, at time.Time) ([]events.Event, error), eventID func(i int) uuid.UUID) (Transition, error) {
	if s.fenced() {
		return Transition{}, fmt.Errorf("message %s: %w", id, ErrTakenOver) // the taker drives it now
	}
	for try := 0; ; try++ {
		var (
			m          *message.Message
			corr, last uuid.UUID
			version    uint64
			fromCopy   bool
		)
		if w, ok := s.work.get(id); ok && try == 0 && w.Message.Version > 0 {
			m, fromCopy = &w.Message, true
			corr, last, version = w.CorrelationID, w.LastEventID, uint64(w.Message.Version-1)
		} else {
			recs, evs, err := s.readMessage(ctx, "", id)
			if err != nil {
				return Transition{}, err
			}
			if m, err = message.Rebuild(evs); err != nil {
				return Transition{}, fmt.Errorf("message %s: %w", id, err)
			}
			corr, last, version = recs[0].Metadata.CorrelationID, recs[len(recs)-1].ID, recs[len(recs)-1].Version
		}
		out, err := decide(m, s.clock().UTC())
		if err != nil || len(out) == 0 {
			if fromCopy {
				// A refusal or no-op decided on the tracker's copy may be
				// the copy's lag: decide again on the stream.
				continue
			}
			return Transition{Message: m}, err
		}
		data := make([]eventstore.EventData, len(out))
		for i, e := range out {
			typ, b, err := events.Encode(e)
			if err != nil {
				return Transition{}, fmt.Errorf("encode %s: %w", e.EventType(), err)
			}
			var eid uuid.UUID
			if eventID != nil {
				eid = eventID(i)
			} else if eid, err = s.id(); err != nil {
				return Transition{}, err
			}
			data[i] = eventstore.EventData{ID: eid, Type: typ, Data: b, Metadata: eventstore.Metadata{CorrelationID: corr, CausationID: last}}
		}
		res, err := s.store.Append(ctx, events.MessageStream(id), eventstore.Exact(version), data...)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) && try < lifecycleRetries {
			continue
		}
		if err != nil {
			return Transition{}, fmt.Errorf("message %s: append %d events: %w", id, len(out), err)
		}
		s.work.record(s, id, res.Position, version+1, out, data)
		if err := m.ApplyAll(out); err != nil {
			panic(fmt.Sprintf("ledger: message %s: decided events do not apply: %v", id, err))
		}
		return Transition{Events: out, Message: m}, nil
	}
}

// SubmittedToSupplier records that submit_sm for the message's current
// attempt was sent to its current supplier.
func (s *Service) SubmittedToSupplier(ctx context.Context, msgID uuid.UUID) (Transition, error) {
	return s.advance(ctx, msgID, func(m *message.Message, at time.Time) ([]events.Event, error) { return m.Submit(at) })
}

// SupplierAccepted records a successful submit_sm_resp; for on_submit
// billing it settles the hold. The supplier message id is indexed for DLRs.
func (s *Service) SupplierAccepted(ctx context.Context, msgID uuid.UUID, supplierID string, attempt int, supplierMsgID string, latency time.Duration) (Transition, error) {
	tr, err := s.advance(ctx, msgID, func(m *message.Message, at time.Time) ([]events.Event, error) {
		return m.OnSupplierAccepted(supplierID, attempt, supplierMsgID, latency.Milliseconds(), at)
	})
	if err == nil && len(tr.Events) > 0 {
		s.indexDLR(supplierID, supplierMsgID, msgID)
	}
	return tr, err
}

// SupplierRejected records an error submit_sm_resp and fails over to the
// next candidate (FailedOver) or fails the message and releases the hold.
func (s *Service) SupplierRejected(ctx context.Context, msgID uuid.UUID, supplierID string, attempt int, commandStatus uint32) (Transition, error) {
	return s.advance(ctx, msgID, func(m *message.Message, at time.Time) ([]events.Event, error) {
		return m.OnSupplierRejected(supplierID, attempt, commandStatus, at)
	})
}

// SubmitWithdrawn records that the submit of attempt, recorded as sent to
// the supplier, never left this node (it was queued when the node stopped
// binding the supplier): the message is routed again to the same
// supplier as the next attempt, for a node with a bind to send.
func (s *Service) SubmitWithdrawn(ctx context.Context, msgID uuid.UUID, supplierID string, attempt int, reason string) (Transition, error) {
	return s.advance(ctx, msgID, func(m *message.Message, at time.Time) ([]events.Event, error) {
		return m.Withdraw(supplierID, attempt, s.opts.Node, reason, at)
	})
}

// SupplierTimedOut records a missing submit_sm_resp, then fails over or
// fails like SupplierRejected.
func (s *Service) SupplierTimedOut(ctx context.Context, msgID uuid.UUID, supplierID string, attempt int, timeout time.Duration) (Transition, error) {
	return s.advance(ctx, msgID, func(m *message.Message, at time.Time) ([]events.Event, error) {
		return m.OnSupplierTimedOut(supplierID, attempt, timeout.Milliseconds(), at)
	})
}

// DeliveryReported records a supplier DLR, found by the supplier's message
// id; a final status settles (on_delivery, DELIVRD) or releases the hold.
// A repeat of a final DLR changes nothing (no events, no error), also once
// its message has finished (for finalDLRsMax ids); an unknown supplier
// message id is ErrNotFound.
func (s *Service) DeliveryReported(ctx context.Context, supplierID, supplierMsgID, stat, errCode string, doneAt time.Time) (Transition, error) {
	id, ok := s.lookupDLR(supplierID, supplierMsgID)
	if !ok && s.wasFinal(supplierID, supplierMsgID) {
		return Transition{}, nil
	}
	if !ok {
		return Transition{}, fmt.Errorf("DLR from %s for %q: %w", supplierID, supplierMsgID, ErrNotFound)
	}
	return s.advance(ctx, id, func(m *message.Message, at time.Time) ([]events.Event, error) {
		return m.OnDeliveryReport(supplierMsgID, stat, errCode, doneAt, at)
	})
}

// DeliveryForwarded records that the final status went back to the tenant.
func (s *Service) DeliveryForwarded(ctx context.Context, msgID uuid.UUID) (Transition, error) {
	return s.advance(ctx, msgID, func(m *message.Message, at time.Time) ([]events.Event, error) { return m.OnForwarded(at) })
}

// Expire ends a message whose validity ran out and releases its hold (an
// on_submit settlement stands). Its events' ids are derived from the
// message id, so that every process expiring it appends the same events.
// A final message is left alone.
func (s *Service) Expire(ctx context.Context, msgID uuid.UUID) (Transition, error) {
	return s.advanceWithIDs(ctx, msgID, func(m *message.Message, at time.Time) ([]events.Event, error) { return m.Expire(at) },
		func(i int) uuid.UUID { return ids.TimeOrdered(msgID, uuid.NewSHA1(msgID, []byte{'x', byte(i)})) })
}
