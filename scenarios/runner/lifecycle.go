package runner

// The lifecycle invariants (every message closes): every acknowledged
// message is final by its time (all_final), nothing stays held
// (holds_closed), the ledger's tracker of unfinished messages is empty
// (tracker_empty), each tenant's available balance is what its books say
// (books_available), and scheduled messages go once, at their time
// (scheduled_on_time).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/scenarios/load"
)

// defaultDLRGrace is the ledger's dlr_grace_s when a supplier gives none.
const defaultDLRGrace = time.Hour

// trailFacts is what the lifecycle invariants read from one audit trail.
type trailFacts struct {
	expiresAt, sendAt time.Time
	submitted         []time.Time // SubmittedToSupplier, recorded
	supplierAccepted  bool
	final             time.Time // the terminal event, recorded (zero: none)
	finalType         string
}

func factsOf(evs []event) trailFacts {
	var f trailFacts
	for _, e := range evs {
		switch e.Type {
		case "MessageAccepted":
			var a struct {
				ExpiresAt time.Time `json:"expires_at"`
				SendAt    time.Time `json:"send_at"`
			}
			_ = json.Unmarshal(e.Data, &a)
			f.expiresAt, f.sendAt = a.ExpiresAt, a.SendAt
		case "SubmittedToSupplier":
			f.submitted = append(f.submitted, e.RecordedAt)
		case "SupplierAccepted":
			f.supplierAccepted = true
		case "DeliveryReported", "MessageExpired", "MessageFailed":
			if f.final.IsZero() {
				f.final, f.finalType = e.RecordedAt, e.Type
			}
		}
	}
	return f
}

