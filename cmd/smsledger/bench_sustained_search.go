package main

// The capacity search of bench --find-capacity: up by a factor while the
// rate is sustained, then a bisection between the last sustained rate and
// the first that was not, to a relative resolution. Pure: the measurement is
// a function, so the stepping is tested on its own.

import (
	"context"
	"errors"
	"math"
)

// capacitySearch bounds the search.
type capacitySearch struct {
	Start      float64 `json:"start_per_s"`
	Factor     float64 `json:"factor"`
	Min        float64 `json:"min_per_s"`
	Max        float64 `json:"max_per_s"`
	Resolution float64 `json:"resolution"` // stop when (hi−lo)/lo ≤ this
	Steps      int     `json:"steps_max"`
}

// capacityFound is the search's outcome.
type capacityFound struct {
	// Sustained is the highest rate found sustained (0: none, not even Min).
	Sustained float64 `json:"capacity_per_s"`
	// NotSustained is the lowest rate found not sustained (0: none, up to Max).
	NotSustained float64 `json:"first_not_sustained_per_s"`
	// Resolved: the two are within Resolution of each other, or Max was
	// sustained, or Min was not (else the step count ran out).
	Resolved bool `json:"resolved"`
}

// errSearchBounds is returned for bounds that cannot be searched.
var errSearchBounds = errors.New("capacity search: need 0 < min ≤ start ≤ max, factor > 1, resolution > 0, steps ≥ 1")

// searchCapacity measures rates (whole messages per second) as the search
// decides, at most s.Steps of them: from Start up by Factor while sustained
// (capped at Max), or down by Factor while not (floored at Min), until the
// capacity is bracketed; then halves the bracket until it is within
// Resolution. measure's error ends the search with what was found so far.
func searchCapacity(ctx context.Context, s capacitySearch, measure func(ctx context.Context, rate float64) (bool, error)) (capacityFound, error) {
	var f capacityFound
	if !(s.Min > 0 && s.Min <= s.Start && s.Start <= s.Max && s.Factor > 1 && s.Resolution > 0 && s.Steps >= 1) {
		return f, errSearchBounds
	}
	steps := 0
	try := func(rate float64) (bool, error) {
		steps++
		if err := ctx.Err(); err != nil {
			return false, err
		}
		ok, err := measure(ctx, rate)
		if err != nil {
			return false, err
		}
		if ok && rate > f.Sustained {
			f.Sustained = rate
		}
		if !ok && (f.NotSustained == 0 || rate < f.NotSustained) {
			f.NotSustained = rate
		}
		return ok, nil
	}

	// Bracket: up while sustained, down while not.
	rate := math.Round(s.Start)
	for steps < s.Steps {
		ok, err := try(rate)
		if err != nil {
			return f, err
		}
		if f.Sustained > 0 && f.NotSustained > 0 {
			break
		}
		if ok && rate >= s.Max || !ok && rate <= s.Min {
			f.Resolved = true // the capacity is beyond the bounds
			return f, nil
		}
		if ok {
			rate = min(max(math.Round(rate*s.Factor), rate+1), s.Max)
		} else {
			rate = max(min(math.Round(rate/s.Factor), rate-1), s.Min)
		}
	}
	// Bisect the bracket.
	for f.Sustained > 0 && f.NotSustained > 0 {
		lo, hi := f.Sustained, f.NotSustained
		mid := math.Round((lo + hi) / 2)
		if hi-lo <= lo*s.Resolution || mid <= lo || mid >= hi {
			f.Resolved = true
			return f, nil
		}
		if steps >= s.Steps {
			return f, nil
		}
		if _, err := try(mid); err != nil {
			return f, err
		}
	}
	return f, nil
}
