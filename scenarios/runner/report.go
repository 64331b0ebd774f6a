package runner

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/smsledger/smsledger/scenarios/load"
)

// Latency is a latency summary in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Report is the outcome of a scenario.
type Report struct {
	Scenario string `json:"scenario"`
	Scale    int    `json:"scale"`
	Process  bool   `json:"serve_as_process"`
	Passed   bool   `json:"passed"`
	// Nodes: serve processes (more than one: a cluster).
	Nodes int `json:"nodes"`

	Sent       int64            `json:"sent"`
	Accepted   int64            `json:"accepted"`
	Refused    int64            `json:"refused"`
	Statuses   map[string]int64 `json:"statuses"`
	LoadErrors map[string]int64 `json:"load_errors"`
	TrafficS   float64          `json:"traffic_s"`
	MsgPerS    float64          `json:"msg_per_s"`
	Submit     Latency          `json:"submit_latency"` // submit_sm → submit_sm_resp (SMPP streams)
	// HTTPSubmit: POST /v1/messages → answer (HTTP streams).
	HTTPSubmit   Latency `json:"http_submit_latency"`
	DLR          Latency `json:"dlr_latency"`
	Acknowledged int     `json:"acknowledged"` // distinct ids acknowledged (ESME_ROK, HTTP 202), warm-up included
	// UnacknowledgedKept: CDRs of submits whose acknowledgement never
	// reached the sender (a fault cut the bind or connection): kept and
	// billed, allowed.
	UnacknowledgedKept int            `json:"unacknowledged_kept"`
	DLRsReceived       int            `json:"dlrs_received"`
	DLRDuplicates      int            `json:"dlr_duplicates"`
	States             map[string]int `json:"states"`
	// AllFinalS: from the end of the traffic until every acknowledged
	// message was final (-1: not within settle).
	AllFinalS float64 `json:"all_final_s"`
	// FinalAfterLastAckS: from the last acknowledgement to the last final
	// event of an acknowledged message (audit trails, serve's clock).
	FinalAfterLastAckS float64 `json:"final_after_last_ack_s"`
	// ScheduleLag: scheduled messages, from send_at to the simulator's
	// receipt of the submit (scheduled_on_time).
	ScheduleLag *Latency       `json:"schedule_lag,omitempty"`
	Streams     []StreamReport `json:"streams"`
	// MO: the mobile-originated messages the simulators sent.
	MO     []MOReport    `json:"mo,omitempty"`
	Faults []FaultReport `json:"faults"`
	// SupplierTPS: per simulated supplier, the most submits it accepted in
	// one second (supplier_tps).
	SupplierTPS []SupplierTPS `json:"supplier_tps"`
	// Cluster: the load balancers and nodes of a cluster scenario.
	Cluster    *ClusterReport `json:"cluster,omitempty"`
	Invariants []Invariant    `json:"invariants"`
	DurationS  float64        `json:"duration_s"`
	Machine    map[string]any `json:"machine"`
}

func latency(h interface {
	Count() uint64
	Quantile(float64) time.Duration
	Max() time.Duration
}) Latency {
	return Latency{Count: h.Count(), P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)), P99: ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)), Max: ms(h.Max())}
}

func (rep *Report) fillTraffic(r *run, traffic time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Sent, rep.Accepted, rep.Refused = r.totals.Sent, r.totals.Accepted, r.totals.Refused
	rep.Statuses, rep.LoadErrors = r.totals.Statuses, r.totals.Errors
	rep.TrafficS = traffic.Seconds()
	if traffic > 0 {
		rep.MsgPerS = float64(rep.Accepted) / traffic.Seconds()
	}
	rep.Submit, rep.HTTPSubmit, rep.DLR = latency(&r.subH), latency(&r.httpH), latency(&r.dlrH)
	rep.Machine = map[string]any{"cpus": runtime.NumCPU(), "goos": runtime.GOOS, "goarch": runtime.GOARCH, "go": runtime.Version()}
}

