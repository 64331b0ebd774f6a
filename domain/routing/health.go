package routing

import (
	"cmp"
	"slices"

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

// netKey and prefixKey key the finer levels. Looking a struct key with a
// string up in a map hashes the string in place: no allocation.
type netKey struct {
	supplier string
	net      numbering.Code
}

type prefixKey struct {
	supplier, prefix string
}

// Health is an immutable health snapshot with the eligibility threshold:
// per supplier, and per supplier × network and supplier × route prefix
// where those have enough samples. A nil *Health treats every supplier as
// DefaultHealth.
type Health struct {
	suppliers map[string]SupplierHealth
	networks  map[netKey]uint16
	prefixes  map[prefixKey]uint16
	minScore  uint16
}

// NewHealth copies states into a snapshot. Suppliers with Up false, or a
// score below minScore, are not eligible.
func NewHealth(states map[string]SupplierHealth, minScore uint16) *Health {
	return NewHealthOn(states, nil, minScore)
}

// NewHealthOn is NewHealth with the suppliers' scores per destination
// network and route prefix besides. Entries with fewer than
// HealthMinSamples samples, or naming neither a network nor a prefix, are
// left out; of the rest at most MaxDestinationHealth are kept, those with
// the most samples. dests is not modified.
func NewHealthOn(states map[string]SupplierHealth, dests []DestinationHealth, minScore uint16) *Health {
	h := &Health{suppliers: make(map[string]SupplierHealth, len(states)), minScore: minScore}
	for k, v := range states {
		v.Score = min(v.Score, ScoreMax)
		h.suppliers[k] = v
	}
	kept := busiest(dests)
	for _, d := range kept {
		score := min(d.Score, ScoreMax)
		if d.Network.Known() {
			if h.networks == nil {
				h.networks = make(map[netKey]uint16)
			}
			h.networks[netKey{d.SupplierID, d.Network}] = score
		} else {
			if h.prefixes == nil {
				h.prefixes = make(map[prefixKey]uint16)
			}
			h.prefixes[prefixKey{d.SupplierID, d.Prefix}] = score
		}
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
	if s, ok := h.suppliers[supplierID]; ok {
		return s
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
	s := h.Of(supplierID)
	if h == nil {
		return s
	}
	if net.Known() && h.networks != nil {
		if score, ok := h.networks[netKey{supplierID, net}]; ok {
			s.Score = score
			return s
		}
	}
	if routePrefix != "" && h.prefixes != nil {
		if score, ok := h.prefixes[prefixKey{supplierID, routePrefix}]; ok {
			s.Score = score
		}
	}
	return s
}

// Destinations is the number of supplier × network and supplier × prefix
// entries the snapshot holds.
func (h *Health) Destinations() int {
	if h == nil {
		return 0
	}
	return len(h.networks) + len(h.prefixes)
}

// MinScore is the eligibility threshold.
func (h *Health) MinScore() uint16 {
	if h == nil {
		return 0
	}
	return h.minScore
}
