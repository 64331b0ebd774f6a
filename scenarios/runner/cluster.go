package runner

// A cluster scenario (nodes > 1): serve runs as node-1 … node-N, child
// processes started with --cluster on one PostgreSQL the runner starts
// (adapters/pgembed, as for restart_postgres), each reaching it through a
// proxy of its own that a partition_node fault cuts. Customers (the load
// streams, the settle's receivers, the runner's API calls after the
// configuration) reach the nodes through two round-robin TCP load
// balancers (lb.go), SMPP and HTTP, as in production. Faults kill_node and
// partition_node hit one node; the runner reads the log (es_events) for
// the NodeTakenOver of that node and starts the node again (same id, same
// data directory). The invariants node_takeover and supplier_tps are here.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/scenarios/load"
)

// Exiter is what a Serve run as a child process also tells: when it exited
// and with which status (a node that loses its lease exits on its own).
type Exiter interface {
	Done() <-chan struct{}
	ExitCode() int
}

// nodeStartTries bounds the starts of one node (a start may fail while the
// node's previous lease is still live: "node id held by a live node").
const nodeStartTries = 5

// clusterNode is one serve of the cluster.
type clusterNode struct {
	id  string
	dir string // its data directory (node id file), kept across restarts
	db  *proxy // its link to PostgreSQL
	// busy: one fault on the node at a time (the next waits).
	busy sync.Mutex

	// Under run.mu.
	serve   Serve     // nil while it is down
	since   time.Time // when it was last (re)started
	faulted bool      // a fault is on it: its exit is expected
	starts  int
	exits   []string // exits nobody caused
}

// clusterState is the run's cluster.
type clusterState struct {
	db         *externalDB
	pool       *pgxpool.Pool // the runner's reads of the log and of cluster_nodes
	nodes      []*clusterNode
	smpp, http *proxy
	watchers   sync.WaitGroup // one per started node process, until it exits

	// Under run.mu.
	stopping    bool
	nodeSamples map[string]int // balance samples per node
}

// clusterServe is the cluster as the rest of the runner sees serve: its
// addresses are the load balancers'.
type clusterServe struct{ r *run }

func (c clusterServe) SMPPAddr() string { return c.r.cl.smpp.Addr() }
func (c clusterServe) HTTPAddr() string { return c.r.cl.http.Addr() }
func (c clusterServe) Stop() error      { return c.r.stopNodes() }
func (c clusterServe) Kill() error {
	return errors.New("a cluster: kill one node (kill_node), not the whole of it")
}

// startCluster starts the database, the proxies and every node (node-1
// first: it makes the seal key and migrates the database; the others then
// together). close stops what is left once the nodes are stopped.
func (r *run) startCluster(ctx context.Context) (closeAll func(), err error) {
	db, err := startExternalDB(ctx, filepath.Join(r.tmp, "pg"), r.opts.SimLogger)
	if err != nil {
		return nil, err
	}
	cl := &clusterState{db: db, nodeSamples: map[string]int{}}
	r.cl = cl
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() {
		if err := db.Close(context.WithoutCancel(ctx)); err != nil {
			r.log.Warn("postgres stopped with an error", "err", err)
		}
	})
	defer func() {
		if err != nil {
			_ = r.stopNodes()
			closeAll()
		}
	}()
	pcfg, err := pgxpool.ParseConfig(db.URL())
	if err != nil {
		return nil, fmt.Errorf("runner: cluster database: %w", err)
	}
	pcfg.MaxConns = 2
	if cl.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("runner: cluster database: %w", err)
	}
	closers = append(closers, cl.pool.Close)
	log := r.opts.SimLogger
	for i := 1; i <= r.sc.Nodes; i++ {
		n := &clusterNode{id: fmt.Sprintf("node-%d", i), dir: filepath.Join(r.tmp, fmt.Sprintf("node-%d", i))}
		if n.db, err = newProxy("postgres-"+n.id, func() []backend { return []backend{{Name: "postgres", Addr: db.target()}} }, log); err != nil {
			return nil, err
		}
		closers = append(closers, n.db.Close)
		cl.nodes = append(cl.nodes, n)
	}
	if cl.smpp, err = newProxy("smpp", r.liveBackends(Serve.SMPPAddr), log); err != nil {
		return nil, err
	}
	closers = append(closers, cl.smpp.Close)
	if cl.http, err = newProxy("http", r.liveBackends(Serve.HTTPAddr), log); err != nil {
		return nil, err
	}
	closers = append(closers, cl.http.Close)
	// Every node's watcher ends once its process exited (stopNodes).
	closers = append(closers, cl.watchers.Wait)

	if err = r.startNode(ctx, cl.nodes[0]); err != nil {
		return nil, err
	}
	errs := make([]error, len(cl.nodes))
	var wg sync.WaitGroup
	for i, n := range cl.nodes[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = r.startNode(ctx, n)
		}()
	}
	wg.Wait()
	if err = errors.Join(errs...); err != nil {
		return nil, err
	}
	r.log.Info("cluster started", "nodes", len(cl.nodes), "smpp_lb", cl.smpp.Addr(), "http_lb", cl.http.Addr())
	return closeAll, nil
}

