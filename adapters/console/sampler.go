package console

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Sampling bounds: one sample a second for 15 minutes (the DLR delivery
// rate's window, as the alert rules compute it), and the suppliers' health
// every 10 s for an hour, for at most maxChartSuppliers suppliers.
const (
	sampleEvery       = time.Second
	samplesKept       = 15*60 + 1
	healthEvery       = 10 * time.Second
	healthPointsKept  = 360
	maxChartSuppliers = 32
)

// The alert rules' thresholds of the DLR delivery rate (docs/alerts.yaml).
const (
	deliveryWarnRatio     = 0.95
	deliveryCriticalRatio = 0.90
)

// sample is the metrics at one instant: cumulative counters, as Prometheus
// keeps them, and gauges.
type sample struct {
	at                                 time.Time
	accepted, refused, delivered, dlrs float64
	lagSeconds, lagEvents              float64
	supplierBinds                      map[string]float64
	supplierScore                      map[string]float64
	supplierQueue                      map[string]float64
	customerSessions                   float64
}

// healthPoint is the suppliers' health scores at one instant.
type healthPoint struct {
	at     time.Time
	scores map[string]float64
}

// sampler keeps the recent metrics for the overview: a ring of samples
// (bounded) read from the same registry /metrics serves, so the console
// shows what the alerts see.
type sampler struct {
	g   prometheus.Gatherer
	now func() time.Time

	mu      sync.Mutex
	samples []sample // oldest first, at most samplesKept
	health  []healthPoint
}

func newSampler(g prometheus.Gatherer, now func() time.Time) *sampler {
	return &sampler{g: g, now: now}
}

func (s *sampler) run(ctx context.Context) {
	if s.g == nil {
		return
	}
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	s.take()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.take()
		}
	}
}

