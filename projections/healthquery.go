package projections

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/routing"
)

// HealthFigures are route health's figures over a window, for a supplier
// or for a supplier on one destination.
type HealthFigures struct {
	Submits   int64 `json:"submits"`
	Accepted  int64 `json:"accepted"`
	Rejected  int64 `json:"rejected"`
	TimedOut  int64 `json:"timed_out"`
	Failovers int64 `json:"failovers"`
	DLRFinal  int64 `json:"dlr_final"`
	Delivered int64 `json:"delivered"`
	// Permille ratios (exact integers): submit success, delivery rate, and
	// rejection and timeout rates among submit answers.
	SubmitSuccess int `json:"submit_success_permille"`
	DeliveryRate  int `json:"delivery_rate_permille"`
	RejectRate    int `json:"reject_rate_permille"`
	TimeoutRate   int `json:"timeout_rate_permille"`
	// Latency percentiles of submit_sm_resp: upper bounds of histogram
	// buckets (LatencyBoundsMs), -1 beyond the last bound, 0 without data.
	LatencyP50Ms int64 `json:"latency_p50_ms"`
	LatencyP95Ms int64 `json:"latency_p95_ms"`
	LatencyP99Ms int64 `json:"latency_p99_ms"`
	// Score is 0..routing.ScoreMax, as routing.SupplierHealth uses it.
	Score uint16 `json:"score"`
}

// SupplierHealth is one supplier's health over a rolling window.
type SupplierHealth struct {
	SupplierID string `json:"supplier_id"`
	Enabled    bool   `json:"enabled"`
	HealthFigures
}

// DestinationHealth is a supplier's health on one destination over a
// rolling window: a network (MCCMNC) or a route prefix (RoutePrefix).
type DestinationHealth struct {
	SupplierID  string `json:"supplier_id"`
	MCCMNC      string `json:"mccmnc,omitempty"`
	RoutePrefix string `json:"route_prefix,omitempty"`
	HealthFigures
}

// HealthMinSamples is the number of submit answers below which a supplier
// keeps the full score, and a network's or a prefix's score is not used
// by routing (routing.HealthMinSamples).
const HealthMinSamples = routing.HealthMinSamples

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

// answers is the number of submit answers (the score's samples).
func (h *HealthFigures) answers() int64 { return h.Accepted + h.Rejected + h.TimedOut }

