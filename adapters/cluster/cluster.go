// Package cluster gives the serve processes ("nodes") that share one
// PostgreSQL database a membership: each node holds a lease on its row of
// public.cluster_nodes (migrations/009), renews it every heartbeat, and sees
// every other node's row, so that the work of a node whose lease ran out can
// be taken over by another.
//
// # Join, renew, leave
//
// Join registers a node id with one atomic statement: it inserts the row
// (epoch 1) or takes the existing one with epoch+1, but only if that row's
// lease has run out or its node left cleanly; a live holder makes it fail
// with ErrNodeIDInUse. Member.Run then renews the lease every heartbeat
// (lease_until = the database's now() + Lease, for the row of this epoch
// only) and reads every node's row in the same statement (Nodes, LiveIDs,
// Expired, Changes). When its context is cancelled it leaves cleanly
// (left_at set), so that the id may join again at once and the node is not
// taken for a crashed one.
//
// # Fencing: the node stops first
//
// A node must act on its lease (serve its share of the work) only while
// Member.Valid is true. Valid reads a local deadline on the process's
// monotonic clock: after each successful renewal it is the moment the
// renewal statement was sent + Lease − Heartbeat. The database executes that
// statement after it was sent and sets lease_until to its now() + Lease, so
// the local deadline falls at least one Heartbeat before the moment the
// database (and so any other node, which compares lease_until with the
// database's now()) considers the lease expired. The argument needs no
// agreement between the node's wall clock and the database's: only that both
// clocks advance at the same rate, within a margin well below Heartbeat, and
// that the database's clock does not step back (one primary; a failover to a
// server whose clock is behind voids it until the lease has passed).
//
// Run returns ErrLeaseLost as soon as the local deadline passes without a
// successful renewal (a timer on the deadline, not the next tick), and at
// once when a renewal finds that its row was taken (the epoch changed or the
// row left), e.g. because another process joined with the same id after the
// lease ran out. Valid turns false at the deadline whether or not Run has
// noticed yet, and never turns true again.
//
// What remains to the caller: an action guarded by Valid must end within the
// Heartbeat margin (bound it with Member.Deadline), and a node taking over
// another's work must itself be Valid and should make its claim conditional
// on the epoch it saw in Expired (the id may have joined again since).
// Renewals use the pool given to Join: if other components may exhaust it,
// give membership a small pool of its own.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of Options.
const (
	// DefaultLease is the lease when Options.Lease is zero. A dead node is
	// taken over about 0.5–0.75 s after its lease expires (measured:
	// docs/PERFORMANCE.md), so 3 s keeps a takeover within 5 s of a death,
	// with a heartbeat of 600 ms (a fifth) renewing it five times a lease.
	DefaultLease = 3 * time.Second
	// DefaultHeartbeat is the renewal interval when Options.Heartbeat is
	// zero (if it is below a fifth of the lease; else that fifth).
	DefaultHeartbeat = time.Second
)

const (
	// leaveTimeout bounds the clean leave of Run.
	leaveTimeout = 2 * time.Second
	// failureLogEvery: while renewals keep failing, one log line per this.
	failureLogEvery = 10 * time.Second
)

var (
	// ErrNodeIDInUse is returned by Join when the node id's row holds a
	// lease that has not run out and was not given up by a clean leave.
	ErrNodeIDInUse = errors.New("cluster: node id held by a live node")
	// ErrLeaseLost is returned by Run (wrapped) when the node could not
	// renew its lease before its local deadline, or when its row was taken
	// (its epoch changed or it left). The node must stop acting at once;
	// Valid is false from then on.
	ErrLeaseLost = errors.New("cluster: lease lost")
	// ErrInvalidNodeID is returned (wrapped) for a node id that does not
	// match ^[a-z0-9][a-z0-9_-]{0,62}$.
	ErrInvalidNodeID = errors.New("cluster: invalid node id")
)

var nodeIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidNodeID reports whether id is acceptable as a node id: 1 to 63
// characters of lower-case letters, digits, '_' and '-', starting with a
// letter or digit (the check constraint of cluster_nodes.node_id).
func ValidNodeID(id string) bool { return nodeIDPattern.MatchString(id) }

