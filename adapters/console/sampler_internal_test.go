package console

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The overview's figures come from the counters as the alert rules read
// them: rates over the last seconds, the DLR delivery ratio over the kept
// window, and its level against 95 % / 90 %.
func TestOverviewFromMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	submits := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smsledger_smpp_submits_total"}, []string{"result"})
	dlrs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smsledger_dlr_total"}, []string{"supplier", "status"})
	binds := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "smsledger_smpp_binds"}, []string{"side", "supplier"})
	score := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "smsledger_supplier_health_score"}, []string{"supplier"})
	reg.MustRegister(submits, dlrs, binds, score)
	binds.WithLabelValues("supplier", "s1").Set(2)
	binds.WithLabelValues("supplier", "s2").Set(0)
	score.WithLabelValues("s1").Set(900)
	score.WithLabelValues("s2").Set(0)

	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	s := newSampler(reg, func() time.Time { return now })
	for i := 0; i < 10; i++ {
		submits.WithLabelValues("ok").Add(100)
		submits.WithLabelValues("0x58").Add(10)
		dlrs.WithLabelValues("s1", "DELIVRD").Add(93)
		dlrs.WithLabelValues("s1", "UNDELIV").Add(7)
		s.take()
		now = now.Add(time.Second)
	}
	o := s.overview()
	if o.AcceptedPerSecond != 100 || o.RefusedPerSecond != 10 || o.DeliveredPerSec != 93 {
		t.Errorf("rates %v %v %v, want 100 10 93", o.AcceptedPerSecond, o.RefusedPerSecond, o.DeliveredPerSec)
	}
	if o.DeliveryRatio15m < 0.929 || o.DeliveryRatio15m > 0.931 || o.DeliveryLevel != "warning" {
		t.Errorf("delivery %v %s, want 0.93 warning", o.DeliveryRatio15m, o.DeliveryLevel)
	}
	if o.SuppliersUp != 1 || o.SuppliersDown != 1 || len(o.Suppliers) != 2 || o.Suppliers[0].Health != 900 {
		t.Errorf("suppliers %+v", o)
	}

	// The ring is bounded: after more than 15 minutes the oldest go.
	for i := 0; i < samplesKept+10; i++ {
		dlrs.WithLabelValues("s1", "UNDELIV").Add(100)
		s.take()
		now = now.Add(time.Second)
	}
	if n := len(s.samples); n != samplesKept {
		t.Errorf("%d samples kept, want %d", n, samplesKept)
	}
	if n := len(s.health); n > healthPointsKept {
		t.Errorf("%d health points kept, bound %d", n, healthPointsKept)
	}
	if o := s.overview(); o.DeliveryLevel != "critical" || o.DeliveryRatio15m != 0 {
		t.Errorf("after only failures: %v %s, want 0 critical", o.DeliveryRatio15m, o.DeliveryLevel)
	}
	svg, err := chartSVG("t", "y", s.trafficSeries(), 0)
	if err != nil || !strings.Contains(string(svg), "<svg") {
		t.Errorf("traffic chart: %v", err)
	}
	if hs := s.healthSeries(map[string]bool{"s1": true}); len(hs) != 1 || hs[0].name != "s1" {
		t.Errorf("health series for s1: %+v", hs)
	}
}
