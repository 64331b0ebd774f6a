package runner

// Networks: the numbering plan and the portability table a scenario loads,
// the MOs its simulated suppliers send, the watch on a failing supplier's
// health per network, and the invariants that read them —
// priced_by_network (a destination's network decides its price and route,
// a ported number's new network included), shares_held (a route row's
// traffic shares), network_health (a supplier failing on one network is
// avoided there only) and mo_round_trip (every MO reaches its tenant once,
// charged; unknown numbers acknowledged).

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/scenarios/load"
)

// Networks reports whether the scenario uses mobile networks, traffic
// shares or a supplier failing on some destinations: its checks then read
// the admin's audit trails (routing decisions, suppliers tried).
func (s *Scenario) Networks() bool {
	if len(s.Numbering) > 0 || len(s.Ported) > 0 {
		return true
	}
	for _, rt := range s.Routes {
		if rt.MCCMNC != "" || len(rt.Weights) > 0 {
			return true
		}
	}
	for _, p := range s.Suppliers {
		if len(p.RejectPrefixes) > 0 {
			return true
		}
	}
	return false
}

// netPlan is the scenario's own answer to "which network is this number
// on": the portability table first, then the plan's longest prefix.
type netPlan struct {
	rows   []NumberingRow // longest prefix first
	ported map[string]string
	names  map[string]NumberingRow // network → its first plan row (country, operator)
}

func newNetPlan(sc *Scenario) *netPlan {
	p := &netPlan{rows: append([]NumberingRow(nil), sc.Numbering...), ported: map[string]string{}, names: map[string]NumberingRow{}}
	sort.SliceStable(p.rows, func(i, j int) bool { return len(p.rows[i].Prefix) > len(p.rows[j].Prefix) })
	for _, n := range sc.Numbering {
		if _, ok := p.names[n.MCCMNC]; !ok {
			p.names[n.MCCMNC] = n
		}
	}
	for _, pr := range sc.Ported {
		for _, n := range pr.numbers() {
			p.ported[n] = pr.MCCMNC
		}
	}
	return p
}

// network is the destination's network and how it is known ("ported",
// "plan"; "" and "" when unknown).
func (p *netPlan) network(to string) (mccmnc, source string) {
	to = strings.TrimPrefix(to, "+")
	if n, ok := p.ported[to]; ok {
		return n, "ported"
	}
	if n := p.byPrefix(to); n != "" {
		return n, "plan"
	}
	return "", ""
}

// byPrefix is the plan's network of the destination, portability aside.
func (p *netPlan) byPrefix(to string) string {
	for _, r := range p.rows {
		if strings.HasPrefix(to, r.Prefix) {
			return r.MCCMNC
		}
	}
	return ""
}

// rateFor is the deck row that applies to a destination on network net:
// the network's row when the deck has one, else the longest prefix.
func rateFor(deck []Rate, net, to string) (Rate, bool) {
	if net != "" {
		for _, r := range deck {
			if r.MCCMNC == net {
				return r, true
			}
		}
	}
	best, found := Rate{}, false
	for _, r := range deck {
		if r.Prefix != "" && strings.HasPrefix(to, r.Prefix) && len(r.Prefix) > len(best.Prefix) {
			best, found = r, true
		}
	}
	return best, found
}

// routeFor is the route row that applies, as rateFor.
func routeFor(routes []Route, net, to string) (Route, bool) {
	if net != "" {
		for _, r := range routes {
			if r.MCCMNC == net {
				return r, true
			}
		}
	}
	best, found := Route{}, false
	for _, r := range routes {
		if r.Prefix != "" && strings.HasPrefix(to, r.Prefix) && len(r.Prefix) > len(best.Prefix) {
			best, found = r, true
		}
	}
	return best, found
}

// configureNetworks loads the numbering plan and the portability table
// (CSV, as operators upload them).
func (r *run) configureNetworks(ctx context.Context) error {
	if len(r.sc.Numbering) > 0 {
		rows := [][]string{{"prefix", "mcc", "mnc", "country", "operator"}}
		for _, n := range r.sc.Numbering {
			rows = append(rows, []string{n.Prefix, n.MCCMNC[:3], n.MCCMNC[3:], n.Country, n.Operator})
		}
		if err := r.admin().send(ctx, "PUT", "/v1/numbering", "text/csv", csvOf(rows), nil); err != nil {
			return fmt.Errorf("runner: numbering plan: %w", err)
		}
	}
	if len(r.sc.Ported) > 0 {
		rows := [][]string{{"msisdn", "mccmnc"}}
		for _, p := range r.sc.Ported {
			for _, n := range p.numbers() {
				rows = append(rows, []string{n, p.MCCMNC})
			}
		}
		if err := r.admin().send(ctx, "PUT", "/v1/portability", "text/csv", csvOf(rows), nil); err != nil {
			return fmt.Errorf("runner: portability table: %w", err)
		}
	}
	return nil
}

func csvOf(rows [][]string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.WriteAll(rows) // a bytes.Buffer does not fail
	return b.Bytes()
}

