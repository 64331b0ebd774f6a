package ledger

// Mobile-originated (MO) messages: a supplier's deliver_sm that is not a
// receipt, for a number a tenant owns (mo_numbers.go).
//
// ReceiveMO makes it durable before the supplier is answered: MOReceived
// (and, when the tenant is charged, its settlement journal entry) is
// appended to a new stream message-<id>, the id ours. The MO then waits in
// the ledger's index of MOs to forward (moTracker, fed by the log like the
// tracker of unfinished messages) until MOForwarded ends it; the lifecycle
// forwards it as it forwards final DLRs (domain/lifecycle/mo.go). After a
// restart the follower rebuilds the index from the log, so an MO the
// tenant has not had is sent again: at least once, normally exactly once.
//
// Money: the tenant's mo_price is charged at once, a settlement without a
// hold (Dr tenant, Cr revenue), taken from its Account first
// (money.Account.Debit), atomically against concurrent holds. When its
// available balance does not cover the price, the MO is still recorded and
// delivered, unbilled (price 0, MOReceived.Unbilled; counted by the relay):
// the books' invariant that available never goes below zero holds, and no
// hold is ever revoked.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// ErrUnknownNumber: no tenant owns an MO's destination number. The
// supplier is acknowledged all the same (nothing to retry) and the MO is
// counted, not stored.
var ErrUnknownNumber = errors.New("no tenant owns the number")

// MOPendingMax bounds the MOs waiting for their tenant (~300 bytes each:
// ~30 MB). Near it (all but 1/100), ReceiveMO refuses with ErrThrottled:
// the supplier is answered an error and delivers the MO again later.
const MOPendingMax = 100_000

// MaxMOText bounds an MO's text (a deliver_sm carries at most 64 KiB in
// message_payload).
const MaxMOText = 64 << 10

// MOIn is an MO as the supplier side received it.
type MOIn struct {
	SupplierID string
	From, To   string // the handset, the destination number as written
	Text       string
	Encoding   string // "gsm7" | "latin1" | "ucs2"
}

// MOReceipt is what ReceiveMO recorded.
type MOReceipt struct {
	MessageID uuid.UUID
	TenantID  string
	Number    string          // the destination as the tenant owns it
	Price     decimal.Decimal // charged (0 when unbilled or free)
	Currency  money.Currency
	Unbilled  bool // the tenant's balance did not cover its mo_price
}

// PendingMO is an MO its tenant has not had yet.
type PendingMO struct {
	ID                   uuid.UUID
	TenantID, SupplierID string
	From, To             string // the handset; the tenant's number
	Text, Encoding       string
	ReceivedAt           time.Time
	// Version is the stream's last event (MOReceived, or its journal
	// entry): MOForwarded is appended right after it, exactly once.
	Version uint64
	// Owner is the cluster node that received it, or (PendingMOs) the node
	// that took that one over; empty outside a cluster. With the tenant's
	// receivers it names the node that forwards it (Forwarder).
	Owner string
}

// ReceiveMO records an MO for the tenant owning its destination, charging
// its mo_price (see above). It returns once the MO is durable: only then
// may the supplier be answered ESME_ROK. An unknown number is
// ErrUnknownNumber (nothing stored); a store failure wraps ErrNotDurable
// (the charge is undone; the supplier should deliver it again).
func (s *Service) ReceiveMO(ctx context.Context, in MOIn) (MOReceipt, error) {
	if !s.Ready() {
		return MOReceipt{}, ErrNotReady
	}
	tenantID, number, ok := s.NumberOwner(in.To)
	if !ok {
		return MOReceipt{}, fmt.Errorf("MO from %s to %q: %w", in.SupplierID, in.To, ErrUnknownNumber)
	}
	t, err := s.tenant(tenantID)
	if err != nil {
		return MOReceipt{}, err
	}
	if len(in.Text) > MaxMOText {
		return MOReceipt{}, invalid("text", "at most %d bytes", MaxMOText)
	}
	if s.mos.refusing() {
		return MOReceipt{}, fmt.Errorf("%d MOs waiting for their tenants, near the bound of %d: %w", s.mos.size(), MOPendingMax, ErrThrottled)
	}
	id, err := s.id()
	if err != nil {
		return MOReceipt{}, err
	}
	rc := MOReceipt{MessageID: id, TenantID: tenantID, Number: number, Currency: t.Currency}
	price, paidFrom := s.chargeMO(ctx, t, id)
	rc.Unbilled = price == 0 && t.MOUnits > 0
	rc.Price = price.Decimal()
	at := s.clock().UTC()
	evs := []events.Event{events.MOReceived{MessageID: id, SupplierID: in.SupplierID, TenantID: tenantID,
		From: in.From, To: number, Text: in.Text, Encoding: in.Encoding,
		Price: rc.Price, Currency: string(t.Currency), Unbilled: rc.Unbilled, At: at}}
	if s.inCluster() {
		// Received here: this node's (for forwarding), paid from its lease.
		evs[0] = withNode(evs[0].(events.MOReceived), s.opts.Node)
	}
	if price > 0 {
		m := money.Money{Amount: rc.Price, Currency: t.Currency}
		entries, err := money.SettlementEntries(id, tenantID, in.SupplierID, m, money.Money{Currency: t.Currency})
		if err != nil {
			s.undoMOCharge(t, id, price, paidFrom)
			return MOReceipt{}, fmt.Errorf("MO %s: %w", id, err)
		}
		for _, e := range entries {
			evs = append(evs, message.JournalEvent(e, tenantID, at))
		}
	}
	res, err := s.appendMO(ctx, id, evs)
	if err != nil {
		s.undoMOCharge(t, id, price, paidFrom)
		return MOReceipt{}, fmt.Errorf("MO %s: %w: %w", id, ErrNotDurable, err)
	}
	s.mos.record(PendingMO{ID: id, TenantID: tenantID, SupplierID: in.SupplierID, From: in.From, To: number,
		Text: in.Text, Encoding: in.Encoding, ReceivedAt: at, Version: uint64(len(evs) - 1), Owner: s.opts.Node}, res.Position)
	return rc, nil
}

