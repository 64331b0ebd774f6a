package egress

// The two priority queues: Enqueue, requeueing a message a bind could not
// send, and the sweep that fails the queued messages of a down supplier.

import (
	"context"
	"time"
)

// Enqueue queues m (premium or normal queue) without blocking.
func (s *Supplier) Enqueue(m Message) error {
	s.queueMu.RLock()
	defer s.queueMu.RUnlock()
	if s.drained {
		return ErrStopped
	}
	m.queuedAt = time.Now()
	q := s.normal
	if m.Premium {
		q = s.premium
	}
	select {
	case q <- m:
		return nil
	default:
		return ErrQueueFull
	}
}

// Drain takes the messages still queued once Run has returned: a stopped
// supplier never sends them, and nobody has reported them, so the caller
// hands them on (to a replacement, or fails them over). Every Enqueue
// after Drain fails with ErrStopped.
func (s *Supplier) Drain() []Message {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	s.drained = true
	var out []Message
	for _, q := range []chan Message{s.premium, s.normal} {
		for len(q) > 0 {
			out = append(out, <-q)
		}
	}
	return out
}

// requeue puts back a message that was never written; if its queue is
// full it is reported timed out (the caller fails over).
func (s *Supplier) requeue(m Message) {
	if err := s.Enqueue(m); err != nil {
		s.rep.SupplierTimedOut(context.Background(), Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID})
	}
}

// Down reports a supplier known to be unreachable: no bind up, and either a
// bind attempt failed or it had been up before (an outage). A supplier whose
// first binds are still connecting is not down.
func (s *Supplier) Down() bool {
	return s.up.Load() == 0 && (s.bindFails.Load() > 0 || s.everUp.Load())
}

// sweep fails the queued messages of a down supplier once they have waited
// QueueTimeout, reporting each as timed out so the caller fails over; with
// a bind up, queued messages are only waiting for the rate limit or the
// window, and stay.
func (s *Supplier) sweep(ctx context.Context) {
	tick := time.NewTicker(s.cfg.QueueTimeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !s.Down() {
			continue
		}
		for _, q := range []chan Message{s.premium, s.normal} {
			for n := len(q); n > 0; n-- { // each queued message looked at once
				var m Message
				select {
				case m = <-q:
				default:
					n = 0
					continue
				}
				if time.Since(m.queuedAt) < s.cfg.QueueTimeout {
					select {
					case q <- m:
					default:
						s.rep.SupplierTimedOut(ctx, Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID})
					}
					continue
				}
				s.rep.SupplierTimedOut(ctx, Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID})
			}
		}
	}
}
