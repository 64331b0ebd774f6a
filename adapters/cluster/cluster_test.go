package cluster

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newDB returns a pool on a fresh, migrated database and that database's
// URL.
func newDB(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	ctx := ctxT(t)
	url := pgtest.NewDatabase(t)
	if err := migrations.Apply(ctx, url); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}

func opts(id string, lease, heartbeat time.Duration) Options {
	return Options{NodeID: id, Addr: id + ":2775", Lease: lease, Heartbeat: heartbeat, Logger: quiet}
}

// running is a Member's Run in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func run(t *testing.T, m *Member) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// wait returns Run's result, failing the test after d.
func (r *running) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("Run did not return within %v", d)
		return nil
	}
}

// stop cancels Run and returns its result.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t, 5*time.Second)
}

type row struct {
	epoch      int64
	leaseUntil time.Time
	leftAt     *time.Time
	expired    bool // lease_until <= clock_timestamp()
}

func readRow(t *testing.T, pool *pgxpool.Pool, id string) row {
	t.Helper()
	var r row
	err := pool.QueryRow(ctxT(t), `SELECT epoch, lease_until, left_at, lease_until <= clock_timestamp()
		FROM cluster_nodes WHERE node_id = $1`, id).Scan(&r.epoch, &r.leaseUntil, &r.leftAt, &r.expired)
	if err != nil {
		t.Fatalf("read row %s: %v", id, err)
	}
	return r
}

// eventually polls cond every 5ms until it holds, failing the test after d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runRenewed runs m and waits for its first renewal.
func runRenewed(t *testing.T, pool *pgxpool.Pool, m *Member) *running {
	t.Helper()
	r0 := readRow(t, pool, m.ID())
	r := run(t, m)
	eventually(t, 3*time.Second, "a renewal", func() bool {
		return readRow(t, pool, m.ID()).leaseUntil.After(r0.leaseUntil)
	})
	return r
}

// beginOn opens a transaction on a connection of its own (closed at the
// end of the test), for a test to hold row locks with.
func beginOn(t *testing.T, ctx context.Context, url string) pgx.Tx {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func ids(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.ID)
	}
	return out
}