// PrintText writes the report for people.
func (rep *Report) PrintText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	verdict := "PASSED"
	if !rep.Passed {
		verdict = "FAILED"
	}
	mode := "in-process serve"
	switch {
	case rep.Nodes > 1:
		mode = fmt.Sprintf("a cluster of %d serve nodes", rep.Nodes)
	case rep.Process:
		mode = "serve as a child process"
	}
	fmt.Fprintf(tw, "scenario %s\t%s (scale %d, %s, %.1fs, %v CPUs)\n", rep.Scenario, verdict, rep.Scale, mode, rep.DurationS, rep.Machine["cpus"])
	fmt.Fprintf(tw, "submitted\t%d sent, %d accepted, %d refused (%s)\n", rep.Sent, rep.Accepted, rep.Refused, load.FormatCounts(rep.Statuses))
	fmt.Fprintf(tw, "throughput\t%.0f msg/s accepted over %.2fs of traffic\n", rep.MsgPerS, rep.TrafficS)
	fmt.Fprintf(tw, "submit_sm_resp\tp50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms\n", rep.Submit.P50, rep.Submit.P90, rep.Submit.P99, rep.Submit.P999, rep.Submit.Max)
	if h := rep.HTTPSubmit; h.Count > 0 {
		fmt.Fprintf(tw, "POST /v1/messages\tp50 %.2f ms  p90 %.2f ms  p99 %.2f ms  p99.9 %.2f ms  max %.2f ms (%d answers)\n", h.P50, h.P90, h.P99, h.P999, h.Max, h.Count)
	}
	fmt.Fprintf(tw, "DLR round trip\tp50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms (%d measured by the load binds)\n", rep.DLR.P50, rep.DLR.P90, rep.DLR.P99, rep.DLR.Max, rep.DLR.Count)
	fmt.Fprintf(tw, "load errors\t%s\n", load.FormatCounts(rep.LoadErrors))
	fmt.Fprintf(tw, "final\tstates %s; the last final %.1fs after the last acknowledgement; every message final %.1fs after the traffic (-1: not within settle)\n",
		formatCounts(rep.States), rep.FinalAfterLastAckS, rep.AllFinalS)
	if l := rep.ScheduleLag; l != nil {
		fmt.Fprintf(tw, "schedule lag\tp50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms (send_at → the supplier, %d scheduled)\n", l.P50, l.P90, l.P99, l.Max, l.Count)
	}
	for _, s := range rep.Streams {
		fmt.Fprintf(tw, "  stream %s (%s, %s)\t%d runs, %d sent, %d accepted, %d refused, %.0f msg/s, p50 %.2f ms, p99 %.2f ms\n",
			s.Name, s.Kind, s.Tenant, s.Runs, s.Sent, s.Accepted, s.Refused, s.MsgPerS, s.P50ms, s.P99ms)
	}
	for _, m := range rep.MO {
		fmt.Fprintf(tw, "  mo %s (from %s)\t%d sent, %d acknowledged by serve (%d after more than one attempt)\n", m.Name, m.Supplier, m.Sent, m.Acked, m.Retried)
	}
	for _, f := range rep.Faults {
		switch f.Kind {
		case FaultSupplierDown:
			fmt.Fprintf(tw, "  fault %s %s\tat %.1fs for %.1fs: failover %.0f ms%s\n", f.Kind, f.Supplier, f.AtS, f.ForS, f.FailoverMs, errText(f.Error))
		case FaultCutSupplier:
			fmt.Fprintf(tw, "  fault %s %s\tat %.1fs: %d connection(s) dropped, all bound again after %.0f ms, first submit there again after %.0f ms%s\n", f.Kind, f.Supplier, f.AtS, f.Dropped, f.RebindMs, f.ResubmitMs, errText(f.Error))
		case FaultMuteDLRs:
			fmt.Fprintf(tw, "  fault %s %s\tat %.1fs for %.1fs: %d DLR(s) lost%s\n", f.Kind, f.Supplier, f.AtS, f.ForS, f.MutedDLRs, errText(f.Error))
		case FaultRestartPostgres:
			fmt.Fprintf(tw, "  fault %s\tat %.1fs: down %.0f ms, answers meanwhile: %s; first acknowledgement %.0f ms after it was back%s\n", f.Kind, f.AtS, f.DownMs, load.FormatCounts(f.OutageStatuses), f.RecoveryMs, errText(f.Error))
		case FaultKillServe:
			when := "under load"
			if !f.UnderLoad {
				when = "NOT under load (nothing acknowledged since the last start)"
			}
			fmt.Fprintf(tw, "  fault %s\tat %.1fs, %s (waited %.0f ms for it): serve listening again after %.0f ms, first acknowledgement after %.0f ms%s\n",
				f.Kind, f.AtS, when, f.LoadWaitMs, f.RecoveryMs, f.FirstAckMs, errText(f.Error))
		case FaultKillNode, FaultPartitionNode:
			what := "killed"
			if f.Kind == FaultPartitionNode {
				what = fmt.Sprintf("cut off the database for %.1fs, stopped on its own after %.0f ms (status %d)", f.ForS, f.ExitMs, f.ExitCode)
			}
			fmt.Fprintf(tw, "  fault %s %s\tat %.1fs %s: taken over by %s after %.0f ms (%.0f ms after its lease expired), started again after %.0f ms%s\n",
				f.Kind, f.Node, f.AtS, what, orNone(f.TakenBy), f.TakeoverMs, f.TakeoverAfterLeaseMs, f.RestartMs, errText(f.Error))
		default:
			fmt.Fprintf(tw, "  fault %s\tat %.1fs%s\n", f.Kind, f.AtS, errText(f.Error))
		}
	}
	for _, t := range rep.SupplierTPS {
		fmt.Fprintf(tw, "  supplier %s\t%d submits, at most %d in one second (limit %d)\n", t.Supplier, t.Submits, t.MaxPerS, t.Limit)
	}
	if c := rep.Cluster; c != nil {
		fmt.Fprintf(tw, "  load balancers\tSMPP connections per node %s (refused dials %s), HTTP %s (refused dials %s), %d connections no node took\n",
			load.FormatCounts(c.SMPPForwarded), load.FormatCounts(c.SMPPSkipped), load.FormatCounts(c.HTTPForwarded), load.FormatCounts(c.HTTPSkipped), c.Refused)
	}
	for _, inv := range rep.Invariants {
		res := "pass"
		if !inv.Passed {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "[%s] %s\t\n", res, inv.Name)
		for _, e := range inv.Evidence {
			fmt.Fprintf(tw, "    \t%s\n", e)
		}
	}
	_ = tw.Flush()
}