// nodeConfig is how node n is started (every time).
func (r *run) nodeConfig(n *clusterNode) ServeConfig {
	return ServeConfig{DataDir: n.dir, SealKeyFile: filepath.Join(r.tmp, "seal.key"), AdminToken: r.token, Process: true,
		DatabaseURL: r.cl.db.urlAt(n.db.Addr()), NodeID: n.id, ClusterLease: ClusterLease}
}

// startNode starts node n (≤ nodeStartTries, a second apart) and watches
// for its exit.
func (r *run) startNode(ctx context.Context, n *clusterNode) error {
	var err error
	for try := 1; try <= nodeStartTries && ctx.Err() == nil; try++ {
		var s Serve
		if s, err = r.opts.StartServe(ctx, r.nodeConfig(n)); err == nil {
			r.mu.Lock()
			n.serve, n.since = s, time.Now()
			n.starts++
			r.mu.Unlock()
			if e, ok := s.(Exiter); ok {
				r.cl.watchers.Add(1)
				go func() {
					defer r.cl.watchers.Done()
					<-e.Done()
					r.nodeExited(n, s, e.ExitCode())
				}()
			}
			r.log.Info("node started", "node", n.id, "smpp", s.SMPPAddr(), "http", s.HTTPAddr())
			return nil
		}
		r.log.Warn("node did not start; again", "node", n.id, "try", try, "err", err)
		sleep(ctx, time.Second)
	}
	if err == nil {
		err = ctx.Err()
	}
	return fmt.Errorf("runner: start %s: %w", n.id, err)
}

// nodeExited takes a node that exited out of the load balancers, and
// records the exit when no fault caused it.
func (r *run) nodeExited(n *clusterNode, s Serve, code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n.serve == s {
		n.serve = nil
	}
	if !n.faulted && !r.cl.stopping {
		at := "before the traffic"
		if !r.start.IsZero() {
			at = fmt.Sprintf("at %.1fs", time.Since(r.start).Seconds())
		}
		n.exits = append(n.exits, fmt.Sprintf("%s exited with status %d %s, no fault on it", n.id, code, at))
		r.log.Error("node exited on its own", "node", n.id, "status", code)
	}
}