// chargeMO takes the tenant's mo_price from its Account (in a cluster:
// from this node's lease, leasing more when short), marking id as charged
// here (s.pending) so that the follower does not take it again; 0 when the
// MO is free or the available balance does not cover it. paidFrom is the
// Account it was taken from.
func (s *Service) chargeMO(ctx context.Context, t *tenantSnap, id uuid.UUID) (price money.Units, paidFrom *money.Account) {
	price = t.MOUnits
	if price <= 0 {
		return 0, nil
	}
	paidFrom = t.accept.Account
	if s.inCluster() {
		tl, lease, err := s.leaseAccount(t.accept.ID)
		if err != nil {
			return 0, nil
		}
		tl.lastHold.Store(s.clock().UnixNano())
		if lease.State().Available < price {
			if err := s.leaseMore(ctx, t.accept.ID, price); err != nil {
				return 0, nil
			}
		}
		paidFrom = lease
	}
	s.pending.Store(id, struct{}{})
	if err := paidFrom.Debit(price); err != nil {
		s.pending.Delete(id)
		return 0, nil
	}
	return price, paidFrom
}

// withNode names the node whose lease paid an MO.
func withNode(e events.MOReceived, node string) events.MOReceived {
	e.Node = node
	return e
}

// undoMOCharge gives back a charge whose MO was not recorded. If the
// append was written after all, the follower finds no mark and charges
// it then.
func (s *Service) undoMOCharge(t *tenantSnap, id uuid.UUID, price money.Units, paidFrom *money.Account) {
	if price == 0 {
		return
	}
	if _, mine := s.pending.LoadAndDelete(id); mine {
		if err := paidFrom.Adjust(price); err != nil {
			s.log.Error("ledger: MO charge not undone", "tenant", t.accept.ID, "mo", id, "err", err)
		}
	}
}

// appendMO appends an MO's first events to its new stream.
func (s *Service) appendMO(ctx context.Context, id uuid.UUID, evs []events.Event) (eventstore.AppendResult, error) {
	data := make([]eventstore.EventData, len(evs))
	for i, e := range evs {
		typ, b, err := events.Encode(e)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		eid, err := s.id()
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		data[i] = eventstore.EventData{ID: eid, Type: typ, Data: b, Metadata: eventstore.Metadata{CorrelationID: id, CausationID: id}}
	}
	return s.store.Append(ctx, events.MessageStream(id), eventstore.NoStream, data...)
}

// MOForwarded records that the tenant has the MO. A second record of it
// (another forward, a retried append) changes nothing and is no error.
func (s *Service) MOForwarded(ctx context.Context, id uuid.UUID) error {
	mo, ok := s.mos.get(id)
	if !ok {
		return nil // recorded already (the follower removed it), or unknown
	}
	typ, b, err := events.Encode(events.MOForwarded{MessageID: id, TenantID: mo.TenantID, At: s.clock().UTC()})
	if err != nil {
		return err
	}
	ev := eventstore.EventData{ID: uuid.NewSHA1(eventNamespace, []byte("moforwarded\x00"+id.String())), Type: typ, Data: b,
		Metadata: eventstore.Metadata{CorrelationID: id, CausationID: id}}
	_, err = s.store.Append(ctx, events.MessageStream(id), eventstore.Exact(mo.Version), ev)
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return nil // forwarded and recorded already
	}
	if err != nil {
		return fmt.Errorf("MO %s: record forwarded: %w", id, err)
	}
	return nil
}

// MOOf returns the MO id while its tenant has not had it.
func (s *Service) MOOf(id uuid.UUID) (PendingMO, bool) { return s.mos.get(id) }

// PendingMOs returns up to limit MOs waiting for their tenants, oldest
// first.
func (s *Service) PendingMOs(limit int) []PendingMO {
	all := s.mos.list(limit)
	if !s.inCluster() {
		return all
	}
	// In a cluster only those this node forwards (cluster.go, Forwards):
	// every node knows every MO, one sends it.
	s.budgets.mu.Lock()
	for i := range all {
		all[i].Owner = s.budgets.members.ownerOf(all[i].Owner) // after takeovers
	}
	s.budgets.mu.Unlock()
	mine := all[:0]
	for _, mo := range all {
		if s.forwardsFor(mo.TenantID, mo.Owner) {
			mine = append(mine, mo)
		}
	}
	return mine
}

