package routing

import (
	"cmp"
	"slices"
	"sync/atomic"

	"github.com/smsledger/smsledger/domain/numbering"
)

// ScoreMax is the best health score. Scores are integers in permille so that
// comparisons are exact and deterministic.
const ScoreMax = 1000

// QualityBand is the width of the score bands premium routing compares:
// scores within one band count as equal quality, so measurement noise
// (987 vs 986) does not flap traffic between suppliers.
const QualityBand = 50

// HealthMinSamples is the number of submit answers (accepted, rejected,
// timed out) in the window a score needs before it counts: below it a
// supplier keeps the full score (a new or idle supplier must get traffic
// to be measured at all), and a network's or a prefix's score is not used
// (OfOn falls back to the coarser level), so that one unlucky message
// cannot exclude a supplier from a network.
const HealthMinSamples = 20

// MaxDestinationHealth bounds the supplier × network and supplier × route
// prefix entries of one snapshot (both levels together): NewHealthOn keeps
// the busiest (most samples). An entry costs about 100 bytes of map, so
// the bound holds a snapshot's finer levels under about 10 MB however many
// networks and prefixes carry traffic; a destination left out routes on
// its supplier's score.
const MaxDestinationHealth = 100_000

// SupplierHealth is the route-health projection's view of one supplier.
type SupplierHealth struct {
	Up    bool   // a bind is up and the supplier is not switched off
	Score uint16 // 0..ScoreMax, from acceptance ratio, DLR ratio and latency
}

// DefaultHealth is assumed for a supplier the projection has no data about
// yet (a new supplier must be able to receive its first traffic).
var DefaultHealth = SupplierHealth{Up: true, Score: ScoreMax}

// DestinationHealth is a supplier's score on one destination: a mobile
// network (Network set) or a route prefix (Prefix set, Network zero).
type DestinationHealth struct {
	SupplierID string
	Network    numbering.Code
	Prefix     string
	Score      uint16
	// Samples is the submit answers the score rests on; an entry with
	// fewer than HealthMinSamples is not kept.
	Samples int64
}

// Health is an immutable health snapshot with the eligibility threshold:
// per supplier, and per supplier × network and supplier × route prefix
// where those have enough samples. A nil *Health treats every supplier as
// DefaultHealth.
type Health struct {
	suppliers map[string]*supplierScores
	minScore  uint16
	entries   int // network and prefix entries of all suppliers
	// index is the suppliers of the routing Snapshot last decided with, by
	// the snapshot's supplier index (indexFor): the hot path then looks a
	// candidate's health up by position instead of hashing its id.
	index atomic.Pointer[healthIndex]
}

// supplierScores is one supplier's health and its finer levels (nil maps:
// none measured).
type supplierScores struct {
	health   SupplierHealth
	networks map[numbering.Code]uint16
	prefixes map[string]uint16
}

type healthIndex struct {
	snap       *Snapshot
	bySupplier []indexedScores
}

// indexedScores is a supplier's scores with its network scores laid out
// by the routing snapshot's network numbers (noScore: none).
type indexedScores struct {
	*supplierScores // nil: no data, DefaultHealth
	net             []uint16
}

const noScore = 0xFFFF

// NewHealth copies states into a snapshot. Suppliers with Up false, or a
// score below minScore, are not eligible.
func NewHealth(states map[string]SupplierHealth, minScore uint16) *Health {
	return NewHealthOn(states, nil, minScore)
}

// NewHealthOn is NewHealth with the suppliers' scores per destination
// network and route prefix besides. Entries with fewer than
// HealthMinSamples samples, or naming neither a network nor a prefix, are
// left out; of the rest at most MaxDestinationHealth are kept, those with
// the most samples. dests is not modified. A destination entry of a
// supplier without a state of its own has the default health besides.
func NewHealthOn(states map[string]SupplierHealth, dests []DestinationHealth, minScore uint16) *Health {
	h := &Health{suppliers: make(map[string]*supplierScores, len(states)), minScore: minScore}
	for k, v := range states {
		v.Score = min(v.Score, ScoreMax)
		h.suppliers[k] = &supplierScores{health: v}
	}
	kept := busiest(dests)
	for _, d := range kept {
		sc := h.suppliers[d.SupplierID]
		if sc == nil {
			sc = &supplierScores{health: DefaultHealth}
			h.suppliers[d.SupplierID] = sc
		}
		score := min(d.Score, ScoreMax)
		if d.Network.Known() {
			if sc.networks == nil {
				sc.networks = make(map[numbering.Code]uint16)
			}
			sc.networks[d.Network] = score
		} else {
			if sc.prefixes == nil {
				sc.prefixes = make(map[string]uint16)
			}
			sc.prefixes[d.Prefix] = score
		}
		h.entries++
	}
	return h
}