// graces are the smallest and largest DLR grace of the scenario's suppliers.
func (r *run) graces() (lo, hi time.Duration) {
	for i, p := range r.sc.Suppliers {
		g := p.DLRGrace.D()
		if g == 0 {
			g = defaultDLRGrace
		}
		if i == 0 || g < lo {
			lo = g
		}
		hi = max(hi, g)
	}
	return lo, hi
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s" }

// checkLifecycle adds the lifecycle invariants to rep.
func (r *run) checkLifecycle(ctx context.Context, rep *Report, st *settled, acked map[string]ackInfo,
	cdrByID map[string][]map[string]string, trails map[string]*trail, add func(string, bool, ...string)) {
	if st.allFinal >= 0 {
		rep.AllFinalS = st.allFinal.Seconds()
	} else {
		rep.AllFinalS = -1
	}
	facts := make(map[string]trailFacts, len(trails))
	for id, tr := range trails {
		if tr.err == nil {
			facts[id] = factsOf(tr.events)
		}
	}
	ids := make([]string, 0, len(acked))
	var lastAck, lastFinal time.Time
	for id, a := range acked {
		ids = append(ids, id)
		if a.at.After(lastAck) {
			lastAck = a.at
		}
		if f := facts[id]; f.final.After(lastFinal) {
			lastFinal = f.final
		}
	}
	sort.Strings(ids)
	if !lastFinal.IsZero() && !lastAck.IsZero() {
		rep.FinalAfterLastAckS = lastFinal.Sub(lastAck).Seconds()
	}

	// all_final: after validity + grace every acknowledged message is
	// final, none before its time, none sent after it.
	{
		graceLo, graceHi := r.graces()
		lag := r.sc.Limits.MaxExpiryLag.D()
		var notFinal, noExpiry, late, early, sentAfter []string
		unchecked, expired, expiredAccepted := 0, 0, 0
		var latest time.Duration // of final − expires_at
		for _, id := range ids {
			m := st.msgs[id]
			if m == nil || !terminalStates[m.State] {
				state := "not found"
				if m != nil {
					state = m.State
				}
				notFinal = append(notFinal, id+" "+state)
			}
			f, ok := facts[id]
			if !ok {
				unchecked++
				continue
			}
			if f.expiresAt.IsZero() {
				noExpiry = append(noExpiry, id)
				continue
			}
			if !f.final.IsZero() {
				latest = max(latest, f.final.Sub(f.expiresAt))
				if f.final.After(f.expiresAt.Add(graceHi + lag)) {
					late = append(late, fmt.Sprintf("%s %s %s after expires_at", id, f.finalType, secs(f.final.Sub(f.expiresAt))))
				}
			}
			if f.finalType == "MessageExpired" {
				expired++
				due := f.expiresAt
				if f.supplierAccepted {
					expiredAccepted++
					due = due.Add(graceLo)
				}
				if f.final.Before(due) {
					early = append(early, fmt.Sprintf("%s expired %s before its time (supplier accepted: %v)", id, secs(due.Sub(f.final)), f.supplierAccepted))
				}
			}
			for _, t := range f.submitted {
				if t.After(f.expiresAt) {
					sentAfter = append(sentAfter, fmt.Sprintf("%s submitted %s after expires_at", id, secs(t.Sub(f.expiresAt))))
				}
			}
		}
		ok := len(notFinal)+len(noExpiry)+len(late)+len(early)+len(sentAfter) == 0
		finalIn := "never (within settle)"
		if st.allFinal >= 0 {
			finalIn = fmt.Sprintf("%.1fs after the end of the traffic (polled every 250 ms)", st.allFinal.Seconds())
		}
		ev := []string{
			fmt.Sprintf("%d acknowledged: %d not final after %.1fs of settling%s", len(ids), len(notFinal), st.waited.Seconds(), failText(len(notFinal) == 0)),
			"every acknowledged message final " + finalIn + fmt.Sprintf("; the last final event %.1fs after the last acknowledgement", rep.FinalAfterLastAckS),
			fmt.Sprintf("audit trails of %d (%d not read): %d without expires_at%s; %d final later than expires_at + DLR grace (%s) + %s%s; latest final %s after its expires_at",
				len(ids)-unchecked, unchecked, len(noExpiry), failText(len(noExpiry) == 0), len(late), secs(graceHi), secs(lag), failText(len(late) == 0), secs(latest)),
			fmt.Sprintf("expired: %d (%d after a supplier accepted them: DLR lost; %d never accepted); %d expired before expires_at (+ the grace once accepted)%s",
				expired, expiredAccepted, expired-expiredAccepted, len(early), failText(len(early) == 0)),
			fmt.Sprintf("%d SubmittedToSupplier after the message's expires_at (an expired message is never sent)%s", len(sentAfter), failText(len(sentAfter) == 0)),
		}
		for _, p := range r.sc.Suppliers {
			if sim := r.sims[p.ID]; sim != nil && (p.DLRDropRate > 0 || sim.DLRsMuted.Load() > 0) {
				ev = append(ev, fmt.Sprintf("supplier %s: %d submits accepted, %d DLRs sent, %d never sent (dlr_drop_rate %v), %d lost while mute",
					p.ID, sim.Submitted.Load(), sim.DLRsSent.Load(), sim.DLRsDropped.Load(), p.DLRDropRate, sim.DLRsMuted.Load()))
			}
		}
		for _, l := range []struct {
			what string
			ids  []string
		}{{"not final", notFinal}, {"no expires_at", noExpiry}, {"final late", late}, {"expired early", early}, {"sent after expiry", sentAfter}} {
			if len(l.ids) > 0 {
				ev = append(ev, l.what+": "+sample(l.ids))
			}
		}
		add(InvAllFinal, ok, ev...)
	}

	// holds_closed: every message's hold settled or released; no tenant
	// holds anything; no CDR is still open.
	{
		money := map[string]int{}
		var open []string
		for _, id := range ids {
			m := st.msgs[id]
			if m == nil {
				continue // all_final and acked_exist_once report it
			}
			money[m.Money]++
			if m.Money != "settled" && m.Money != "released" {
				open = append(open, id+" "+m.Money)
			}
		}
		ok, ev := len(open) == 0, []string{fmt.Sprintf("money of the acknowledged messages: %s%s", formatCounts(money), failText(len(open) == 0))}
		if len(open) > 0 {
			ev = append(ev, "not settled or released: "+sample(open))
		}
		for _, t := range r.sc.Tenants {
			var b balance
			if err := r.tenantAPI(t.ID).do(ctx, "GET", "/v1/balance", nil, &b); err != nil {
				ok = false
				ev = append(ev, fmt.Sprintf("tenant %s: balance: %v", t.ID, err))
				continue
			}
			held, _ := decimal.NewFromString(b.Held)
			openCDRs := 0
			for _, rows := range cdrByID {
				for _, row := range rows {
					if row["tenant_id"] == t.ID && row["settled_at"] == "" && row["released_at"] == "" {
						openCDRs++
					}
				}
			}
			pass := held.IsZero() && openCDRs == 0
			ok = ok && pass
			ev = append(ev, fmt.Sprintf("tenant %s: held %s; %d CDR(s) neither settled nor released%s", t.ID, b.Held, openCDRs, failText(pass)))
		}
		add(InvHoldsClosed, ok, ev...)
	}

	// tracker_empty: smsledger_unfinished_messages reads 0 (≤ 15 s); in a
	// cluster on every running node.
	{
		targets := r.liveNodes()
		if r.cl == nil {
			targets = []backend{{Name: "serve"}}
		}
		ok, ev := len(targets) > 0, []string{}
		begin := time.Now()
		for _, n := range targets {
			val, err := -1.0, error(nil)
			for attempt := 0; attempt < 60 && ctx.Err() == nil; attempt++ {
				var raw []byte
				if raw, err = r.admin().at(n.Addr).get(ctx, "/metrics"); err == nil {
					val, err = gauge(raw, "smsledger_unfinished_messages")
				}
				if err == nil && val == 0 || time.Since(begin) > 15*time.Second {
					break
				}
				sleep(ctx, 250*time.Millisecond)
			}
			who := ""
			if r.cl != nil {
				who = n.Name + ": "
			}
			if err != nil {
				ok = false
				ev = append(ev, who+"GET /metrics (admin token): "+err.Error())
				continue
			}
			ok = ok && val == 0
			ev = append(ev, fmt.Sprintf("%ssmsledger_unfinished_messages %v after %.1fs of polling /metrics (must read 0)%s", who, val, time.Since(begin).Seconds(), failText(val == 0)))
		}
		if len(targets) == 0 {
			ev = append(ev, "no node running")
		}
		add(InvTrackerEmpty, ok, ev...)
	}

	// books_available: each tenant's balance, held and available are what
	// its CDRs say (balance = top-up − settled prices, held = prices
	// neither settled nor released, available = balance + credit − held),
	// waiting (≤ 10 s) for the CDR projection to catch up.
	{
		var ok bool
		var ev []string
		for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
			ok, ev = true, nil
			for _, t := range r.sc.Tenants {
				pass, line := r.books(ctx, t)
				ok = ok && pass
				ev = append(ev, line)
			}
			if ok {
				ev = append(ev, fmt.Sprintf("(agreed at attempt %d of 20, 500 ms apart)", attempt+1))
				break
			}
			sleep(ctx, 500*time.Millisecond)
		}
		add(InvBooksAvailable, ok, ev...)
	}

	r.checkScheduled(rep, st, acked, facts, add)
}