// take reads the registry once and appends a sample.
func (s *sampler) take() {
	fams, err := s.g.Gather()
	if err != nil && len(fams) == 0 {
		return
	}
	sm := sample{at: s.now(), supplierBinds: map[string]float64{}, supplierScore: map[string]float64{}, supplierQueue: map[string]float64{}}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			v := value(m)
			switch f.GetName() {
			case "smsledger_smpp_submits_total":
				if label(m, "result") == "ok" {
					sm.accepted += v
				} else {
					sm.refused += v
				}
			case "smsledger_submits_total":
				if label(m, "result") == "accepted" {
					sm.accepted += v
				} else {
					sm.refused += v
				}
			case "smsledger_dlr_total":
				sm.dlrs += v
				if label(m, "status") == "DELIVRD" {
					sm.delivered += v
				}
			case "smsledger_projection_lag_seconds":
				sm.lagSeconds = max(sm.lagSeconds, v)
			case "smsledger_projection_lag_events":
				sm.lagEvents = max(sm.lagEvents, v)
			case "smsledger_smpp_binds":
				if label(m, "side") == "supplier" {
					sm.supplierBinds[label(m, "supplier")] += v
				}
			case "smsledger_supplier_health_score":
				sm.supplierScore[label(m, "supplier")] = v
			case "smsledger_supplier_queue_depth":
				sm.supplierQueue[label(m, "supplier")] = v
			case "smsledger_smpp_sessions":
				sm.customerSessions = v
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == samplesKept {
		copy(s.samples, s.samples[1:])
		s.samples = s.samples[:samplesKept-1]
	}
	s.samples = append(s.samples, sm)
	if n := len(s.health); n > 0 && len(s.health[n-1].scores) == 0 {
		// The first points came before any score (serve just started): a
		// sample with scores takes their place rather than waiting 10 s.
		s.health = s.health[:n-1]
	}
	if n := len(s.health); n == 0 || sm.at.Sub(s.health[n-1].at) >= healthEvery {
		if n == healthPointsKept {
			copy(s.health, s.health[1:])
			s.health = s.health[:healthPointsKept-1]
		}
		s.health = append(s.health, healthPoint{at: sm.at, scores: sm.supplierScore})
	}
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// SupplierNow is one supplier's line of the overview.
type SupplierNow struct {
	ID         string  `json:"id"`
	BindsUp    float64 `json:"binds_up"`
	QueueDepth float64 `json:"queue_depth"`
	Health     float64 `json:"health_score"`
}

// Overview is the live figures of the overview page (and of
// /console/overview.json, which its script polls).
type Overview struct {
	At                time.Time `json:"at"`
	AcceptedPerSecond float64   `json:"accepted_per_s"`
	RefusedPerSecond  float64   `json:"refused_per_s"`
	DeliveredPerSec   float64   `json:"delivered_per_s"`
	// DeliveryRatio15m is DELIVRD receipts over all receipts in the last
	// 15 minutes (or since start); -1 when there were none.
	DeliveryRatio15m float64 `json:"delivery_ratio_15m"`
	// DeliveryLevel is "ok", "warning" (below 95 %) or "critical" (below
	// 90 %), as the alert rules say; "none" without receipts.
	DeliveryLevel     string        `json:"delivery_level"`
	WindowSeconds     float64       `json:"window_s"`
	ProjectionLagS    float64       `json:"projection_lag_s"`
	ProjectionLagEv   float64       `json:"projection_lag_events"`
	CustomerSessions  float64       `json:"customer_sessions"`
	Suppliers         []SupplierNow `json:"suppliers"`
	SuppliersUp       int           `json:"suppliers_up"`
	SuppliersDown     int           `json:"suppliers_down"`
	AcceptedTotal     float64       `json:"accepted_total"`
	DeliveredTotal    float64       `json:"delivered_total"`
	SamplesAvailable  int           `json:"samples"`
	RateWindowSeconds float64       `json:"rate_window_s"`
}

// rateWindow is the span the per-second rates are averaged over.
const rateWindow = 5

// overview computes the live figures from the samples.
func (s *sampler) overview() Overview {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := Overview{DeliveryRatio15m: -1, DeliveryLevel: "none", SamplesAvailable: len(s.samples)}
	n := len(s.samples)
	if n == 0 {
		return o
	}
	last := s.samples[n-1]
	o.At = last.at
	o.AcceptedTotal, o.DeliveredTotal = last.accepted, last.delivered
	o.ProjectionLagS, o.ProjectionLagEv, o.CustomerSessions = last.lagSeconds, last.lagEvents, last.customerSessions
	if n > 1 {
		prev := s.samples[max(0, n-1-rateWindow)]
		if dt := last.at.Sub(prev.at).Seconds(); dt > 0 {
			o.RateWindowSeconds = dt
			o.AcceptedPerSecond = (last.accepted - prev.accepted) / dt
			o.RefusedPerSecond = (last.refused - prev.refused) / dt
			o.DeliveredPerSec = (last.delivered - prev.delivered) / dt
		}
		first := s.samples[0]
		o.WindowSeconds = last.at.Sub(first.at).Seconds()
		if all := last.dlrs - first.dlrs; all > 0 {
			o.DeliveryRatio15m = (last.delivered - first.delivered) / all
			switch {
			case o.DeliveryRatio15m < deliveryCriticalRatio:
				o.DeliveryLevel = "critical"
			case o.DeliveryRatio15m < deliveryWarnRatio:
				o.DeliveryLevel = "warning"
			default:
				o.DeliveryLevel = "ok"
			}
		}
	}
	ids := make([]string, 0, len(last.supplierScore))
	seen := map[string]bool{}
	for _, m := range []map[string]float64{last.supplierScore, last.supplierBinds} {
		for id := range m {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		sn := SupplierNow{ID: id, BindsUp: last.supplierBinds[id], QueueDepth: last.supplierQueue[id], Health: last.supplierScore[id]}
		if sn.BindsUp > 0 {
			o.SuppliersUp++
		} else {
			o.SuppliersDown++
		}
		o.Suppliers = append(o.Suppliers, sn)
	}
	return o
}

// series is one line of a chart.
type series struct {
	name string
	x, y []float64 // x: seconds relative to now (negative)
}

// trafficSeries are accepted, refused and delivered per second over the
// kept samples (each point the rate since the previous sample).
func (s *sampler) trafficSeries() []series {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []series{{name: "accepted/s"}, {name: "refused/s"}, {name: "delivered/s"}}
	n := len(s.samples)
	if n < 2 {
		return out
	}
	now := s.samples[n-1].at
	for i := 1; i < n; i++ {
		a, b := s.samples[i-1], s.samples[i]
		dt := b.at.Sub(a.at).Seconds()
		if dt <= 0 {
			continue
		}
		x := b.at.Sub(now).Seconds()
		for j, d := range []float64{b.accepted - a.accepted, b.refused - a.refused, b.delivered - a.delivered} {
			out[j].x = append(out[j].x, x)
			out[j].y = append(out[j].y, max(0, d/dt))
		}
	}
	return out
}

// healthSeries are the health scores of up to maxChartSuppliers suppliers
// (by id) over the last hour; only names in want when want is not empty.
func (s *sampler) healthSeries(want map[string]bool) []series {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.health)
	if n == 0 {
		return nil
	}
	now := s.health[n-1].at
	byID := map[string]*series{}
	var ids []string
	for _, p := range s.health {
		for id, v := range p.scores {
			if len(want) > 0 && !want[id] {
				continue
			}
			sr := byID[id]
			if sr == nil {
				if len(byID) >= maxChartSuppliers {
					continue
				}
				sr = &series{name: id}
				byID[id] = sr
				ids = append(ids, id)
			}
			sr.x = append(sr.x, p.at.Sub(now).Seconds())
			sr.y = append(sr.y, v)
		}
	}
	sort.Strings(ids)
	out := make([]series, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	return out
}
