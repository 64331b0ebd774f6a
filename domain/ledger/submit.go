package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ids"
	"github.com/smsledger/smsledger/domain/money"
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
// UUIDv7 when zero. Refusals wrap domain errors; CodeOf maps them. A
// submit with req.IdempotencyKey repeats the answer of the first submit
// with that key and request (idempotency.go).
func (s *Service) Submit(ctx context.Context, tenantID string, req accept.Request) (Accepted, error) {
	if !s.Ready() || s.fenced() {
		return Accepted{}, ErrNotReady
	}
	st := s.state.Load()
	t, ok := st.tenants[tenantID]
	if !ok {
		return Accepted{}, fmt.Errorf("submit for %q: %w", tenantID, ErrUnknownTenant)
	}
	if t.Suspended {
		// The adapters close a suspended tenant's binds and refuse its keys;
		// this closes the moment between (a submit on a bind not yet closed).
		return Accepted{}, fmt.Errorf("submit for %q: %w", tenantID, ErrTenantSuspended)
	}
	var idem *idemKey // set: the key is reserved, and released unless the submit is accepted or in doubt
	if req.IdempotencyKey != "" {
		if len(req.IdempotencyKey) > MaxIdempotencyKeyLen {
			return Accepted{}, invalid("idempotency_key", "must be at most %d bytes", MaxIdempotencyKeyLen)
		}
		k := keyOf(tenantID, req.IdempotencyKey)
		acc, found, err := s.idem.begin(k, hashOf(req.RequestHash), s.clock())
		switch {
		case err != nil:
			return Accepted{}, fmt.Errorf("tenant %q: %w", tenantID, err)
		case found:
			return acc, nil // a repeat: the first submit's answer, nothing held again
		}
		idem = &k
	}
	var (
		acc     Accepted
		inDoubt bool
		err     error
	)
	if idem != nil && req.MessageID == uuid.Nil {
		acc, inDoubt, err = s.submitKeyed(ctx, t, st, req, idem)
	} else {
		acc, inDoubt, err = s.submit(ctx, t, st, req, idem)
	}
	if idem != nil {
		switch {
		case err == nil:
			s.idem.done(*idem, acc)
		case !inDoubt: // in doubt: the resolver or the follower settles the key
			s.idem.forget(*idem)
		}
	}
	return acc, err
}