func TestJoinRenewLeave(t *testing.T) {
	pool, _ := newDB(t)
	ctx := ctxT(t)
	const lease, hb = 600 * time.Millisecond, 150 * time.Millisecond
	m, err := Join(ctx, pool, opts("a", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Valid() || m.ID() != "a" || m.Epoch() != 1 {
		t.Fatalf("after join: valid %v, id %q, epoch %d; want true, a, 1", m.Valid(), m.ID(), m.Epoch())
	}
	if d := time.Until(m.Deadline()); d <= 0 || d > lease-hb {
		t.Fatalf("deadline in %v, want in (0, %v]", d, lease-hb)
	}
	nodes := m.Nodes()
	if len(nodes) != 1 || nodes[0].ID != "a" || nodes[0].Epoch != 1 || nodes[0].Addr != "a:2775" || !nodes[0].Live {
		t.Fatalf("view after join: %+v", nodes)
	}
	if got := m.LiveIDs(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("LiveIDs %v", got)
	}
	r0 := readRow(t, pool, "a")
	if r0.epoch != 1 || r0.leftAt != nil || r0.expired {
		t.Fatalf("row after join: %+v", r0)
	}

	r := run(t, m)
	eventually(t, 3*time.Second, "lease_until moves forward", func() bool {
		return readRow(t, pool, "a").leaseUntil.After(r0.leaseUntil)
	})
	if err := m.Run(ctx); err == nil {
		t.Fatal("a second Run returned nil")
	}
	// Renewals keep it valid over several leases.
	r1 := readRow(t, pool, "a")
	time.Sleep(3 * lease)
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v while renewing", err)
	default:
	}
	r2 := readRow(t, pool, "a")
	if !m.Valid() || !r2.leaseUntil.After(r1.leaseUntil) || r2.expired || r2.epoch != 1 {
		t.Fatalf("after %v: valid %v, row %+v (before: %+v)", 3*lease, m.Valid(), r2, r1)
	}
	if d := time.Until(m.Deadline()); d <= 0 || d > lease-hb {
		t.Fatalf("deadline in %v, want in (0, %v]", d, lease-hb)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	if m.Valid() || !m.Deadline().IsZero() {
		t.Fatal("valid after leave")
	}
	if r3 := readRow(t, pool, "a"); r3.leftAt == nil || !r3.expired || r3.epoch != 1 {
		t.Fatalf("row after leave: %+v", r3)
	}
}

func TestJoinRefusedWhileLive(t *testing.T) {
	pool, _ := newDB(t)
	ctx := ctxT(t)
	a, err := Join(ctx, pool, opts("a", 600*time.Millisecond, 150*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, a)
	if _, err := Join(ctx, pool, opts("a", time.Second, 200*time.Millisecond)); !errors.Is(err, ErrNodeIDInUse) {
		t.Fatalf("second join while live: %v, want ErrNodeIDInUse", err)
	}
	if !a.Valid() {
		t.Fatal("refused join disturbed the holder")
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	b, err := Join(ctx, pool, opts("a", 600*time.Millisecond, 150*time.Millisecond))
	if err != nil {
		t.Fatalf("join after a clean leave: %v", err)
	}
	if b.Epoch() != 2 || !b.Valid() {
		t.Fatalf("rejoin: epoch %d, valid %v; want 2, true", b.Epoch(), b.Valid())
	}
	if row := readRow(t, pool, "a"); row.epoch != 2 || row.leftAt != nil || row.expired {
		t.Fatalf("row after rejoin: %+v", row)
	}
}

func TestConcurrentJoinsOneWins(t *testing.T) {
	pool, _ := newDB(t)
	ctx := ctxT(t)
	const n = 8
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		won    []*Member
		others []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := Join(ctx, pool, opts("racer", 5*time.Second, time.Second))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won = append(won, m)
			} else {
				others = append(others, err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d joins won, want 1 (errors: %v)", len(won), others)
	}
	for _, err := range others {
		if !errors.Is(err, ErrNodeIDInUse) {
			t.Fatalf("losing join: %v, want ErrNodeIDInUse", err)
		}
	}
	if won[0].Epoch() != 1 {
		t.Fatalf("epoch %d, want 1", won[0].Epoch())
	}
}

// A lease that runs out without a leave: the node's local deadline passes
// before the database's lease_until; then the id may join again (epoch+1)
// and the old member's Run fails at once.
func TestJoinAfterExpiry(t *testing.T) {
	pool, _ := newDB(t)
	ctx := ctxT(t)
	const lease, hb = 300 * time.Millisecond, 100 * time.Millisecond
	old, err := Join(ctx, pool, opts("a", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "local lease runs out", func() bool { return !old.Valid() })
	var left time.Duration
	if err := pool.QueryRow(ctx, `SELECT lease_until - clock_timestamp() FROM cluster_nodes WHERE node_id = 'a'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left < hb/2 {
		t.Fatalf("the local lease ran out %v before the database's, want about a heartbeat (%v)", left, hb)
	}
	eventually(t, 2*time.Second, "rejoin succeeds", func() bool {
		m, err := Join(ctx, pool, opts("a", lease, hb))
		if err != nil && !errors.Is(err, ErrNodeIDInUse) {
			t.Fatal(err)
		}
		if err == nil && m.Epoch() != 2 {
			t.Fatalf("epoch %d, want 2", m.Epoch())
		}
		return err == nil
	})
	if err := old.Run(ctx); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Run of the expired member: %v, want ErrLeaseLost", err)
	}
}

// The row taken under a running member: its next renewal finds zero rows
// and Run fails at once, long before the local deadline.
func TestLeaseLostWhenRowTaken(t *testing.T) {
	for name, stmt := range map[string]string{
		"epoch changed": `UPDATE cluster_nodes SET epoch = epoch + 1 WHERE node_id = 'a'`,
		"left":          `UPDATE cluster_nodes SET left_at = now() WHERE node_id = 'a'`,
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			pool, _ := newDB(t)
			ctx := ctxT(t)
			const lease, hb = 3 * time.Second, 100 * time.Millisecond
			m, err := Join(ctx, pool, opts("a", lease, hb))
			if err != nil {
				t.Fatal(err)
			}
			r0 := readRow(t, pool, "a")
			r := run(t, m)
			eventually(t, 3*time.Second, "a renewal", func() bool {
				return readRow(t, pool, "a").leaseUntil.After(r0.leaseUntil)
			})
			if _, err := pool.Exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = r.wait(t, 5*time.Second)
			if !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("Run: %v, want ErrLeaseLost", err)
			}
			if took := time.Since(start); took > lease/2 {
				t.Fatalf("Run noticed after %v, want within a few heartbeats (%v)", took, hb)
			}
			if m.Valid() {
				t.Fatal("valid after the row was taken")
			}
		})
	}
}

// Renewals that cannot complete (the row is locked by another
// transaction): Run fails at the local deadline, and the node is not Valid
// while the database still counts its lease.
func TestLeaseLostWhenRenewalsBlock(t *testing.T) {
	pool, url := newDB(t)
	ctx := ctxT(t)
	const lease, hb = 600 * time.Millisecond, 150 * time.Millisecond
	m, err := Join(ctx, pool, opts("a", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	r := runRenewed(t, pool, m)
	tx := beginOn(t, ctx, url)
	defer tx.Rollback(context.Background())
	var leaseUntil, lockedAt time.Time
	if err := tx.QueryRow(ctx, `SELECT lease_until, clock_timestamp() FROM cluster_nodes
		WHERE node_id = 'a' FOR UPDATE`).Scan(&leaseUntil, &lockedAt); err != nil {
		t.Fatal(err)
	}
	if !m.Valid() {
		t.Fatal("not valid before the lock")
	}

	err = r.wait(t, 3*time.Second)
	valid := m.Valid()
	var dbNow time.Time
	if err2 := tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&dbNow); err2 != nil {
		t.Fatal(err2)
	}
	if !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Run: %v, want ErrLeaseLost", err)
	}
	if valid {
		t.Fatal("Valid after Run returned ErrLeaseLost")
	}
	margin := leaseUntil.Sub(dbNow)
	t.Logf("locked %v before the database's lease end; Run returned %v before it", leaseUntil.Sub(lockedAt), margin)
	// The node stopped about a heartbeat before the database's lease end:
	// the local deadline is a heartbeat before it, less the time from
	// sending the last renewal to its execution; the margin measured here
	// is smaller by the time Run took to return and this query's.
	if margin < hb/2 {
		t.Fatalf("Run returned %v before the database's lease end, want about one heartbeat (%v)", margin, hb)
	}
	// And not much earlier than the local deadline.
	if margin > hb+100*time.Millisecond {
		t.Fatalf("Run returned %v before the database's lease end, want about one heartbeat (%v)", margin, hb)
	}
}

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Renewals blocked for a few heartbeats, less than the lease's slack: the
// failed attempts are retried each heartbeat, logged once, and the node
// stays valid throughout.
func TestRenewalRetriedAfterFailures(t *testing.T) {
	pool, url := newDB(t)
	ctx := ctxT(t)
	const lease, hb = time.Second, 150 * time.Millisecond
	var logs syncBuffer
	o := opts("a", lease, hb)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	m, err := Join(ctx, pool, o)
	if err != nil {
		t.Fatal(err)
	}
	r := runRenewed(t, pool, m)
	tx := beginOn(t, ctx, url)
	var locked time.Time
	if err := tx.QueryRow(ctx, `SELECT lease_until FROM cluster_nodes WHERE node_id = 'a' FOR UPDATE`).Scan(&locked); err != nil {
		t.Fatal(err)
	}
	for range 40 { // 400ms, while the local deadline is at least 700ms away
		if !m.Valid() {
			t.Fatal("not valid while renewals are blocked within the lease's slack")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "renewals resume", func() bool {
		return readRow(t, pool, "a").leaseUntil.After(locked.Add(2 * hb))
	})
	if !m.Valid() {
		t.Fatal("not valid after renewals resumed")
	}
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v", err)
	default:
	}
	out := logs.String()
	if n := strings.Count(out, "renew lease failed"); n != 1 {
		t.Fatalf("%d renewal failures logged, want 1 (rate-limited):\n%s", n, out)
	}
	if !strings.Contains(out, "lease renewed again") {
		t.Fatalf("recovery not logged:\n%s", out)
	}
}

func TestExpiredAndLeft(t *testing.T) {
	pool, _ := newDB(t)
	ctx := ctxT(t)
	const lease, hb = 300 * time.Millisecond, 100 * time.Millisecond
	a, err := Join(ctx, pool, opts("a", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	run(t, a)
	if _, err := Join(ctx, pool, opts("b", lease, hb)); err != nil { // never renewed
		t.Fatal(err)
	}
	c, err := Join(ctx, pool, opts("c", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t, c).stop(t); err != nil { // a clean leave
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "b expired in a's view", func() bool {
		return slices.Contains(ids(a.Expired()), "b")
	})
	if got := ids(a.Expired()); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("Expired %v, want [b] (c left cleanly, a is alive)", got)
	}
	if got := a.LiveIDs(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("LiveIDs %v, want [a]", got)
	}
	nodes := a.Nodes()
	if got := ids(nodes); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Nodes %v", got)
	}
	if !nodes[0].Live || nodes[1].Live || !nodes[1].LeftAt.IsZero() || nodes[2].Live || nodes[2].LeftAt.IsZero() {
		t.Fatalf("Nodes %+v", nodes)
	}
}

func TestChanges(t *testing.T) {
	pool, _ := newDB(t)
	ctx := ctxT(t)
	const lease, hb = 600 * time.Millisecond, 150 * time.Millisecond
	a, err := Join(ctx, pool, opts("a", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	run(t, a)
	select {
	case <-a.Changes():
		t.Fatalf("change signalled while alone (live %v)", a.LiveIDs())
	case <-time.After(3 * hb):
	}

	b, err := Join(ctx, pool, opts("b", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	rb := run(t, b)
	select {
	case <-a.Changes():
	case <-time.After(3 * time.Second):
		t.Fatal("no change signalled when b joined")
	}
	if got := a.LiveIDs(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("LiveIDs after b joined: %v", got)
	}
	eventually(t, 3*time.Second, "b sees a", func() bool { return slices.Equal(b.LiveIDs(), []string{"a", "b"}) })

	if err := rb.stop(t); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Changes():
	case <-time.After(3 * time.Second):
		t.Fatal("no change signalled when b left")
	}
	if got := a.LiveIDs(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("LiveIDs after b left: %v", got)
	}
	if got := a.Expired(); len(got) != 0 {
		t.Fatalf("Expired after a clean leave: %+v", got)
	}
}

func TestOptions(t *testing.T) {
	for _, id := range []string{"", "A", "-a", "_a", "node 1", "node.1", "nöde", strings.Repeat("a", 64)} {
		if ValidNodeID(id) {
			t.Errorf("ValidNodeID(%q) = true", id)
		}
		if _, err := Join(context.Background(), nil, Options{NodeID: id}); !errors.Is(err, ErrInvalidNodeID) {
			t.Errorf("Join with id %q: %v, want ErrInvalidNodeID", id, err)
		}
	}
	for _, id := range []string{"a", "0", "node-1f2e3d4c", "db_1", strings.Repeat("a", 63)} {
		if !ValidNodeID(id) {
			t.Errorf("ValidNodeID(%q) = false", id)
		}
	}
	for _, o := range []Options{
		{NodeID: "a", Lease: time.Second, Heartbeat: 500 * time.Millisecond},
		{NodeID: "a", Lease: time.Second, Heartbeat: 2 * time.Second},
		{NodeID: "a", Lease: -time.Second},
		{NodeID: "a", Heartbeat: -time.Second},
		{NodeID: "a", Heartbeat: 3 * time.Second},
	} {
		if err := o.validate(); err == nil {
			t.Errorf("validate(%+v) = nil", o)
		}
	}
	o := Options{NodeID: "a"}
	if err := o.validate(); err != nil || o.Lease != DefaultLease || o.Heartbeat != min(DefaultHeartbeat, DefaultLease/5) || o.Logger == nil {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	o = Options{NodeID: "a", Lease: 2 * time.Second}
	if err := o.validate(); err != nil || o.Heartbeat != 400*time.Millisecond {
		t.Errorf("default heartbeat for a 2s lease: %v, %v; want 400ms", o.Heartbeat, err)
	}
}

func TestNodeIDFile(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewNodeID()
		if !ValidNodeID(id) || !strings.HasPrefix(id, "node-") || len(id) != len("node-")+8 || seen[id] {
			t.Fatalf("NewNodeID() = %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}

	dir := filepath.Join(t.TempDir(), "data")
	id, err := NodeIDFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidNodeID(id) {
		t.Fatalf("created id %q invalid", id)
	}
	fi, err := os.Stat(filepath.Join(dir, NodeIDFileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("node-id file mode %v, want 0600", perm)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("dir holds %v (%v), want the node-id file only", entries, err)
	}
	for range 2 {
		again, err := NodeIDFile(dir)
		if err != nil || again != id {
			t.Fatalf("re-read %q, %v; want %q", again, err, id)
		}
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, NodeIDFileName), []byte("Not An Id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NodeIDFile(bad); !errors.Is(err, ErrInvalidNodeID) {
		t.Fatalf("bad node-id file: %v, want ErrInvalidNodeID", err)
	}
}

// publishingPair joins nodes a and b (lease 600 ms, heartbeat 100 ms) and
// runs them, for the tests of what a renewal publishes.
func publishingPair(t *testing.T) (a, b *Member) {
	t.Helper()
	pool, _ := newDB(t)
	ctx := ctxT(t)
	const lease, hb = 600 * time.Millisecond, 100 * time.Millisecond
	a, err := Join(ctx, pool, opts("a", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	b, err = Join(ctx, pool, opts("b", lease, hb))
	if err != nil {
		t.Fatal(err)
	}
	run(t, a)
	run(t, b)
	return a, b
}

// nodeOf is node id in m's view (zero if absent).
func nodeOf(m *Member, id string) Node {
	for _, n := range m.Nodes() {
		if n.ID == id {
			return n
		}
	}
	return Node{}
}

// TestReceiversPublished: the tenants a node names with SetReceivers reach
// the other nodes' views at its next renewal, sorted; a change replaces them.
func TestReceiversPublished(t *testing.T) {
	a, b := publishingPair(t)
	a.SetReceivers([]string{"zeta", "acme"})
	eventually(t, 3*time.Second, "b sees a's receivers", func() bool {
		return slices.Equal(nodeOf(b, "a").Receivers, []string{"acme", "zeta"})
	})
	a.SetReceivers(nil)
	eventually(t, 3*time.Second, "b sees a's receivers gone", func() bool { return len(nodeOf(b, "a").Receivers) == 0 })
	if got := nodeOf(a, "b").Receivers; len(got) != 0 {
		t.Fatalf("b never named receivers, a sees %v", got)
	}
}

// TestSuppliersUpPublished: the suppliers a node names with SetSuppliersUp
// reach the other nodes' views at its next renewal, sorted, apart from its
// receivers; a change replaces them.
func TestSuppliersUpPublished(t *testing.T) {
	a, b := publishingPair(t)
	a.SetSuppliersUp([]string{"sup2", "sup1"})
	a.SetReceivers([]string{"acme"})
	eventually(t, 3*time.Second, "b sees a's suppliers up", func() bool {
		n := nodeOf(b, "a")
		return slices.Equal(n.SuppliersUp, []string{"sup1", "sup2"}) && slices.Equal(n.Receivers, []string{"acme"})
	})
	a.SetSuppliersUp(nil)
	eventually(t, 3*time.Second, "b sees a's suppliers gone", func() bool { return len(nodeOf(b, "a").SuppliersUp) == 0 })
	if n := nodeOf(b, "a"); !slices.Equal(n.Receivers, []string{"acme"}) {
		t.Fatalf("a's receivers went with its suppliers: %v", n.Receivers)
	}
}