// deckJSON is a rate or cost row as the API takes it: a prefix or an
// mccmnc (never both), and the amount under field.
func deckJSON(r Rate, field string) map[string]string {
	row := map[string]string{field: r.Price}
	if r.MCCMNC != "" {
		row["mccmnc"] = r.MCCMNC
	} else {
		row["prefix"] = r.Prefix
	}
	return row
}

// netState is what the run keeps of MOs and of route health.
type netState struct {
	plan *netPlan

	mu   sync.Mutex
	sent map[string]*moSent  // by text (each MO has its own)
	got  map[string][]moGot  // by text
	seen map[string]healthAt // supplier → when its health report first had its samples
}

// moSent is one MO a simulator sent.
type moSent struct {
	stream, supplier string
	from, to, text   string
	owner            string // the tenant owning to ("": nobody)
	acked            bool   // the ESME (serve) answered ESME_ROK
	attempts         int
	err              string // the last error, when never acknowledged
}

// moGot is one MO a tenant's bind received.
type moGot struct {
	tenant string
	mo     load.MO
}

// healthAt is a supplier's health report when it first had its samples.
type healthAt struct {
	at  time.Time
	rep healthReport
}

func newNetState(sc *Scenario) *netState {
	return &netState{plan: newNetPlan(sc), sent: map[string]*moSent{}, got: map[string][]moGot{}, seen: map[string]healthAt{}}
}

// onMO records an MO received by one of tenant's binds.
func (r *run) onMO(tenant string) func(load.MO) {
	return func(m load.MO) {
		r.nets.mu.Lock()
		r.nets.got[m.Text] = append(r.nets.got[m.Text], moGot{tenant: tenant, mo: m})
		r.nets.mu.Unlock()
	}
}

// owner is the tenant owning a number ("" when none does).
func (r *run) owner(number string) string {
	number = strings.TrimPrefix(number, "+")
	for _, t := range r.sc.Tenants {
		for _, n := range t.Numbers {
			if strings.TrimPrefix(n, "+") == number {
				return t.ID
			}
		}
	}
	return ""
}

// moAttempts bounds the sends of one MO: serve answers ESME_RSYSERR when it
// could not store it, and the simulator has no bind to send on before
// serve bound it.
const moAttempts = 20

// MOReport is what an MO stream did.
type MOReport struct {
	Name     string `json:"name"`
	Supplier string `json:"supplier"`
	Sent     int    `json:"sent"`
	Acked    int    `json:"acknowledged"`
	// Retried: MOs acknowledged after more than one attempt.
	Retried int `json:"retried"`
}

