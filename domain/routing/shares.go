package routing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
)

// MaxShareCycle bounds the sum of a route row's weights: the schedule has
// one slot per unit, so 1,000 slots give shares to 0.1 %.
const MaxShareCycle = 1000

var errShares = errors.New("invalid traffic shares")

// shares is a route row's traffic split: a fixed schedule of supplier
// positions, one slot per unit of weight, interleaved by smooth weighted
// round robin (70/30 gives A A B A A B A B A A …, not 70 As then 30 Bs),
// and a counter of the messages routed by it. Message k takes slot k mod
// len(schedule), so over every cycle of len(schedule) messages each
// supplier gets exactly its weight — the share holds over that window, and
// a test that sends a known sequence knows where each message goes. The
// counter is the only mutable part of a Snapshot; a new snapshot starts its
// cycle anew.
type shares struct {
	schedule []uint8 // slot → position in the row's suppliers
	next     atomic.Uint64
}

func newShares(weights []int, suppliers int) (*shares, error) {
	if len(weights) != suppliers {
		return nil, fmt.Errorf("%d weights for %d suppliers: %w", len(weights), suppliers, errShares)
	}
	sum := 0
	for _, w := range weights {
		if w < 0 {
			return nil, fmt.Errorf("weight %d: %w", w, errShares)
		}
		sum += w
	}
	if sum < 1 || sum > MaxShareCycle {
		return nil, fmt.Errorf("weights sum to %d (1..%d): %w", sum, MaxShareCycle, errShares)
	}
	sh := &shares{schedule: make([]uint8, sum)}
	current := make([]int, len(weights))
	for slot := range sh.schedule {
		best := -1
		for i, w := range weights {
			current[i] += w
			if w > 0 && (best < 0 || current[i] > current[best]) {
				best = i
			}
		}
		current[best] -= sum
		sh.schedule[slot] = uint8(best)
	}
	return sh, nil
}

const minutesPerDay = 24 * 60

// hours is a time-of-day window [from, to) in minutes since midnight UTC;
// to < from wraps past midnight.
type hours struct {
	set      bool
	from, to uint16
}

// parseHours reads "HH:MM-HH:MM" (24:00 allowed as an end).
func parseHours(s string) (hours, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return hours{}, fmt.Errorf("hours %q: want HH:MM-HH:MM (UTC)", s)
	}
	from, err1 := parseMinute(a)
	to, err2 := parseMinute(b)
	if err1 != nil || err2 != nil || from == to || from == minutesPerDay {
		return hours{}, fmt.Errorf("hours %q: want HH:MM-HH:MM (UTC), start and end different", s)
	}
	return hours{set: true, from: uint16(from), to: uint16(to % minutesPerDay)}, nil
}

func parseMinute(s string) (int, error) {
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(hh) != 2 || len(mm) != 2 {
		return 0, errors.New("not HH:MM")
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, errors.New("not HH:MM")
	}
	return h*60 + m, nil
}

func (h hours) contains(m int) bool {
	f, t := int(h.from), int(h.to)
	if f < t {
		return m >= f && m < t
	}
	return m >= f || m < t
}

// claim marks the window's minutes in taken; false if one was taken.
func (h hours) claim(taken *[(minutesPerDay + 63) / 64]uint64) bool {
	for m := 0; m < minutesPerDay; m++ {
		if !h.contains(m) {
			continue
		}
		w, bit := m/64, uint64(1)<<(m%64)
		if taken[w]&bit != 0 {
			return false
		}
		taken[w] |= bit
	}
	return true
}
