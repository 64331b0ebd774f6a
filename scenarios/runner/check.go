package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/scenarios/load"
)

// Invariant is one checked invariant.
type Invariant struct {
	Name     string   `json:"name"`
	Passed   bool     `json:"passed"`
	Evidence []string `json:"evidence"`
}

type reconCheck struct {
	Name       string   `json:"name"`
	OK         bool     `json:"ok"`
	Count      int64    `json:"count"`
	Mismatches []string `json:"mismatches"`
}

type reconReport struct {
	Checks []reconCheck `json:"checks"`
	OK     bool         `json:"ok"`
}

type replayReport struct {
	Events      int64            `json:"events"`
	DurationNs  int64            `json:"duration_ns"`
	Checksums   []map[string]any `json:"checksums"`
	Differences []string         `json:"differences"`
}

// event is one event of a message's audit trail (GET /v1/messages/{id}/events).
type event struct {
	Type       string          `json:"type"`
	Position   uint64          `json:"position"` // in the whole log
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
}

// trailsMax bounds the audit trails fetched (one GET each).
const trailsMax = 20_000

// trail is a message's audit trail, or why it could not be read.
type trail struct {
	events []event
	err    error
}

// trails fetches the audit trails of the first trailsMax ids (sorted), 8
// at a time: each as its tenant reads it, or whole as the admin does
// (admin: the routing decision and the suppliers tried included).
func (r *run) trails(ctx context.Context, acked map[string]ackInfo, admin bool) map[string]*trail {
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ids = ids[:min(len(ids), trailsMax)]
	out := make(map[string]*trail, len(ids))
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				var evs struct {
					Events []event `json:"events"`
				}
				as := r.tenantAPI(acked[id].tenant)
				if admin {
					as = r.admin()
				}
				err := as.do(ctx, "GET", "/v1/messages/"+id+"/events", nil, &evs)
				mu.Lock()
				out[id] = &trail{events: evs.Events, err: err}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
	return out
}

const evidenceMax = 5 // listed ids per finding

func sample(ids []string) string {
	sort.Strings(ids)
	if len(ids) > evidenceMax {
		return strings.Join(ids[:evidenceMax], ", ") + fmt.Sprintf(" … (%d)", len(ids))
	}
	return strings.Join(ids, ", ")
}

