package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/adapters/cluster"
	"github.com/smsledger/smsledger/adapters/smpp/egress"
	"github.com/smsledger/smsledger/adapters/smpp/relay"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/internal/supervise"
	"github.com/smsledger/smsledger/projections"
)

// serve --cluster: several serve processes (nodes) on one log and one
// read-model database (docs/ARCHITECTURE.md, "Cluster").
//
//   - membership: adapters/cluster (a lease on a row of cluster_nodes,
//     renewed every heartbeat). A node that cannot renew stops at once
//     (exit 1, as after a crash): it must not act once another node may
//     have taken its work over. A restart joins again.
//   - ownership and money: domain/ledger (NodeJoined, NodeTakenOver,
//     budget leases). The live node with the lowest id takes over a node
//     whose lease expired; the others only after clusterTakeoverBackup.
//   - projections: one node at a time writes the read models, the one
//     holding the projections' advisory lock; the others stand by.
//   - suppliers: each node binds its share of a supplier's binds and TPS.

// clusterTakeoverBackup is how long an expired node may stay without a
// takeover by the lowest live node before any live node takes it over.
const clusterTakeoverBackup = 2 * cluster.DefaultLease

// projectionsLockKey is the advisory lock of the node that runs the
// projections in a cluster ("smsp").
const projectionsLockKey int64 = 0x736d7370

// projectionsLockCheckEvery is how often the projections leader checks
// its lock's connection, and a standby tries to take the lock.
var projectionsLockCheckEvery = time.Second

// clusterFatal ends the process when the node must stop acting at once
// (its lease lost, or taken over); tests replace it.
var clusterFatal = func(log interface{ Error(string, ...any) }, err error) {
	log.Error("cluster: this node stops now, as after a crash; restart it to join again", "err", err)
	os.Exit(1)
}

// nodeIDOf is --node-id, else the id kept in the data directory (made
// on the first start).
func nodeIDOf(cfg serveConfig) (string, error) {
	if cfg.nodeID != "" {
		if !cluster.ValidNodeID(cfg.nodeID) {
			return "", fmt.Errorf("%w: --node-id %q: %v", errUsage, cfg.nodeID, cluster.ErrInvalidNodeID)
		}
		return cfg.nodeID, nil
	}
	if err := os.MkdirAll(cfg.common.dataDir, 0o700); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return cluster.NodeIDFile(cfg.common.dataDir)
}

// clusterNode is the daemon's part of a cluster.
type clusterNode struct {
	id  string
	svc atomic.Pointer[ledger.Service]
	// warmAt (unix ns) is when this node takes its share of the
	// suppliers: two heartbeats after it joined (warm); warmed is set once
	// the relay was told.
	warmAt atomic.Int64
	warmed atomic.Bool
	member atomic.Pointer[cluster.Member]
	pool   *pgxpool.Pool // membership's own: renewals never wait for the busy pool
	relay  atomic.Pointer[relay.Relay]
	// downSince: since when no live node published a bind up with a
	// supplier this node binds none of (remoteHealth's only).
	downSince map[string]time.Time
}

// forwarder names the node that forwards a tenant's final DLR of a
// message owner owns: the owner if it has a receiver bind of the tenant,
// else the first live node (by id) that has one, else the owner (a webhook
// tenant, or no bind anywhere: it stays pending in the log). The nodes
// decide from the same published views (cluster_nodes.receivers), so
// normally exactly one sends it; the owner also trusts its own binds, which
// it knows before it has published them (for a heartbeat after a bind
// another node may then forward it too: at least once).
func (c *clusterNode) forwarder(tenantID, owner string) string {
	m := c.member.Load()
	if m == nil {
		return owner
	}
	if rel := c.relay.Load(); owner == c.id && rel != nil && rel.HasReceiver(tenantID) {
		return owner
	}
	nodes := m.Nodes()
	for _, n := range nodes {
		if n.ID == owner && n.Live && slices.Contains(n.Receivers, tenantID) {
			return owner
		}
	}
	for _, n := range nodes {
		if n.Live && slices.Contains(n.Receivers, tenantID) {
			return n.ID
		}
	}
	return owner
}

