package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smsledger/smsledger/adapters/smpp/relay"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/projections"
)

// serveMetrics are the series serve exposes on /metrics beside the HTTP
// API's own: SMPP submits and their latency, group-commit batches, supplier
// binds, queues and health, DLRs and their delay, projection lag and
// customer binds. docs/alerts.yaml builds seed 003's alerts from them.
type serveMetrics struct {
	smppSubmits    *prometheus.CounterVec
	smppSubmitTime prometheus.Histogram
	batchEvents    prometheus.Histogram
	batchTime      prometheus.Histogram
	dlrs           *prometheus.CounterVec
	dlrDelay       prometheus.Histogram
	supplierScore  *prometheus.GaugeVec
}

// fastSeconds are the buckets of the latencies that take milliseconds: a
// submit's decision, a group commit.
var fastSeconds = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1}

func newServeMetrics(reg *prometheus.Registry) *serveMetrics {
	m := &serveMetrics{
		smppSubmits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsledger_smpp_submits_total",
			Help: "submit_sm decided by the ledger, by result code (ok or the refusal code).",
		}, []string{"result"}),
		smppSubmitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "smsledger_smpp_submit_duration_seconds",
			Help:    "Time from a complete submit_sm to its durable decision (the submit_sm_resp latency inside the server).",
			Buckets: fastSeconds,
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "smsledger_eventstore_batch_events",
			Help:    "Events per group-commit transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "smsledger_eventstore_batch_duration_seconds",
			Help:    "Duration of one group-commit transaction (callers wait this plus queueing).",
			Buckets: fastSeconds,
		}),
		dlrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsledger_dlr_total",
			Help: "Delivery receipts from suppliers, by supplier and stat.",
		}, []string{"supplier", "status"}),
		dlrDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "smsledger_dlr_delay_seconds",
			Help:    "From accepting a message to its DLR reaching the tenant.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}),
		supplierScore: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "smsledger_supplier_health_score",
			Help: "Routing health score per supplier (0..1000; 0 when down).",
		}, []string{"supplier"}),
	}
	reg.MustRegister(m.smppSubmits, m.smppSubmitTime, m.batchEvents, m.batchTime, m.dlrs, m.dlrDelay, m.supplierScore)
	return m
}

// onBatch feeds the event store's group-commit hook.
func (m *serveMetrics) onBatch(_, events int, took time.Duration) {
	m.batchEvents.Observe(float64(events))
	m.batchTime.Observe(took.Seconds())
}

// relay.Observer

func (m *serveMetrics) Submitted(code string, took time.Duration) {
	if code == "" {
		code = "ok"
	}
	m.smppSubmits.WithLabelValues(code).Inc()
	m.smppSubmitTime.Observe(took.Seconds())
}

func (m *serveMetrics) DLRReceived(supplierID, stat string) {
	m.dlrs.WithLabelValues(supplierID, stat).Inc()
}

func (m *serveMetrics) DLRForwarded(delay time.Duration) { m.dlrDelay.Observe(delay.Seconds()) }

// stateCollector reads the components' state at scrape time.
type stateCollector struct {
	rel  *relay.Relay
	smpp *server.Server
	proj lagger

	binds, queue, tps, customerBinds, lagEvents, lagSeconds   *prometheus.Desc
	moReceived, moUnknown, moUnbilled, moForwarded, moDropped *prometheus.Desc
}

// lagger is what the collector reads of the projections.
type lagger interface{ Lag() []projections.Lag }

func newStateCollector(rel *relay.Relay, smpp *server.Server, proj lagger) *stateCollector {
	return &stateCollector{
		rel: rel, smpp: smpp, proj: proj,
		binds:         prometheus.NewDesc("smsledger_smpp_binds", "SMPP binds up, by side (supplier or customer) and supplier.", []string{"side", "supplier"}, nil),
		queue:         prometheus.NewDesc("smsledger_supplier_queue_depth", "Messages waiting for a supplier bind.", []string{"supplier"}, nil),
		tps:           prometheus.NewDesc("smsledger_supplier_tps_limit", "The adaptive submit rate limit in force per supplier.", []string{"supplier"}, nil),
		lagEvents:     prometheus.NewDesc("smsledger_projection_lag_events", "Events between the log's head and a projector's checkpoint.", []string{"projector"}, nil),
		lagSeconds:    prometheus.NewDesc("smsledger_projection_lag_seconds", "Age of the last event a projector applied while behind (0 when caught up).", []string{"projector"}, nil),
		customerBinds: prometheus.NewDesc("smsledger_smpp_sessions", "Customer SMPP connections.", nil, nil),
		moReceived:    prometheus.NewDesc("smsledger_mo_received_total", "MOs suppliers delivered for a tenant's number, recorded.", nil, nil),
		moUnknown:     prometheus.NewDesc("smsledger_mo_unknown_total", "MOs for a number no tenant owns: acknowledged, not stored.", nil, nil),
		moUnbilled:    prometheus.NewDesc("smsledger_mo_unbilled_total", "MOs recorded free: the tenant's available balance did not cover its mo_price.", nil, nil),
		moForwarded:   prometheus.NewDesc("smsledger_mo_forwarded_total", "MOs that reached their tenant (receiver bind or webhook).", nil, nil),
		moDropped:     prometheus.NewDesc("smsledger_mo_dropped_total", "MOs acknowledged but not stored: not decodable as text, or over-long.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.binds, c.queue, c.tps, c.lagEvents, c.lagSeconds, c.customerBinds,
		c.moReceived, c.moUnknown, c.moUnbilled, c.moForwarded, c.moDropped} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.rel.Stats() {
		ch <- prometheus.MustNewConstMetric(c.binds, prometheus.GaugeValue, float64(s.BindsUp), "supplier", s.ID)
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(s.QueueDepth), s.ID)
		ch <- prometheus.MustNewConstMetric(c.tps, prometheus.GaugeValue, s.TPS, s.ID)
	}
	ch <- prometheus.MustNewConstMetric(c.customerBinds, prometheus.GaugeValue, float64(c.smpp.Sessions()))
	mo := c.rel.MOStats()
	for d, n := range map[*prometheus.Desc]int64{c.moReceived: mo.Received, c.moUnknown: mo.Unknown,
		c.moUnbilled: mo.Unbilled, c.moForwarded: mo.Forwarded, c.moDropped: mo.Dropped} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n))
	}
	for _, l := range c.proj.Lag() {
		ch <- prometheus.MustNewConstMetric(c.lagEvents, prometheus.GaugeValue, float64(l.Events), l.Projector)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, l.Seconds, l.Projector)
	}
}
