package ledger

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/eventstore"
)

// A cluster: several nodes (serve processes) on one log, each a Service
// with its own Options.Node. Liveness (heartbeats, leases, fencing) is the
// adapters' (adapters/cluster); what a node owns is the log's:
//
//   - a message belongs to the node that accepted it (MessageAccepted.Node)
//     and only its owner drives it (dispatch, answers' follow-ups, expiry,
//     scheduled sends, recovery, forwarding passes);
//   - NodeJoined{X} (cluster stream, exact expected version) starts a
//     membership epoch of X; NodeTakenOver{X, By} (same stream, same rule)
//     gives every unfinished message and budget lease of X to By. Because
//     both are appended with the cluster stream's exact version, a takeover
//     decided on a stale view (X rejoined meanwhile) fails and is decided
//     again: X's messages change hands at one point of the log, the same
//     for every node and every replay;
//   - messages accepted outside a cluster belong to the first node that
//     joined one.

// validNodeID: 1 to 63 of a-z, 0-9, '-' and '_', the first a letter or
// digit (the cluster table's rule).
func validNodeID(id string) bool {
	if len(id) == 0 || len(id) > 63 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// membership is the fold of the cluster stream (under budgets.mu).
type membership struct {
	version int64            // the cluster stream's last folded version; -1 none
	epochs  map[string]int64 // node → epoch of its last NodeJoined
	// takenBy maps a node taken over to its taker: a map never changed
	// once stored (a takeover or a rejoin stores a new one; both are
	// rare), so that the tracker's write-through reads it without
	// budgets.mu.
	takenBy atomic.Value // map[string]string
	// first is the first node that joined: it owns the messages of before
	// (read without budgets.mu by the tracker's write-through).
	first atomic.Value // string
}

func newMembership() membership {
	m := membership{version: -1, epochs: map[string]int64{}}
	m.first.Store("")
	m.takenBy.Store(map[string]string{})
	return m
}

// firstNode is the first node that joined the cluster ("" before any).
func (m *membership) firstNode() string { return m.first.Load().(string) }

// takerOf returns the node that took node over, if one did.
func (m *membership) takerOf(node string) (string, bool) {
	by, ok := m.takenBy.Load().(map[string]string)[node]
	return by, ok
}

// setTaker records that by took node over ("": node joined again).
// Under budgets.mu.
func (m *membership) setTaker(node, by string) {
	taken := maps.Clone(m.takenBy.Load().(map[string]string))
	if by == "" {
		delete(taken, node)
	} else {
		taken[node] = by
	}
	m.takenBy.Store(taken)
}

// ownerOf follows takeovers from node to the node that now stands for it
// (callable without budgets.mu).
func (m *membership) ownerOf(node string) string {
	taken := m.takenBy.Load().(map[string]string)
	for range len(taken) + 1 {
		by, ok := taken[node]
		if !ok {
			return node
		}
		node = by
	}
	return node // a cycle cannot be appended (TakeOver checks); bounded anyway
}

// ErrTakenOver: this node's work was given to another node (its lease had
// expired); it must stop acting and restart to join again.
var ErrTakenOver = errors.New("ledger: this node was taken over by another")

// joined folds a NodeJoined.
func (f *follower) joined(e events.NodeJoined, version uint64) {
	m := &f.s.budgets.members
	m.version = int64(version)
	m.epochs[e.Node] = e.Epoch
	if _, ok := m.takerOf(e.Node); ok {
		m.setTaker(e.Node, "")
	}
	if m.firstNode() == "" {
		m.first.Store(e.Node)
		f.s.work.adopt("", e.Node, f.s)
	}
}

// takenOver folds a NodeTakenOver: X's leases and messages become By's.
func (f *follower) takenOver(e events.NodeTakenOver, version uint64) {
	b := f.s.budgets
	m := &b.members
	m.version = int64(version)
	by := m.ownerOf(e.By)
	if e.Node == "" || by == e.Node {
		f.s.log.Error("ledger: invalid NodeTakenOver skipped", "node", e.Node, "by", e.By)
		return
	}
	m.setTaker(e.Node, by) // before adopt: a hand-over folded after it sees the takeover
	for id, node := range b.leaseOf {
		if node == e.Node {
			b.leaseOf[id] = by
		}
	}
	for tenantID, tl := range b.tenants {
		l, ok := tl.nodes[e.Node]
		if !ok {
			continue
		}
		delete(tl.nodes, e.Node)
		to := tl.nodeLocked(by)
		to.balance += l.balance
		to.held += l.held
		if by == f.s.opts.Node && tl.mine != nil {
			err := tl.mine.Adjust(l.balance)
			if err == nil {
				err = tl.mine.HoldFromLog(l.held)
			}
			if err != nil {
				f.s.log.Error("ledger: taken-over lease not applied", "tenant", tenantID, "from", e.Node, "err", err)
			}
		}
	}
	f.s.work.adopt(e.Node, by, f.s)
	// This process was taken over only by a takeover of the epoch it
	// joined with (or a later one): a restarted node reads the takeovers
	// of its earlier epochs while it catches up, before it joins.
	if joined := f.s.epoch.Load(); e.Node == f.s.opts.Node && f.s.opts.Node != "" && joined > 0 && e.Epoch >= joined {
		f.s.takenOverOnce.Do(func() { close(f.s.takenOverCh) })
	}
	f.s.log.Info("ledger: node taken over", "node", e.Node, "epoch", e.Epoch, "by", by)
}

// TakenOver is closed when the log says another node took this one over:
// the node must stop acting at once (serve exits).
func (s *Service) TakenOver() <-chan struct{} { return s.takenOverCh }

// fenced reports whether this node was taken over: it must append nothing
// more (submits, leases, returns, lifecycle steps are refused).
func (s *Service) fenced() bool {
	select {
	case <-s.takenOverCh:
		return true
	default:
		return false
	}
}

// owns reports whether this node drives message w (always, outside a
// cluster).
func (s *Service) owns(w *Work) bool { return s.opts.Node == "" || w.Owner == s.opts.Node }

// Forwards reports whether this node forwards w's final DLR to its tenant:
// outside a cluster always; in one, the node Options.Forwarder names (one
// that has a receiver bind of the tenant, the owner first), so that a DLR
// reaches a tenant bound to another node, and only one node sends it.
func (s *Service) Forwards(w *Work) bool {
	return !s.inCluster() || s.forwardsFor(w.Message.TenantID, w.Owner)
}

// forwardsFor reports whether this node forwards what a tenant is owed of
// owner's (a final DLR, an MO): Options.Forwarder's choice, else the
// owner's.
func (s *Service) forwardsFor(tenantID, owner string) bool {
	if s.opts.Forwarder == nil {
		return owner == s.opts.Node
	}
	return s.opts.Forwarder(tenantID, owner) == s.opts.Node
}

// drives reports whether this node acts on w now: its final DLR if it is
// the forwarder, anything else if it owns it.
func (s *Service) drives(w *Work) bool {
	if w.NeedsForward() {
		return s.Forwards(w)
	}
	return s.owns(w)
}

// Join appends this node's NodeJoined for its membership epoch and waits
// until the follower has folded it: from then on the node's view of which
// messages are its own is the log's.
func (s *Service) Join(ctx context.Context, epoch int64) error {
	if !s.inCluster() {
		return errors.New("ledger: Join outside a cluster (Options.Node is empty)")
	}
	if epoch <= 0 {
		return fmt.Errorf("ledger: join with epoch %d: %w", epoch, ErrInvalid)
	}
	s.epoch.Store(epoch)
	return s.appendMembership(ctx, func(m *membership) (events.Event, bool) {
		return events.NodeJoined{Node: s.opts.Node, Epoch: epoch, At: s.clock().UTC()}, true
	})
}

// TakeOver gives node's work (of membership epoch) to this node, unless the
// log says node joined again since that epoch or was taken over already;
// it reports whether this call took it.
func (s *Service) TakeOver(ctx context.Context, node string, epoch int64) (bool, error) {
	if !s.inCluster() || node == "" || node == s.opts.Node {
		return false, fmt.Errorf("ledger: take over %q: %w", node, ErrInvalid)
	}
	took := false
	err := s.appendMembership(ctx, func(m *membership) (events.Event, bool) {
		if m.epochs[node] > epoch {
			return nil, false // it joined again: alive
		}
		if _, gone := m.takerOf(node); gone {
			return nil, false // someone took it already
		}
		if m.ownerOf(s.opts.Node) != s.opts.Node {
			return nil, false // this node was taken over itself
		}
		took = true
		return events.NodeTakenOver{Node: node, Epoch: epoch, By: s.opts.Node, At: s.clock().UTC()}, true
	})
	return took, err
}

// appendMembership decides an event of the cluster stream on the folded
// membership and appends it with the stream's exact version, deciding
// again after a conflict; it returns once the follower folded it.
func (s *Service) appendMembership(ctx context.Context, decide func(m *membership) (events.Event, bool)) error {
	for try := 0; try < leaseTriesMax; try++ {
		s.budgets.mu.Lock()
		e, ok := decide(&s.budgets.members)
		version := s.budgets.members.version
		s.budgets.mu.Unlock()
		if !ok {
			return nil
		}
		expected := eventstore.NoStream
		if version >= 0 {
			expected = eventstore.Exact(uint64(version))
		}
		_, err := s.appendCluster(ctx, events.ClusterStreamName, expected, nil, e)
		if again, err := s.foldConflict(ctx, err); again {
			continue
		} else if err != nil {
			return fmt.Errorf("ledger: append %s: %w", e.EventType(), err)
		}
		return nil
	}
	return fmt.Errorf("ledger: cluster stream: %d tries lost to other nodes: %w", leaseTriesMax, ErrThrottled)
}

// handOverAgainAfter is how long after a hand-over of an attempt the
// message may be handed on again. Sooner, a node that has no bind of its
// supplier (its view of the binds is a heartbeat behind, or it is warming
// up) keeps it and waits (ErrHandOverWait): two such nodes would otherwise
// hand it to and fro, an event each time.
const handOverAgainAfter = 5 * time.Second

// ErrHandOverWait: the message was handed to this node a moment ago and
// this node has no bind of its supplier yet; send it later.
var ErrHandOverWait = errors.New("ledger: handed over a moment ago; waiting for a bind of its supplier here")

// HandOver gives the sending of w, a message this node drives and has not
// sent, to the node Options.Dispatcher names when that is another (this
// node has no bind of its supplier): it appends DispatchHandedOver, and
// that node sends it. It reports whether the message changed hands.
func (s *Service) HandOver(ctx context.Context, w *Work) (bool, error) {
	if !s.inCluster() || s.opts.Dispatcher == nil || !w.Message.Sendable() {
		return false, nil
	}
	to := s.opts.Dispatcher(w.Message.Supplier().SupplierID, w.Message.ID)
	if to == "" || s.budgets.members.ownerOf(to) == s.opts.Node {
		return false, nil // here, or a node this one took over
	}
	if w.HandedAttempt == w.Message.Attempt && s.clock().Sub(w.HandedAt) < handOverAgainAfter {
		return false, fmt.Errorf("message %s: %w", w.Message.ID, ErrHandOverWait)
	}
	tr, err := s.advance(ctx, w.Message.ID, func(m *message.Message, at time.Time) ([]events.Event, error) {
		return m.HandOver(s.opts.Node, to, at)
	})
	if err != nil {
		return false, fmt.Errorf("hand message %s over to %s: %w", w.Message.ID, to, err)
	}
	return len(tr.Events) > 0, nil
}

// handedOver folds a DispatchHandedOver into w (under the tracker's lock):
// its new owner drives it and is told to send it (the outbox), the old one
// lets go of it.
func (t *tracker) handedOver(s *Service, id uuid.UUID, w *Work, to string) {
	mine := s.owns(w)
	w.Owner = s.budgets.members.ownerOf(to)
	switch now := s.owns(w); {
	case mine && !now:
		t.letGoLocked(s, id, w)
		return
	case !now:
		return
	case !mine:
		t.driveLocked(s, id, w)
	}
	// This node's now — or still: handed to a node it took over (the
	// hand-over was decided on a view from before).
	if w.NeedsDispatch() {
		s.dispatch(id)
	}
}

// adopt gives the unfinished messages owned by from to to; the new owner
// starts driving them.
func (t *tracker) adopt(from, to string, s *Service) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, w := range t.open {
		if w.Owner != from {
			continue
		}
		mine := s.owns(w)
		w.Owner = to
		if !mine && s.owns(w) {
			t.driveLocked(s, id, w)
		}
	}
}

// driveLocked puts w, a message this node has just come to own, in its
// heaps and backlog: only the messages a node drives are there.
func (t *tracker) driveLocked(s *Service, id uuid.UUID, w *Work) {
	s.trackBacklogLocked(w, backlogNone)
	t.due.set(id, dueOf(w, s.dlrGrace))
	t.sched.set(id, sendDueOf(w))
}

// letGoLocked takes w, a message another node drives from here on, out of
// this node's heaps and backlog.
func (t *tracker) letGoLocked(s *Service, id uuid.UUID, w *Work) {
	s.untrackBacklogLocked(w)
	t.due.remove(id)
	t.sched.remove(id)
}

// owedMax bounds the DLRs queued for this node's forwarding (Owed); past
// it the forwarding pass finds them (each RetryEvery).
const owedMax = 4096

// owe queues a final DLR this node forwards though another recorded it.
func (s *Service) owe(id uuid.UUID) {
	select {
	case s.owed <- id:
	default:
	}
}

// Owed delivers the ids of final DLRs other nodes of the cluster recorded
// and this node forwards (ledger.Forwards): the lifecycle forwards them at
// once. Never closed; nothing outside a cluster.
func (s *Service) Owed() <-chan uuid.UUID { return s.owed }