// publish names the tenants bound for DLRs here, and the suppliers with a
// bind up here, in the next renewal.
func (c *clusterNode) publish(m *cluster.Member) {
	if rel := c.relay.Load(); rel != nil {
		m.SetReceivers(rel.ReceiverTenants())
		m.SetSuppliersUp(rel.SuppliersUp())
	}
}

// remoteDownAfter is how long no live node may publish a bind up with a
// supplier before a node that binds none of it counts it down: as long as
// a node that just started counts its own binds as up while they connect.
const remoteDownAfter = 10 * time.Second

// remoteHealth adds to states (this node's egress: the suppliers it
// binds) the enabled suppliers this node binds none of, as the other live
// nodes published them: up if one has a bind up, down once none has had
// for remoteDownAfter. Without it such a node routed with the default
// health, sending messages to a supplier that was down (the node that
// binds it then failed them over after its queue timeout). Called by the
// route health feed only.
func (c *clusterNode) remoteHealth(svc *ledger.Service, states map[string]routing.SupplierHealth, now time.Time) {
	m := c.member.Load()
	if m == nil {
		return
	}
	if c.downSince == nil {
		c.downSince = map[string]time.Time{}
	}
	mergeRemoteHealth(states, c.id, m.Nodes(), svc.Suppliers(), c.downSince, now)
}

// mergeRemoteHealth is remoteHealth's rule, on the view nodes of node
// self: each enabled supplier missing from states is up if another live
// node has a bind up with it, and down once none has had since
// remoteDownAfter (downSince keeps since when, per supplier).
func mergeRemoteHealth(states map[string]routing.SupplierHealth, self string, nodes []cluster.Node,
	suppliers []ledger.SupplierInfo, downSince map[string]time.Time, now time.Time) {
	up := map[string]bool{}
	for _, n := range nodes {
		if n.Live && n.ID != self {
			for _, id := range n.SuppliersUp {
				up[id] = true
			}
		}
	}
	for _, sp := range suppliers {
		if _, local := states[sp.ID]; local || !sp.Enabled {
			delete(downSince, sp.ID)
			continue
		}
		if up[sp.ID] {
			delete(downSince, sp.ID)
			states[sp.ID] = routing.SupplierHealth{Up: true, Score: routing.ScoreMax}
			continue
		}
		since, ok := downSince[sp.ID]
		if !ok {
			since = now
			downSince[sp.ID] = now
		}
		states[sp.ID] = routing.SupplierHealth{Up: now.Sub(since) < remoteDownAfter, Score: routing.ScoreMax}
	}
}

// size is how many nodes are live (1 before the first view).
func (c *clusterNode) size() int {
	if m := c.member.Load(); m != nil {
		return max(len(m.LiveIDs()), 1)
	}
	return 1
}

// shareOf sets a supplier's egress to this node's share: its binds split
// among the live nodes by rank, and its TPS among the nodes that have one.
// A supplier with fewer binds than nodes is bound by the first nodes only;
// false: none here (the others hand its messages over: dispatcher).
func (c *clusterNode) shareOf(cfg *egress.Config) bool {
	m := c.member.Load()
	if m == nil {
		return true
	}
	live := m.LiveIDs()
	n := len(live)
	rank := slices.Index(live, c.id)
	if n <= 1 || rank < 0 {
		return true
	}
	if !c.warm(live) {
		return false
	}
	total := max(cfg.Binds, 1)
	binds := bindShare(total, n, rank)
	if binds == 0 {
		return false
	}
	cfg.Binds = binds
	cfg.TPS /= float64(min(n, total))
	return true
}

// bindShare is how many of a supplier's total binds the node of rank (from
// 0) among n live nodes takes: an even split, the first ranks one more; 0
// for ranks past total when total < n.
func bindShare(total, n, rank int) int {
	binds := total / n
	if rank < total%n {
		binds++
	}
	return binds
}