// books compares one tenant's balance with its CDRs.
func (r *run) books(ctx context.Context, t Tenant) (bool, string) {
	rows, err := r.cdrs(ctx, t.ID)
	if err != nil {
		return false, fmt.Sprintf("tenant %s: CDRs: %v", t.ID, err)
	}
	var b balance
	if err := r.tenantAPI(t.ID).do(ctx, "GET", "/v1/balance", nil, &b); err != nil {
		return false, fmt.Sprintf("tenant %s: balance: %v", t.ID, err)
	}
	settledSum, heldSum := decimal.Zero, decimal.Zero
	for _, row := range rows {
		p, _ := decimal.NewFromString(row["price"])
		switch {
		case row["settled_at"] != "":
			settledSum = settledSum.Add(p)
		case row["released_at"] == "":
			heldSum = heldSum.Add(p)
		}
	}
	topup, _ := decimal.NewFromString(t.Topup)
	credit, _ := decimal.NewFromString(t.Credit)
	wantBal := topup.Sub(settledSum)
	wantAvl := wantBal.Add(credit).Sub(heldSum)
	bal, e1 := decimal.NewFromString(b.Balance)
	held, e2 := decimal.NewFromString(b.Held)
	avl, e3 := decimal.NewFromString(b.Available)
	cl, e4 := decimal.NewFromString(b.CreditLimit)
	pass := e1 == nil && e2 == nil && e3 == nil && e4 == nil && bal.Equal(wantBal) && held.Equal(heldSum) && avl.Equal(wantAvl) &&
		cl.Equal(credit) && avl.Equal(bal.Add(cl).Sub(held))
	line := fmt.Sprintf("tenant %s: GET /v1/balance: balance %s, held %s, available %s, credit %s; books (%d CDRs): top-up %s − settled %s = %s, held %s, available %s%s",
		t.ID, b.Balance, b.Held, b.Available, b.CreditLimit, len(rows), topup, settledSum, wantBal, heldSum, wantAvl, failText(pass))
	if avl.LessThan(wantAvl) {
		line += " (available LOWER than the books say)"
	}
	return pass, line
}

// gauge reads an unlabelled metric from a Prometheus text exposition.
func gauge(raw []byte, name string) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not in /metrics", name)
}

