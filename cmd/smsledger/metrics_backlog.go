package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smsledger/smsledger/domain/ledger"
)

// backlogCollector exposes the ledger's backlog behind the accepts
// (ledger/backlog.go) and the submits it throttled, read at scrape time
// from the ledger's counters.
type backlogCollector struct {
	svc                      *ledger.Service
	messages, max, throttled *prometheus.Desc
}

func newBacklogCollector(svc *ledger.Service) *backlogCollector {
	return &backlogCollector{
		svc: svc,
		messages: prometheus.NewDesc("smsledger_backlog_messages",
			"Work the node accepted and has not done, by kind: dispatch (accepted, not yet answered by a supplier), dlr_intake (supplier DLRs being recorded), dlr_forward (final DLRs due to tenants that can take them).",
			[]string{"kind"}, nil),
		max: prometheus.NewDesc("smsledger_backlog_max",
			"The backlog bound (--backlog-max): economy submits are throttled from 50 % of it, standard from 75 %, premium last, every submit at 100 %.",
			nil, nil),
		throttled: prometheus.NewDesc("smsledger_submits_throttled_total",
			"Submits refused ESME_RTHROTTLED / 429 by reason and tenant tier.",
			[]string{"reason", "tier"}, nil),
	}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.messages
	ch <- c.max
	ch <- c.throttled
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.svc.Backlog()
	for kind, n := range map[string]int64{"dispatch": b.Dispatch, "dlr_intake": b.DLRIntake, "dlr_forward": b.DLRForward} {
		ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(n), kind)
	}
	ch <- prometheus.MustNewConstMetric(c.max, prometheus.GaugeValue, float64(b.Max))
	for tier, n := range b.Throttled {
		ch <- prometheus.MustNewConstMetric(c.throttled, prometheus.CounterValue, float64(n), "backlog", tier)
	}
}
