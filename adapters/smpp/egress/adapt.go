package egress

// Adaptive throttling (the rule is in the package doc): the submit_sm_resp
// latency EWMA and the loop that adjusts the rate limit from it.

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// adapt applies the adaptive rule once per AdaptEvery until ctx ends.
func (s *Supplier) adapt(ctx context.Context) {
	t := time.NewTicker(s.cfg.AdaptEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e := time.Duration(s.ewmaNs.Load())
		cur := float64(s.limiter.Limit())
		next := cur
		if e > s.cfg.LatencyTarget {
			next = max(cur*0.75, s.cfg.TPS/10)
		} else {
			next = min(cur*1.10, s.cfg.TPS)
		}
		if next != cur {
			s.limiter.SetLimit(rate.Limit(next))
			s.log.Debug("egress tps adapted", "tps", next, "latency_ewma", e)
		}
	}
}

// observe folds one submit_sm_resp latency into the EWMA (α = 1/5).
func (s *Supplier) observe(d time.Duration) {
	for {
		old := s.ewmaNs.Load()
		nv := int64(d)
		if old != 0 {
			nv = old + (int64(d)-old)/5
		}
		if s.ewmaNs.CompareAndSwap(old, nv) {
			return
		}
	}
}
