package ledger

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/eventstore"
)

// Work is a message the ledger has not finished with: not yet in a terminal
// state, or terminal with a DLR the tenant asked for and has not received.
// It carries what the egress needs to (re)send it and to tell the tenant.
type Work struct {
	Message    message.Message // a copy of the aggregate as the log has it
	From, To   string
	Text       string
	Encoding   string // "gsm7" | "latin1" | "ucs2"
	AcceptedAt time.Time
	ExpiresAt  time.Time // zero: no validity limit
	SendAt     time.Time // scheduled delivery (zero: at once); also Message.SendAt
	ClientRef  string    // the tenant's reference, echoed in its DLR webhook
	// Owner is the cluster node that drives the message (cluster.go);
	// empty outside a cluster.
	Owner string
	// HandedAttempt and HandedAt: the attempt of the message's last
	// DispatchHandedOver (0: none) and when this node folded it, which
	// bound the hand-overs.
	HandedAttempt int
	HandedAt      time.Time

	// CorrelationID and LastEventID are the metadata a lifecycle command
	// needs to append after the message's last event without reading it.
	CorrelationID, LastEventID uuid.UUID

	// backlog is its tenant's part of the backlog (backlog.go), set the
	// first time the message counts there; under the tracker's lock.
	backlog *tenantBacklog
}

// NeedsDispatch: a supplier is chosen and nothing was sent to it yet.
func (w *Work) NeedsDispatch() bool { return w.Message.State == message.StateRouted }

// InFlight: submit_sm went out and its answer is not recorded.
func (w *Work) InFlight() bool { return w.Message.State == message.StateSubmitted }

// NeedsForward: final, the tenant asked for a DLR and has not had it.
func (w *Work) NeedsForward() bool {
	m := &w.Message
	return m.ReceiptDue()
}

// UnfinishedMaxDefault bounds the unfinished messages tracked in memory
// (Options.UnfinishedMax). Submit refuses new messages (ErrThrottled) once
// the tracker holds all but unfinishedHeadroom of them, so that a message
// is never acknowledged and then left untracked (and unsent). Should the
// tracker fill all the same, the message stays in the log, and it is
// logged once.
const UnfinishedMaxDefault = 5_000_000

// unfinishedHeadroom is the share of the bound (1/100) kept for submits
// already past the check when it filled.
func unfinishedHeadroom(max int) int { return max / 100 }

// tracker follows every message from the log until it is finished. It is
// written by the follower and read by the egress side (recovery, pending
// DLRs), so the truth about unfinished work is always the log's, and a
// restart rebuilds it by replaying.
//
// The commands that append a message's events also write them through
// (record) as soon as they are durable, so the next command on the message
// (a supplier's answer right after the submit) starts from the current
// state instead of finding the copy a moment behind the follower and
// reading the stream. Each event is applied once, by whichever comes first,
// in stream order (its version); only the follower removes a finished
// message, so a write-through can never bring back one it removed.
type tracker struct {
	mu         sync.Mutex
	open       map[uuid.UUID]*Work
	appliedPos eventstore.Position // the follower's last applied position
	overflow   bool
	max        int          // bound of open
	size       atomic.Int64 // len(open), for Submit's check without the lock
	due        dueIndex     // open messages by when they expire
	sched      dueIndex     // scheduled messages by when they are to be sent
}

func newTracker(max int) *tracker {
	return &tracker{open: make(map[uuid.UUID]*Work), max: max,
		due: dueIndex{pos: make(map[uuid.UUID]int)}, sched: dueIndex{pos: make(map[uuid.UUID]int)}}
}

// refusing reports whether new submits must be refused: the tracker holds
// all but the headroom of its bound.
func (t *tracker) refusing() bool {
	return t.size.Load() >= int64(t.max-unfinishedHeadroom(t.max))
}

// apply feeds one event of a message stream, as the follower read it from
// the log, to the message's aggregate.
func (t *tracker) apply(s *Service, id uuid.UUID, ev events.Event, rec *eventstore.RecordedEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.appliedPos = rec.Position
	before := -1 // the copy's version before this event (a cluster's only)
	if w, ok := t.open[id]; ok && s.inCluster() {
		before = w.Message.Version
	}
	w := t.applyLocked(s, id, ev, rec.Version, rec.ID, rec.Metadata.CorrelationID)
	if w == nil {
		return
	}
	if s.inCluster() && before >= 0 && w.Message.Version > before && w.NeedsForward() && s.Forwards(w) {
		// Another node recorded the ending (a supplier's DLR reaches any
		// node): this one forwards it, now rather than at its next pass.
		s.owe(id)
	}
	if _, expired := ev.(events.MessageExpired); expired && w.Message.SupplierMessageID != "" {
		// No final DLR will unindex it: the expiry does.
		s.unindexDLR(w.Message.Supplier().SupplierID, w.Message.SupplierMessageID)
	}
	// Finished once the follower has seen every event the copy holds.
	m := &w.Message
	if int(rec.Version)+1 >= m.Version && m.State.Terminal() && !m.ReceiptDue() {
		delete(t.open, id)
		t.due.remove(id)
		t.sched.remove(id)
		t.size.Store(int64(len(t.open)))
	}
}

