package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/scenarios/load"
)

// Serve is a running serve.
type Serve interface {
	SMPPAddr() string
	HTTPAddr() string
	// Stop shuts it down in order.
	Stop() error
	// Kill ends it with SIGKILL (a child process only).
	Kill() error
}

// ServeConfig is how the runner wants serve started.
type ServeConfig struct {
	DataDir     string // embedded PostgreSQL, kept across restarts
	SealKeyFile string
	AdminToken  string
	// Process: run serve as a separate process (it will be killed, or its
	// database restarted).
	Process bool
	// DatabaseURL, when set, is the PostgreSQL serve must use instead of
	// an embedded one under DataDir (restart_postgres scenarios, nodes of
	// a cluster).
	DatabaseURL string
	// NodeID, when set, makes serve a node of a cluster (serve --cluster
	// --node-id NodeID --cluster-lease ClusterLease) on DatabaseURL.
	NodeID       string
	ClusterLease time.Duration
}

// StartServe starts serve and returns once it listens (SMPP and HTTP).
type StartServe func(ctx context.Context, cfg ServeConfig) (Serve, error)

// Options configure a run.
type Options struct {
	StartServe StartServe
	Logger     *slog.Logger
	// SimLogger logs the simulated suppliers (default: nothing).
	SimLogger *slog.Logger
	// Scale multiplies the traffic and top-ups (see Scenario.Scaled).
	Scale int
}

// ackInfo is one acknowledged message: submit_sm_resp ESME_ROK, or 202
// from POST /v1/messages.
type ackInfo struct {
	tenant  string
	channel string    // StreamSMPP or StreamHTTP
	dlr     bool      // a DLR was asked for
	count   int       // acknowledgements with this id
	at      time.Time // first acknowledgement
	// sendAfter: the stream's send_after (0: not scheduled).
	sendAfter time.Duration
}

// simSubmit is one submit a simulator accepted (scheduled scenarios).
type simSubmit struct {
	supplier string
	at       time.Time
}

type run struct {
	sc    *Scenario
	opts  Options
	log   *slog.Logger
	tmp   string
	token string
	start time.Time // traffic start

	sims    map[string]*smscsim.Sim
	proxies map[string]*dlrProxy // suppliers with a dlr_storm
	db      *externalDB          // restart_postgres scenarios
	simPw   map[string]string
	creds   map[string]load.Credential
	keys    map[string]string // tenant → API key

	mu         sync.Mutex
	serve      Serve     // nil while restarting
	serveSince time.Time // when serve was (re)started
	acked      map[string]*ackInfo
	dlrs       map[string]int
	// dlrStats: the outcomes (normalised stat) of the DLRs received per id.
	dlrStats map[string]map[string]bool
	minAvl   map[string]decimal.Decimal
	samples  int
	subH     load.Histogram // submit_sm → submit_sm_resp
	httpH    load.Histogram // POST /v1/messages → answer
	dlrH     load.Histogram
	totals   load.Result
	faults   []FaultReport
	// statuses counts every submit_sm_resp and HTTP answer by status as it
	// comes (faults take differences of it).
	statuses map[string]int64
	lastOK   time.Time
	// trafficDone is closed when every stream is over.
	trafficDone chan struct{}
	// submitsTo: every submit the simulators accepted, by destination
	// (kept only when a stream schedules: scheduled_on_time counts them).
	submitsTo map[string][]simSubmit
	// kills: when serve was SIGKILLed and when it listened again.
	kills [][2]time.Time
	// nets: the MOs sent and received, the health watch (networks.go).
	nets *netState
	// cl: the nodes of a cluster scenario (nil with one serve).
	cl *clusterState
	// pinned, when set, is the HTTP address every API call goes to (a
	// cluster is configured through one node); set and cleared before the
	// traffic.
	pinned string
	// submitTimes: when each simulator accepted each submit (supplier_tps);
	// submitsUnkept: those beyond submitsMax a supplier.
	submitTimes   map[string][]time.Time
	submitsUnkept int64
	// sessions: the simulators' connections over all nodes (cluster
	// scenarios; supplier_tps).
	sessions map[string]sessionCount
}