// submit is Submit after the idempotency key is reserved; inDoubt reports
// a refusal whose accept may yet be in the log (indoubt.go).
func (s *Service) submit(ctx context.Context, t *tenantSnap, st *state, req accept.Request, idem *idemKey) (acc Accepted, inDoubt bool, err error) {
	tenantID := t.accept.ID
	if !s.allow(t) {
		return Accepted{}, false, fmt.Errorf("tenant %q over %d msg/s: %w", tenantID, t.TPSLimit, ErrThrottled)
	}
	if s.doubt.full() {
		return Accepted{}, false, fmt.Errorf("%d submits in doubt: %w", inDoubtMax, ErrNotDurable)
	}
	if s.work.refusing() {
		return Accepted{}, false, fmt.Errorf("%d unfinished messages, near the bound of %d: %w", s.work.size.Load(), s.work.max, ErrThrottled)
	}
	if err := s.admitBacklog(tenantID, t.accept.Tier); err != nil {
		return Accepted{}, false, err
	}
	if req.MessageID == uuid.Nil {
		id, err := s.id()
		if err != nil {
			return Accepted{}, false, err
		}
		req.MessageID = id
	}
	now := s.clock()
	req.At = now // route rows with hours apply by the time of the decision
	if err := accept.Schedule(&req, now, time.Duration(s.validityOf(t))*time.Second); err != nil {
		return Accepted{}, false, fmt.Errorf("message %s: %w", req.MessageID, err)
	}
	if len(req.ClientRef) > accept.MaxClientRefLen {
		return Accepted{}, false, invalid("client_ref", "must be at most %d bytes", accept.MaxClientRefLen)
	}
	tenant := t.accept // a copy; Account is shared
	if s.inCluster() {
		// A node holds on its lease of the tenant's money (budget.go).
		tl, lease, err := s.leaseAccount(tenantID)
		if err != nil {
			return Accepted{}, false, err
		}
		tenant.Account, req.Node = lease, s.opts.Node
		tl.lastHold.Store(now.UnixNano())
	}
	var d accept.Decision // kept in place: over a kilobyte
	if err := s.decide(ctx, &d, &tenant, st, &req); err != nil {
		return Accepted{}, false, err
	}
	// The controls (controls.go): a refusal has given the hold back; what
	// the stateful ones took goes back unless the message is accepted.
	tk, err := s.control(t, st, &tenant, &d, &req, now)
	if err != nil {
		return Accepted{}, false, err
	}
	defer func() {
		if err != nil && !inDoubt {
			tk.release()
		}
	}()
	// From here the price is held: every path must end durable or undone.
	s.pending.Store(req.MessageID, struct{}{})
	at := s.clock().UTC()
	evs := d.Events(&tenant, &req, at)
	// The events' ids derive from the message id, but for a keyed message,
	// whose id every node derives alike from the key (idempotency.go), from
	// an id of this submit's own: another node's accept of the key must
	// conflict with this one, not pass for its repeat.
	idBase := req.MessageID
	if req.IdempotencyKey != "" {
		if idBase, err = s.id(); err != nil {
			return Accepted{}, false, s.undo(&tenant, &d, req.MessageID, err)
		}
	}
	data := make([]eventstore.EventData, len(evs))
	meta := eventstore.Metadata{CorrelationID: req.MessageID, CausationID: req.MessageID}
	for i, e := range evs {
		typ, b, err := events.Encode(e)
		if err != nil {
			return Accepted{}, false, s.undo(&tenant, &d, req.MessageID, fmt.Errorf("encode %s: %w", e.EventType(), err))
		}
		// Deterministic ids: a retried append of the same message is a no-op;
		// time-ordered like the message id, so the log's event_id index
		// grows at its right edge.
		data[i] = eventstore.EventData{ID: ids.TimeOrdered(idBase, uuid.NewSHA1(idBase, []byte{byte(i)})), Type: typ, Data: b, Metadata: meta}
	}
	// The customer waits for this append (submit_sm_resp, HTTP 202): it goes
	// ahead of lifecycle appends in the store's queue. The caller's context
	// does not cancel it: its outcome must be known either way (indoubt.go).
	actx, cancel := context.WithTimeout(eventstore.WithUrgency(context.WithoutCancel(ctx)), appendTimeout)
	res, err := s.store.Append(actx, events.MessageStream(req.MessageID), eventstore.NoStream, data...)
	cancel()
	if err != nil {
		written, rerr := s.outcome(ctx, req.MessageID, data[0].ID, err)
		switch {
		case rerr != nil:
			// Unknown: refused, but the hold stays until the log says.
			s.keepInDoubt(req.MessageID, data[0].ID, &tenant, &d, idem)
			return Accepted{}, true, fmt.Errorf("message %s: %w: outcome unknown, hold kept: %w", req.MessageID, ErrNotDurable, errors.Join(err, rerr))
		case !written:
			if err := s.undo(&tenant, &d, req.MessageID, err); err != nil {
				return Accepted{}, false, err
			}
			// The follower already saw the events: they are durable.
		}
		// Written after all: the follower records it in the tracker.
	} else {
		// Dispatch finds the message in the tracker at once.
		s.work.record(s, req.MessageID, res.Position, 0, evs, data)
	}
	acc = Accepted{MessageID: req.MessageID, Parts: d.Segments.Parts, Price: d.Quote.Price.Decimal(), Currency: string(d.Quote.Currency)}
	if req.SendAt.IsZero() {
		s.dispatch(req.MessageID) // a scheduled message is dispatched by the lifecycle at its time (SendDue)
	}
	return acc, false, nil
}

// decide is accept.DecideInto; in a cluster a hold its lease does not
// cover leases more (budget.go) and decides again.
func (s *Service) decide(ctx context.Context, d *accept.Decision, tenant *accept.Tenant, st *state, req *accept.Request) error {
	err := accept.DecideInto(d, tenant, st.snapshot, s.health.Load(), st.numbering, req)
	var short *money.InsufficientFundsError
	for try := 0; try < 3 && s.inCluster() && errors.As(err, &short); try++ {
		if lerr := s.leaseMore(ctx, tenant.ID, short.Requested); lerr != nil {
			if errors.As(lerr, new(*money.InsufficientFundsError)) {
				return fmt.Errorf("tenant %s: %w", tenant.ID, lerr) // the tenant's money does not cover it
			}
			return lerr
		}
		*d = accept.Decision{}
		err = accept.DecideInto(d, tenant, st.snapshot, s.health.Load(), st.numbering, req)
	}
	return err
}

// validityOf is the validity in seconds of t's submits that give none.
func (s *Service) validityOf(t *tenantSnap) int {
	if t.DefaultValidityS > 0 {
		return t.DefaultValidityS
	}
	return int(s.opts.DefaultValidity / time.Second)
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

// dispatch tells egress a message is accepted and routed. Only the id goes
// on the outbox: what egress needs to send it (payload, candidates,
// version) is in the ledger's tracker, fed by the same events from the log.
func (s *Service) dispatch(id uuid.UUID) {
	select {
	case s.outbox <- id:
	default:
		s.outboxDropped.Add(1)
	}
}
