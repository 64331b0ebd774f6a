package routing

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/numbering"
)

// Tier is the tenant's service tier; it decides the trade-off between the
// route's preference order, cost and supplier quality.
type Tier uint8

// Tiers.
const (
	// Standard follows the route's preference order (cost, then health
	// break ties): the operator's configuration decides.
	Standard Tier = iota
	// Premium favours quality: best health band first, then preference,
	// then cost.
	Premium
	// Economy favours cost: cheapest first, then health, then preference.
	Economy
)

// ErrInvalidTier reports an unknown tier name.
var ErrInvalidTier = errors.New("invalid tier")

// ParseTier parses "premium", "standard" or "economy".
func ParseTier(s string) (Tier, error) {
	switch s {
	case "standard":
		return Standard, nil
	case "premium":
		return Premium, nil
	case "economy":
		return Economy, nil
	}
	return 0, fmt.Errorf("tier %q: %w", s, ErrInvalidTier)
}

func (t Tier) String() string {
	switch t {
	case Premium:
		return "premium"
	case Economy:
		return "economy"
	}
	return "standard"
}

// Exclusion says why a candidate was not eligible.
type Exclusion uint8

// Exclusions.
const (
	Eligible       Exclusion = iota
	ExcludedDown             // supplier down (no bind, or switched off)
	ExcludedHealth           // health score below the threshold
	ExcludedNoCost           // no cost card, or no cost for this destination
)

func (e Exclusion) String() string {
	switch e {
	case ExcludedDown:
		return "supplier_down"
	case ExcludedHealth:
		return "health_below_threshold"
	case ExcludedNoCost:
		return "no_cost_for_destination"
	}
	return ""
}

// Reason says why the winner won: the first ordering key of the tier on
// which it beat the runner-up.
type Reason uint8

// Reasons.
const (
	ReasonOnlyCandidate Reason = iota // the route has a single supplier
	ReasonOnlyEligible                // every other candidate was excluded
	ReasonPreference                  // earlier in the route's preference order
	ReasonLowestCost                  // cheaper per part
	ReasonBestHealth                  // better health band
	ReasonTieBreak                    // equal on every key: lowest supplier id
	ReasonTrafficShare                // the route row's traffic shares chose it
)

func (r Reason) String() string {
	switch r {
	case ReasonOnlyCandidate:
		return "only_candidate"
	case ReasonOnlyEligible:
		return "only_eligible_candidate"
	case ReasonPreference:
		return "route_preference"
	case ReasonLowestCost:
		return "lowest_cost"
	case ReasonBestHealth:
		return "best_health"
	case ReasonTrafficShare:
		return "traffic_share"
	}
	return "tie_break_supplier_id"
}

// Candidate is one supplier of the matched route, as evaluated for one
// destination.
type Candidate struct {
	SupplierID  string
	Preference  int // 1-based position in the route's supplier list
	Currency    money.Currency
	Billing     money.BillingMode // when the supplier is owed its cost (zero: on submit)
	CostPerPart money.Units       // in Currency; 0 when Excluded == ExcludedNoCost
	CostPrefix  string            // the cost card prefix that matched
	CostNetwork numbering.Code    // the cost card's network row that matched (zero: a prefix did)
	Health      SupplierHealth
	Excluded    Exclusion
	costBase    money.Units // CostPerPart in the snapshot's base currency
}

// Decision is a routing decision for one destination. Candidates[:Eligible]
// are the eligible suppliers in the order to try them (the winner first,
// then the failover order); Candidates[Eligible:N] are the excluded ones in
// route preference order. It is a value with a fixed-size array, so deciding
// does not allocate.
type Decision struct {
	Destination  string
	RoutePrefix  string
	RouteNetwork numbering.Code // the route table's network row that matched (zero: a prefix did)
	Tier         Tier
	Reason       Reason
	N            int
	Eligible     int
	Candidates   [MaxCandidates]Candidate
}

// Winner is the chosen supplier (valid only when Eligible > 0).
func (d *Decision) Winner() *Candidate { return &d.Candidates[0] }