// stopNodes stops every running node (SIGTERM: each leaves the cluster),
// all at once.
func (r *run) stopNodes() error {
	r.mu.Lock()
	r.cl.stopping = true
	var running []Serve
	for _, n := range r.cl.nodes {
		if n.serve != nil {
			running = append(running, n.serve)
		}
	}
	r.mu.Unlock()
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, s := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Stop()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// liveBackends lists the running nodes' addresses (addr of each), in node
// order: what a load balancer forwards to.
func (r *run) liveBackends(addr func(Serve) string) func() []backend {
	return func() []backend {
		r.mu.Lock()
		defer r.mu.Unlock()
		out := make([]backend, 0, len(r.cl.nodes))
		for _, n := range r.cl.nodes {
			if n.serve != nil {
				out = append(out, backend{Name: n.id, Addr: addr(n.serve)})
			}
		}
		return out
	}
}

// liveNodes are the running nodes' ids and HTTP addresses (nil outside a
// cluster).
func (r *run) liveNodes() []backend {
	if r.cl == nil {
		return nil
	}
	return r.liveBackends(Serve.HTTPAddr)()
}

// awaitNode waits (≤ d) until node n runs, and returns it.
func (r *run) awaitNode(ctx context.Context, n *clusterNode, d time.Duration) (Serve, time.Time) {
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		s, since := n.serve, n.since
		r.mu.Unlock()
		if s != nil || time.Now().After(deadline) || ctx.Err() != nil {
			return s, since
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// setFaulted marks a fault on n (its exits are expected meanwhile).
func (r *run) setFaulted(n *clusterNode, on bool) {
	r.mu.Lock()
	n.faulted = on
	r.mu.Unlock()
}

// faultNode takes the node of a node fault: its lock and, once it runs,
// its serve (nil, with fr.Error, if it does not within a minute) marked as
// under a fault. release undoes both: defer it.
func (r *run) faultNode(ctx context.Context, f Fault, fr *FaultReport) (n *clusterNode, s Serve, since time.Time, release func()) {
	n = r.cl.nodes[f.Node-1]
	fr.Node = n.id
	n.busy.Lock()
	s, since = r.awaitNode(ctx, n, time.Minute)
	if s == nil {
		fr.Error = n.id + " was not running"
		return n, nil, since, n.busy.Unlock
	}
	r.setFaulted(n, true)
	return n, s, since, func() {
		r.setFaulted(n, false)
		n.busy.Unlock()
	}
}

// killNode SIGKILLs a node, waits for its takeover (the log's
// NodeTakenOver) and for the pause, then starts it again: never before the
// takeover (bounded by max_takeover + 10 s), because a node that joins
// again before another took it over takes its own work back, and is
// refused while its lease is still live.
func (r *run) killNode(ctx context.Context, f Fault, fr *FaultReport) {
	n, s, since, release := r.faultNode(ctx, f, fr)
	defer release()
	if s == nil {
		return
	}
	r.mu.Lock()
	if n.serve == s {
		n.serve = nil // out of the load balancers first
	}
	r.mu.Unlock()
	killed := time.Now()
	fr.AtS, fr.UnderLoad = killed.Sub(r.start).Seconds(), !r.trafficOver()
	if err := s.Kill(); err != nil {
		fr.Error = err.Error()
	}
	r.log.Info("fault: node killed (SIGKILL)", "node", n.id)
	r.awaitTakeover(ctx, n, since, killed, fr)
	sleep(ctx, time.Until(killed.Add(f.For.D())))
	r.restartNode(ctx, n, killed, fr)
}

// partitionNode cuts a node off PostgreSQL for f.For (its proxy closes
// every connection and refuses new ones): the node must stop on its own
// once it cannot renew its lease. Then the link is back, and the node is
// started again once it was taken over.
func (r *run) partitionNode(ctx context.Context, f Fault, fr *FaultReport) {
	n, s, since, release := r.faultNode(ctx, f, fr)
	defer release()
	if s == nil {
		return
	}
	cut := time.Now()
	fr.AtS, fr.UnderLoad = cut.Sub(r.start).Seconds(), !r.trafficOver()
	n.db.SetDown(true)
	r.log.Info("fault: node cut off the database", "node", n.id, "for", f.For.D())
	until := cut.Add(f.For.D())
	fr.ExitMs, fr.ExitCode = -1, -1
	exited := false
	if e, ok := s.(Exiter); ok {
		select {
		case <-e.Done():
			exited = true
			fr.ExitMs, fr.ExitCode = ms(time.Since(cut)), e.ExitCode()
			r.log.Info("fault: partitioned node stopped", "node", n.id, "after_ms", fr.ExitMs, "status", fr.ExitCode)
		case <-time.After(time.Until(until)):
		case <-ctx.Done():
		}
	}
	sleep(ctx, time.Until(until))
	n.db.SetDown(false)
	r.log.Info("fault: node's database link back", "node", n.id)
	if !exited {
		fr.Error = fmt.Sprintf("%s did not stop while cut off the database for %v (lease %v): fail-stop expected", n.id, f.For.D(), ClusterLease)
		fr.TakeoverMs, fr.TakeoverAfterLeaseMs, fr.RestartMs = -1, -1, -1
		return
	}
	r.mu.Lock()
	if n.serve == s {
		n.serve = nil
	}
	r.mu.Unlock()
	r.awaitTakeover(ctx, n, since, cut, fr)
	r.restartNode(ctx, n, cut, fr)
}

// restartNode starts node n again and reports from the fault to it
// serving, and its new membership epoch.
func (r *run) restartNode(ctx context.Context, n *clusterNode, from time.Time, fr *FaultReport) {
	fr.RestartMs = -1
	if err := r.startNode(ctx, n); err != nil {
		fr.Error = strings.TrimSpace(fr.Error + " restart: " + err.Error())
		return
	}
	fr.RestartMs = ms(time.Since(from))
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = r.cl.pool.QueryRow(qctx, `SELECT epoch FROM cluster_nodes WHERE node_id = $1`, n.id).Scan(&fr.Epoch)
	r.log.Info("fault: node started again", "node", n.id, "restart_ms", fr.RestartMs, "epoch", fr.Epoch)
}

// awaitTakeover polls the log (every 50 ms, until max_takeover + 10 s after
// the fault) for the NodeTakenOver of node n recorded after it last
// started, and fills the report: from the fault to it, from the node's
// lease end (cluster_nodes.lease_until of the epoch taken over) to it, and
// the node that took it.
func (r *run) awaitTakeover(ctx context.Context, n *clusterNode, since, fault time.Time, fr *FaultReport) {
	fr.TakeoverMs, fr.TakeoverAfterLeaseMs = -1, -1
	deadline := fault.Add(r.sc.Limits.MaxTakeover.D() + 10*time.Second)
	var last error
	for ctx.Err() == nil {
		tk, err := r.takenOver(ctx, n.id, since)
		if tk != nil {
			fr.TakeoverMs, fr.TakenBy, fr.TakenEpoch = ms(tk.at.Sub(fault)), tk.by, tk.epoch
			if !tk.leaseUntil.IsZero() {
				fr.TakeoverAfterLeaseMs = ms(tk.at.Sub(tk.leaseUntil))
			}
			r.log.Info("fault: node taken over", "node", n.id, "by", tk.by, "takeover_ms", fr.TakeoverMs, "after_lease_ms", fr.TakeoverAfterLeaseMs)
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			break
		}
		sleep(ctx, 50*time.Millisecond)
	}
	msg := fmt.Sprintf("no NodeTakenOver of %s in the log within %v of the fault", n.id, r.sc.Limits.MaxTakeover.D()+10*time.Second)
	if last != nil {
		msg += " (last read: " + last.Error() + ")"
	}
	fr.Error = strings.TrimSpace(fr.Error + " " + msg)
	r.log.Warn("fault: "+msg, "node", n.id)
}

// takeover is a NodeTakenOver of the log.
type takeover struct {
	at         time.Time // recorded
	by         string
	epoch      int64
	leaseUntil time.Time // the lease's end of the epoch taken over (zero: unknown)
}

// takenOver reads the first NodeTakenOver of node recorded after since
// (nil: none yet).
func (r *run) takenOver(ctx context.Context, node string, since time.Time) (*takeover, error) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rows, err := r.cl.pool.Query(qctx, `SELECT recorded_at, data FROM es_events
		WHERE stream_id = 'cluster' AND event_type = 'NodeTakenOver' AND recorded_at > $1 ORDER BY global_position`, since)
	if err != nil {
		return nil, err
	}
	var tk *takeover
	for rows.Next() {
		var at time.Time
		var data string
		if err := rows.Scan(&at, &data); err != nil {
			rows.Close()
			return nil, err
		}
		var e struct {
			Node  string `json:"node"`
			Epoch int64  `json:"epoch"`
			By    string `json:"by"`
		}
		if json.Unmarshal([]byte(data), &e) == nil && e.Node == node && tk == nil {
			tk = &takeover{at: at, by: e.By, epoch: e.Epoch}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || tk == nil {
		return nil, err
	}
	var epoch int64
	var until time.Time
	if err := r.cl.pool.QueryRow(qctx, `SELECT epoch, lease_until FROM cluster_nodes WHERE node_id = $1`, node).Scan(&epoch, &until); err == nil && epoch == tk.epoch {
		tk.leaseUntil = until
	}
	return tk, nil
}

// submitsMax bounds the submit times kept per supplier for supplier_tps.
const submitsMax = 1_000_000

// recordSubmit keeps when a simulator accepted a submit (supplier_tps).
func (r *run) recordSubmit(supplier string, at time.Time) {
	r.mu.Lock()
	if ts := r.submitTimes[supplier]; len(ts) < submitsMax {
		r.submitTimes[supplier] = append(ts, at)
	} else {
		r.submitsUnkept++
	}
	r.mu.Unlock()
}

// maxWindow is the most times within any window of length w (times is
// sorted in place), and where that window starts.
func maxWindow(times []time.Time, w time.Duration) (int, time.Time) {
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	best, at, j := 0, time.Time{}, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		if n := i - j + 1; n > best {
			best, at = n, times[j]
		}
	}
	return best, at
}

// tpsSlack: a supplier's submits in any one-second window may exceed its
// TPS limit by a tenth. Each node's egress is a token bucket of rate
// TPS/N with a burst of a tenth of that (egress.New), so the nodes
// together send at most TPS per second plus TPS/10 of burst in any
// window: a window that starts just as the buckets are full sees rate and
// burst both. The slack is that burst (the window's edges), not tolerance
// for a rate above the limit.
const tpsSlack = 1.1

// SupplierTPS is what one simulated supplier received.
type SupplierTPS struct {
	Supplier string `json:"supplier"`
	Limit    int    `json:"tps_limit"`
	Submits  int    `json:"submits"`
	// MaxPerS: the most submits it accepted in any one-second window, and
	// when that window began (seconds from the start of the traffic).
	MaxPerS int     `json:"max_per_s"`
	AtS     float64 `json:"at_s"`
	// Binds is its bind count; MaxSessions the most connections it had at
	// once over all nodes, OverBindsMs how long it had more than Binds
	// (sampled every bindSampleEvery).
	Binds       int   `json:"binds"`
	MaxSessions int   `json:"max_sessions"`
	OverBindsMs int64 `json:"over_binds_ms"`
}

// bindSampleEvery is how often a cluster scenario counts each simulated
// supplier's connections (supplier_tps: the bind count over all nodes).
const bindSampleEvery = 50 * time.Millisecond

// bindOverPerStartMax is how long a supplier may have more connections
// than binds for each node start after the first. A joining node takes its
// share two heartbeats after it joined, once the others have seen it and
// let theirs go (0 ms measured); the bar is for a node slow to close the
// binds it gave up (a loaded machine, the race detector).
const bindOverPerStartMax = 500 * time.Millisecond

// sessionCount is what sampleBinds saw of one supplier.
type sessionCount struct {
	max    int
	overMs int64
}

// sampleBinds counts each simulated supplier's connections until ctx ends.
func (r *run) sampleBinds(ctx context.Context) {
	tick := time.NewTicker(bindSampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, p := range r.sc.Suppliers {
			n := r.sims[p.ID].Sessions()
			r.mu.Lock()
			c := r.sessions[p.ID]
			c.max = max(c.max, n)
			if n > p.Binds {
				c.overMs += bindSampleEvery.Milliseconds()
			}
			r.sessions[p.ID] = c
			r.mu.Unlock()
		}
	}
}

// checkCluster adds node_takeover and supplier_tps to rep.
func (r *run) checkCluster(rep *Report, add func(string, bool, ...string)) {
	// node_takeover: every node fault was taken over in time, the node
	// came back, and no node exited without a fault on it.
	{
		ok, ev := true, []string{}
		bar := r.sc.Limits.MaxTakeover.D()
		for _, f := range rep.Faults {
			if !nodeFault(f.Kind) {
				continue
			}
			pass := f.Error == "" && f.TakeoverMs >= 0 && f.TakeoverMs <= ms(bar) && f.RestartMs >= 0
			line := fmt.Sprintf("%s %s at %.1fs (under load: %v)", f.Kind, f.Node, f.AtS, f.UnderLoad)
			if f.Kind == FaultPartitionNode {
				exitOK := f.ExitMs >= 0 && f.ExitCode == 1
				pass = pass && exitOK
				line += fmt.Sprintf(", cut off the database for %.1fs: the node stopped on its own after %.0f ms with status %d (-1: did not)%s", f.ForS, f.ExitMs, f.ExitCode, failText(exitOK))
			}
			lease := "unknown"
			if f.TakeoverAfterLeaseMs >= 0 {
				lease = fmt.Sprintf("%.0f ms", f.TakeoverAfterLeaseMs)
			}
			line += fmt.Sprintf("; NodeTakenOver (epoch %d) by %s %.0f ms after the fault (bar %v; -1: none), %s after its lease expired; started again after %.0f ms (epoch %d)%s%s",
				f.TakenEpoch, orNone(f.TakenBy), f.TakeoverMs, bar, lease, f.RestartMs, f.Epoch, errText(f.Error), failText(pass))
			ok = ok && pass
			ev = append(ev, line)
		}
		if r.cl == nil {
			if len(ev) == 0 {
				ev = append(ev, "one node: no cluster in this scenario")
			}
			add(InvNodeTakeover, ok, ev...)
		} else {
			if len(ev) == 0 {
				ev = append(ev, "no node fault in this scenario")
			}
			r.mu.Lock()
			var exits, down []string
			starts := map[string]int64{}
			for _, n := range r.cl.nodes {
				exits = append(exits, n.exits...)
				starts[n.id] = int64(n.starts)
				if n.serve == nil {
					down = append(down, n.id)
				}
			}
			r.mu.Unlock()
			ok = ok && len(exits) == 0 && len(down) == 0
			ev = append(ev, fmt.Sprintf("%d node exit(s) no fault caused%s", len(exits), failText(len(exits) == 0)))
			ev = append(ev, exits...)
			ev = append(ev, fmt.Sprintf("starts per node: %s; not running at the end: %d %v%s", load.FormatCounts(starts), len(down), down, failText(len(down) == 0)))
			add(InvNodeTakeover, ok, ev...)
		}
	}

	// supplier_tps: the most submits any simulator accepted in a
	// one-second window, all nodes together, within its TPS limit × 1.1.
	{
		ok, ev := true, []string{}
		r.mu.Lock()
		unkept := r.submitsUnkept
		restarts := 0 // node starts after each node's first
		if r.cl != nil {
			for _, n := range r.cl.nodes {
				restarts += max(n.starts-1, 0)
			}
		}
		for _, p := range r.sc.Suppliers {
			times := append([]time.Time(nil), r.submitTimes[p.ID]...)
			n, at := maxWindow(times, time.Second)
			sc := r.sessions[p.ID]
			st := SupplierTPS{Supplier: p.ID, Limit: p.TPS, Submits: len(times), MaxPerS: n, Binds: p.Binds, MaxSessions: sc.max, OverBindsMs: sc.overMs}
			if n > 0 {
				st.AtS = at.Sub(r.start).Seconds()
			}
			rep.SupplierTPS = append(rep.SupplierTPS, st)
			pass := float64(n) <= float64(p.TPS)*tpsSlack
			ok = ok && pass
			ev = append(ev, fmt.Sprintf("supplier %s: %d submits accepted; at most %d in one second (window from %.2fs) of a limit of %d × %.1f = %.0f, over %d node(s)%s",
				p.ID, len(times), n, st.AtS, p.TPS, tpsSlack, float64(p.TPS)*tpsSlack, r.sc.Nodes, failText(pass)))
			if r.cl == nil {
				continue // one serve binds exactly its binds
			}
			overMax := time.Duration(restarts) * bindOverPerStartMax
			bpass := time.Duration(sc.overMs)*time.Millisecond <= overMax
			ok = ok && bpass
			ev = append(ev, fmt.Sprintf("supplier %s: at most %d connection(s) at once of %d bind(s); %d ms with more (bar %s: %d node restart(s) × %s)%s",
				p.ID, sc.max, p.Binds, sc.overMs, overMax, restarts, bindOverPerStartMax, failText(bpass)))
		}
		r.mu.Unlock()
		ev = append(ev, fmt.Sprintf("the limit is each supplier's tps_limit, split among the live nodes by serve; the slack of a tenth is the egress token buckets' burst (TPS/10 over all nodes) a window can see on top of the rate"))
		if unkept > 0 {
			ev = append(ev, fmt.Sprintf("%d submits beyond the first %d of a supplier not counted", unkept, submitsMax))
		}
		add(InvSupplierTPS, ok, ev...)
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// ClusterReport is what the cluster's load balancers and nodes did.
type ClusterReport struct {
	Nodes int `json:"nodes"`
	// Per node: connections the load balancers forwarded to it, and dials
	// refused (the node was gone; the balancer went on to the next).
	SMPPForwarded map[string]int64 `json:"smpp_forwarded"`
	SMPPSkipped   map[string]int64 `json:"smpp_skipped,omitempty"`
	HTTPForwarded map[string]int64 `json:"http_forwarded"`
	HTTPSkipped   map[string]int64 `json:"http_skipped,omitempty"`
	// Refused: client connections no node took.
	Refused int64 `json:"refused"`
	// BalanceSamples: the balance sampler's reads per node.
	BalanceSamples map[string]int64 `json:"balance_samples"`
}

func (r *run) clusterReport() *ClusterReport {
	if r.cl == nil {
		return nil
	}
	c := &ClusterReport{Nodes: len(r.cl.nodes), BalanceSamples: map[string]int64{}}
	c.SMPPForwarded, c.SMPPSkipped = r.cl.smpp.Counts()
	c.HTTPForwarded, c.HTTPSkipped = r.cl.http.Counts()
	c.Refused = r.cl.smpp.Refused.Load() + r.cl.http.Refused.Load()
	r.mu.Lock()
	for k, v := range r.cl.nodeSamples {
		c.BalanceSamples[k] = int64(v)
	}
	r.mu.Unlock()
	return c
}