// Options configure a node's membership.
type Options struct {
	// NodeID names the node; required, see ValidNodeID. A node keeps its id
	// across restarts (NodeIDFile).
	NodeID string
	// Addr is informational (e.g. the node's SMPP or HTTP address), shown
	// to the other nodes.
	Addr string
	// Lease is how long a renewal keeps the lease in the database (default
	// DefaultLease).
	Lease time.Duration
	// Heartbeat is the renewal interval, and the margin by which the node
	// stops acting before the database lets its lease expire (default
	// DefaultHeartbeat, or Lease/5 if that is smaller). It must be below
	// Lease/2.
	Heartbeat time.Duration
	// Logger receives joins, leaves, renewal failures (rate-limited) and
	// lease losses (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) validate() error {
	if !ValidNodeID(o.NodeID) {
		return fmt.Errorf("%w: %q (want 1 to 63 of a-z, 0-9, '_', '-', starting with a letter or digit)", ErrInvalidNodeID, o.NodeID)
	}
	if o.Lease < 0 || o.Heartbeat < 0 {
		return fmt.Errorf("cluster: negative lease (%v) or heartbeat (%v)", o.Lease, o.Heartbeat)
	}
	if o.Lease == 0 {
		o.Lease = DefaultLease
	}
	if o.Lease < 10*time.Millisecond {
		return fmt.Errorf("cluster: lease %v below 10ms", o.Lease)
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = min(DefaultHeartbeat, o.Lease/5)
	}
	if o.Heartbeat >= o.Lease/2 {
		return fmt.Errorf("cluster: heartbeat %v must be below half the lease %v", o.Heartbeat, o.Lease)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Node is one row of cluster_nodes as a view read it. Times are the
// database's.
type Node struct {
	// ID is the node id.
	ID string
	// Epoch counts the joins of this id (1 at the first).
	Epoch int64
	// Addr is the address the node gave at its join (informational).
	Addr string
	// LeaseUntil is the end of the node's lease (the database's clock).
	LeaseUntil time.Time
	// Receivers are the tenants the node could deliver DLRs to at its
	// last renewal (SetReceivers), sorted.
	Receivers []string
	// SuppliersUp are the suppliers the node had a bind up with at its
	// last renewal (SetSuppliersUp), sorted.
	SuppliersUp []string
	// LeftAt is when the node left cleanly; zero if it has not.
	LeftAt time.Time
	// Live: the node had not left and its lease had not run out at the
	// database's now() of the view.
	Live bool
}

// Member is a node's membership, from Join. Its methods are safe for
// concurrent use; Run is called once.
type Member struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	id    string
	epoch int64

	// base is the monotonic reference of deadline: the local deadline is
	// base + deadline nanoseconds; 0 means no valid lease (lost or left).
	base     time.Time
	deadline atomic.Int64

	running atomic.Bool
	changes chan struct{}
	// receiverSet is what the next renewal publishes (SetReceivers).
	receiverSet atomic.Pointer[[]string]
	// suppliersUp is what the next renewal publishes (SetSuppliersUp).
	suppliersUp atomic.Pointer[[]string]

	mu    sync.RWMutex
	nodes []Node   // last view, sorted by ID
	live  []string // ids Live in it, sorted
}

// viewColumns is what a view reads of a row, computed against the
// statement's now().
const viewColumns = `node_id, epoch, addr, lease_until, receivers, suppliers_up, left_at, left_at IS NULL AND lease_until > now()`

// othersView reads the rows of the other nodes: at most 1024, those not
// left first (live and expired ones), so that ids that left long ago cannot
// make a view unbounded.
const othersView = `(SELECT ` + viewColumns + `, false FROM cluster_nodes WHERE node_id <> $1
	ORDER BY left_at IS NULL DESC, node_id LIMIT 1024)`

// joinSQL inserts or takes the row and reads the view, in one statement.
// Under concurrent joins of one id, INSERT … ON CONFLICT waits for the other
// transaction and evaluates its WHERE against the row it committed, so at
// most one of them gets the row.
const joinSQL = `WITH joined AS (
	INSERT INTO cluster_nodes AS n (node_id, epoch, addr, joined_at, renewed_at, lease_until)
	VALUES ($1, 1, $2, now(), now(), now() + $3::bigint * interval '1 microsecond')
	ON CONFLICT (node_id) DO UPDATE
	   SET epoch = n.epoch + 1, addr = excluded.addr, joined_at = now(), renewed_at = now(),
	       lease_until = excluded.lease_until, left_at = NULL
	 WHERE n.left_at IS NOT NULL OR n.lease_until <= now()
	RETURNING ` + viewColumns + `, true
)
SELECT * FROM joined UNION ALL ` + othersView

// renewSQL renews the lease of this epoch and reads the view, in one
// statement. No row flagged true: the row was taken.
const renewSQL = `WITH renewed AS (
	UPDATE cluster_nodes
	   SET renewed_at = now(), lease_until = now() + $3::bigint * interval '1 microsecond', receivers = $4, suppliers_up = $5
	 WHERE node_id = $1 AND epoch = $2 AND left_at IS NULL
	RETURNING ` + viewColumns + `, true
)
SELECT * FROM renewed UNION ALL ` + othersView

// leaveSQL gives the lease up.
const leaveSQL = `UPDATE cluster_nodes SET left_at = now(), lease_until = least(lease_until, now())
 WHERE node_id = $1 AND epoch = $2 AND left_at IS NULL`

// Join registers the node opts.NodeID: it inserts its row, or takes the
// existing row with epoch+1 if that row's lease has run out or its node left
// cleanly; if the row holds a live lease it returns ErrNodeIDInUse (try
// again after Lease). The statement gets at most Lease − Heartbeat; a Join
// that returns nil leaves the Member Valid and holding the first view of
// all nodes. Call Run next, promptly: the lease lasts until the first
// renewal for at most Lease − Heartbeat. A Join that fails after its
// statement took effect (a timeout, a lost connection) leaves the id held
// until the lease runs out: ErrNodeIDInUse for up to Lease.
func Join(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Member, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	m := &Member{
		pool:    pool,
		opts:    opts,
		log:     opts.Logger.With("node", opts.NodeID),
		id:      opts.NodeID,
		base:    time.Now(),
		changes: make(chan struct{}, 1),
	}
	sent := time.Since(m.base)
	limit := sent + opts.Lease - opts.Heartbeat
	qctx, cancel := context.WithDeadline(ctx, m.base.Add(limit))
	defer cancel()
	rows, _ := pool.Query(qctx, joinSQL, m.id, opts.Addr, opts.Lease.Microseconds())
	self, nodes, err := readView(rows)
	if err != nil {
		return nil, fmt.Errorf("cluster: join as %s: %w", m.id, err)
	}
	if self == nil {
		return nil, fmt.Errorf("cluster: join as %s: %w", m.id, ErrNodeIDInUse)
	}
	m.epoch = self.Epoch
	m.deadline.Store(int64(limit))
	if !m.Valid() {
		m.deadline.Store(0)
		return nil, fmt.Errorf("cluster: join as %s (epoch %d) took longer than lease - heartbeat %v: %w",
			m.id, m.epoch, opts.Lease-opts.Heartbeat, ErrLeaseLost)
	}
	m.setView(nodes, false)
	m.log.Info("cluster: joined", "epoch", m.epoch, "addr", opts.Addr, "lease", opts.Lease,
		"heartbeat", opts.Heartbeat, "live", m.LiveIDs())
	return m, nil
}

// readView reads a join's or renewal's rows: self is the row flagged as the
// node's own (nil if none), nodes every row sorted by ID.
func readView(rows pgx.Rows) (self *Node, nodes []Node, err error) {
	defer rows.Close()
	for rows.Next() {
		var (
			n      Node
			leftAt *time.Time
			own    bool
		)
		if err := rows.Scan(&n.ID, &n.Epoch, &n.Addr, &n.LeaseUntil, &n.Receivers, &n.SuppliersUp, &leftAt, &n.Live, &own); err != nil {
			return nil, nil, err
		}
		if leftAt != nil {
			n.LeftAt = *leftAt
		}
		nodes = append(nodes, n)
		if own {
			self = &nodes[len(nodes)-1]
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if self != nil {
		own := *self
		self = &own
	}
	slices.SortFunc(nodes, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	return self, nodes, nil
}

// ID returns the node id.
func (m *Member) ID() string { return m.id }

// Epoch returns the epoch this member joined with.
func (m *Member) Epoch() int64 { return m.epoch }

// Lease returns the lease duration in effect (Options.Lease or its
// default).
func (m *Member) Lease() time.Duration { return m.opts.Lease }

// Heartbeat returns the renewal interval in effect (Options.Heartbeat or its
// default).
func (m *Member) Heartbeat() time.Duration { return m.opts.Heartbeat }

// Valid reports whether the local lease is still valid: now, on the local
// monotonic clock, is before the local deadline. After each successful
// renewal the deadline is the moment the renewal statement was sent +
// Lease − Heartbeat, at least one Heartbeat before the database lets the
// lease expire (package documentation). Once false (deadline passed, row
// taken, left) it stays false.
func (m *Member) Valid() bool {
	d := m.deadline.Load()
	return d > 0 && int64(time.Since(m.base)) < d
}

// Deadline returns the local deadline (monotonic clock reading included), or
// the zero time once the lease is lost or given up. An action guarded by the
// lease can bound itself with context.WithDeadline(ctx, m.Deadline()).
func (m *Member) Deadline() time.Time {
	d := m.deadline.Load()
	if d == 0 {
		return time.Time{}
	}
	return m.base.Add(time.Duration(d))
}

// extend moves the local deadline to d, unless it has already passed (then
// the lease is lost and stays so: it reports false). It never moves the
// deadline back.
func (m *Member) extend(d time.Duration) bool {
	for {
		cur := m.deadline.Load()
		if cur == 0 || int64(time.Since(m.base)) >= cur {
			return false
		}
		if int64(d) <= cur || m.deadline.CompareAndSwap(cur, int64(d)) {
			return true
		}
	}
}

// invalidate makes Valid false for good.
func (m *Member) invalidate() { m.deadline.Store(0) }

// Nodes returns the last view of every node row, the node's own included,
// sorted by ID. Live is the database's verdict at the time of the view (for
// the node itself prefer Valid).
func (m *Member) Nodes() []Node {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Clone(m.nodes)
}

// LiveIDs returns the sorted ids of the nodes live in the last view; the
// node's own id is included while Valid.
func (m *Member) LiveIDs() []string {
	valid := m.Valid()
	m.mu.RLock()
	defer m.mu.RUnlock()
	ids := make([]string, 0, len(m.live))
	for _, id := range m.live {
		if id != m.id || valid {
			ids = append(ids, id)
		}
	}
	return ids
}

// Expired returns the other nodes whose lease ran out without a clean leave
// (left_at NULL, lease_until at or before the database's now()) in the last
// view, sorted by ID: candidates for another node to take over their work.
// Their Epoch tells which run of the id they were.
func (m *Member) Expired() []Node {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []Node
	for _, n := range m.nodes {
		if n.ID != m.id && !n.Live && n.LeftAt.IsZero() {
			out = append(out, n)
		}
	}
	return out
}

// Changes returns a channel that receives a value (sent without blocking,
// buffered 1) whenever the set of live node ids differs between two
// consecutive views. Read LiveIDs or Nodes after a receive.
func (m *Member) Changes() <-chan struct{} { return m.changes }

// setView stores a view; notify: signal Changes if its live set differs from
// the previous view's.
func (m *Member) setView(nodes []Node, notify bool) {
	var live []string
	for _, n := range nodes {
		if n.Live {
			live = append(live, n.ID)
		}
	}
	m.mu.Lock()
	changed := !slices.Equal(m.live, live)
	m.nodes, m.live = nodes, live
	m.mu.Unlock()
	if notify && changed {
		m.log.Info("cluster: live nodes changed", "live", live)
		select {
		case m.changes <- struct{}{}:
		default:
		}
	}
}

// renewal is the outcome of one renewal statement.
type renewal struct {
	sent  time.Duration // since base, just before the statement was sent
	self  *Node         // nil: the row was taken
	nodes []Node
	err   error
}

// renew runs one renewal statement, with a context deadline no later than
// the local deadline and at most one Heartbeat, so that a statement stuck on
// a connection gives way to a fresh attempt at the next tick.
func (m *Member) renew(ctx context.Context) renewal {
	sent := time.Since(m.base)
	limit := min(time.Duration(m.deadline.Load()), sent+m.opts.Heartbeat)
	qctx, cancel := context.WithDeadline(ctx, m.base.Add(limit))
	defer cancel()
	rows, _ := m.pool.Query(qctx, renewSQL, m.id, m.epoch, m.opts.Lease.Microseconds(), published(&m.receiverSet), published(&m.suppliersUp))
	self, nodes, err := readView(rows)
	return renewal{sent: sent, self: self, nodes: nodes, err: err}
}

// Run keeps the lease until ctx is cancelled or the lease is lost. It renews
// it at once and then every Heartbeat (one statement at a time, which also
// reads the view of all nodes), retrying failed renewals each heartbeat and
// logging failures at most once per 10s. It returns an error wrapping
// ErrLeaseLost as soon as the local deadline passes without a successful
// renewal, or as soon as a renewal finds the row taken (another epoch, or
// left). On ctx cancellation it makes Valid false, leaves cleanly (left_at
// and lease_until set to the database's now(), for this epoch only, within a
// short timeout of its own; a failure is logged and the lease then simply
// runs out) and returns nil. Stop the work that relies on the lease before
// cancelling ctx. Run may be called only once.
func (m *Member) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return fmt.Errorf("cluster: node %s: Run called twice", m.id)
	}
	if ctx.Err() != nil {
		m.leave(ctx)
		return nil
	}
	if !m.Valid() {
		m.invalidate()
		return fmt.Errorf("cluster: node %s (epoch %d): local deadline passed before Run: %w", m.id, m.epoch, ErrLeaseLost)
	}

	ticker := time.NewTicker(m.opts.Heartbeat)
	defer ticker.Stop()
	deadline := time.NewTimer(time.Until(m.Deadline()))
	defer deadline.Stop()

	results := make(chan renewal, 1)
	var cancelRenewal context.CancelFunc // non-nil while a renewal runs
	start := func() {
		rctx, cancel := context.WithCancel(ctx)
		cancelRenewal = cancel
		go func() { results <- m.renew(rctx) }()
	}
	// finish cancels a running renewal and waits for it: it ends promptly
	// (pgx interrupts a statement whose context is done).
	finish := func() {
		if cancelRenewal != nil {
			cancelRenewal()
			<-results
			cancelRenewal = nil
		}
	}
	lost := func(format string, args ...any) error {
		m.invalidate()
		finish()
		return fmt.Errorf("cluster: node %s (epoch %d): "+format+": %w",
			append(append([]any{m.id, m.epoch}, args...), ErrLeaseLost)...)
	}

	var (
		failures  int
		lastErr   error
		loggedAt  time.Time
		lastRenew = time.Now()
	)
	start()
	for {
		select {
		case <-ctx.Done():
			m.invalidate()
			finish()
			m.leave(ctx)
			return nil

		case <-deadline.C:
			if m.Valid() { // cannot happen: extensions reset the timer
				deadline.Reset(time.Until(m.Deadline()))
				continue
			}
			return lost("no successful renewal for %v (%d failed attempts, last error: %v)",
				time.Since(lastRenew).Round(time.Millisecond), failures, lastErr)

		case <-ticker.C:
			if cancelRenewal == nil {
				start()
			}

		case r := <-results:
			cancelRenewal()
			cancelRenewal = nil
			switch {
			case r.err != nil:
				if ctx.Err() != nil {
					continue // the leave follows
				}
				failures++
				lastErr = r.err
				if failures == 1 || time.Since(loggedAt) >= failureLogEvery {
					loggedAt = time.Now()
					m.log.Warn("cluster: renew lease failed", "epoch", m.epoch, "failures", failures,
						"left", time.Until(m.Deadline()).Round(time.Millisecond), "err", r.err)
				}
			case r.self == nil:
				return lost("row taken (epoch changed or left)")
			case !m.extend(r.sent + m.opts.Lease - m.opts.Heartbeat):
				return lost("renewal answered after the local deadline")
			default:
				if failures > 0 {
					m.log.Info("cluster: lease renewed again", "epoch", m.epoch, "failures", failures)
				}
				failures, lastErr, lastRenew = 0, nil, time.Now()
				deadline.Reset(time.Until(m.Deadline()))
				m.setView(r.nodes, true)
			}
		}
	}
}

// leave gives the lease up in the database (Valid is already false).
func (m *Member) leave(ctx context.Context) {
	m.invalidate()
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaveTimeout)
	defer cancel()
	tag, err := m.pool.Exec(lctx, leaveSQL, m.id, m.epoch)
	switch {
	case err != nil:
		m.log.Warn("cluster: leave failed; the lease will run out", "epoch", m.epoch,
			"err", fmt.Errorf("cluster: leave as %s: %w", m.id, err))
	case tag.RowsAffected() == 0:
		m.log.Warn("cluster: leave found the row taken", "epoch", m.epoch)
	default:
		m.log.Info("cluster: left", "epoch", m.epoch)
	}
}

// SetReceivers names the tenants this node can deliver DLRs to (its
// receiver binds); the next renewal publishes them in its row, so that the
// other nodes know where to forward those tenants' DLRs (Node.Receivers).
func (m *Member) SetReceivers(tenants []string) { publish(&m.receiverSet, tenants) }

// SetSuppliersUp names the suppliers this node has a bind up with; the
// next renewal publishes them in its row, so that a node that binds none
// of a supplier's binds knows whether the supplier is up
// (Node.SuppliersUp).
func (m *Member) SetSuppliersUp(ids []string) { publish(&m.suppliersUp, ids) }

// publish keeps a sorted copy of ids for the next renewal.
func publish(p *atomic.Pointer[[]string], ids []string) {
	s := append([]string{}, ids...) // never nil: the column is NOT NULL
	slices.Sort(s)
	p.Store(&s)
}

// published is what the next renewal publishes of p.
func published(p *atomic.Pointer[[]string]) []string {
	if s := p.Load(); s != nil {
		return *s
	}
	return []string{}
}
