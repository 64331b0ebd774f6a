package ledger

import "fmt"

// CheckBacklog recounts the backlog from the tracker, under its lock, and
// reports the first counter that differs from the recount or is negative.
func CheckBacklog(s *Service) error {
	s.work.mu.Lock()
	defer s.work.mu.Unlock()
	b := s.backlog
	type count struct{ dispatch, forward int64 }
	per := map[*tenantBacklog]*count{}
	for id, w := range s.work.open {
		k := backlogKindOf(&w.Message)
		if k == backlogNone || !s.owns(w) { // a node counts what it drives
			continue
		}
		if w.backlog == nil || w.backlog.id != w.Message.TenantID {
			return fmt.Errorf("message %s (%s) counted under no tenant or another: %+v", id, w.Message.State, w.backlog)
		}
		c := per[w.backlog]
		if c == nil {
			c = &count{}
			per[w.backlog] = c
		}
		if k == backlogDispatch {
			c.dispatch++
		} else {
			c.forward++
		}
	}
	var tracked, dispatch, forward, full int64
	var tiers [tierCount]struct{ total, holders int64 }
	var err error
	b.tenants.Range(func(_, v any) bool {
		tb := v.(*tenantBacklog)
		c := per[tb]
		delete(per, tb)
		if c == nil {
			c = &count{}
		}
		fwd := int64(0)
		if tb.receiving.Load() {
			fwd = min(c.forward, b.forwardCap)
		}
		share := c.dispatch + fwd
		switch {
		case tb.dispatch != c.dispatch, tb.forwardDue != c.forward, tb.forwarding != fwd, tb.share.Load() != share:
			err = fmt.Errorf("tenant %s: dispatch %d forward due %d forwarding %d share %d; recount %d %d %d %d",
				tb.id, tb.dispatch, tb.forwardDue, tb.forwarding, tb.share.Load(), c.dispatch, c.forward, fwd, share)
			return false
		}
		if want := tb.receiving.Load() && c.forward >= b.max; tb.forwardFull.Load() != want {
			err = fmt.Errorf("tenant %s: forwardFull %v, recount %v (%d due, bound %d)", tb.id, tb.forwardFull.Load(), want, c.forward, b.max)
			return false
		}
		if tb.forwardFull.Load() {
			full++
		}
		tracked += share
		dispatch += c.dispatch
		forward += fwd
		tier := tb.tier.Load()
		tiers[tier].total += share
		if share > 0 {
			tiers[tier].holders++
		}
		return true
	})
	if err != nil {
		return err
	}
	if len(per) != 0 {
		return fmt.Errorf("%d tenants with backlog not in the index", len(per))
	}
	if b.tracked.Load() != tracked || b.dispatch.Load() != dispatch || b.forward.Load() != forward || b.intake.Load() < 0 {
		return fmt.Errorf("totals: tracked %d dispatch %d forward %d intake %d; recount %d %d %d",
			b.tracked.Load(), b.dispatch.Load(), b.forward.Load(), b.intake.Load(), tracked, dispatch, forward)
	}
	if b.full.Load() != full {
		return fmt.Errorf("tenants with their DLRs due at the cap: %d, recount %d", b.full.Load(), full)
	}
	for t := range tierCount {
		if b.tiers[t].total.Load() != tiers[t].total || b.tiers[t].holders.Load() != tiers[t].holders {
			return fmt.Errorf("tier %d: total %d holders %d; recount %d %d", t, b.tiers[t].total.Load(), b.tiers[t].holders.Load(), tiers[t].total, tiers[t].holders)
		}
	}
	return nil
}