// cdrs fetches every CDR of a tenant (pages of 1000, ≤ 10,000 pages).
func (r *run) cdrs(ctx context.Context, tenant string) ([]map[string]string, error) {
	var all []map[string]string
	cursor := ""
	for range 10_000 {
		var page struct {
			Items      []map[string]string `json:"items"`
			NextCursor string              `json:"next_cursor"`
		}
		path := "/v1/cdrs"
		if cursor != "" {
			path += "?cursor=" + url.QueryEscape(cursor)
		}
		if err := r.tenantAPI(tenant).do(ctx, "GET", path, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		cursor = page.NextCursor
	}
	return all, fmt.Errorf("cdrs of %s: too many pages", tenant)
}

// check evaluates the scenario's invariants into rep.
func (r *run) check(ctx context.Context, rep *Report, st *settled) {
	want := map[string]bool{}
	for _, n := range r.sc.Invariants {
		want[n] = true
	}
	r.mu.Lock()
	acked := make(map[string]ackInfo, len(r.acked))
	for id, a := range r.acked {
		acked[id] = *a
	}
	dlrs := make(map[string]int, len(r.dlrs))
	for id, n := range r.dlrs {
		dlrs[id] = n
	}
	r.mu.Unlock()
	rep.Acknowledged = len(acked)

	// CDRs of every tenant, waiting (≤ 30 s) for the projection to have
	// every acknowledged message.
	cdrByID := map[string][]map[string]string{}
	var cdrErr error
	for attempt := 0; attempt < 60; attempt++ {
		cdrByID, cdrErr = map[string][]map[string]string{}, nil
		for _, t := range r.sc.Tenants {
			rows, err := r.cdrs(ctx, t.ID)
			if err != nil {
				cdrErr = err
				break
			}
			for _, row := range rows {
				cdrByID[row["message_id"]] = append(cdrByID[row["message_id"]], row)
			}
		}
		complete := cdrErr == nil
		for id := range acked {
			complete = complete && len(cdrByID[id]) > 0
		}
		if complete || ctx.Err() != nil {
			break
		}
		sleep(ctx, 500*time.Millisecond)
	}

	from := r.start.Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	var recon reconReport
	reconErr := r.admin().do(ctx, "GET", "/v1/reconciliation?from="+from+"&to="+to, nil, &recon)
	reconChecks := func(names ...string) (bool, []string) {
		if reconErr != nil {
			return false, []string{"reconciliation: " + reconErr.Error()}
		}
		ok, ev := true, []string{}
		for _, c := range recon.Checks {
			for _, n := range names {
				if c.Name == n {
					ok = ok && c.OK
					line := fmt.Sprintf("reconciliation %s: ok=%v", c.Name, c.OK)
					if !c.OK {
						line += fmt.Sprintf(", %d mismatch(es): %s", c.Count, strings.Join(c.Mismatches[:min(len(c.Mismatches), evidenceMax)], "; "))
					}
					ev = append(ev, line)
				}
			}
		}
		return ok, ev
	}
	add := func(name string, ok bool, ev ...string) {
		if want[name] {
			rep.Invariants = append(rep.Invariants, Invariant{Name: name, Passed: ok, Evidence: ev})
		}
	}

	// Every message acknowledged ESME_ROK exists exactly once.
	{
		var twice, notFound, wrongTenant, cdrNot1 []string
		for id, a := range acked {
			if a.count > 1 {
				twice = append(twice, id)
			}
			m := st.msgs[id]
			switch {
			case m == nil:
				notFound = append(notFound, id)
			case m.TenantID != a.tenant:
				wrongTenant = append(wrongTenant, id)
			}
			if len(cdrByID[id]) != 1 {
				cdrNot1 = append(cdrNot1, fmt.Sprintf("%s×%d", id, len(cdrByID[id])))
			}
		}
		var unacked []string
		mos := 0
		for id, rows := range cdrByID {
			if len(rows) > 0 && rows[0]["direction"] == "mo" {
				mos++ // an MO's CDR (mo_round_trip checks them)
				continue
			}
			if _, ok := acked[id]; !ok {
				unacked = append(unacked, id)
			}
		}
		rep.UnacknowledgedKept = len(unacked)
		byChannel := map[string]int{}
		for _, a := range acked {
			byChannel[a.channel]++
		}
		ok := len(twice)+len(notFound)+len(wrongTenant)+len(cdrNot1) == 0 && cdrErr == nil
		ev := []string{fmt.Sprintf("%d acknowledged message ids (%d submit_sm_resp ESME_ROK, %d POST /v1/messages 202), %d acknowledged twice",
			len(acked), byChannel[StreamSMPP], byChannel[StreamHTTP], len(twice)),
			fmt.Sprintf("GET /v1/messages/{id}: %d found, %d not found, %d of another tenant", len(acked)-len(notFound)-len(wrongTenant), len(notFound), len(wrongTenant)),
			fmt.Sprintf("CDRs: %d acknowledged ids with exactly one CDR, %d without exactly one", len(acked)-len(cdrNot1), len(cdrNot1)),
			fmt.Sprintf("%d CDR(s) of submits whose response never reached the sender (kept, not acknowledged: allowed); %d CDR(s) of MOs (direction mo, not submits)", len(unacked), mos)}
		if cdrErr != nil {
			ev = append(ev, "CDRs: "+cdrErr.Error())
		}
		for _, l := range []struct {
			what string
			ids  []string
		}{{"acknowledged twice", twice}, {"not found", notFound}, {"wrong tenant", wrongTenant}, {"CDR count ≠ 1", cdrNot1}} {
			if len(l.ids) > 0 {
				ev = append(ev, l.what+": "+sample(l.ids))
			}
		}
		add(InvAckedExistOnce, ok, ev...)
	}

	// The audit trails (≤ trailsMax), read once for the invariants below:
	// the admin's whole trails when the networks invariants need the
	// routing decisions.
	trails := r.trails(ctx, acked, r.sc.Networks())

	// Every message reaches exactly one terminal state, or is pending.
	trail := map[string]int{}
	{
		states := map[string]int{}
		var pending, multi []string
		for id := range acked {
			m := st.msgs[id]
			if m == nil {
				continue
			}
			states[m.State]++
			if !terminalStates[m.State] {
				pending = append(pending, id)
			}
		}
		rep.States = states
		// The audit trail of each (≤ 20,000): one terminal event, at most
		// one DeliveryForwarded, at most one Settled or Released. The
		// supplier outcomes over all trails are kept for supplier_cut.
		checked := 0
		ids := make([]string, 0, len(acked))
		for id := range acked {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			m, tr := st.msgs[id], trails[id]
			if m == nil || !terminalStates[m.State] || tr == nil {
				continue
			}
			if tr.err != nil {
				multi = append(multi, id+" ("+tr.err.Error()+")")
				continue
			}
			checked++
			n := map[string]int{}
			for _, e := range tr.events {
				n[e.Type]++
			}
			for _, t := range trailOutcomes {
				trail[t] += n[t]
			}
			if n["DeliveryReported"]+n["MessageExpired"]+n["MessageFailed"] != 1 || n["DeliveryForwarded"] > 1 || n["Settled"]+n["Released"] > 1 {
				multi = append(multi, fmt.Sprintf("%s %v", id, n))
			}
		}
		// The DLRs the ESME received for a message all tell one outcome,
		// the one of its final state.
		var conflicting []string
		r.mu.Lock()
		for id := range acked {
			m, stats := st.msgs[id], r.dlrStats[id]
			if len(stats) > 1 {
				conflicting = append(conflicting, fmt.Sprintf("%s %v", id, keys(stats)))
			} else if m != nil && len(stats) == 1 {
				for s := range stats {
					if (s == "DELIVRD") != (m.State == "delivered") {
						conflicting = append(conflicting, fmt.Sprintf("%s DLR %s but state %s", id, s, m.State))
					}
				}
			}
		}
		r.mu.Unlock()
		ok := len(pending) <= r.sc.Limits.MaxPending && len(multi) == 0 && len(conflicting) == 0
		ev := []string{fmt.Sprintf("states after %.1fs of settling: %s", st.waited.Seconds(), formatCounts(states)),
			fmt.Sprintf("%d still pending (allowed %d)", len(pending), r.sc.Limits.MaxPending),
			fmt.Sprintf("audit trails of %d terminal messages: %d with other than one terminal event, one forward, one settlement or release", checked, len(multi))}
		if len(pending) > 0 {
			ev = append(ev, "pending: "+sample(pending))
		}
		if len(multi) > 0 {
			ev = append(ev, "bad trails: "+sample(multi))
		}
		ev = append(ev, fmt.Sprintf("%d message(s) whose DLRs at the ESME disagree with each other or with the final state (DELIVRD ⇔ delivered)", len(conflicting)))
		if len(conflicting) > 0 {
			ev = append(ev, "disagreeing: "+sample(conflicting))
		}
		ok2, ev2 := reconChecks("no_stale_open_messages")
		add(InvOneTerminalState, ok && ok2, append(ev, ev2...)...)
	}

	// No tenant's available balance below zero, no overspend; journal and
	// books agree (reconciliation).
	{
		ok, ev := true, []string{}
		for _, t := range r.sc.Tenants {
			var b balance
			if err := r.tenantAPI(t.ID).do(ctx, "GET", "/v1/balance", nil, &b); err != nil {
				ok = false
				ev = append(ev, fmt.Sprintf("tenant %s: balance: %v", t.ID, err))
				continue
			}
			avl, _ := decimal.NewFromString(b.Available)
			r.mu.Lock()
			minAvl, sampled := r.minAvl[t.ID]
			r.mu.Unlock()
			if !sampled {
				minAvl = avl
			}
			minAvl = decimal.Min(minAvl, avl)
			topup, _ := decimal.NewFromString(t.Topup)
			credit, _ := decimal.NewFromString(t.Credit)
			charged := decimal.Zero
			for _, rows := range cdrByID {
				for _, row := range rows {
					if row["tenant_id"] == t.ID && row["released_at"] == "" {
						p, _ := decimal.NewFromString(row["price"])
						charged = charged.Add(p)
					}
				}
			}
			over := charged.GreaterThan(topup.Add(credit))
			ok = ok && !avl.IsNegative() && !minAvl.IsNegative() && !over
			ev = append(ev, fmt.Sprintf("tenant %s: balance %s, held %s, available %s (lowest sampled %s); charged %s (unreleased CDR prices) of top-up %s + credit %s%s",
				t.ID, b.Balance, b.Held, b.Available, minAvl, charged, topup, credit, map[bool]string{true: " — OVERSPENT", false: ""}[over]))
		}
		r.mu.Lock()
		if r.cl != nil {
			perNode := map[string]int64{}
			for k, v := range r.cl.nodeSamples {
				perNode[k] = int64(v)
			}
			ev = append(ev, fmt.Sprintf("%d balance samples during the traffic, on every running node (each folds the log by itself): %s", r.samples, load.FormatCounts(perNode)))
		} else {
			ev = append(ev, fmt.Sprintf("%d balance samples during the traffic", r.samples))
		}
		r.mu.Unlock()
		ok2, ev2 := reconChecks("journal_entries_balance", "account_balances_equal_postings", "tenant_balances_equal_postings", "tenant_held_equals_open_cdrs")
		add(InvBalances, ok && ok2, append(ev, ev2...)...)
	}

	// CDR totals equal journal totals.
	{
		ok, ev := reconChecks("cdr_totals_equal_journal")
		add(InvCDRsEqualJournal, ok, ev...)
	}

	// replay --verify.
	if want[InvReplayVerify] {
		var rp replayReport
		if err := r.admin().do(ctx, "POST", "/v1/replay", nil, &rp); err != nil {
			add(InvReplayVerify, false, "POST /v1/replay: "+err.Error())
		} else {
			add(InvReplayVerify, len(rp.Differences) == 0,
				fmt.Sprintf("replayed %d events in %.2fs into %d read models", rp.Events, time.Duration(rp.DurationNs).Seconds(), len(rp.Checksums)),
				fmt.Sprintf("differences with the live read models: %d %v", len(rp.Differences), rp.Differences))
		}
	}

	// Each DLR reached its tenant at most once. Messages that asked for no
	// DLR (no_dlr streams; HTTP submits, which ask for one only when the
	// tenant has a DLR webhook, never set here) are left out of the
	// reception counts, and must get none.
	{
		var dups, lost, notForwarded, unasked []string
		got, smppNoDLR, httpN := 0, 0, 0
		for id, a := range acked {
			n := dlrs[id]
			if n > 0 {
				got++
			}
			if n > 1 {
				dups = append(dups, fmt.Sprintf("%s×%d", id, n))
			}
			if !a.dlr {
				if a.channel == StreamHTTP {
					httpN++
				} else {
					smppNoDLR++
				}
				if n > 0 {
					unasked = append(unasked, fmt.Sprintf("%s×%d", id, n))
				}
			}
			m := st.msgs[id]
			if a.dlr && m != nil && terminalStates[m.State] {
				switch {
				case m.Forwarded && n == 0:
					lost = append(lost, id)
				case !m.Forwarded && n == 0:
					notForwarded = append(notForwarded, id)
				}
			}
		}
		dupCount := 0
		for _, n := range dlrs {
			if n > 1 {
				dupCount += n - 1
			}
		}
		rep.DLRDuplicates = dupCount
		rep.DLRsReceived = got
		ok := dupCount <= r.sc.Limits.MaxDLRDuplicates && len(lost) == 0 && len(unasked) == 0
		ev := []string{fmt.Sprintf("%d acknowledged messages had a DLR at the ESME; %d duplicate DLR(s) (allowed %d)", got, dupCount, r.sc.Limits.MaxDLRDuplicates),
			fmt.Sprintf("%d forwarded (DeliveryForwarded) but never received; %d terminal, asked for, not forwarded", len(lost), len(notForwarded)),
			fmt.Sprintf("asked for no DLR, so out of the reception counts: %d SMPP submit(s) without registered delivery, %d HTTP submit(s) (POST /v1/messages asks for a DLR only for a tenant with a DLR webhook; none is set); %d of them had a DLR at the ESME (must be 0)%s",
				smppNoDLR, httpN, len(unasked), failText(len(unasked) == 0))}
		if len(dups) > 0 {
			ev = append(ev, "duplicates: "+sample(dups))
		}
		if len(unasked) > 0 {
			ev = append(ev, "DLRs nobody asked for: "+sample(unasked))
		}
		if len(lost) > 0 {
			ev = append(ev, "lost: "+sample(lost))
		}
		if len(notForwarded) > 0 {
			ev = append(ev, "not forwarded: "+sample(notForwarded))
		}
		for _, p := range r.sc.Suppliers {
			if px := r.proxies[p.ID]; px != nil {
				ev = append(ev, fmt.Sprintf("supplier %s DLR storm: %d DLRs from the simulator; %d duplicate(s) sent to serve (%d with the other outcome), %d held back %v, %d dropped (bind gone)",
					p.ID, px.DLRs.Load(), px.Duplicates.Load(), px.Conflicting.Load(), px.Late.Load(), p.DLRStorm.LateBy.D(), px.Dropped.Load()))
			}
		}
		add(InvDLRAtMostOnce, ok, ev...)
	}

	// Failover under the bar.
	{
		ok, ev := true, []string{}
		for _, f := range rep.Faults {
			if f.Kind != FaultSupplierDown {
				continue
			}
			pass := f.Error == "" && f.FailoverMs >= 0 && f.FailoverMs <= ms(r.sc.Limits.MaxFailover.D())
			ok = ok && pass
			ev = append(ev, fmt.Sprintf("%s down at %.1fs for %.1fs: failover %.0f ms (bar %v)%s", f.Supplier, f.AtS, f.ForS, f.FailoverMs, r.sc.Limits.MaxFailover.D(), errText(f.Error)))
		}
		if len(ev) == 0 {
			ev = append(ev, "no supplier outage in this scenario")
		}
		add(InvFailover, ok, ev...)
	}

	// Refusals (e.g. balance exhaustion must have refused).
	{
		ok := rep.Refused >= int64(r.sc.Limits.MinRefused)
		add(InvRefusals, ok, fmt.Sprintf("%d refused (at least %d wanted): %s", rep.Refused, r.sc.Limits.MinRefused, load.FormatCounts(rep.Statuses)))
	}

	// Per-stream bars (e.g. a premium tenant beside a noisy one).
	{
		ok, ev := true, []string{}
		for i, s := range rep.Streams {
			if i >= len(r.sc.Traffic) {
				break
			}
			lim := r.sc.Traffic[i].Limits
			if lim.MinAcceptedRatio > 0 {
				ratio := 0.0
				if s.Sent > 0 {
					ratio = float64(s.Accepted) / float64(s.Sent)
				}
				pass := s.Sent > 0 && ratio >= lim.MinAcceptedRatio
				ok = ok && pass
				ev = append(ev, fmt.Sprintf("stream %s: accepted %d of %d sent = %.4f (at least %.4f)%s", s.Name, s.Accepted, s.Sent, ratio, lim.MinAcceptedRatio, failText(pass)))
			}
			if lim.MinRateShare > 0 {
				pass := s.MsgPerS >= lim.MinRateShare*s.Rate
				ok = ok && pass
				ev = append(ev, fmt.Sprintf("stream %s: %.1f msg/s accepted of %.1f asked (at least %.0f%%)%s", s.Name, s.MsgPerS, s.Rate, 100*lim.MinRateShare, failText(pass)))
			}
			if lim.MaxP99 > 0 {
				pass := s.Accepted > 0 && s.P99ms <= ms(lim.MaxP99.D())
				ok = ok && pass
				ev = append(ev, fmt.Sprintf("stream %s: submit_sm_resp p50 %.2f ms, p99 %.2f ms (at most %v)%s", s.Name, s.P50ms, s.P99ms, lim.MaxP99.D(), failText(pass)))
			}
			for _, status := range sortedKeys(lim.MinRefusedShare) {
				want := lim.MinRefusedShare[status]
				got := 0.0
				if s.Sent > 0 {
					got = float64(s.Statuses[status]) / float64(s.Sent)
				}
				pass := s.Sent > 0 && got >= want
				ok = ok && pass
				ev = append(ev, fmt.Sprintf("stream %s: %d of %d sent refused %s = %.3f (at least %.3f); all: %s%s", s.Name, s.Statuses[status], s.Sent, status, got, want, load.FormatCounts(s.Statuses), failText(pass)))
			}
		}
		if len(ev) == 0 {
			ev = append(ev, "no per-stream limits in this scenario")
		}
		add(InvStreamLimits, ok, ev...)
	}

	// The store went away: the ingress refused or throttled meanwhile,
	// acknowledged nothing it could not keep, and recovered by itself.
	{
		ok, ev := true, []string{}
		for _, f := range rep.Faults {
			if f.Kind != FaultRestartPostgres {
				continue
			}
			var lost []string
			for _, id := range f.AckedInOutage {
				if st.msgs[id] == nil {
					lost = append(lost, id)
				}
			}
			okN, refusedN := int64(0), int64(0)
			for k, v := range f.OutageStatuses {
				if acceptedStatus(k) {
					okN += v
				} else {
					refusedN += v
				}
			}
			recovered := f.RecoveryMs >= 0 && f.RecoveryMs <= ms(r.sc.Limits.MaxStoreRecovery.D())
			pass := f.Error == "" && len(lost) == 0 && recovered
			ok = ok && pass
			ev = append(ev, fmt.Sprintf("postgres down at %.1fs for %.0f ms%s", f.AtS, f.DownMs, errText(f.Error)),
				fmt.Sprintf("while down: %d acknowledged (ESME_ROK, HTTP 202), %d refused (%s)", okN, refusedN, load.FormatCounts(f.OutageStatuses)),
				fmt.Sprintf("%d message(s) acknowledged while down, %d of them not found afterwards%s", len(f.AckedInOutage), len(lost), failText(len(lost) == 0)),
				fmt.Sprintf("first acknowledgement (ESME_ROK, HTTP 202) %.0f ms after postgres accepted connections again (bar %v; -1: none)%s", f.RecoveryMs, r.sc.Limits.MaxStoreRecovery.D(), failText(recovered)))
			if len(lost) > 0 {
				ev = append(ev, "acknowledged while down and lost: "+sample(lost))
			}
		}
		if len(ev) == 0 {
			ev = append(ev, "no postgres restart in this scenario")
		}
		add(InvStoreOutage, ok, ev...)
	}

	// Serve's binds to a supplier were cut: it bound again in time; what was
	// in flight on them timed out and failed over or ended (the general
	// invariants above: every acknowledged message once, terminal, billed
	// once).
	{
		ok, ev := true, []string{}
		for _, f := range rep.Faults {
			if f.Kind != FaultCutSupplier {
				continue
			}
			pass := f.Error == "" && f.Dropped > 0 && f.RebindMs >= 0 && f.RebindMs <= ms(r.sc.Limits.MaxRebind.D())
			ok = ok && pass
			ev = append(ev, fmt.Sprintf("%s cut at %.1fs: %d connection(s) dropped; all bound again after %.0f ms (bar %v; -1: not within the wait); first submit there again after %.0f ms (-1: none before the traffic ended)%s%s",
				f.Supplier, f.AtS, f.Dropped, f.RebindMs, r.sc.Limits.MaxRebind.D(), f.ResubmitMs, errText(f.Error), failText(pass)))
		}
		if len(ev) == 0 {
			ev = append(ev, "no supplier cut in this scenario")
		} else {
			final := map[string]int{}
			for id := range acked {
				if m := st.msgs[id]; m != nil {
					sup := m.Supplier
					if sup == "" {
						sup = "(none)"
					}
					final[sup]++
				}
			}
			ev = append(ev, fmt.Sprintf("last supplier of every acknowledged message: %s", formatCounts(final)),
				fmt.Sprintf("supplier outcomes in the audit trails: %s (a cut bind's in-flight submits time out, then fail over along the route or fail)", formatCounts(trail)))
		}
		add(InvSupplierCut, ok, ev...)
	}

	r.checkLifecycle(ctx, rep, st, acked, cdrByID, trails, add)
	r.checkNetworks(ctx, st, acked, cdrByID, trails, add)
	r.checkCluster(rep, add)

	rep.Passed = true
	for _, inv := range rep.Invariants {
		rep.Passed = rep.Passed && inv.Passed
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// trailOutcomes are the supplier outcomes counted over the audit trails.
var trailOutcomes = []string{"SubmittedToSupplier", "SupplierAccepted", "SupplierRejected", "SupplierTimedOut", "FailedOver", "MessageFailed", "MessageExpired"}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func failText(pass bool) string {
	if pass {
		return ""
	}
	return " — FAILED"
}

func errText(e string) string {
	if e == "" {
		return ""
	}
	return ", error: " + e
}

func formatCounts(m map[string]int) string {
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = int64(v)
	}
	return load.FormatCounts(c)
}