// moStream sends one MO stream's messages from its supplier's simulator,
// paced at its rate, each until serve acknowledges it (≤ moAttempts).
func (r *run) moStream(ctx context.Context, m MOStream) MOReport {
	rep := MOReport{Name: m.Name, Supplier: m.Supplier}
	sleep(ctx, time.Until(r.start.Add(m.Start.D())))
	sim := r.sims[m.Supplier]
	var every time.Duration
	if m.Rate > 0 {
		every = time.Duration(float64(time.Second) / m.Rate)
	}
	begin := time.Now()
	for i := 1; i <= m.Messages && ctx.Err() == nil; i++ {
		sleep(ctx, time.Until(begin.Add(time.Duration(i-1)*every)))
		to := strings.TrimPrefix(m.To[(i-1)%len(m.To)], "+")
		s := &moSent{stream: m.Name, supplier: m.Supplier, from: fmt.Sprintf("%s%0*d", m.From, 12-len(m.From), i), to: to,
			text: fmt.Sprintf("mo %s %d", m.Name, i), owner: r.owner(to)}
		r.nets.mu.Lock()
		r.nets.sent[s.text] = s
		r.nets.mu.Unlock()
		for s.attempts < moAttempts && ctx.Err() == nil {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := sim.SendMO(cctx, s.from, s.to, s.text)
			cancel()
			r.nets.mu.Lock()
			s.attempts++
			s.acked, s.err = err == nil, errString(err)
			r.nets.mu.Unlock()
			if err == nil {
				break
			}
			sleep(ctx, 250*time.Millisecond)
		}
		rep.Sent++
		if s.acked {
			rep.Acked++
			if s.attempts > 1 {
				rep.Retried++
			}
		}
	}
	return rep
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// mosPending counts the acknowledged MOs for a tenant's number that no
// bind of that tenant has received yet (settle waits for them).
func (r *run) mosPending() int {
	r.nets.mu.Lock()
	defer r.nets.mu.Unlock()
	n := 0
	for text, s := range r.nets.sent {
		if s.acked && s.owner != "" && len(r.nets.got[text]) == 0 {
			n++
		}
	}
	return n
}

// healthReport is the part of GET /v1/suppliers/{id}/health the checks use.
type healthReport struct {
	Supplier healthFigures   `json:"supplier"`
	Networks []healthFigures `json:"networks"`
}

type healthFigures struct {
	MCCMNC   string `json:"mccmnc"`
	Accepted int64  `json:"accepted"`
	Rejected int64  `json:"rejected"`
	TimedOut int64  `json:"timed_out"`
	Score    int    `json:"score"`
}

// answers are the score's samples.
func (h healthFigures) answers() int64 { return h.Accepted + h.Rejected + h.TimedOut }

func (h healthReport) network(mccmnc string) healthFigures {
	for _, n := range h.Networks {
		if n.MCCMNC == mccmnc {
			return n
		}
	}
	return healthFigures{MCCMNC: mccmnc, Score: scoreMax}
}

// Routing's health constants (domain/routing): the score's range, the
// answers a network's score needs before routing uses it, and the width of
// the bands premium routing compares.
const (
	scoreMax         = 1000
	healthMinSamples = 20
	qualityBand      = 50
)

// failingNetworks are, for a supplier with reject_prefixes, the networks
// of the plan it rejects entirely (every range of the network under one of
// its prefixes), and the networks it should keep: those whose route row
// has it first, without traffic shares.
func (s *Scenario) failingNetworks(p Supplier) (failing, healthy []string) {
	if len(p.RejectPrefixes) == 0 {
		return nil, nil
	}
	covered := map[string]bool{}
	for _, n := range s.Numbering {
		under := false
		for _, rp := range p.RejectPrefixes {
			under = under || strings.HasPrefix(n.Prefix, strings.TrimPrefix(rp, "+"))
		}
		if c, seen := covered[n.MCCMNC]; !seen || c {
			covered[n.MCCMNC] = under
		}
	}
	for _, n := range sortedBoolKeys(covered) {
		if covered[n] {
			failing = append(failing, n)
		}
	}
	for _, rt := range s.Routes {
		if rt.MCCMNC != "" && len(rt.Weights) == 0 && rt.Suppliers[0] == p.ID && !covered[rt.MCCMNC] {
			healthy = append(healthy, rt.MCCMNC)
		}
	}
	sort.Strings(healthy)
	return failing, healthy
}

func sortedBoolKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// watchHealth polls (every 250 ms, until ctx ends) the health of every
// supplier that rejects a network, and notes when its report first had
// HealthMinSamples answers on each of its failing and healthy networks:
// from then on (plus the feed's refresh) routing knows where it fails.
func (r *run) watchHealth(ctx context.Context) {
	type watched struct {
		id    string
		nets  []string
		found bool
	}
	var ws []*watched
	for _, p := range r.sc.Suppliers {
		if x, y := r.sc.failingNetworks(p); len(x) > 0 {
			ws = append(ws, &watched{id: p.ID, nets: append(x, y...)})
		}
	}
	for left := len(ws); left > 0 && ctx.Err() == nil; {
		for _, w := range ws {
			if w.found {
				continue
			}
			var rep healthReport
			if err := r.admin().do(ctx, "GET", "/v1/suppliers/"+w.id+"/health", nil, &rep); err != nil {
				continue
			}
			ready := true
			for _, n := range w.nets {
				ready = ready && rep.network(n).answers() >= healthMinSamples
			}
			if ready {
				w.found = true
				left--
				r.nets.mu.Lock()
				r.nets.seen[w.id] = healthAt{at: time.Now(), rep: rep}
				r.nets.mu.Unlock()
				r.log.Info("supplier health per network has its samples", "supplier", w.id, "networks", w.nets)
			}
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

// awaitHealth waits (until deadline) for every watched supplier's health
// per network to have its samples, then for health_grace: an after_health
// stream starts when routing knows where its suppliers fail.
func (r *run) awaitHealth(ctx context.Context, deadline time.Time) {
	want := 0
	for _, p := range r.sc.Suppliers {
		if failing, _ := r.sc.failingNetworks(p); len(failing) > 0 {
			want++
		}
	}
	for ctx.Err() == nil && time.Now().Before(deadline) {
		r.nets.mu.Lock()
		n := len(r.nets.seen)
		var last time.Time
		for _, h := range r.nets.seen {
			if h.at.After(last) {
				last = h.at
			}
		}
		r.nets.mu.Unlock()
		if n >= want {
			sleep(ctx, min(time.Until(last.Add(r.sc.Limits.HealthGrace.D())), time.Until(deadline)))
			return
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// netFacts is what the networks invariants read from one audit trail
// (the admin's: routing decision and suppliers included).
type netFacts struct {
	accepted      bool
	to            string
	rateP, rateN  string
	net, source   string
	country, oper string
	ppp, price    decimal.Decimal
	parts         int
	routed        bool
	winner        string
	reason        string
	routePos      uint64
	submitted     []string // suppliers in the order tried
}

func netFactsOf(evs []event) netFacts {
	var f netFacts
	for _, e := range evs {
		switch e.Type {
		case "MessageAccepted":
			var a struct {
				To            string          `json:"to"`
				RatePrefix    string          `json:"rate_prefix"`
				RateMCCMNC    string          `json:"rate_mccmnc"`
				MCCMNC        string          `json:"mccmnc"`
				Country       string          `json:"country"`
				Operator      string          `json:"operator"`
				NetworkSource string          `json:"network_source"`
				PricePerPart  decimal.Decimal `json:"price_per_part"`
				Price         decimal.Decimal `json:"price"`
				Parts         int             `json:"parts"`
			}
			if json.Unmarshal(e.Data, &a) == nil {
				f.accepted = true
				f.to, f.rateP, f.rateN, f.net, f.source = a.To, a.RatePrefix, a.RateMCCMNC, a.MCCMNC, a.NetworkSource
				f.country, f.oper, f.ppp, f.price, f.parts = a.Country, a.Operator, a.PricePerPart, a.Price, a.Parts
			}
		case "RouteSelected":
			var rs struct {
				Winner string `json:"winner"`
				Reason string `json:"reason"`
			}
			if json.Unmarshal(e.Data, &rs) == nil {
				f.routed, f.winner, f.reason, f.routePos = true, rs.Winner, rs.Reason, e.Position
			}
		case "SubmittedToSupplier":
			var s struct {
				SupplierID string `json:"supplier_id"`
			}
			if json.Unmarshal(e.Data, &s) == nil {
				f.submitted = append(f.submitted, s.SupplierID)
			}
		}
	}
	return f
}

// checkNetworks adds the networks invariants to the report.
func (r *run) checkNetworks(ctx context.Context, st *settled, acked map[string]ackInfo, cdrByID map[string][]map[string]string,
	trails map[string]*trail, add func(string, bool, ...string)) {
	facts := make(map[string]netFacts, len(trails))
	for id, tr := range trails {
		if tr.err == nil {
			facts[id] = netFactsOf(tr.events)
		}
	}
	ids := make([]string, 0, len(acked))
	for id := range acked {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	r.checkPriced(st, acked, ids, facts, add)
	r.checkShares(st, ids, facts, add)
	r.checkNetworkHealth(ctx, st, acked, ids, facts, add)
	r.checkMO(ctx, cdrByID, add)
}

func (r *run) tenant(id string) Tenant {
	for _, t := range r.sc.Tenants {
		if t.ID == id {
			return t
		}
	}
	return Tenant{}
}

// priceGroup sums up the messages of one network and source.
type priceGroup struct {
	n                     int
	prices, rates, routes map[string]bool
	instead               map[string]bool // ported: the network and price its prefix alone would give
}

// checkPriced: each message's network is the one the portability table or
// the plan's longest prefix gives (unknown without either), its price the
// tenant's rate row for that network when there is one, else its longest
// prefix's, and its route the route table's row for the network, else the
// longest prefix's.
func (r *run) checkPriced(st *settled, acked map[string]ackInfo, ids []string, facts map[string]netFacts, add func(string, bool, ...string)) {
	if len(r.sc.Numbering) == 0 {
		add(InvPricedByNetwork, true, "no numbering plan in this scenario: every destination's network is unknown (prices and routes by prefix)")
		return
	}
	plan := r.nets.plan
	groups := map[string]*priceGroup{}
	var bad []string
	checked, unchecked, ported := 0, 0, 0
	for _, id := range ids {
		m, f := st.msgs[id], facts[id]
		if m == nil || !f.accepted {
			unchecked++
			continue
		}
		checked++
		t := r.tenant(acked[id].tenant)
		to := strings.TrimPrefix(f.to, "+")
		net, source := plan.network(to)
		rate, _ := rateFor(t.Rates, net, to)
		route, _ := routeFor(r.sc.Routes, net, to)
		want, _ := decimal.NewFromString(rate.Price)
		var why []string
		if m.MCCMNC != net || f.net != net || f.source != source {
			why = append(why, fmt.Sprintf("network %q (view) %q (%s, trail), want %q (%s)", m.MCCMNC, f.net, f.source, net, source))
		}
		if n, ok := plan.names[net]; ok && (m.Country != n.Country || m.Operator != n.Operator) {
			why = append(why, fmt.Sprintf("country/operator %q/%q, want %q/%q", m.Country, m.Operator, n.Country, n.Operator))
		}
		if f.rateN != rate.MCCMNC || f.rateP != rate.Prefix || !f.ppp.Equal(want) {
			why = append(why, fmt.Sprintf("priced %s by rate %q/%q, want %s by %s", f.ppp, f.rateP, f.rateN, rate.Price, rate.key()))
		}
		if viewPrice, err := decimal.NewFromString(m.Price); err != nil || !viewPrice.Equal(f.price) || !f.price.Equal(f.ppp.Mul(decimal.NewFromInt(int64(f.parts)))) {
			why = append(why, fmt.Sprintf("price %s (view %s) ≠ %s × %d parts", f.price, m.Price, f.ppp, f.parts))
		}
		if m.RouteMCCMNC != route.MCCMNC || m.RouteMCCMNC == "" && m.RoutePrefix != route.Prefix {
			why = append(why, fmt.Sprintf("routed by %q/%q, want %s", m.RoutePrefix, m.RouteMCCMNC, route.key()))
		}
		if len(why) > 0 {
			bad = append(bad, id+" to "+to+": "+strings.Join(why, "; "))
		}
		key := net + " " + source
		if net == "" {
			key = "unknown network"
		}
		g := groups[key]
		if g == nil {
			g = &priceGroup{prices: map[string]bool{}, rates: map[string]bool{}, routes: map[string]bool{}, instead: map[string]bool{}}
			groups[key] = g
		}
		g.n++
		g.prices[t.ID+" "+f.ppp.String()] = true
		g.rates[rate.key()] = true
		g.routes[route.key()] = true
		if source == "ported" {
			ported++
			own := plan.byPrefix(to)
			ownRate, _ := rateFor(t.Rates, own, to)
			ownRoute, _ := routeFor(r.sc.Routes, own, to)
			g.instead[fmt.Sprintf("%s %s by %s, routed by %s", own, ownRate.Price, ownRate.key(), ownRoute.key())] = true
		}
	}
	ok := len(bad) == 0 && checked > 0 && (len(r.sc.Ported) == 0 || ported > 0)
	ev := []string{fmt.Sprintf("%d acknowledged messages checked against the numbering plan (%d rows), the portability table (%d numbers) and the decks; %d without a view or trail; %d wrong%s",
		checked, len(r.sc.Numbering), len(plan.ported), unchecked, len(bad), failText(len(bad) == 0 && checked > 0))}
	if len(r.sc.Ported) > 0 {
		ev = append(ev, fmt.Sprintf("%d message(s) to ported numbers (at least one wanted)%s", ported, failText(ported > 0)))
	}
	names := make([]string, 0, len(groups))
	for k := range groups {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		g := groups[k]
		line := fmt.Sprintf("%s: %d message(s), price per part %s (rate %s), routed by %s", k, g.n,
			strings.Join(keys(g.prices), ", "), strings.Join(keys(g.rates), ", "), strings.Join(keys(g.routes), ", "))
		if len(g.instead) > 0 {
			line += "; by their own prefix: " + strings.Join(keys(g.instead), ", ")
		}
		ev = append(ev, line)
	}
	if len(bad) > 0 {
		ev = append(ev, "wrong: "+sample(bad))
	}
	add(InvPricedByNetwork, ok, ev...)
}

// shareSchedule is routing's traffic-share schedule of a row (smooth
// weighted round robin, domain/routing/shares.go): slot k of each cycle
// names the supplier (its position in the row) message k goes to.
func shareSchedule(weights []int) []int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	out := make([]int, sum)
	current := make([]int, len(weights))
	for slot := range out {
		best := -1
		for i, w := range weights {
			current[i] += w
			if w > 0 && (best < 0 || current[i] > current[best]) {
				best = i
			}
		}
		current[best] -= sum
		out[slot] = best
	}
	return out
}

// checkShares: each route row with weights split its messages as its
// weights say — within ±1 of each supplier's weight in every full cycle of
// sum(weights) messages (in the order the log recorded their routing
// decisions), and within ±1 of the proportional share over the whole run.
// Every decision takes the schedule's next slot, so the whole run's count
// is the schedule's exactly; per cycle, the log's order is the decisions'
// when the row's senders wait for each answer (one bind, window 1), and
// may differ by the decisions in flight otherwise.
func (r *run) checkShares(st *settled, ids []string, facts map[string]netFacts, add func(string, bool, ...string)) {
	ok, ev := true, []string{}
	for _, rt := range r.sc.Routes {
		if len(rt.Weights) == 0 {
			continue
		}
		type routed struct {
			pos    uint64
			winner string
		}
		var msgs []routed
		missing, byShare := 0, 0
		for _, id := range ids {
			m := st.msgs[id]
			if m == nil || m.RouteMCCMNC != rt.MCCMNC || rt.MCCMNC == "" && m.RoutePrefix != rt.Prefix {
				continue
			}
			f := facts[id]
			if !f.routed {
				missing++
				continue
			}
			if f.reason == "traffic_share" {
				byShare++
			}
			msgs = append(msgs, routed{f.routePos, f.winner})
		}
		sort.Slice(msgs, func(i, j int) bool { return msgs[i].pos < msgs[j].pos })
		sched := shareSchedule(rt.Weights)
		cycle := len(sched)
		n := len(msgs)
		got, want := map[string]int{}, map[string]int{}
		for k, m := range msgs {
			got[m.winner]++
			want[rt.Suppliers[sched[k%cycle]]]++
		}
		pass := missing == 0 && n >= cycle
		var overall []string
		for i, sup := range rt.Suppliers {
			exact := float64(n) * float64(rt.Weights[i]) / float64(cycle)
			dev := math.Abs(float64(got[sup]) - exact)
			pass = pass && dev <= 1
			overall = append(overall, fmt.Sprintf("%s %d (weight %d: %.1f; the schedule's first %d slots give %d)", sup, got[sup], rt.Weights[i], exact, n, want[sup]))
		}
		worst, cycles := 0, n/cycle
		var perCycle []string
		for c := 0; c < cycles; c++ {
			cnt := map[string]int{}
			for _, m := range msgs[c*cycle : (c+1)*cycle] {
				cnt[m.winner]++
			}
			var parts []string
			for i, sup := range rt.Suppliers {
				d := cnt[sup] - rt.Weights[i]
				worst = max(worst, max(d, -d))
				parts = append(parts, fmt.Sprintf("%s %d", sup, cnt[sup]))
			}
			perCycle = append(perCycle, strings.Join(parts, "/"))
		}
		pass = pass && worst <= 1
		ok = ok && pass
		ev = append(ev, fmt.Sprintf("route %s %v weights %v: %d messages (%d without a routing decision in their trail), %d full cycle(s) of %d, %d chosen by the share schedule (reason traffic_share)%s",
			rt.key(), rt.Suppliers, rt.Weights, n, missing, cycles, cycle, byShare, failText(pass)),
			fmt.Sprintf("  over the run: %s; bar ±1 per supplier", strings.Join(overall, ", ")),
			fmt.Sprintf("  per full cycle, in the log's order: %s; largest deviation %d (bar ±1)", strings.Join(perCycle, ", "), worst))
		if n < cycle {
			ev = append(ev, fmt.Sprintf("  fewer messages (%d) than one cycle (%d): the shares cannot be shown — FAILED", n, cycle))
		}
	}
	if len(ev) == 0 {
		ev = append(ev, "no route row with traffic shares in this scenario")
	}
	add(InvSharesHeld, ok, ev...)
}

// networkHealthMinChecked: network_health wants at least this many
// messages after the health had its samples, per failing and per healthy
// network, to show anything.
const networkHealthMinChecked = 20

// checkNetworkHealth: a supplier that rejects every submit to a network is
// scored low there only. Once its health report had its samples (plus
// health_grace for serve's feed), premium tenants' messages to that
// network are never submitted to it, and their messages to the networks
// whose route row puts it first still go to it first. Premium routing
// orders a route's suppliers by health band first; standard follows the
// preference order (and fails over), economy the cost — their messages
// are reported, not checked.
func (r *run) checkNetworkHealth(ctx context.Context, st *settled, acked map[string]ackInfo, ids []string, facts map[string]netFacts, add func(string, bool, ...string)) {
	ok, ev := true, []string{}
	grace := r.sc.Limits.HealthGrace.D()
	for _, p := range r.sc.Suppliers {
		failing, healthy := r.sc.failingNetworks(p)
		if len(p.RejectPrefixes) == 0 {
			continue
		}
		if len(failing) == 0 {
			ok = false
			ev = append(ev, fmt.Sprintf("supplier %s rejects %v, which covers no network of the numbering plan — FAILED", p.ID, p.RejectPrefixes))
			continue
		}
		r.nets.mu.Lock()
		seen, found := r.nets.seen[p.ID]
		r.nets.mu.Unlock()
		var final healthReport
		finalErr := r.admin().do(ctx, "GET", "/v1/suppliers/"+p.ID+"/health", nil, &final)
		if !found {
			ok = false
			ev = append(ev, fmt.Sprintf("supplier %s: its health report never had %d answers on each of %v during the traffic — FAILED", p.ID, healthMinSamples, append(failing, healthy...)))
			continue
		}
		from := seen.at.Add(grace)
		ev = append(ev, fmt.Sprintf("supplier %s rejects %v: failing on %v, kept first on %v; its report had %d answers on each %.1fs into the traffic, messages checked from %.1fs (+ health_grace %v)",
			p.ID, p.RejectPrefixes, failing, healthy, healthMinSamples, seen.at.Sub(r.start).Seconds(), from.Sub(r.start).Seconds(), grace))
		isFailing, isHealthy := setOf(failing), setOf(healthy)
		type tally struct{ checked, wrong, before, beforeAt, standard, standardAt int }
		per := map[string]*tally{}
		var wrong []string
		for _, id := range ids {
			a, m, f := acked[id], st.msgs[id], facts[id]
			if m == nil || !f.accepted {
				continue
			}
			net, _ := r.nets.plan.network(f.to)
			if !isFailing[net] && !isHealthy[net] {
				continue
			}
			tl := per[net]
			if tl == nil {
				tl = &tally{}
				per[net] = tl
			}
			triedFirst := len(f.submitted) > 0 && f.submitted[0] == p.ID
			triedAt := false
			for _, s := range f.submitted {
				triedAt = triedAt || s == p.ID
			}
			switch {
			case r.tenant(a.tenant).Tier != "premium":
				tl.standard++
				if triedFirst {
					tl.standardAt++
				}
			case a.at.Before(from):
				tl.before++
				if triedFirst {
					tl.beforeAt++
				}
			default:
				tl.checked++
				bad := isFailing[net] && (triedAt || f.winner == p.ID) || isHealthy[net] && (!triedFirst || f.winner != p.ID)
				if bad {
					tl.wrong++
					wrong = append(wrong, fmt.Sprintf("%s to %s (%s): winner %s, tried %v", id, f.to, net, f.winner, f.submitted))
				}
			}
		}
		for _, net := range append(append([]string(nil), failing...), healthy...) {
			tl := per[net]
			if tl == nil {
				tl = &tally{}
			}
			enough := tl.checked >= networkHealthMinChecked
			pass := tl.wrong == 0 && enough
			ok = ok && pass
			what := "never submitted to " + p.ID
			if isHealthy[net] {
				what = "submitted to " + p.ID + " first"
			}
			ev = append(ev, fmt.Sprintf("  %s (%s): %d premium message(s) after the health had its samples (at least %d wanted), each to be %s: %d wrong%s; before it %d premium, %d of them tried at %s first; other tiers %d, %d tried at %s first (their order is the route's preference, or cost)",
				net, map[bool]string{true: "failing", false: "healthy"}[isFailing[net]], tl.checked, networkHealthMinChecked, what, tl.wrong, failText(pass),
				tl.before, tl.beforeAt, p.ID, tl.standard, tl.standardAt, p.ID))
		}
		if len(wrong) > 0 {
			ev = append(ev, "  wrong: "+sample(wrong))
		}
		// Its scores at the end: low on the failing networks, high (within
		// a band of the maximum) on the healthy ones.
		if finalErr != nil {
			ok = false
			ev = append(ev, fmt.Sprintf("  GET /v1/suppliers/%s/health: %v — FAILED", p.ID, finalErr))
			continue
		}
		var scores []string
		for _, net := range failing {
			h := final.network(net)
			pass := h.answers() >= healthMinSamples && h.Score <= scoreMax-qualityBand
			ok = ok && pass
			scores = append(scores, fmt.Sprintf("%s score %d (%d accepted, %d rejected)%s", net, h.Score, h.Accepted, h.Rejected, failText(pass)))
		}
		for _, net := range healthy {
			h := final.network(net)
			pass := h.Score >= scoreMax-qualityBand
			ok = ok && pass
			scores = append(scores, fmt.Sprintf("%s score %d (%d accepted, %d rejected)%s", net, h.Score, h.Accepted, h.Rejected, failText(pass)))
		}
		ev = append(ev, fmt.Sprintf("  %s's health at the end (15 min window): supplier score %d; %s; when first seen: %s", p.ID, final.Supplier.Score,
			strings.Join(scores, "; "), describeNets(seen.rep, append(append([]string(nil), failing...), healthy...))))
		if sim := r.sims[p.ID]; sim != nil {
			ev = append(ev, fmt.Sprintf("  the simulator %s rejected %d submit(s) by prefix and accepted %d", p.ID, sim.RejectedByPrefix.Load(), sim.Submitted.Load()))
		}
	}
	if len(ev) == 0 {
		ev = append(ev, "no supplier rejects a network in this scenario")
	}
	add(InvNetworkHealth, ok, ev...)
}

func describeNets(rep healthReport, nets []string) string {
	var out []string
	for _, n := range nets {
		h := rep.network(n)
		out = append(out, fmt.Sprintf("%s score %d on %d answers", n, h.Score, h.answers()))
	}
	return strings.Join(out, ", ")
}

func setOf(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

// checkMO: every MO was acknowledged by serve; each one for a tenant's
// number reached a bind of that tenant exactly once as a deliver_sm with
// esm_class 0 and its addresses and text, and has one CDR (direction mo)
// priced at the tenant's mo_price; each one for a number nobody owns
// reached no tenant and has no CDR. /metrics counts them (when serve ran
// in-process for the whole run and no MO needed a second attempt).
func (r *run) checkMO(ctx context.Context, cdrByID map[string][]map[string]string, add func(string, bool, ...string)) {
	r.nets.mu.Lock()
	sent := make([]moSent, 0, len(r.nets.sent))
	for _, s := range r.nets.sent {
		sent = append(sent, *s)
	}
	got := make(map[string][]moGot, len(r.nets.got))
	for k, v := range r.nets.got {
		got[k] = append([]moGot(nil), v...)
	}
	r.nets.mu.Unlock()
	if len(sent) == 0 {
		add(InvMORoundTrip, true, "no MO in this scenario")
		return
	}
	sort.Slice(sent, func(i, j int) bool { return sent[i].text < sent[j].text })
	// The MO CDRs, by handset (each MO has its own).
	cdrs := map[string][]map[string]string{}
	for _, rows := range cdrByID {
		for _, row := range rows {
			if row["direction"] == "mo" {
				cdrs[row["source"]] = append(cdrs[row["source"]], row)
			}
		}
	}
	var notAcked, notOnce, wrongBind, badPDU, badCDR, leaked []string
	owned, unowned, retried, received := map[string]int{}, 0, 0, 0
	for _, s := range sent {
		if !s.acked {
			notAcked = append(notAcked, fmt.Sprintf("%s to %s (%d attempts: %s)", s.text, s.to, s.attempts, s.err))
			continue
		}
		if s.attempts > 1 {
			retried++
		}
		g := got[s.text]
		rows := cdrs[s.from]
		if s.owner == "" {
			unowned++
			if len(g) > 0 || len(rows) > 0 {
				leaked = append(leaked, fmt.Sprintf("%s to %s: %d bind(s) got it, %d CDR(s)", s.text, s.to, len(g), len(rows)))
			}
			continue
		}
		owned[s.owner]++
		if len(g) > 0 {
			received++
		}
		// Once — or, for an MO sent again after an attempt whose answer
		// was lost, at most once per attempt.
		if len(g) == 0 || len(g) > 1 && len(g) > s.attempts-1 {
			notOnce = append(notOnce, fmt.Sprintf("%s×%d", s.text, len(g)))
		}
		for _, x := range g {
			if x.tenant != s.owner {
				wrongBind = append(wrongBind, fmt.Sprintf("%s for %s at %s", s.text, s.owner, x.tenant))
			}
			if x.mo.EsmClass != 0 || x.mo.From != s.from || strings.TrimPrefix(x.mo.To, "+") != s.to {
				badPDU = append(badPDU, fmt.Sprintf("%s: esm_class 0x%x, %s → %s", s.text, x.mo.EsmClass, x.mo.From, x.mo.To))
			}
		}
		want, _ := decimal.NewFromString(r.tenant(s.owner).MOPrice)
		if len(rows) != 1 {
			badCDR = append(badCDR, fmt.Sprintf("%s: %d CDRs", s.text, len(rows)))
		} else if p, err := decimal.NewFromString(rows[0]["price"]); err != nil || !p.Equal(want) || rows[0]["tenant_id"] != s.owner ||
			strings.TrimPrefix(rows[0]["destination"], "+") != s.to {
			badCDR = append(badCDR, fmt.Sprintf("%s: CDR of %s to %s priced %s, want %s's mo_price %s", s.text, rows[0]["tenant_id"], rows[0]["destination"], rows[0]["price"], s.owner, want))
		}
	}
	ok := len(notAcked)+len(notOnce)+len(wrongBind)+len(badPDU)+len(badCDR)+len(leaked) == 0
	var per []string
	for _, t := range r.sc.Tenants {
		if owned[t.ID] > 0 {
			per = append(per, fmt.Sprintf("%s %d (mo_price %s)", t.ID, owned[t.ID], t.MOPrice))
		}
	}
	ev := []string{
		fmt.Sprintf("%d MO(s) sent by the simulators, %d acknowledged by serve (%d after more than one attempt); %d not acknowledged%s",
			len(sent), len(sent)-len(notAcked), retried, len(notAcked), failText(len(notAcked) == 0)),
		fmt.Sprintf("for tenants' numbers: %s; %d received by a bind of their tenant, %d not exactly once%s, %d at another tenant%s, %d with esm_class ≠ 0 or other addresses%s",
			strings.Join(per, ", "), received, len(notOnce), failText(len(notOnce) == 0), len(wrongBind), failText(len(wrongBind) == 0), len(badPDU), failText(len(badPDU) == 0)),
		fmt.Sprintf("CDRs (direction mo): %d MO(s) without exactly one CDR of their tenant priced at its mo_price%s",
			len(badCDR), failText(len(badCDR) == 0)),
		fmt.Sprintf("for numbers nobody owns: %d acknowledged, %d reached a bind or have a CDR%s", unowned, len(leaked), failText(len(leaked) == 0)),
	}
	if raw, err := r.admin().get(ctx, "/metrics"); err == nil {
		rcv, e1 := gauge(raw, "smsledger_mo_received_total")
		unk, e2 := gauge(raw, "smsledger_mo_unknown_total")
		fwd, e3 := gauge(raw, "smsledger_mo_forwarded_total")
		line := fmt.Sprintf("/metrics: smsledger_mo_received_total %v, smsledger_mo_unknown_total %v, smsledger_mo_forwarded_total %v", rcv, unk, fwd)
		if e1 != nil || e2 != nil || e3 != nil {
			line = fmt.Sprintf("/metrics: MO counters not read (%v %v %v)", e1, e2, e3)
		}
		if !r.sc.Process() && retried == 0 {
			// received counts the MOs for a tenant's number, unknown the others.
			known := len(sent) - len(notAcked) - unowned
			pass := e1 == nil && e2 == nil && rcv == float64(known) && unk == float64(unowned)
			ok = ok && pass
			line += fmt.Sprintf(" (want %d received for tenants, %d unknown)%s", known, unowned, failText(pass))
		}
		ev = append(ev, line)
	}
	for _, l := range []struct {
		what string
		ids  []string
	}{{"not acknowledged", notAcked}, {"not exactly once", notOnce}, {"at another tenant", wrongBind}, {"wrong deliver_sm", badPDU}, {"CDR", badCDR}, {"unowned but delivered", leaked}} {
		if len(l.ids) > 0 {
			ev = append(ev, l.what+": "+sample(l.ids))
		}
	}
	add(InvMORoundTrip, ok, ev...)
}
