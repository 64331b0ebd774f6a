package routing

// ScoreMax is the best health score. Scores are integers in permille so that
// comparisons are exact and deterministic.
const ScoreMax = 1000

// QualityBand is the width of the score bands premium routing compares:
// scores within one band count as equal quality, so measurement noise
// (987 vs 986) does not flap traffic between suppliers.
const QualityBand = 50

// SupplierHealth is the route-health projection's view of one supplier.
type SupplierHealth struct {
	Up    bool   // a bind is up and the supplier is not switched off
	Score uint16 // 0..ScoreMax, from acceptance ratio, DLR ratio and latency
}

// DefaultHealth is assumed for a supplier the projection has no data about
// yet (a new supplier must be able to receive its first traffic).
var DefaultHealth = SupplierHealth{Up: true, Score: ScoreMax}

// Health is an immutable health snapshot with the eligibility threshold.
// A nil *Health treats every supplier as DefaultHealth.
type Health struct {
	suppliers map[string]SupplierHealth
	minScore  uint16
}

// NewHealth copies states into a snapshot. Suppliers with Up false, or a
// score below minScore, are not eligible.
func NewHealth(states map[string]SupplierHealth, minScore uint16) *Health {
	m := make(map[string]SupplierHealth, len(states))
	for k, v := range states {
		if v.Score > ScoreMax {
			v.Score = ScoreMax
		}
		m[k] = v
	}
	return &Health{suppliers: m, minScore: minScore}
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

// MinScore is the eligibility threshold.
func (h *Health) MinScore() uint16 {
	if h == nil {
		return 0
	}
	return h.minScore
}