// dispatcher names the node that sends message id to a supplier: this
// node when shareOf gives it binds of the supplier, else one of the nodes
// that have them (the first ranks), chosen by the message id so that the
// work spreads. The nodes decide from their own views of who is live; a
// message handed to a node that has no bind after all is handed on.
func (c *clusterNode) dispatcher(supplierID string, id uuid.UUID) string {
	m, svc := c.member.Load(), c.svc.Load()
	if m == nil || svc == nil {
		return c.id
	}
	sp, err := svc.Supplier(supplierID)
	if err != nil {
		return c.id // unknown here: the egress refuses it and it fails over
	}
	live := m.LiveIDs()
	total := max(sp.Binds, 1)
	pick := binary.BigEndian.Uint32(id[12:])
	if !c.warm(live) {
		// Not bound yet: to a node that binds it in the view without this
		// one, which is the other nodes' until they see it join.
		others := slices.DeleteFunc(slices.Clone(live), func(n string) bool { return n == c.id })
		return others[pick%uint32(min(total, len(others)))]
	}
	if rank := slices.Index(live, c.id); rank < 0 || bindShare(total, len(live), rank) > 0 {
		return c.id
	}
	return live[pick%uint32(total)] // the ranks that bind it: 0 .. total-1
}

// warmUpHeartbeats is how many heartbeats a joining node waits before it
// takes its share of the suppliers: the others see the join at their next
// renewal (within a heartbeat) and give theirs up then; a node that bound at
// once had, with them, more than a supplier's binds and TPS meanwhile.
const warmUpHeartbeats = 2

// warm reports whether this node takes its share of the suppliers' binds
// and TPS (a node alone at once).
func (c *clusterNode) warm(live []string) bool {
	return len(live) <= 1 || time.Now().UnixNano() >= c.warmAt.Load()
}

// clusterMember joins the cluster (membership, then NodeJoined in the
// log), renews its lease, takes over nodes whose lease expired, and stops
// the process when the lease is lost or the log says this node was taken
// over. Outside --cluster it does nothing.
func (d *daemon) clusterMember() supervise.Component {
	return supervise.Component{
		Name:  "cluster",
		Vital: true,
		Start: func(ctx context.Context) error {
			if d.node == nil {
				return nil
			}
			cfg, err := pgxpool.ParseConfig(d.dbURL)
			if err != nil {
				return fmt.Errorf("cluster pool: %w", err)
			}
			cfg.MaxConns = 2
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				return fmt.Errorf("cluster pool: %w", err)
			}
			m, err := cluster.Join(ctx, pool, cluster.Options{NodeID: d.node.id, Addr: d.cfg.smppAddr, Lease: d.cfg.clusterLease, Logger: d.log})
			if err != nil {
				pool.Close()
				return err
			}
			d.node.pool = pool
			d.node.warmAt.Store(time.Now().Add(warmUpHeartbeats * m.Heartbeat()).UnixNano())
			d.node.member.Store(m)
			return nil
		},
		Ready: func(ctx context.Context) error {
			if d.node == nil {
				return nil
			}
			m := d.node.member.Load()
			if err := d.svc.Join(ctx, m.Epoch()); err != nil {
				return fmt.Errorf("cluster: join the log: %w", err)
			}
			d.log.Info("joined the cluster", "node", m.ID(), "epoch", m.Epoch(), "live", m.LiveIDs())
			return nil
		},
		Run: func(ctx context.Context) error {
			if d.node == nil {
				<-ctx.Done()
				return nil
			}
			m := d.node.member.Load()
			lost := make(chan error, 1)
			go func() { lost <- m.Run(ctx) }()
			tick := time.NewTicker(m.Heartbeat())
			defer tick.Stop()
			expiredSince := map[string]time.Time{}
			for {
				select {
				case err := <-lost:
					if err == nil || ctx.Err() != nil {
						return nil
					}
					clusterFatal(d.log, err)
					return err
				case <-d.svc.TakenOver():
					clusterFatal(d.log, ledger.ErrTakenOver)
					return ledger.ErrTakenOver
				case <-ctx.Done():
					return <-lost
				case <-m.Changes():
					// The live nodes changed: move this node's share of
					// each supplier's TPS and binds now, not at the relay's
					// next pass (the cluster-wide TPS holds sooner).
					if rel := d.node.relay.Load(); rel != nil {
						rel.ResyncSuppliers()
					}
				case <-tick.C:
					d.node.publish(m)
					d.takeOverExpired(ctx, m, expiredSince)
					if rel := d.node.relay.Load(); rel != nil && !d.node.warmed.Load() && d.node.warm(m.LiveIDs()) {
						d.node.warmed.Store(true)
						rel.ResyncSuppliers() // its share of the suppliers, now that the others gave theirs up
					}
				}
			}
		},
		Stop: func() {
			if d.node != nil && d.node.pool != nil {
				d.node.pool.Close()
			}
		},
	}
}