// Next returns the eligible candidate to fail over to after supplierID
// failed, or false when none is left.
func (d *Decision) Next(failedSupplierID string) (*Candidate, bool) {
	for i := 0; i < d.Eligible-1; i++ {
		if d.Candidates[i].SupplierID == failedSupplierID {
			return &d.Candidates[i+1], true
		}
	}
	return nil, false
}

// Decide routes a normalised destination (E.164 digits) for a tenant of the
// given tier. It returns ErrNoRoute when no route prefix matches and
// ErrNoEligibleSupplier (with the full Decision, for logging) when every
// candidate is excluded. Decide does not allocate on success.
func (s *Snapshot) Decide(destination string, tier Tier, health *Health) (Decision, error) {
	return s.DecideAt(destination, 0, tier, health, time.Time{})
}

// DecideAt is Decide for a destination on network net (the zero Code:
// unknown) at time at (zero: only rows without hours apply). A network row
// of the route table, and of each candidate's cost card, applies when
// there is one for net; the longest prefix otherwise. Of a prefix's or
// network's rows, the one whose hours hold at (UTC) applies, else the one
// without hours. A row with traffic shares puts the supplier its share
// schedule names first (shares.go); failover follows the tier's order.
func (s *Snapshot) DecideAt(destination string, net numbering.Code, tier Tier, health *Health, at time.Time) (Decision, error) {
	var d Decision
	err := s.DecideInto(&d, destination, net, tier, health, at)
	return d, err
}

// DecideInto is DecideAt writing into d, which the hot path keeps in
// place: a Decision is most of a kilobyte, and returning it by value
// copies it once more per message. Candidates beyond d.N are left as they
// were.
func (s *Snapshot) DecideInto(d *Decision, destination string, net numbering.Code, tier Tier, health *Health, at time.Time) error {
	d.Destination, d.RoutePrefix, d.RouteNetwork = destination, "", 0
	d.Tier, d.Reason, d.N, d.Eligible = tier, 0, 0, 0
	ni := s.networkIndex(net)
	gi, ok := int32(0), false
	if ni >= 0 && s.netRoute[ni] >= 0 {
		gi, ok = s.netRoute[ni], true
		d.RouteNetwork = net
	}
	if !ok {
		var n int
		if gi, n, ok = s.routes.Lookup(destination); !ok {
			return ErrNoRoute
		}
		d.RoutePrefix = destination[:n]
	}
	minute := -1
	if !at.IsZero() {
		u := at.UTC()
		minute = u.Hour()*60 + u.Minute()
	}
	route, ok := s.rowAt(s.groups[gi], minute)
	if !ok {
		return ErrNoRoute
	}
	minScore := health.MinScore()
	scores := health.indexFor(s)
	// Fill eligible candidates from the front and excluded ones from the
	// back, each group in preference order; the excluded group is reversed
	// into preference order afterwards.
	front, back := 0, int(route.n)
	for i := 0; i < int(route.n); i++ {
		sup := &s.suppliers[route.suppliers[i]]
		c := Candidate{SupplierID: sup.id, Preference: i + 1, Currency: sup.currency, Billing: sup.billing, Health: DefaultHealth}
		if scores != nil {
			c.Health = scores[route.suppliers[i]].on(ni, net, d.RoutePrefix)
		}
		if ni >= 0 && sup.netCost != nil && sup.netCost[ni].ok {
			cost := sup.netCost[ni].cost
			c.CostPerPart, c.CostNetwork, c.costBase = cost.native, net, cost.base
		} else if cost, cn, found := sup.costs.Lookup(destination); found {
			c.CostPerPart, c.CostPrefix, c.costBase = cost.native, destination[:cn], cost.base
		} else {
			c.Excluded = ExcludedNoCost
		}
		if c.Excluded == Eligible && s.fx != nil && sup.currency != s.fx.Base() {
			c.costBase = s.toBase(c.CostPerPart, sup.currency, at)
		}
		if c.Excluded == Eligible {
			switch {
			case sup.disabled || !c.Health.Up:
				c.Excluded = ExcludedDown
			case c.Health.Score < minScore:
				c.Excluded = ExcludedHealth
			}
		}
		if c.Excluded == Eligible {
			d.Candidates[front] = c
			front++
		} else {
			back--
			d.Candidates[back] = c
		}
	}
	d.N, d.Eligible = int(route.n), front
	for i, j := front, d.N-1; i < j; i, j = i+1, j-1 {
		d.Candidates[i], d.Candidates[j] = d.Candidates[j], d.Candidates[i]
	}
	if d.Eligible == 0 {
		return ErrNoEligibleSupplier
	}
	// Insertion sort of the (at most MaxCandidates) eligible candidates.
	for i := 1; i < d.Eligible; i++ {
		for j := i; j > 0; j-- {
			if less, _ := compare(tier, &d.Candidates[j], &d.Candidates[j-1]); !less {
				break
			}
			d.Candidates[j], d.Candidates[j-1] = d.Candidates[j-1], d.Candidates[j]
		}
	}
	switch {
	case d.N == 1:
		d.Reason = ReasonOnlyCandidate
	case d.Eligible == 1:
		d.Reason = ReasonOnlyEligible
	default:
		_, d.Reason = compare(tier, &d.Candidates[0], &d.Candidates[1])
	}
	if route.shares != nil && d.Eligible > 1 {
		d.applyShares(route.shares)
	}
	return nil
}