// Run runs the scenario and returns its report. An error means the
// scenario could not be run; failed invariants are in the report
// (Report.Passed false).
func Run(ctx context.Context, sc *Scenario, opts Options) (*Report, error) {
	if opts.StartServe == nil {
		return nil, errors.New("runner: no StartServe")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SimLogger == nil {
		opts.SimLogger = slog.New(slog.DiscardHandler)
	}
	if opts.Scale < 1 {
		opts.Scale = 1
	}
	sc = sc.Scaled(opts.Scale)
	r := &run{sc: sc, opts: opts, log: opts.Logger.With("component", "scenario", "scenario", sc.Name), token: randomHex(16),
		sims: map[string]*smscsim.Sim{}, proxies: map[string]*dlrProxy{}, statuses: map[string]int64{}, simPw: map[string]string{}, creds: map[string]load.Credential{}, keys: map[string]string{},
		acked: map[string]*ackInfo{}, dlrs: map[string]int{}, submitsTo: map[string][]simSubmit{}, dlrStats: map[string]map[string]bool{}, minAvl: map[string]decimal.Decimal{}, trafficDone: make(chan struct{}),
		totals: load.Result{Statuses: map[string]int64{}, Errors: map[string]int64{}, DLRByStat: map[string]int64{}}, nets: newNetState(sc),
		submitTimes: map[string][]time.Time{}, sessions: map[string]sessionCount{}}
	began := time.Now()
	var err error
	if r.tmp, err = os.MkdirTemp("", "smsledger-scenario-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(r.tmp)

	// Suppliers.
	simCtx, stopSims := context.WithCancel(context.WithoutCancel(ctx))
	var simWG sync.WaitGroup
	defer func() {
		stopSims()
		simWG.Wait()
	}()
	for _, p := range sc.Suppliers {
		pw := "pw" + randomHex(2)
		r.simPw[p.ID] = pw
		onSubmit := func(s smscsim.Submit) {
			r.recordSubmit(p.ID, s.At)
			if sc.Schedules() {
				r.mu.Lock()
				r.submitsTo[s.To] = append(r.submitsTo[s.To], simSubmit{supplier: p.ID, at: s.At})
				r.mu.Unlock()
			}
		}
		sim, err := smscsim.New(smscsim.Config{Addr: "127.0.0.1:0", SystemID: p.ID, Password: pw,
			Logger: opts.SimLogger.With("supplier", p.ID), Latency: p.Latency.D(), DLRDelay: p.DLRDelay.D(),
			Delivered: p.Mix.Delivered, Undelivered: p.Mix.Undelivered, Rejected: p.Mix.Rejected,
			ErrorRate: p.ErrorRate, NoResponseRate: p.NoResponseRate, DLRDropRate: p.DLRDropRate, OnSubmit: onSubmit,
			RejectPrefixes: p.RejectPrefixes})
		if err != nil {
			return nil, fmt.Errorf("runner: supplier %s: %w", p.ID, err)
		}
		r.sims[p.ID] = sim
		simWG.Add(1)
		go func() {
			defer simWG.Done()
			_ = sim.Run(simCtx)
		}()
		if p.DLRStorm.enabled() {
			px, err := newDLRProxy(p.DLRStorm, sim.Addr(), opts.SimLogger.With("supplier", p.ID))
			if err != nil {
				return nil, fmt.Errorf("runner: supplier %s: dlr proxy: %w", p.ID, err)
			}
			r.proxies[p.ID] = px
			simWG.Add(1)
			go func() {
				defer simWG.Done()
				px.Run(simCtx)
			}()
		}
	}

	if sc.Nodes > 1 {
		simWG.Add(1)
		go func() {
			defer simWG.Done()
			r.sampleBinds(simCtx)
		}()
	}

	// The external PostgreSQL of a restart_postgres scenario (stopped
	// after serve).
	if sc.RestartsPostgres() {
		db, err := startExternalDB(ctx, filepath.Join(r.tmp, "pg"), opts.SimLogger)
		if err != nil {
			return nil, err
		}
		r.db = db
		defer func() {
			if err := db.Close(ctx); err != nil {
				r.log.Warn("postgres stopped with an error", "err", err)
			}
		}()
	}

	// serve: one, or the nodes of a cluster behind the runner's load
	// balancers.
	var s Serve
	if sc.Cluster() {
		closeCluster, err := r.startCluster(ctx)
		if err != nil {
			return nil, fmt.Errorf("runner: start the cluster: %w", err)
		}
		defer closeCluster()
		s = clusterServe{r: r}
	} else if s, err = opts.StartServe(ctx, r.serveConfig()); err != nil {
		return nil, fmt.Errorf("runner: start serve: %w", err)
	}
	r.serve, r.serveSince = s, time.Now()
	defer func() {
		if s := r.current(); s != nil {
			if err := s.Stop(); err != nil {
				r.log.Warn("serve stopped with an error", "err", err)
			}
		}
	}()
	if r.cl != nil {
		// Configured through one node: each configuration command is
		// visible on that node when it returns (the others fold it a
		// moment later; the warm-up waits for them).
		live := r.liveNodes()
		if len(live) == 0 {
			return nil, errors.New("runner: no node of the cluster running before the configuration")
		}
		r.pinned = live[0].Addr
	}
	if err := r.configure(ctx); err != nil {
		return nil, err
	}
	r.pinned = ""
	if err := r.warmUp(ctx); err != nil {
		return nil, err
	}

	// Traffic, faults and the balance sampler.
	r.start = time.Now()
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	var samplerWG sync.WaitGroup
	samplerWG.Add(2)
	go func() {
		defer samplerWG.Done()
		r.sampleBalances(trafficCtx)
	}()
	go func() {
		defer samplerWG.Done()
		r.watchHealth(trafficCtx)
	}()
	var wg sync.WaitGroup
	streams := make([]StreamReport, len(sc.Traffic))
	for i, st := range sc.Traffic {
		wg.Add(1)
		go func() {
			defer wg.Done()
			streams[i] = r.stream(trafficCtx, st)
		}()
	}
	mos := make([]MOReport, len(sc.MO))
	for i, m := range sc.MO {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mos[i] = r.moStream(trafficCtx, m)
		}()
	}
	var faultWG sync.WaitGroup
	for _, f := range sc.Faults {
		faultWG.Add(1)
		go func() {
			defer faultWG.Done()
			r.fault(ctx, f)
		}()
	}
	wg.Wait()
	trafficEnd := time.Now()
	close(r.trafficDone)
	faultWG.Wait()
	stopTraffic()
	samplerWG.Wait()
	if r.current() == nil {
		return nil, errors.New("runner: serve is not running after the faults")
	}

	rep := &Report{Scenario: sc.Name, Scale: opts.Scale, Process: sc.Process(), Nodes: sc.Nodes, Streams: streams, MO: mos, Faults: r.faults}
	rep.fillTraffic(r, trafficEnd.Sub(r.start))
	r.log.Info("traffic done; settling", "accepted", rep.Accepted, "settle", sc.Settle.D())
	st := r.settle(ctx)
	r.check(ctx, rep, st)
	rep.Cluster = r.clusterReport()
	rep.DurationS = time.Since(began).Seconds()
	return rep, nil
}

func (r *run) serveConfig() ServeConfig {
	c := ServeConfig{DataDir: filepath.Join(r.tmp, "data"), SealKeyFile: filepath.Join(r.tmp, "seal.key"),
		AdminToken: r.token, Process: r.sc.Process()}
	if r.db != nil {
		c.DatabaseURL = r.db.URL()
	}
	return c
}

// supplierAddr is where serve binds to a supplier: its simulator, or the
// DLR storm proxy in front of it.
func (r *run) supplierAddr(id string) string {
	if px := r.proxies[id]; px != nil {
		return px.Addr()
	}
	return r.sims[id].Addr()
}

// current is the running serve (nil while it restarts).
func (r *run) current() Serve {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.serve
}

// waitServe waits (≤ d) for a running serve.
func (r *run) waitServe(ctx context.Context, d time.Duration) Serve {
	deadline := time.Now().Add(d)
	for {
		if s := r.current(); s != nil {
			return s
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// configure loads the numbering plan and the portability table, and
// creates suppliers, costs, routes and tenants (with their numbers)
// through the admin API.
func (r *run) configure(ctx context.Context) error {
	a := r.admin()
	if err := r.configureNetworks(ctx); err != nil {
		return err
	}
	for _, p := range r.sc.Suppliers {
		host, portS, _ := net.SplitHostPort(r.supplierAddr(p.ID))
		port, _ := strconv.Atoi(portS)
		sup := map[string]any{"id": p.ID, "name": "simulated " + p.ID, "currency": "EUR",
			"host": host, "port": port, "system_id": p.ID, "password": r.simPw[p.ID],
			"binds": p.Binds, "tps_limit": p.TPS, "window": p.Window}
		if p.DLRGrace > 0 {
			sup["dlr_grace_s"] = seconds(p.DLRGrace)
		}
		if p.Billing != "" {
			sup["billing"] = p.Billing
		}
		if err := a.do(ctx, "POST", "/v1/suppliers", sup, nil); err != nil {
			return err
		}
		costs := make([]map[string]string, 0, len(p.Costs))
		for _, c := range p.Costs {
			costs = append(costs, deckJSON(c, "cost"))
		}
		if err := a.do(ctx, "PUT", "/v1/suppliers/"+p.ID+"/costs", costs, nil); err != nil {
			return err
		}
	}
	routes := make([]map[string]any, 0, len(r.sc.Routes))
	for _, rt := range r.sc.Routes {
		row := map[string]any{"suppliers": rt.Suppliers}
		if rt.MCCMNC != "" {
			row["mccmnc"] = rt.MCCMNC
		} else {
			row["prefix"] = rt.Prefix
		}
		if len(rt.Weights) > 0 {
			row["weights"] = rt.Weights
		}
		routes = append(routes, row)
	}
	if err := a.do(ctx, "PUT", "/v1/routes", routes, nil); err != nil {
		return err
	}
	for _, t := range r.sc.Tenants {
		c := load.Credential{SystemID: t.ID, Password: randomHex(4)}
		r.creds[t.ID] = c
		rates := make([]map[string]string, 0, len(t.Rates))
		for _, rt := range t.Rates {
			rates = append(rates, deckJSON(rt, "price"))
		}
		var key struct {
			Key string `json:"key"`
		}
		tenant := map[string]any{"id": t.ID, "name": "tenant " + t.ID, "currency": "EUR", "billing": t.Billing,
			"tps_limit": t.TPS, "credit_limit": t.Credit, "tier": t.Tier}
		if t.DefaultValidity > 0 {
			tenant["default_validity_s"] = seconds(t.DefaultValidity)
		}
		if t.MOPrice != "" {
			tenant["mo_price"] = t.MOPrice
		}
		steps := []struct {
			method, path string
			body, out    any
		}{
			{"POST", "/v1/tenants", tenant, nil},
			{"PUT", "/v1/tenants/" + t.ID + "/rates", rates, nil},
			{"POST", "/v1/tenants/" + t.ID + "/smpp-credentials", map[string]string{"system_id": c.SystemID, "password": c.Password}, nil},
			{"POST", "/v1/tenants/" + t.ID + "/api-keys", nil, &key},
		}
		if len(t.Numbers) > 0 {
			steps = append(steps, struct {
				method, path string
				body, out    any
			}{"PUT", "/v1/tenants/" + t.ID + "/numbers", map[string][]string{"numbers": t.Numbers}, nil})
		}
		if d, _ := decimal.NewFromString(t.Topup); d.IsPositive() {
			steps = append(steps, struct {
				method, path string
				body, out    any
			}{"POST", "/v1/tenants/" + t.ID + "/topups", map[string]string{"amount": t.Topup, "reference": "scenario-" + r.sc.Name}, nil})
		}
		for _, s := range steps {
			if err := a.do(ctx, s.method, s.path, s.body, s.out); err != nil {
				return err
			}
		}
		if key.Key == "" {
			return fmt.Errorf("runner: no API key issued for %s", t.ID)
		}
		r.keys[t.ID] = key.Key
	}
	return nil
}

// warmUp sends one message per traffic tenant (≤ 30 s each) until one is
// accepted and reaches a supplier, uses every tenant's API key once, then
// gives every supplier bind a moment: serve binds its suppliers
// asynchronously. Warm-up messages are tracked and checked like all others.
func (r *run) warmUp(ctx context.Context) error {
	// In a cluster, through every node (each binds its share of the
	// suppliers, and checks credentials and keys by itself).
	targets := []backend{{Name: "serve", Addr: r.current().SMPPAddr()}}
	keyTargets := []backend{{Name: "serve"}}
	if r.cl != nil {
		targets = r.liveBackends(Serve.SMPPAddr)()
		keyTargets = r.liveNodes()
	}
	seen := map[string]bool{}
	for _, st := range r.sc.Traffic {
		if seen[st.Tenant] {
			continue
		}
		seen[st.Tenant] = true
		// Warm-up numbers count down from the top of the stream's range
		// (…9999, …9998): the streams count up from 1.
		top := int64(1)
		for range 12 - len(st.Prefix) {
			top *= 10
		}
		n := int64(0) // warm-up numbers handed out for this tenant
		for _, target := range targets {
			deadline := time.Now().Add(30 * time.Second)
			for {
				n++
				before := r.simSubmitted()
				res, err := load.Run(ctx, load.Config{Addr: target.Addr, Credentials: []load.Credential{r.creds[st.Tenant]},
					Binds: 1, Window: 1, Messages: 1, DestPrefix: st.Prefix, DestDigits: 12, RegisteredDelivery: true, Offset: max(top-1-n, 0),
					ResponseTimeout: 10 * time.Second, DLRWait: 5 * time.Second, OnAccepted: r.onAccepted(st.Tenant, StreamSMPP, true), OnReceipt: r.onReceipt,
					OnMO: r.onMO(st.Tenant)})
				if err == nil && res.Accepted == 1 {
					wait := time.Now().Add(3 * time.Second)
					for r.simSubmitted() == before && time.Now().Before(wait) && ctx.Err() == nil {
						sleep(ctx, 20*time.Millisecond)
					}
					if r.simSubmitted() > before {
						break
					}
				}
				if time.Now().After(deadline) || ctx.Err() != nil {
					return fmt.Errorf("runner: warm-up of %s (%s): the path to a supplier did not work within 30s (last: %v)", st.Tenant, target.Name, err)
				}
				sleep(ctx, 200*time.Millisecond)
			}
		}
	}
	// Each tenant's API key once: its first check is a password hash
	// comparison (seconds in a race-detector build, one at a time), later
	// ones are cached; HTTP streams and the balance sampler then start at
	// their time. A node of a cluster may not have folded the key yet: it
	// is tried again (≤ 10 s).
	for _, t := range r.sc.Tenants {
		for _, target := range keyTargets {
			var err error
			for deadline := time.Now().Add(10 * time.Second); ; sleep(ctx, 200*time.Millisecond) {
				var b balance
				if err = r.tenantAPI(t.ID).at(target.Addr).do(ctx, "GET", "/v1/balance", nil, &b); err == nil || time.Now().After(deadline) || ctx.Err() != nil {
					break
				}
			}
			if err != nil {
				return fmt.Errorf("runner: warm-up of %s's API key (%s): %w", t.ID, target.Name, err)
			}
		}
	}
	sleep(ctx, 500*time.Millisecond) // the other supplier binds
	return nil
}

func (r *run) simSubmitted() int64 {
	var n int64
	for _, s := range r.sims {
		n += s.Submitted.Load()
	}
	return n
}

func (r *run) onAccepted(tenant, channel string, dlr bool) func(string) {
	return r.onAcceptedAfter(tenant, channel, dlr, 0)
}

// onAcceptedAfter records acknowledgements of messages scheduled
// sendAfter after their submit (0: not scheduled).
func (r *run) onAcceptedAfter(tenant, channel string, dlr bool, sendAfter time.Duration) func(string) {
	return func(id string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		a := r.acked[id]
		if a == nil {
			a = &ackInfo{tenant: tenant, channel: channel, dlr: dlr, at: time.Now(), sendAfter: sendAfter}
			r.acked[id] = a
		}
		a.count++
	}
}

// onStatus counts one answer to a submit (submit_sm_resp or HTTP) by name.
func (r *run) onStatus(name string, accepted bool) {
	now := time.Now()
	r.mu.Lock()
	r.statuses[name]++
	if accepted {
		r.lastOK = now
	}
	r.mu.Unlock()
}

func (r *run) onSMPPStatus(st data.CommandStatusType) {
	r.onStatus(load.StatusName(st), st == data.ESME_ROK)
}

// acceptedStatus reports whether a status name is an acknowledgement.
func acceptedStatus(name string) bool { return name == "ESME_ROK" || name == load.HTTPAccepted }

func (r *run) onReceipt(id, stat string) {
	stat = receipt.NormalizeStat(stat)
	r.mu.Lock()
	r.dlrs[id]++
	if r.dlrStats[id] == nil {
		r.dlrStats[id] = map[string]bool{}
	}
	r.dlrStats[id][stat] = true
	r.mu.Unlock()
}

// StreamReport is what one stream did.
type StreamReport struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // smpp | http
	Tenant   string  `json:"tenant"`
	Rate     float64 `json:"rate,omitempty"` // asked msg/s
	Runs     int     `json:"runs"`           // load runs (more than one when binds or connections were lost to a fault)
	Sent     int64   `json:"sent"`
	Accepted int64   `json:"accepted"`
	Refused  int64   `json:"refused"`
	// Statuses: submit_sm_resp by command_status name (ESME_ROK, …), or
	// HTTP answers by status and error code (http_202, http_429_throttled,
	// …: load.HTTPStatusName).
	Statuses map[string]int64 `json:"statuses"`
	Errors   map[string]int64 `json:"errors"`
	MsgPerS  float64          `json:"msg_per_s"`
	// P50ms and P99ms: submit_sm → submit_sm_resp, or POST → answer.
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

// stream drives one traffic stream, binding (or connecting) again, bounded,
// when its binds or connections are lost to a fault, until its messages are
// sent or its time is over.
func (r *run) stream(ctx context.Context, st Stream) StreamReport {
	rep := StreamReport{Name: st.Name, Kind: st.Kind, Tenant: st.Tenant, Rate: st.Rate, Statuses: map[string]int64{}, Errors: map[string]int64{}}
	sleep(ctx, time.Until(r.start.Add(st.Start.D())))
	begin := time.Now()
	end := begin.Add(st.Duration.D())
	if st.AfterHealth {
		r.awaitHealth(ctx, end)
	}
	remaining := int64(st.Messages)
	var offset int64 // message numbers handed to earlier runs: each run has its own destinations
	var hist load.Histogram
	var phase time.Duration
	for attempt := 0; remaining > 0 && time.Now().Before(end) && attempt < 200 && ctx.Err() == nil; attempt++ {
		s := r.waitServe(ctx, time.Until(end))
		if s == nil {
			break
		}
		res, err := r.loadRun(ctx, s, st, offset, int(remaining), time.Until(end))
		offset += remaining
		if err != nil {
			r.log.Info("stream: bind failed; again", "stream", st.Name, "err", err)
			sleep(ctx, 250*time.Millisecond)
			continue
		}
		rep.Runs++
		rep.Sent += res.Sent
		rep.Accepted += res.Accepted
		rep.Refused += res.Refused
		for k, v := range res.Statuses {
			rep.Statuses[k] += v
		}
		for k, v := range res.Errors {
			rep.Errors[k] += v
		}
		hist.Merge(&res.SubmitHist)
		phase += res.SubmitPhase
		r.mu.Lock()
		if st.Kind == StreamHTTP {
			r.httpH.Merge(&res.SubmitHist)
		} else {
			r.subH.Merge(&res.SubmitHist)
		}
		r.dlrH.Merge(&res.DLRHist)
		r.totals.Sent += res.Sent
		r.totals.Accepted += res.Accepted
		r.totals.Refused += res.Refused
		r.totals.DLRs += res.DLRs
		for k, v := range res.Statuses {
			r.totals.Statuses[k] += v
		}
		for k, v := range res.Errors {
			r.totals.Errors[k] += v
		}
		r.mu.Unlock()
		remaining -= res.Sent
		if res.Sent == 0 {
			sleep(ctx, 250*time.Millisecond)
		}
	}
	if phase > 0 {
		rep.MsgPerS = float64(rep.Accepted) / phase.Seconds()
	}
	sum := hist.Summary()
	rep.P50ms, rep.P99ms = ms(sum.P50), ms(sum.P99)
	return rep
}

// loadRun is one run of the stream's load generator against s: SMPP binds
// or HTTP senders.
func (r *run) loadRun(ctx context.Context, s Serve, st Stream, offset int64, messages int, d time.Duration) (*load.Result, error) {
	log := r.log.With("stream", st.Name)
	if st.Kind == StreamHTTP {
		// POST /v1/messages asks for a DLR only for a tenant with a DLR
		// webhook; the runner sets none, so these messages ask for none.
		return load.RunHTTP(ctx, load.HTTPConfig{BaseURL: "http://" + s.HTTPAddr(), APIKey: r.keys[st.Tenant],
			Senders: st.Senders, Messages: messages, Duration: d, Rate: st.Rate, Offset: offset,
			DestPrefix: st.Prefix, DestDigits: 12, LongShare: st.LongShare, UCS2Share: st.UCS2Share,
			Validity: st.Validity.D(), SendAfter: st.SendAfter.D(), RequestTimeout: 10 * time.Second, Logger: log,
			OnAccepted: r.onAcceptedAfter(st.Tenant, StreamHTTP, false, st.SendAfter.D()), OnStatus: r.onStatus})
	}
	// A scheduled message's DLR comes after its time: the load binds wait
	// for it that much longer (the settle's receivers take what they miss).
	return load.Run(ctx, load.Config{Addr: s.SMPPAddr(), Credentials: []load.Credential{r.creds[st.Tenant]},
		Binds: st.Binds, Window: st.Window, Messages: messages, Duration: d, Rate: st.Rate, Offset: offset,
		DestPrefix: st.Prefix, DestDigits: 12, LongShare: st.LongShare, UCS2Share: st.UCS2Share,
		Validity: st.Validity.D(), SendAfter: st.SendAfter.D(),
		RegisteredDelivery: !st.NoDLR, DLRWait: min(r.sc.Settle.D(), 30*time.Second) + st.SendAfter.D(), ResponseTimeout: 10 * time.Second,
		Logger: log, OnAccepted: r.onAcceptedAfter(st.Tenant, StreamSMPP, !st.NoDLR, st.SendAfter.D()), OnReceipt: r.onReceipt, OnStatus: r.onSMPPStatus,
		OnMO: r.onMO(st.Tenant)})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// FaultReport is what a fault did and what it cost.
type FaultReport struct {
	Kind     string  `json:"kind"`
	Supplier string  `json:"supplier,omitempty"`
	AtS      float64 `json:"at_s"`
	ForS     float64 `json:"for_s"`
	// FailoverMs (supplier_down): from the outage to the first submit at
	// another supplier of a route that has the one that went down (-1: none).
	FailoverMs float64 `json:"failover_ms,omitempty"`
	// RecoveryMs (kill_serve): from the SIGKILL to serve listening again;
	// (restart_postgres): from PostgreSQL accepting connections again to
	// the next acknowledgement, ESME_ROK or HTTP 202 (-1: none).
	RecoveryMs float64 `json:"recovery_ms,omitempty"`
	// kill_serve: whether serve had acknowledged a message since its last
	// (re)start when it was killed (the kill waited LoadWaitMs for that),
	// and from the SIGKILL to the first acknowledgement after the restart
	// (-1: none while the traffic lasted).
	UnderLoad  bool    `json:"under_load,omitempty"`
	LoadWaitMs float64 `json:"load_wait_ms,omitempty"`
	FirstAckMs float64 `json:"first_ack_ms,omitempty"`
	// restart_postgres: how long the database was down (stop begun to
	// accepting again), the submit_sm_resp statuses while it was down (stop
	// done to start done) and the message ids acknowledged then (each must
	// exist afterwards).
	DownMs         float64          `json:"down_ms,omitempty"`
	OutageStatuses map[string]int64 `json:"outage_statuses,omitempty"`
	AckedInOutage  []string         `json:"acked_in_outage,omitempty"`
	StoppedAt      time.Time        `json:"-"`
	StartedAt      time.Time        `json:"-"`
	// cut_supplier: the connections the simulator dropped (serve's binds),
	// from the cut to every one of them bound again (-1: not within the
	// wait) and to the first submit accepted there again (-1: none before
	// the traffic ended).
	Dropped    int     `json:"dropped,omitempty"`
	RebindMs   float64 `json:"rebind_ms,omitempty"`
	ResubmitMs float64 `json:"resubmit_ms,omitempty"`
	// mute_dlrs: the DLRs the simulator lost while mute.
	MutedDLRs int64 `json:"muted_dlrs,omitempty"`
	// kill_node, partition_node: the node (node-1 …); from the fault to
	// the node's NodeTakenOver in the log (-1: none within the wait), from
	// the end of its lease (cluster_nodes.lease_until) to it (-1:
	// unknown), the node that took it over and the epoch it took; from the
	// fault to the node serving again (-1: not started) and its new epoch.
	Node                 string  `json:"node,omitempty"`
	TakeoverMs           float64 `json:"takeover_ms,omitempty"`
	TakeoverAfterLeaseMs float64 `json:"takeover_after_lease_ms,omitempty"`
	TakenBy              string  `json:"taken_by,omitempty"`
	TakenEpoch           int64   `json:"taken_epoch,omitempty"`
	RestartMs            float64 `json:"restart_ms,omitempty"`
	Epoch                int64   `json:"epoch,omitempty"`
	// partition_node: from the cut to the node's exit (-1: it did not stop
	// while cut off) and its exit status (-1: none).
	ExitMs   float64 `json:"exit_ms,omitempty"`
	ExitCode int     `json:"exit_code,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func (r *run) fault(ctx context.Context, f Fault) {
	sleep(ctx, time.Until(r.start.Add(f.At.D())))
	fr := FaultReport{Kind: f.Kind, Supplier: f.Supplier, AtS: time.Since(r.start).Seconds(), ForS: f.For.D().Seconds()}
	defer func() {
		r.mu.Lock()
		r.faults = append(r.faults, fr)
		r.mu.Unlock()
	}()
	switch f.Kind {
	case FaultSupplierDown:
		others := r.backups(f.Supplier)
		base := map[string]int64{}
		for _, id := range others {
			base[id] = r.sims[id].Submitted.Load()
		}
		sim := r.sims[f.Supplier]
		down := time.Now()
		if err := sim.SetDown(true); err != nil {
			fr.Error = err.Error()
			return
		}
		r.log.Info("fault: supplier down", "supplier", f.Supplier, "for", f.For.D())
		fr.FailoverMs = -1
		until := down.Add(f.For.D())
	poll:
		for time.Now().Before(until) && ctx.Err() == nil {
			for _, id := range others {
				if r.sims[id].Submitted.Load() > base[id] {
					fr.FailoverMs = ms(time.Since(down))
					break poll
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		sleep(ctx, time.Until(until))
		if err := sim.SetDown(false); err != nil {
			fr.Error = err.Error()
		}
		r.log.Info("fault: supplier back", "supplier", f.Supplier, "failover_ms", fr.FailoverMs)
	case FaultKillServe:
		r.killServe(ctx, f, &fr)
	case FaultRestartPostgres:
		r.restartPostgres(ctx, f, &fr)
	case FaultCutSupplier:
		r.cutSupplier(ctx, f, &fr)
	case FaultKillNode:
		r.killNode(ctx, f, &fr)
	case FaultPartitionNode:
		r.partitionNode(ctx, f, &fr)
	case FaultMuteDLRs:
		sim := r.sims[f.Supplier]
		before := sim.DLRsMuted.Load()
		sim.SetDLRMute(true)
		r.log.Info("fault: supplier DLRs muted", "supplier", f.Supplier, "for", f.For.D())
		sleep(ctx, f.For.D())
		sim.SetDLRMute(false)
		fr.MutedDLRs = sim.DLRsMuted.Load() - before
		r.log.Info("fault: supplier DLRs back", "supplier", f.Supplier, "lost", fr.MutedDLRs)
	}
}

// loadWaitMax bounds how long a kill_serve waits for serve to be under load.
const loadWaitMax = 30 * time.Second

// killServe SIGKILLs serve and starts it again on the same data. So that
// every kill hits serve under load, it first waits (≤ loadWaitMax, and not
// after the traffic) until serve acknowledged a message since it was last
// (re)started: a restarted serve listens at once but takes its first
// binds only after a bcrypt check of their credentials, which is slow in a
// race-detector build. After the restart it measures the time to the first
// acknowledgement again (while the traffic lasts).
func (r *run) killServe(ctx context.Context, f Fault, fr *FaultReport) {
	waitFrom := time.Now()
	for deadline := waitFrom.Add(loadWaitMax); ctx.Err() == nil && time.Now().Before(deadline) && !r.trafficOver(); {
		r.mu.Lock()
		fr.UnderLoad = r.serve != nil && r.lastOK.After(r.serveSince)
		r.mu.Unlock()
		if fr.UnderLoad {
			break
		}
		sleep(ctx, 10*time.Millisecond)
	}
	fr.LoadWaitMs = ms(time.Since(waitFrom))
	fr.AtS = time.Since(r.start).Seconds()
	r.mu.Lock()
	s := r.serve
	r.serve = nil
	r.mu.Unlock()
	if s == nil {
		fr.Error = "serve was not running"
		return
	}
	killed := time.Now()
	if err := s.Kill(); err != nil {
		fr.Error = err.Error()
	}
	r.log.Info("fault: serve killed (SIGKILL)", "under_load", fr.UnderLoad, "load_wait_ms", fr.LoadWaitMs)
	sleep(ctx, f.For.D())
	ns, err := r.opts.StartServe(ctx, r.serveConfig())
	if err != nil {
		fr.Error = "restart: " + err.Error()
		return
	}
	fr.RecoveryMs = ms(time.Since(killed))
	r.mu.Lock()
	r.serve, r.serveSince = ns, time.Now()
	r.kills = append(r.kills, [2]time.Time{killed, r.serveSince})
	r.mu.Unlock()
	r.log.Info("fault: serve restarted", "recovery_ms", fr.RecoveryMs)
	fr.FirstAckMs = -1
	for deadline := time.Now().Add(time.Minute); ctx.Err() == nil && time.Now().Before(deadline) && !r.trafficOver(); {
		r.mu.Lock()
		ok, since := r.lastOK, r.serveSince
		r.mu.Unlock()
		if ok.After(since) {
			fr.FirstAckMs = ms(ok.Sub(killed))
			break
		}
		sleep(ctx, 10*time.Millisecond)
	}
}

// trafficOver reports whether every stream is over.
func (r *run) trafficOver() bool {
	select {
	case <-r.trafficDone:
		return true
	default:
		return false
	}
}

// cutSupplier drops every connection of the supplier's simulator and
// measures how long serve takes to bind all of them again and to submit
// there again. It waits at most max(2 × max_rebind, 30 s); it stops waiting
// for a submit once the traffic is over.
func (r *run) cutSupplier(ctx context.Context, f Fault, fr *FaultReport) {
	sim := r.sims[f.Supplier]
	binds := sim.Binds.Load()
	cut := time.Now()
	n, err := sim.DropConnections()
	if err != nil {
		fr.Error = err.Error()
		return
	}
	fr.Dropped = n
	// Submits of the cut binds that were under way may still be counted:
	// the first submit after the cut is one after a re-bind.
	subs := sim.Submitted.Load()
	fr.RebindMs, fr.ResubmitMs = -1, -1
	r.log.Info("fault: supplier connections cut", "supplier", f.Supplier, "dropped", n)
	if n == 0 {
		fr.Error = "no connection to cut (serve had no bind to the supplier)"
		return
	}
	deadline := cut.Add(max(2*r.sc.Limits.MaxRebind.D(), 30*time.Second))
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if fr.RebindMs < 0 && sim.Binds.Load()-binds >= int64(n) {
			fr.RebindMs = ms(time.Since(cut))
		}
		if fr.RebindMs >= 0 && fr.ResubmitMs < 0 && sim.Submitted.Load() > subs {
			fr.ResubmitMs = ms(time.Since(cut))
		}
		if fr.RebindMs >= 0 && fr.ResubmitMs >= 0 {
			break
		}
		if fr.RebindMs >= 0 && r.trafficOver() {
			break // no more submits to wait for
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.log.Info("fault: supplier bound again", "supplier", f.Supplier, "rebind_ms", fr.RebindMs, "resubmit_ms", fr.ResubmitMs)
}

func (r *run) statusSnapshot() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := make(map[string]int64, len(r.statuses))
	for k, v := range r.statuses {
		c[k] = v
	}
	return c
}

// restartPostgres stops the external database for f.For, starts it again
// and measures what the ingress answered meanwhile and how long it took to
// acknowledge again.
func (r *run) restartPostgres(ctx context.Context, f Fault, fr *FaultReport) {
	if r.db == nil {
		fr.Error = "no external database"
		return
	}
	begin := time.Now()
	if err := r.db.stop(ctx); err != nil {
		fr.Error = "stop: " + err.Error()
	}
	fr.StoppedAt = time.Now()
	before := r.statusSnapshot()
	r.log.Info("fault: postgres stopped", "for", f.For.D())
	sleep(ctx, f.For.D())
	during := r.statusSnapshot()
	if err := r.db.start(ctx); err != nil {
		fr.Error = "start: " + err.Error()
		return
	}
	fr.StartedAt = time.Now()
	fr.DownMs = ms(fr.StartedAt.Sub(begin))
	fr.OutageStatuses = map[string]int64{}
	for k, v := range during {
		if d := v - before[k]; d > 0 {
			fr.OutageStatuses[k] = d
		}
	}
	r.mu.Lock()
	for id, a := range r.acked {
		if !a.at.Before(fr.StoppedAt) && a.at.Before(fr.StartedAt) {
			fr.AckedInOutage = append(fr.AckedInOutage, id)
		}
	}
	r.mu.Unlock()
	r.log.Info("fault: postgres started again", "down_ms", fr.DownMs, "outage_statuses", fr.OutageStatuses)
	// The next acknowledgement (≤ 60 s; the traffic may be over before).
	fr.RecoveryMs = -1
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; {
		r.mu.Lock()
		ok := r.lastOK
		r.mu.Unlock()
		if ok.After(fr.StartedAt) {
			fr.RecoveryMs = ms(ok.Sub(fr.StartedAt))
			break
		}
		sleep(ctx, 20*time.Millisecond)
	}
}

// backups are the suppliers that share a route with id.
func (r *run) backups(id string) []string {
	set := map[string]bool{}
	for _, rt := range r.sc.Routes {
		has := false
		for _, s := range rt.Suppliers {
			has = has || s == id
		}
		if has {
			for _, s := range rt.Suppliers {
				if s != id {
					set[s] = true
				}
			}
		}
	}
	var out []string
	for s := range set {
		out = append(out, s)
	}
	return out
}

// sampleBalances polls every tenant's balance (every 200 ms) during the
// traffic and keeps the lowest available amount seen.
// In a cluster it reads every running node's (each folds the log into the
// tenant's account by itself).
func (r *run) sampleBalances(ctx context.Context) {
	for ctx.Err() == nil {
		targets := r.liveNodes()
		if r.cl == nil {
			targets = []backend{{}} // serve, wherever it runs
		}
		for _, n := range targets {
			for _, t := range r.sc.Tenants {
				var b balance
				if err := r.tenantAPI(t.ID).at(n.Addr).do(ctx, "GET", "/v1/balance", nil, &b); err != nil {
					continue // serve or the node restarting
				}
				avl, err := decimal.NewFromString(b.Available)
				if err != nil {
					continue
				}
				r.mu.Lock()
				if cur, ok := r.minAvl[t.ID]; !ok || avl.LessThan(cur) {
					r.minAvl[t.ID] = avl
				}
				r.samples++
				if r.cl != nil {
					r.cl.nodeSamples[n.Name]++
				}
				r.mu.Unlock()
			}
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

type balance struct {
	TenantID    string `json:"tenant_id"`
	Balance     string `json:"balance"`
	CreditLimit string `json:"credit_limit"`
	Held        string `json:"held"`
	Available   string `json:"available"`
}
