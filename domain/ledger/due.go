package ledger

import (
	"container/heap"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/message"
)

// dueIndex orders the tracker's unfinished messages by when they expire:
// a min-heap with each message's position, so that a message is moved
// when its due time changes (a supplier accepted it: the DLR grace starts)
// and removed when it finishes. Its memory is bounded by the tracker's;
// it holds no finished message. Guarded by the tracker's mutex.
type dueIndex struct {
	h   []dueEntry
	pos map[uuid.UUID]int
}

type dueEntry struct {
	due int64 // unix nanoseconds
	id  uuid.UUID
}

func (x *dueIndex) Len() int           { return len(x.h) }
func (x *dueIndex) Less(i, j int) bool { return x.h[i].due < x.h[j].due }
func (x *dueIndex) Swap(i, j int) {
	x.h[i], x.h[j] = x.h[j], x.h[i]
	x.pos[x.h[i].id], x.pos[x.h[j].id] = i, j
}
func (x *dueIndex) Push(v any) {
	e := v.(dueEntry)
	x.pos[e.id] = len(x.h)
	x.h = append(x.h, e)
}
func (x *dueIndex) Pop() any {
	e := x.h[len(x.h)-1]
	x.h = x.h[:len(x.h)-1]
	delete(x.pos, e.id)
	return e
}

// set makes id due at due (zero: never, removed).
func (x *dueIndex) set(id uuid.UUID, due time.Time) {
	if due.IsZero() {
		x.remove(id)
		return
	}
	n := due.UnixNano()
	if i, ok := x.pos[id]; ok {
		if x.h[i].due != n {
			x.h[i].due = n
			heap.Fix(x, i)
		}
		return
	}
	heap.Push(x, dueEntry{due: n, id: id})
}

func (x *dueIndex) remove(id uuid.UUID) {
	if i, ok := x.pos[id]; ok {
		heap.Remove(x, i)
	}
}

// dueBy returns up to max ids due at or before now, walking only the part
// of the heap that is due.
func (x *dueIndex) dueBy(now int64, max int) []uuid.UUID {
	var out []uuid.UUID
	stack := []int{0}
	for len(stack) > 0 && len(out) < max {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(x.h) || x.h[i].due > now {
			continue
		}
		out = append(out, x.h[i].id)
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return out
}

// dueOf is when w expires: its expires_at, plus the DLR grace of the
// supplier that accepted it (its final DLR may still come); zero when it
// is final or has no validity limit.
func dueOf(w *Work, grace func(supplierID string) time.Duration) time.Time {
	m := &w.Message
	if w.ExpiresAt.IsZero() || m.State.Terminal() {
		return time.Time{}
	}
	if m.State == message.StateSupplierAccepted {
		return w.ExpiresAt.Add(grace(m.Supplier().SupplierID))
	}
	return w.ExpiresAt
}

// dlrGrace is a supplier's dlr_grace_s, or Options.DLRGrace when it has
// none.
func (s *Service) dlrGrace(supplierID string) time.Duration {
	if sp, ok := s.state.Load().suppliers[supplierID]; ok && sp.info.DLRGraceS > 0 {
		return time.Duration(sp.info.DLRGraceS) * time.Second
	}
	return s.opts.DLRGrace
}

// sendDueOf is when a scheduled w is to be sent; zero once it is not
// scheduled any more (submitted, or final).
func sendDueOf(w *Work) time.Time {
	if w.Message.State != message.StateScheduled {
		return time.Time{}
	}
	return w.Message.SendAt
}

// SendDue returns up to max scheduled messages whose send_at is at or
// before now, for the lifecycle to dispatch. They stay listed until their
// submit is recorded.
func (s *Service) SendDue(now time.Time, max int) []uuid.UUID {
	s.work.mu.Lock()
	defer s.work.mu.Unlock()
	return s.work.sched.dueBy(now.UnixNano(), max)
}

// ExpiryDue returns up to max unfinished messages due to expire at now
// (their expires_at passed, plus the DLR grace once a supplier accepted
// them), for the lifecycle to expire. They stay listed until their expiry
// is recorded.
func (s *Service) ExpiryDue(now time.Time, max int) []uuid.UUID {
	s.work.mu.Lock()
	defer s.work.mu.Unlock()
	return s.work.due.dueBy(now.UnixNano(), max)
}