// busiest returns the entries of dests that can be used (enough samples, a
// network or a prefix), at most MaxDestinationHealth of them: the ones
// with the most samples (ties: supplier, network, prefix, so the choice is
// deterministic).
func busiest(dests []DestinationHealth) []DestinationHealth {
	var out []DestinationHealth
	for _, d := range dests {
		if d.Samples >= HealthMinSamples && (d.Network.Known() || d.Prefix != "") {
			out = append(out, d)
		}
	}
	if len(out) <= MaxDestinationHealth {
		return out
	}
	slices.SortFunc(out, func(a, b DestinationHealth) int {
		return cmp.Or(cmp.Compare(b.Samples, a.Samples), cmp.Compare(a.SupplierID, b.SupplierID),
			cmp.Compare(a.Network, b.Network), cmp.Compare(a.Prefix, b.Prefix))
	})
	return out[:MaxDestinationHealth]
}

// Of returns the health of a supplier.
func (h *Health) Of(supplierID string) SupplierHealth {
	if h == nil {
		return DefaultHealth
	}
	if sc, ok := h.suppliers[supplierID]; ok {
		return sc.health
	}
	return DefaultHealth
}

// OfOn returns the health of a supplier for a destination on network net
// (zero: unknown) matched by route prefix routePrefix (empty: a network row
// of the route table matched). The score is the finest level measured
// well enough: the supplier on the network, else the supplier on the
// route prefix, else the supplier; Up is always the supplier's (binds and
// the operator's switch are per supplier). It does not allocate.
func (h *Health) OfOn(supplierID string, net numbering.Code, routePrefix string) SupplierHealth {
	if h == nil {
		return DefaultHealth
	}
	return h.suppliers[supplierID].on(net, routePrefix)
}

// on is OfOn of the supplier sc (nil: no data).
func (sc *supplierScores) on(net numbering.Code, routePrefix string) SupplierHealth {
	if sc == nil {
		return DefaultHealth
	}
	s := sc.health
	if net.Known() && sc.networks != nil {
		if score, ok := sc.networks[net]; ok {
			s.Score = score
			return s
		}
	}
	return sc.onPrefix(s, routePrefix)
}

func (sc *supplierScores) onPrefix(s SupplierHealth, routePrefix string) SupplierHealth {
	if routePrefix != "" && sc.prefixes != nil {
		if score, ok := sc.prefixes[routePrefix]; ok {
			s.Score = score
		}
	}
	return s
}

// on is supplierScores.on for network net, numbered ni in the routing
// snapshot (-1: no row names it, so its score, if any, is in the map).
func (ix indexedScores) on(ni int32, net numbering.Code, routePrefix string) SupplierHealth {
	if ix.supplierScores == nil {
		return DefaultHealth
	}
	if ni < 0 {
		return ix.supplierScores.on(net, routePrefix)
	}
	s := ix.health
	if ix.net != nil && ix.net[ni] != noScore {
		s.Score = ix.net[ni]
		return s
	}
	return ix.onPrefix(s, routePrefix)
}

// indexFor returns the scores of snap's suppliers by their index in snap,
// built on the first decision with this pair of snapshots and kept: both
// are immutable, and a new health snapshot comes every few seconds, a new
// routing snapshot with a configuration change. Concurrent first calls
// may each build it; any of them is right. nil h: nil (every supplier
// DefaultHealth).
func (h *Health) indexFor(snap *Snapshot) []indexedScores {
	if h == nil {
		return nil
	}
	if ix := h.index.Load(); ix != nil && ix.snap == snap {
		return ix.bySupplier
	}
	by := make([]indexedScores, len(snap.suppliers))
	for i := range snap.suppliers {
		sc := h.suppliers[snap.suppliers[i].id]
		by[i].supplierScores = sc
		if sc == nil || sc.networks == nil || len(snap.netCodes) == 0 {
			continue
		}
		by[i].net = make([]uint16, len(snap.netCodes))
		for ni, c := range snap.netCodes {
			score, ok := sc.networks[c]
			if !ok {
				score = noScore
			}
			by[i].net[ni] = score
		}
	}
	h.index.Store(&healthIndex{snap: snap, bySupplier: by})
	return by
}

// Destinations is the number of supplier × network and supplier × prefix
// entries the snapshot holds.
func (h *Health) Destinations() int {
	if h == nil {
		return 0
	}
	return h.entries
}

// MinScore is the eligibility threshold.
func (h *Health) MinScore() uint16 {
	if h == nil {
		return 0
	}
	return h.minScore
}
