package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/eventstore"
	"golang.org/x/time/rate"
)

// Accepted is the answer to an accepted submit: the message is durable.
type Accepted struct {
	MessageID uuid.UUID
	Parts     int
	Price     decimal.Decimal
	Currency  string
}

// Dispatch is an accepted message waiting to be submitted to a supplier.
// Version is the message stream's version after the accept events (the
// expected version of the next append).
type Dispatch struct {
	MessageID          uuid.UUID
	TenantID           string
	From               string
	To                 string // E.164 digits
	Text               string
	Encoding           string
	Parts              int
	RegisteredDelivery bool
	Candidates         []message.Candidate // eligible suppliers in try order
	Version            uint64
	AcceptedAt         time.Time
}

type throttle struct {
	limit   int
	limiter *rate.Limiter
}

// allow applies the tenant's TPS limit (0 = unlimited).
func (s *Service) allow(t *tenantSnap) bool {
	if t.TPSLimit <= 0 {
		return true
	}
	s.throttleMu.Lock()
	th := s.throttles[t.accept.ID]
	if th == nil || th.limit != t.TPSLimit {
		th = &throttle{limit: t.TPSLimit, limiter: rate.NewLimiter(rate.Limit(t.TPSLimit), t.TPSLimit)}
		s.throttles[t.accept.ID] = th
	}
	s.throttleMu.Unlock()
	return th.limiter.AllowN(s.clock(), 1)
}

// Submit is the hot path: it decides the message from the in-memory
// snapshots (normalise, parts, price, route, hold), appends MessageAccepted,
// RouteSelected and Held to message-<id> with expected version "no stream",
// and returns only when they are durable. If the append fails the hold is
// released and the error wraps ErrNotDurable. req.MessageID is set to a new
// UUIDv7 when zero. Refusals wrap domain errors; CodeOf maps them.
func (s *Service) Submit(ctx context.Context, tenantID string, req accept.Request) (Accepted, error) {
	if !s.Ready() {
		return Accepted{}, ErrNotReady
	}
	st := s.state.Load()
	t, ok := st.tenants[tenantID]
	if !ok {
		return Accepted{}, fmt.Errorf("submit for %q: %w", tenantID, ErrUnknownTenant)
	}
	if !s.allow(t) {
		return Accepted{}, fmt.Errorf("tenant %q over %d msg/s: %w", tenantID, t.TPSLimit, ErrThrottled)
	}
	if req.MessageID == uuid.Nil {
		id, err := s.id()
		if err != nil {
			return Accepted{}, err
		}
		req.MessageID = id
	}
	tenant := t.accept // a copy; Account is shared
	d, err := accept.Decide(&tenant, st.snapshot, s.health.Load(), &req)
	if err != nil {
		return Accepted{}, err
	}
	// From here the price is held: every path must end durable or undone.
	s.pending.Store(req.MessageID, struct{}{})
	at := s.clock().UTC()
	evs := d.Events(&tenant, &req, at)
	data := make([]eventstore.EventData, len(evs))
	meta := eventstore.Metadata{CorrelationID: req.MessageID, CausationID: req.MessageID}
	for i, e := range evs {
		typ, b, err := events.Encode(e)
		if err != nil {
			return Accepted{}, s.undo(&tenant, &d, req.MessageID, fmt.Errorf("encode %s: %w", e.EventType(), err))
		}
		// Deterministic ids: a retried append of the same message is a no-op.
		data[i] = eventstore.EventData{ID: uuid.NewSHA1(req.MessageID, []byte{byte(i)}), Type: typ, Data: b, Metadata: meta}
	}
	// The customer waits for this append (submit_sm_resp, HTTP 202): it goes
	// ahead of lifecycle appends in the store's queue.
	_, err = s.store.Append(eventstore.WithUrgency(ctx), events.MessageStream(req.MessageID), eventstore.NoStream, data...)
	if err != nil {
		if err := s.undo(&tenant, &d, req.MessageID, err); err != nil {
			return Accepted{}, err
		}
		// The follower already saw the events: they are durable.
	}
	acc := Accepted{MessageID: req.MessageID, Parts: d.Segments.Parts, Price: d.Quote.Price.Decimal(), Currency: string(d.Quote.Currency)}
	s.dispatch(&d, &req, tenantID, uint64(len(evs)-1), at)
	return acc, nil
}

// undo releases the hold of a message whose append failed, unless the
// follower has meanwhile seen its Held (then it is durable and nil is
// returned).
func (s *Service) undo(t *accept.Tenant, d *accept.Decision, id uuid.UUID, cause error) error {
	if _, mine := s.pending.LoadAndDelete(id); !mine {
		return nil
	}
	if err := accept.Undo(t, d); err != nil {
		panic(fmt.Sprintf("ledger: undo hold of message %s: %v", id, err)) // the hold was ours: cannot underflow
	}
	// Debug, not Warn: while the store is down this happens for every
	// submit; the store logs each failed batch and metrics count the
	// refusals (result system_error).
	s.log.Debug("ledger: message not durable, hold released", "message", id, "tenant", t.ID, "err", cause)
	return fmt.Errorf("message %s: %w: %w", id, ErrNotDurable, cause)
}

func (s *Service) dispatch(d *accept.Decision, req *accept.Request, tenantID string, version uint64, at time.Time) {
	cands := make([]message.Candidate, d.Route.Eligible)
	for i := range cands {
		c := &d.Route.Candidates[i]
		cands[i] = message.Candidate{SupplierID: c.SupplierID, Currency: c.Currency, CostPerPart: c.CostPerPart}
	}
	msg := Dispatch{
		MessageID: req.MessageID, TenantID: tenantID, From: req.From, To: d.To, Text: req.Text,
		Encoding: d.Segments.Encoding.String(), Parts: d.Segments.Parts, RegisteredDelivery: req.RegisteredDelivery,
		Candidates: cands, Version: version, AcceptedAt: at,
	}
	select {
	case s.outbox <- msg:
	default:
		s.outboxDropped.Add(1)
	}
}