// score combines the window's figures into routing's 0..1000 score.
func (h *HealthFigures) score() uint16 {
	if h.answers() < HealthMinSamples {
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

// derive computes the ratios, percentiles and score from the counters and
// the summed latency histogram.
func (h *HealthFigures) derive(hist []int64) {
	answers := h.answers()
	h.SubmitSuccess = permille(h.Accepted, answers)
	h.DeliveryRate = permille(h.Delivered, h.DLRFinal)
	if answers > 0 {
		h.RejectRate, h.TimeoutRate = permille(h.Rejected, answers), permille(h.TimedOut, answers)
	}
	h.LatencyP50Ms, h.LatencyP95Ms, h.LatencyP99Ms = percentile(hist, h.Accepted, 50), percentile(hist, h.Accepted, 95), percentile(hist, h.Accepted, 99)
	h.Score = h.score()
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
		h.derive(hist)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("route health: %w", err)
	}
	return out, nil
}

// Destination levels as destinationHealthSQL reports them.
const (
	levelNetwork = "n"
	levelPrefix  = "p"
)

// destinationHealthSQL sums both per-destination tables over the window
// [$1, $2) per supplier, level and destination: the counters and the
// latency histogram element by element (array subscripts, so PostgreSQL
// sums plain columns; no function call per row). filter is spliced in
// after the window (e.g. "AND supplier_id = $3"); having and tail after
// the GROUP BY.
func destinationHealthSQL(filter, having, tail string) string {
	s := ident(LiveSchema)
	hist := make([]string, histBuckets)
	for i := range hist {
		hist[i] = "coalesce(sum(latency_hist[" + strconv.Itoa(i+1) + "]), 0)"
	}
	cols := "supplier_id, bucket, submits, accepted, rejected, timeouts, failovers, dlr_final, dlr_delivered, latency_hist"
	where := "WHERE bucket >= $1 AND bucket < $2 " + filter
	return `SELECT level, supplier_id, dest,
			sum(submits)::bigint, sum(accepted)::bigint, sum(rejected)::bigint, sum(timeouts)::bigint,
			sum(failovers)::bigint, sum(dlr_final)::bigint, sum(dlr_delivered)::bigint,
			ARRAY[` + strings.Join(hist, ", ") + `]::bigint[]
		FROM (SELECT '` + levelNetwork + `' AS level, mccmnc AS dest, ` + cols + ` FROM ` + s + `.route_health_networks ` + where + `
			UNION ALL
			SELECT '` + levelPrefix + `', route_prefix, ` + cols + ` FROM ` + s + `.route_health_prefixes ` + where + `) h
		GROUP BY level, supplier_id, dest ` + having + ` ` + tail
}

// scanDestinations reads destinationHealthSQL's rows.
func scanDestinations(rows pgx.Rows) ([]DestinationHealth, error) {
	defer rows.Close()
	var out []DestinationHealth
	for rows.Next() {
		var d DestinationHealth
		var level, dest string
		var hist []int64
		if err := rows.Scan(&level, &d.SupplierID, &dest, &d.Submits, &d.Accepted, &d.Rejected, &d.TimedOut, &d.Failovers,
			&d.DLRFinal, &d.Delivered, &hist); err != nil {
			return nil, fmt.Errorf("route health per destination: %w", err)
		}
		if level == levelNetwork {
			d.MCCMNC = dest
		} else {
			d.RoutePrefix = dest
		}
		d.derive(hist)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("route health per destination: %w", err)
	}
	return out, nil
}

// SupplierHealthReport is one supplier's health over a window at each
// level routing uses: the supplier, and the supplier on each destination
// network and route prefix it had traffic for.
type SupplierHealthReport struct {
	SupplierID    string              `json:"supplier_id"`
	At            time.Time           `json:"at"`
	WindowSeconds int64               `json:"window_seconds"`
	Supplier      SupplierHealth      `json:"supplier"`
	Networks      []DestinationHealth `json:"networks"`
	Prefixes      []DestinationHealth `json:"prefixes"`
}

// SupplierHealthDetail reports a supplier's health over the window ending
// at at: its own figures, and per network and per route prefix the limit
// worst ones (lowest score first; scores resting on fewer than
// HealthMinSamples answers are full and come last, then most answers).
func SupplierHealthDetail(ctx context.Context, pool *pgxpool.Pool, supplierID string, at time.Time, window time.Duration, limit int) (SupplierHealthReport, error) {
	rep := SupplierHealthReport{SupplierID: supplierID, At: at.UTC(), WindowSeconds: int64(window / time.Second),
		Supplier: SupplierHealth{SupplierID: supplierID, Enabled: true}, // until the read model has it
		Networks: []DestinationHealth{}, Prefixes: []DestinationHealth{}}
	rep.Supplier.derive(nil)
	all, err := RouteHealth(ctx, pool, at, window)
	if err != nil {
		return rep, err
	}
	for _, h := range all {
		if h.SupplierID == supplierID {
			rep.Supplier = h
		}
	}
	// The busiest destinations at most, so that the sort below is bounded
	// however many a supplier reaches.
	rows, err := pool.Query(ctx, destinationHealthSQL("AND supplier_id = $3", "",
		"ORDER BY sum(accepted + rejected + timeouts) DESC, level, dest LIMIT $4"),
		at.Add(-window).UTC(), at.UTC(), supplierID, routing.MaxDestinationHealth)
	if err != nil {
		return rep, fmt.Errorf("route health per destination: %w", err)
	}
	dests, err := scanDestinations(rows)
	if err != nil {
		return rep, err
	}
	slices.SortFunc(dests, func(a, b DestinationHealth) int {
		return cmp.Or(cmp.Compare(a.Score, b.Score), cmp.Compare(b.answers(), a.answers()),
			cmp.Compare(a.MCCMNC, b.MCCMNC), cmp.Compare(a.RoutePrefix, b.RoutePrefix))
	})
	for _, d := range dests {
		switch {
		case d.MCCMNC != "" && len(rep.Networks) < limit:
			rep.Networks = append(rep.Networks, d)
		case d.RoutePrefix != "" && len(rep.Prefixes) < limit:
			rep.Prefixes = append(rep.Prefixes, d)
		}
	}
	return rep, nil
}

// HealthLevels is route health as routing takes it: each supplier's score
// (Up false when the operator switched it off) and the scores per
// supplier × network and supplier × route prefix that rest on at least
// HealthMinSamples answers, at most routing.MaxDestinationHealth of them,
// the busiest.
type HealthLevels struct {
	Suppliers    map[string]routing.SupplierHealth
	Destinations []routing.DestinationHealth
}

// RouteHealthLevels reads HealthLevels over the window ending at at: one
// query per level kind (suppliers; networks and prefixes together).
func RouteHealthLevels(ctx context.Context, pool *pgxpool.Pool, at time.Time, window time.Duration) (HealthLevels, error) {
	hs, err := RouteHealth(ctx, pool, at, window)
	if err != nil {
		return HealthLevels{}, err
	}
	l := HealthLevels{Suppliers: make(map[string]routing.SupplierHealth, len(hs))}
	for _, h := range hs {
		l.Suppliers[h.SupplierID] = routing.SupplierHealth{Up: h.Enabled, Score: h.Score}
	}
	rows, err := pool.Query(ctx, destinationHealthSQL("", "HAVING sum(accepted + rejected + timeouts) >= $3",
		"ORDER BY sum(accepted + rejected + timeouts) DESC, level, supplier_id, dest LIMIT $4"),
		at.Add(-window).UTC(), at.UTC(), HealthMinSamples, routing.MaxDestinationHealth)
	if err != nil {
		return l, fmt.Errorf("route health per destination: %w", err)
	}
	dests, err := scanDestinations(rows)
	if err != nil {
		return l, err
	}
	l.Destinations = make([]routing.DestinationHealth, 0, len(dests))
	for _, d := range dests {
		rd := routing.DestinationHealth{SupplierID: d.SupplierID, Prefix: d.RoutePrefix, Score: d.Score, Samples: d.answers()}
		if d.MCCMNC != "" {
			if rd.Network, err = numbering.ParseCode(d.MCCMNC); err != nil {
				continue // not a network routing can meet
			}
		}
		l.Destinations = append(l.Destinations, rd)
	}
	return l, nil
}

// HealthSnapshot builds the routing health snapshot from RouteHealthLevels:
// a disabled supplier is down; minScore is the eligibility threshold.
func HealthSnapshot(ctx context.Context, pool *pgxpool.Pool, at time.Time, window time.Duration, minScore uint16) (*routing.Health, error) {
	l, err := RouteHealthLevels(ctx, pool, at, window)
	if err != nil {
		return nil, err
	}
	return routing.NewHealthOn(l.Suppliers, l.Destinations, minScore), nil
}