// record writes through the events a command just appended to message id's
// stream — evs as decided, data as appended, the first at stream version
// first — unless the follower has already applied the append (at position
// pos).
func (t *tracker) record(s *Service, id uuid.UUID, pos eventstore.Position, first uint64, evs []events.Event, data []eventstore.EventData) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if pos <= t.appliedPos {
		return // the follower has them (or removed the message)
	}
	for i := range evs {
		t.applyLocked(s, id, evs[i], first+uint64(i), data[i].ID, data[i].Metadata.CorrelationID)
	}
}

// applyLocked applies ev, the event at stream version of message id, if it
// is the next event of the tracked copy, and returns the copy (nil when the
// message is not tracked).
func (t *tracker) applyLocked(s *Service, id uuid.UUID, ev events.Event, version uint64, eventID, correlationID uuid.UUID) *Work {
	w, ok := t.open[id]
	if !ok {
		acc, isAccept := ev.(events.MessageAccepted)
		if !isAccept {
			return nil // a finished message's late event (e.g. a duplicate DLR)
		}
		if len(t.open) >= t.max {
			if !t.overflow {
				s.log.Error("ledger: too many unfinished messages to track; recovery after a restart may miss some", "limit", t.max)
				t.overflow = true
			}
			return nil
		}
		w = &Work{From: acc.From, To: acc.To, Text: acc.Text, Encoding: acc.Encoding, AcceptedAt: acc.At,
			ExpiresAt: acc.ExpiresAt, SendAt: acc.SendAt, ClientRef: acc.ClientRef, Owner: acc.Node}
		if acc.Node == "" {
			w.Owner = s.budgets.members.firstNode() // accepted outside a cluster: the first node's
		}
		t.open[id] = w
		t.size.Store(int64(len(t.open)))
	}
	switch v := int(version); {
	case v < w.Message.Version:
		return w // written through already
	case v > w.Message.Version:
		// A gap cannot come from the log (the follower applies every
		// event in order); a write-through ahead of a lagging copy is
		// skipped and the follower brings the copy up to date.
		return w
	}
	before := backlogKindOf(&w.Message)
	if err := w.Message.Apply(ev); err != nil {
		// Skip it, keeping the copy's version in step with the stream: a
		// command deciding on this copy fails its expected version and
		// reads the stream instead.
		s.log.Warn("ledger: message event does not apply to the tracked message", "message", id, "type", ev.EventType(), "err", err)
		w.Message.Version = int(version) + 1
		return w
	}
	if w.CorrelationID == uuid.Nil {
		w.CorrelationID = correlationID
	}
	w.LastEventID = eventID
	if h, ok := ev.(events.DispatchHandedOver); ok {
		w.HandedAttempt, w.HandedAt = h.Attempt, s.clock() // this node's time: no skew between nodes
		t.handedOver(s, id, w, h.To)
		return w
	}
	if s.owns(w) { // only this node's messages are in its heaps and backlog
		s.trackBacklogLocked(w, before)
		t.due.set(id, dueOf(w, s.dlrGrace))
		t.sched.set(id, sendDueOf(w))
	}
	return w
}

func (t *tracker) get(id uuid.UUID) (Work, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.open[id]
	if !ok {
		return Work{}, false
	}
	return w.copy(), true
}

func (t *tracker) list(keep func(*Work) bool, limit int) []Work {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Work
	for _, w := range t.open {
		if len(out) >= limit {
			break
		}
		if keep(w) {
			out = append(out, w.copy())
		}
	}
	return out
}

func (w *Work) copy() Work {
	c := *w
	c.Message.Candidates = append([]message.Candidate(nil), w.Message.Candidates...)
	return c
}

// Unfinished returns up to limit unfinished messages for which keep is true
// (e.g. (*Work).NeedsDispatch), as copies, in no particular order; in a
// cluster only those this node drives (cluster.go: its own, and the final
// DLRs it forwards).
func (s *Service) Unfinished(keep func(*Work) bool, limit int) []Work {
	if s.inCluster() {
		return s.work.list(func(w *Work) bool { return s.drives(w) && keep(w) }, limit)
	}
	return s.work.list(keep, limit)
}

// UnfinishedCount is how many messages the tracker holds: not final, or
// final with a DLR the tenant is still owed.
func (s *Service) UnfinishedCount() int { return int(s.work.size.Load()) }

// WorkOf returns the unfinished message id, or false once it is finished
// (or unknown).
func (s *Service) WorkOf(id uuid.UUID) (Work, bool) { return s.work.get(id) }
