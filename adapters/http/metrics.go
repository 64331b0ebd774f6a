package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/smsledger/smsledger/domain/ledger"
)

// metrics are the HTTP adapter's Prometheus series.
type metrics struct {
	requests *prometheus.HistogramVec // route, method-path, status
	submits  *prometheus.CounterVec   // channel, result, tier
	submitD  prometheus.Histogram
	authFail prometheus.Counter
}

func newMetrics(reg *prometheus.Registry, svc Ledger) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smsledger_http_request_duration_seconds",
			Help:    "HTTP request latency by route and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "status"}),
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smsledger_submits_total",
			Help: "Submits by channel, result (accepted or the refusal code) and tenant tier.",
		}, []string{"channel", "result", "tier"}),
		submitD: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "smsledger_submit_duration_seconds",
			Help:    "Time from submit to durable acceptance or refusal (HTTP channel).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1},
		}),
		authFail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smsledger_http_auth_failures_total",
			Help: "Failed authentications on the HTTP API (wrong admin token, unknown or wrong API key).",
		}),
	}
	cs := []prometheus.Collector{m.requests, m.submits, m.submitD, m.authFail}
	if svc != nil {
		cs = append(cs,
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "smsledger_outbox_dropped_total",
				Help: "Accepted messages whose dispatch notification was dropped (outbox full).",
			}, func() float64 { return float64(svc.OutboxDropped()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "smsledger_refusal_audit_dropped_total",
				Help: "Submits refused by a control whose SubmitRefused audit event was not written (too many in flight, or the store failed).",
			}, func() float64 { return float64(svc.RefusalAuditDropped()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "smsledger_ledger_position",
				Help: "Global log position applied by the ledger's in-memory snapshots.",
			}, func() float64 { return float64(svc.Position()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "smsledger_unfinished_messages",
				Help: "Messages not yet final, or final with a DLR their tenant is still owed (the ledger's tracker).",
			}, func() float64 { return float64(svc.UnfinishedCount()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "smsledger_ledger_ready",
				Help: "1 when the ledger has caught up with the log.",
			}, func() float64 {
				if svc.Ready() {
					return 1
				}
				return 0
			}),
		)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				panic("httpapi: register metric: " + err.Error())
			}
		}
	}
	return m
}

func (m *metrics) authFailed() { m.authFail.Inc() }

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

func (m *metrics) submitted(svc Ledger, tenant string, err error, d time.Duration) {
	tier := "unknown"
	if t, e := svc.Tenant(tenant); e == nil {
		tier = t.Tier
	}
	result := "accepted"
	if err != nil {
		result = string(ledger.CodeOf(err))
	}
	m.submits.WithLabelValues("http", result, tier).Inc()
	m.submitD.Observe(d.Seconds())
}