// PendingMOCount is how many MOs wait for their tenants.
func (s *Service) PendingMOCount() int { return s.mos.size() }

// moTracker is the index of MOs not forwarded yet: written by the follower
// (MOReceived adds, MOForwarded removes) and, for a moment's head start,
// by ReceiveMO right after its append (record), unless the follower has
// applied the append already, so that a forwarded MO never comes back.
type moTracker struct {
	mu         sync.Mutex
	open       map[uuid.UUID]PendingMO
	appliedPos eventstore.Position // of the last MO event the follower applied
	overflow   bool
}

func newMOTracker() *moTracker { return &moTracker{open: map[uuid.UUID]PendingMO{}} }

// apply feeds one event of an MO's stream, as the follower read it.
func (m *moTracker) apply(s *Service, ev events.Event, pos eventstore.Position, version uint64) {
	switch e := ev.(type) {
	case events.MOReceived:
		m.mu.Lock()
		defer m.mu.Unlock()
		m.appliedPos = pos
		if _, ok := m.open[e.MessageID]; !ok && len(m.open) >= MOPendingMax {
			if !m.overflow {
				s.log.Error("ledger: too many MOs waiting for their tenants to track; the others are forwarded after a restart", "limit", MOPendingMax)
				m.overflow = true
			}
			return
		}
		if e.Price.IsPositive() {
			version++ // its journal entry follows in the same append
		}
		m.open[e.MessageID] = PendingMO{ID: e.MessageID, TenantID: e.TenantID, SupplierID: e.SupplierID,
			From: e.From, To: e.To, Text: e.Text, Encoding: e.Encoding, ReceivedAt: e.At, Version: version, Owner: e.Node}
	case events.MOForwarded:
		m.mu.Lock()
		defer m.mu.Unlock()
		m.appliedPos = pos
		delete(m.open, e.MessageID)
	}
}

// record writes an MO through unless the follower has applied its append
// (at pos) already.
func (m *moTracker) record(mo PendingMO, pos eventstore.Position) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pos <= m.appliedPos || len(m.open) >= MOPendingMax {
		return
	}
	m.open[mo.ID] = mo
}

func (m *moTracker) get(id uuid.UUID) (PendingMO, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mo, ok := m.open[id]
	return mo, ok
}

func (m *moTracker) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.open)
}

// refusing: new MOs are refused once all but 1/100 of the bound wait.
func (m *moTracker) refusing() bool { return m.size() >= MOPendingMax-MOPendingMax/100 }

func (m *moTracker) list(limit int) []PendingMO {
	m.mu.Lock()
	out := make([]PendingMO, 0, min(limit, len(m.open)))
	for _, mo := range m.open {
		out = append(out, mo)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b PendingMO) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	return out[:min(limit, len(out))]
}

// moCharged moves an MO's charge in the tenant's tally and, live, on its
// Account unless this process's ReceiveMO took it already.
func (f *follower) moCharged(cur *state, e events.MOReceived) {
	if !e.Price.IsPositive() {
		return
	}
	ty, t, ok := f.tenantMoney(cur, e.TenantID)
	if !ok {
		return
	}
	price, err := money.FromDecimal(e.Price)
	if err != nil || e.Currency != string(ty.currency) {
		f.s.log.Error("ledger: invalid MOReceived price skipped", "tenant", e.TenantID, "mo", e.MessageID)
		return
	}
	ty.balance -= price
	if e.Node != "" {
		// Paid from a node's lease (budget.go); the tenant's Account
		// takes the charge as the log says.
		f.chargedOnLease(e.TenantID, e.Node, e.MessageID, price)
		if f.live {
			if err := t.accept.Account.Adjust(-price); err != nil {
				f.s.log.Error("ledger: MO charge not applied to account", "tenant", e.TenantID, "mo", e.MessageID, "err", err)
			}
		}
		return
	}
	if !f.live {
		return
	}
	if _, local := f.s.pending.LoadAndDelete(e.MessageID); local {
		return // ReceiveMO charged the Account already
	}
	// Charged by another process (or by this one after an ambiguous
	// append): the log is the truth.
	if err := t.accept.Account.Adjust(-price); err != nil {
		f.s.log.Error("ledger: MO charge not applied to account", "tenant", e.TenantID, "mo", e.MessageID, "err", err)
	}
}

// setMOPrice sets the tenant's mo_price from the log; one that does not
// convert exactly or is negative (a log written by another build) makes
// MOs free, logged.
func (t *tenantSnap) setMOPrice(p decimal.Decimal, log *slog.Logger) {
	u, err := money.FromDecimal(p)
	if err != nil || u < 0 {
		log.Error("ledger: invalid mo_price ignored; the tenant's MOs are free", "tenant", t.accept.ID, "mo_price", p)
		u = 0
	}
	t.MOPrice, t.MOUnits = u.Decimal(), u
}