// checkScheduled: each scheduled message reached a supplier exactly once,
// not before its send_at and at most max_schedule_lag after it (the
// simulators' own clock of the submit), across the SIGKILLs of serve.
func (r *run) checkScheduled(rep *Report, st *settled, acked map[string]ackInfo, facts map[string]trailFacts, add func(string, bool, ...string)) {
	lagMax := r.sc.Limits.MaxScheduleLag.D()
	r.mu.Lock()
	subs := make(map[string][]simSubmit, len(r.submitsTo))
	for to, s := range r.submitsTo {
		subs[to] = append([]simSubmit(nil), s...)
	}
	kills := append([][2]time.Time(nil), r.kills...)
	r.mu.Unlock()
	byTo := map[string]int{}
	for id := range acked {
		if m := st.msgs[id]; m != nil {
			byTo[m.To]++
		}
	}
	var ids []string
	for id, a := range acked {
		if a.sendAfter > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		add(InvScheduledOnTime, true, "no scheduled message in this scenario")
		return
	}
	var problems, notOnce, early, late []string
	var lags []time.Duration
	var deviation time.Duration
	submittedN := map[int]int{}
	acrossKill, unchecked := 0, 0
	for _, id := range ids {
		a, m := acked[id], st.msgs[id]
		f, ok := facts[id]
		switch {
		case m == nil:
			problems = append(problems, id+" not found")
			continue
		case !ok:
			unchecked++
			continue
		case f.sendAt.IsZero():
			problems = append(problems, id+" has no send_at (not scheduled)")
			continue
		case byTo[m.To] > 1:
			problems = append(problems, fmt.Sprintf("%s: destination %s shared by %d acknowledged messages (cannot count its submits)", id, m.To, byTo[m.To]))
			continue
		}
		// The send_at recorded is the one asked: the submit's time (before
		// the acknowledgement, ≤ 10 s the request timeout) + send_after,
		// SMPP's relative time in whole seconds rounded up.
		asked := a.at.Add(a.sendAfter)
		deviation = max(deviation, f.sendAt.Sub(asked).Abs())
		if f.sendAt.After(asked.Add(time.Second)) || f.sendAt.Before(asked.Add(-10*time.Second)) {
			problems = append(problems, fmt.Sprintf("%s send_at %s, asked ≈ %s", id, f.sendAt.UTC().Format(time.RFC3339Nano), asked.UTC().Format(time.RFC3339Nano)))
		}
		submittedN[len(f.submitted)]++
		for _, t := range f.submitted {
			if t.Before(f.sendAt) {
				early = append(early, fmt.Sprintf("%s SubmittedToSupplier %s before send_at", id, secs(f.sendAt.Sub(t))))
			}
		}
		got := subs[m.To]
		if len(got) != 1 {
			notOnce = append(notOnce, fmt.Sprintf("%s×%d", id, len(got)))
		}
		for _, s := range got {
			d := s.at.Sub(f.sendAt)
			lags = append(lags, d)
			switch {
			case d < 0:
				early = append(early, fmt.Sprintf("%s at %s %s before send_at", id, s.supplier, secs(-d)))
			case d > lagMax:
				late = append(late, fmt.Sprintf("%s at %s %s after send_at", id, s.supplier, secs(d)))
			}
		}
		for _, k := range kills {
			if a.at.Before(k[0]) && f.sendAt.After(k[0]) {
				acrossKill++
				break
			}
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	var h load.Histogram
	for _, d := range lags {
		h.Record(max(d, 0))
	}
	if len(lags) > 0 {
		l := latency(&h)
		rep.ScheduleLag = &l
	}
	q := func(p float64) float64 {
		if len(lags) == 0 {
			return -1
		}
		return ms(lags[min(len(lags)-1, int(p*float64(len(lags))))])
	}
	killOK := len(kills) == 0 || acrossKill > 0
	ok := len(problems)+len(notOnce)+len(early)+len(late) == 0 && unchecked < len(ids) && killOK
	submittedText := map[string]int{}
	for n, c := range submittedN {
		submittedText[fmt.Sprintf("%d×", n)] = c
	}
	ev := []string{
		fmt.Sprintf("%d scheduled messages acknowledged (%d without an audit trail read); send_at recorded within %s of the ack + send_after asked; %d problem(s)%s",
			len(ids), unchecked, secs(deviation), len(problems), failText(len(problems) == 0)),
		fmt.Sprintf("submits received by the simulators per scheduled message: %d not exactly once%s", len(notOnce), failText(len(notOnce) == 0)),
		fmt.Sprintf("from send_at to the simulator's receipt: min %.0f ms, p50 %.0f ms, p99 %.0f ms, max %.0f ms (bar %v); %d early, %d late%s",
			q(0), q(0.5), q(0.99), q(1), lagMax, len(early), len(late), failText(len(early)+len(late) == 0)),
		fmt.Sprintf("SubmittedToSupplier events per scheduled message: %s", formatCounts(submittedText)),
	}
	if len(kills) > 0 {
		ev = append(ev, fmt.Sprintf("%d of them accepted before a SIGKILL of serve and due after it (%d kills)%s", acrossKill, len(kills), failText(killOK)))
	}
	for _, l := range []struct {
		what string
		ids  []string
	}{{"problems", problems}, {"not exactly once", notOnce}, {"early", early}, {"late", late}} {
		if len(l.ids) > 0 {
			ev = append(ev, l.what+": "+sample(l.ids))
		}
	}
	add(InvScheduledOnTime, ok, ev...)
}
