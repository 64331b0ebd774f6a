package main

import (
	"errors"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

func TestServeBacklogMaxFlag(t *testing.T) {
	cfg, err := parseServeFlags(nil, io.Discard, env(nil))
	if err != nil || cfg.backlogMax != ledger.BacklogMaxDefault {
		t.Fatalf("default: %d %v", cfg.backlogMax, err)
	}
	cfg, err = parseServeFlags(nil, io.Discard, env(map[string]string{"SMSLEDGER_BACKLOG_MAX": "5000"}))
	if err != nil || cfg.backlogMax != 5000 {
		t.Fatalf("from env: %d %v", cfg.backlogMax, err)
	}
	for _, bad := range []string{"0", "-1", "many"} {
		if _, err := parseServeFlags([]string{"--backlog-max", bad}, io.Discard, env(nil)); !errors.Is(err, errUsage) {
			t.Errorf("--backlog-max %s: %v, want a usage error", bad, err)
		}
	}
}

// The backlog's series: a gauge per kind, the bound, and the refusals by
// reason and tier.
func TestBacklogMetrics(t *testing.T) {
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{BacklogMax: 1234})
	svc.DLRIntakeStarted()
	defer svc.DLRIntakeEnded()
	reg := prometheus.NewRegistry()
	reg.MustRegister(newBacklogCollector(svc))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			}
		}
	}
	want := map[string]float64{
		"smsledger_backlog_messages,kind=dispatch":                       0,
		"smsledger_backlog_messages,kind=dlr_intake":                     1,
		"smsledger_backlog_messages,kind=dlr_forward":                    0,
		"smsledger_backlog_max":                                          1234,
		"smsledger_submits_throttled_total,reason=backlog,tier=economy":  0,
		"smsledger_submits_throttled_total,reason=backlog,tier=standard": 0,
		"smsledger_submits_throttled_total,reason=backlog,tier=premium":  0,
	}
	if len(got) != len(want) {
		t.Fatalf("series: %v", got)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
