package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/domain/routing"
)

// SupplierHealth is one supplier's health over a rolling window.
type SupplierHealth struct {
	SupplierID string `json:"supplier_id"`
	Enabled    bool   `json:"enabled"`
	Submits    int64  `json:"submits"`
	Accepted   int64  `json:"accepted"`
	Rejected   int64  `json:"rejected"`
	TimedOut   int64  `json:"timed_out"`
	Failovers  int64  `json:"failovers"`
	DLRFinal   int64  `json:"dlr_final"`
	Delivered  int64  `json:"delivered"`
	// Permille ratios (exact integers): submit success, delivery rate, and
	// rejection and timeout rates among submit answers.
	SubmitSuccess int `json:"submit_success_permille"`
	DeliveryRate  int `json:"delivery_rate_permille"`
	RejectRate    int `json:"reject_rate_permille"`
	TimeoutRate   int `json:"timeout_rate_permille"`
	// Latency percentiles of submit_sm_resp: upper bounds of histogram
	// buckets (LatencyBoundsMs), -1 beyond the last bound, 0 without data.
	LatencyP50Ms, LatencyP95Ms, LatencyP99Ms int64
	// Score is 0..routing.ScoreMax, as routing.SupplierHealth uses it.
	Score uint16 `json:"score"`
}

// HealthMinSamples is the number of submit answers below which a supplier
// keeps the full score (a new or idle supplier must get traffic to be
// measured at all).
const HealthMinSamples = 20

// Score weights (permille of the score): submit success, delivery rate,
// latency.
const (
	weightSubmit   = 500
	weightDelivery = 300
	weightLatency  = 200
	// latencyGoodMs and latencyBadMs: a p95 at or under good scores the full
	// latency weight, at or over bad scores none, linear between.
	latencyGoodMs = 500
	latencyBadMs  = 5000
)

func permille(n, d int64) int {
	if d == 0 {
		return 1000
	}
	return int(n * 1000 / d)
}

// score combines the window's figures into routing's 0..1000 score.
func (h *SupplierHealth) score() uint16 {
	answers := h.Accepted + h.Rejected + h.TimedOut
	if answers < HealthMinSamples {
		return routing.ScoreMax
	}
	lat := int64(1000)
	switch p := h.LatencyP95Ms; {
	case p < 0 || p >= latencyBadMs:
		lat = 0
	case p > latencyGoodMs:
		lat = 1000 * (latencyBadMs - p) / (latencyBadMs - latencyGoodMs)
	}
	s := (int64(weightSubmit)*int64(h.SubmitSuccess) + int64(weightDelivery)*int64(h.DeliveryRate) + int64(weightLatency)*lat) / 1000
	return uint16(min(max(s, 0), routing.ScoreMax))
}

func percentile(hist []int64, total int64, p int64) int64 {
	if total == 0 {
		return 0
	}
	want := (total*p + 99) / 100
	var cum int64
	for i, n := range hist {
		cum += n
		if cum >= want {
			if i < len(LatencyBoundsMs) {
				return LatencyBoundsMs[i]
			}
			return -1
		}
	}
	return -1
}

// RouteHealth returns every supplier's health over the window ending at
// at (event time, minute buckets).
func RouteHealth(ctx context.Context, pool *pgxpool.Pool, at time.Time, window time.Duration) ([]SupplierHealth, error) {
	s := ident(LiveSchema)
	rows, err := pool.Query(ctx, `SELECT s.supplier_id, s.enabled,
			coalesce(sum(h.submits), 0)::bigint, coalesce(sum(h.accepted), 0)::bigint, coalesce(sum(h.rejected), 0)::bigint,
			coalesce(sum(h.timeouts), 0)::bigint, coalesce(sum(h.failovers), 0)::bigint, coalesce(sum(h.dlr_final), 0)::bigint,
			coalesce(sum(h.dlr_delivered), 0)::bigint,
			array(SELECT coalesce(sum(x), 0)::bigint FROM `+s+`.route_health h2, unnest(h2.latency_hist) WITH ORDINALITY AS u(x, i)
				WHERE h2.supplier_id = s.supplier_id AND h2.bucket >= $1 AND h2.bucket < $2 GROUP BY i ORDER BY i)
		FROM `+s+`.suppliers s
		LEFT JOIN `+s+`.route_health h ON h.supplier_id = s.supplier_id AND h.bucket >= $1 AND h.bucket < $2
		GROUP BY s.supplier_id, s.enabled ORDER BY s.supplier_id`, at.Add(-window).UTC(), at.UTC())
	if err != nil {
		return nil, fmt.Errorf("route health: %w", err)
	}
	defer rows.Close()
	var out []SupplierHealth
	for rows.Next() {
		var h SupplierHealth
		var hist []int64
		if err := rows.Scan(&h.SupplierID, &h.Enabled, &h.Submits, &h.Accepted, &h.Rejected, &h.TimedOut, &h.Failovers,
			&h.DLRFinal, &h.Delivered, &hist); err != nil {
			return nil, fmt.Errorf("route health: %w", err)
		}
		answers := h.Accepted + h.Rejected + h.TimedOut
		h.SubmitSuccess = permille(h.Accepted, answers)
		h.DeliveryRate = permille(h.Delivered, h.DLRFinal)
		if answers > 0 {
			h.RejectRate, h.TimeoutRate = permille(h.Rejected, answers), permille(h.TimedOut, answers)
		}
		h.LatencyP50Ms, h.LatencyP95Ms, h.LatencyP99Ms = percentile(hist, h.Accepted, 50), percentile(hist, h.Accepted, 95), percentile(hist, h.Accepted, 99)
		h.Score = h.score()
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("route health: %w", err)
	}
	return out, nil
}

// HealthSnapshot builds the routing health snapshot from RouteHealth: a
// disabled supplier is down; minScore is the eligibility threshold.
func HealthSnapshot(ctx context.Context, pool *pgxpool.Pool, at time.Time, window time.Duration, minScore uint16) (*routing.Health, error) {
	hs, err := RouteHealth(ctx, pool, at, window)
	if err != nil {
		return nil, err
	}
	states := make(map[string]routing.SupplierHealth, len(hs))
	for _, h := range hs {
		states[h.SupplierID] = routing.SupplierHealth{Up: h.Enabled, Score: h.Score}
	}
	return routing.NewHealth(states, minScore), nil
}