// takeOverExpired takes over the nodes whose lease expired: the lowest
// live node at once, any live node once one stayed expired for
// clusterTakeoverBackup. A node taken over already is a no-op (the log
// says so).
func (d *daemon) takeOverExpired(ctx context.Context, m *cluster.Member, since map[string]time.Time) {
	if !m.Valid() {
		return
	}
	live := m.LiveIDs()
	first := len(live) > 0 && live[0] == m.ID()
	now := time.Now()
	seen := map[string]bool{}
	for _, n := range m.Expired() {
		seen[n.ID] = true
		t0, ok := since[n.ID]
		if !ok {
			t0 = now
			since[n.ID] = t0
		}
		if !first && now.Sub(t0) < clusterTakeoverBackup {
			continue
		}
		tctx, cancel := context.WithDeadline(ctx, m.Deadline())
		took, err := d.svc.TakeOver(tctx, n.ID, n.Epoch)
		cancel()
		switch {
		case err != nil:
			d.log.Warn("cluster: take over failed; retrying", "node", n.ID, "epoch", n.Epoch, "err", err)
		case took:
			d.log.Warn("cluster: took over a node whose lease expired", "node", n.ID, "epoch", n.Epoch,
				"expired_for_ms", now.Sub(n.LeaseUntil).Milliseconds())
		}
	}
	for id := range since {
		if !seen[id] {
			delete(since, id)
		}
	}
}

// projectionsLeader runs the projections while it holds their advisory
// lock, so that one node of a cluster writes the read models; the others
// stand by and take over when the holder's connection (and so its lock)
// goes away. Its Lag is the runtime's while it leads, nil otherwise.
type projectionsLeader struct {
	mu  sync.Mutex
	run *projections.Runtime
}

func (p *projectionsLeader) current() *projections.Runtime {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.run
}

// Lag is the running projections' lag (none while standing by).
func (p *projectionsLeader) Lag() []projections.Lag {
	if r := p.current(); r != nil {
		return r.Lag()
	}
	return nil
}

// lead runs until ctx ends: take the lock (retrying every
// projectionsLockCheckEvery), run the projections while it is held, stop
// them when it is lost. It returns the projections' failure if they stop
// for good on their own.
func (p *projectionsLeader) lead(ctx context.Context, d *daemon) error {
	for {
		conn, err := tryLock(ctx, d.dbURL, projectionsLockKey, "smsledger projections lock")
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			d.log.Warn("projections: lock not taken; retrying", "err", err)
		case conn != nil:
			err := p.runHolding(ctx, d, conn)
			_ = conn.Close(context.Background())
			if err != nil || ctx.Err() != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(projectionsLockCheckEvery):
		}
	}
}

// runHolding runs the projections while conn holds the lock.
func (p *projectionsLeader) runHolding(ctx context.Context, d *daemon, conn *pgx.Conn) error {
	run, err := d.startProjections(ctx)
	if err != nil {
		return err
	}
	d.log.Info("projections: this node writes the read models")
	p.mu.Lock()
	p.run = run
	p.mu.Unlock()
	defer func() {
		_ = run.Close()
		p.mu.Lock()
		p.run = nil
		p.mu.Unlock()
	}()
	tick := time.NewTicker(projectionsLockCheckEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-run.Done():
			return errors.Join(errors.New("projections stopped"), run.Err())
		case <-tick.C:
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(cctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				d.log.Warn("projections: lock connection lost; standing by", "err", err)
				return nil
			}
		}
	}
}

// tryLock takes a session advisory lock on a new connection: the
// connection while it holds it, nil when another session holds it.
func tryLock(ctx context.Context, dbURL string, key int64, app string) (*pgx.Conn, error) {
	conn, got, err := tryAdvisoryLock(ctx, dbURL, app, key, false)
	if err != nil || got {
		return conn, err
	}
	_ = conn.Close(context.Background())
	return nil, nil
}