// applyShares moves the eligible candidate the share schedule names next
// to the front (the others keep their order): the schedule's next slot, or
// the first slot after it whose supplier is eligible (at most one cycle).
// With no eligible supplier holding a share, the tier's order stands.
func (d *Decision) applyShares(sh *shares) {
	k := sh.next.Add(1) - 1
	n := uint64(len(sh.schedule))
	for i := uint64(0); i < n; i++ {
		pref := int(sh.schedule[(k+i)%n]) + 1
		for j := 0; j < d.Eligible; j++ {
			if d.Candidates[j].Preference != pref {
				continue
			}
			c := d.Candidates[j]
			copy(d.Candidates[1:j+1], d.Candidates[:j])
			d.Candidates[0] = c
			d.Reason = ReasonTrafficShare
			return
		}
	}
}

// compare reports whether a orders before b for tier, and the key that
// decided it. The keys per tier are:
//
//	premium:  health band ↓, preference ↑, cost ↑, supplier id ↑
//	standard: preference ↑, cost ↑, health band ↓, supplier id ↑
//	economy:  cost ↑, health band ↓, preference ↑, supplier id ↑
//
// Preference is unique within a route, so the supplier id tie-break is only
// reached in theory; it is there so the order is total by construction.
func compare(tier Tier, a, b *Candidate) (bool, Reason) {
	type key struct {
		a, b   int64
		reason Reason
	}
	pref := key{int64(a.Preference), int64(b.Preference), ReasonPreference}
	cost := key{int64(a.costBase), int64(b.costBase), ReasonLowestCost}
	// Negated so that a higher band sorts first.
	band := key{-int64(a.Health.Score / QualityBand), -int64(b.Health.Score / QualityBand), ReasonBestHealth}
	var keys [3]key
	switch tier {
	case Premium:
		keys = [3]key{band, pref, cost}
	case Economy:
		keys = [3]key{cost, band, pref}
	default:
		keys = [3]key{pref, cost, band}
	}
	for _, k := range keys {
		if k.a != k.b {
			return k.a < k.b, k.reason
		}
	}
	return a.SupplierID < b.SupplierID, ReasonTieBreak
}

// toBase converts a candidate's cost to the FX table's base at the
// decision's time (the snapshot's build time for a decision without one);
// a cost without a rate in force sorts after every other.
func (s *Snapshot) toBase(cost money.Units, cur money.Currency, at time.Time) money.Units {
	if at.IsZero() {
		at = s.builtAt
	}
	if b, ok := s.fx.ToBase(cost, cur, at); ok {
		return b
	}
	return math.MaxInt64
}
