package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/cluster"
	"github.com/smsledger/smsledger/adapters/pgembed/pgtest"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/eventstore/kurrentstore"
	"github.com/smsledger/smsledger/eventstore/kurrentstore/kurrenttest"
)

// TestServeCluster runs two serve nodes on one database, with the log in
// PostgreSQL and on KurrentDB: a serve outside the cluster is refused;
// both nodes take submits for one tenant whose balance covers 20 messages
// and together accept no more; DLRs reach the tenant's receiver bind on
// the other node once; a node that cannot renew its lease stops, and the
// other takes its work over within the lease and a few heartbeats.
func TestServeCluster(t *testing.T) {
	t.Run("postgres", func(t *testing.T) { testServeCluster(t, "") })
	t.Run("kurrentdb", func(t *testing.T) {
		node, err := kurrenttest.New(kurrenttest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(node.Stop)
		testServeCluster(t, node.URL())
	})
}

func testServeCluster(t *testing.T, kurrentURL string) {
	var fatal atomic.Value // the error a node stopped on
	exit := clusterFatal
	clusterFatal = func(_ interface{ Error(string, ...any) }, err error) { fatal.Store(err) }
	t.Cleanup(func() { clusterFatal = exit })

	db := pgtest.NewDatabase(t)
	sim := startSim(t, smscsim.Config{SystemID: "s", Password: "p"})
	dir := t.TempDir()
	key := filepath.Join(dir, "seal.key")
	const admin = testAdminToken
	logArgs := []string{}
	if kurrentURL != "" {
		logArgs = []string{"--eventstore", kurrentURL}
	}
	node := func(id string) (readyInfo, func() error) {
		return serveInProcess(t, append([]string{"--database-url", db, "--cluster", "--node-id", id, "--cluster-lease", "2s",
			"--seal-key-file", key, "--admin-token", admin, "--data-dir", filepath.Join(dir, id)}, logArgs...)...)
	}
	a, _ := node("node-a")

	code, stderr := runServeCmd(t, "--database-url", db, "--data-dir", filepath.Join(dir, "single"), "--seal-key-file", key, "--admin-token", admin)
	if code != exitError || !strings.Contains(stderr, "another smsledger serve is using this database") || !strings.Contains(stderr, "--cluster") {
		t.Fatalf("serve outside the cluster: exit %d, stderr:\n%s", code, stderr)
	}
	code, stderr = runServeCmd(t, "--database-url", db, "--cluster", "--node-id", "node-a", "--cluster-lease", "2s",
		"--data-dir", filepath.Join(dir, "again"), "--seal-key-file", key, "--admin-token", admin)
	if code != exitError || !strings.Contains(stderr, "node id held by a live node") {
		t.Fatalf("a second node-a: exit %d, stderr:\n%s", code, stderr)
	}
	b, stopB := node("node-b")

	baseA, baseB := "http://"+a.HTTPAddr, "http://"+b.HTTPAddr
	must := apiMust(t, &baseA)
	must(201, "POST", "/v1/tenants", admin, `{"id":"acme","name":"Acme","currency":"EUR","billing":"on_submit","tps_limit":1000,"credit_limit":"0","tier":"standard"}`)
	must(200, "PUT", "/v1/tenants/acme/rates", admin, `[{"prefix":"49","price":"0.05"}]`)
	host, port, _ := net.SplitHostPort(sim.Addr())
	must(201, "POST", "/v1/suppliers", admin, fmt.Sprintf(`{"id":"sup1","name":"S","currency":"EUR","host":%q,"port":%s,"system_id":"s","password":"p","binds":2,"tps_limit":200,"window":10}`, host, port))
	must(200, "PUT", "/v1/suppliers/sup1/costs", admin, `[{"prefix":"49","cost":"0.02"}]`)
	must(200, "PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1"]}]`)
	apiKey, _ := must(201, "POST", "/v1/tenants/acme/api-keys", admin, "")["key"].(string)
	must(201, "POST", "/v1/tenants/acme/topups", admin, `{"amount":"1.00","reference":"wire-1"}`)
	// Each node binds its share of the supplier's 2 binds: one.
	waitSupplierUp(t, baseA, "sup1")
	waitSupplierUp(t, baseB, "sup1")

	// 2 × 20 submits at once on the two nodes: at most 20 are accepted.
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for _, base := range []string{baseA, baseB} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					st, body := apiCall(t, "POST", base+"/v1/messages", apiKey, `{"from":"Acme","to":"+4915112345678","text":"hi"}`)
					switch st {
					case 202:
						accepted.Add(1)
					case 402, 429:
					default:
						t.Errorf("submit on %s: %d %v", base, st, body)
					}
				}
			}()
		}
	}
	wg.Wait()
	if n := accepted.Load(); n > 20 || n < 10 {
		t.Fatalf("accepted %d of 40 on two nodes with money for 20", n)
	}
	for _, base := range []string{baseA, baseB} {
		_, bal := apiCall(t, "GET", base+"/v1/balance", apiKey, "")
		if strings.HasPrefix(fmt.Sprint(bal["available"]), "-") || bal["available"] == nil {
			t.Fatalf("balance on %s: %v", base, bal)
		}
	}

	// DLRs cross nodes: the tenant submits on node-a (a transmitter bind)
	// and takes its DLRs on node-b (a receiver bind): node-b, the only node
	// with a receiver of the tenant, forwards each once.
	must(200, "POST", "/v1/tenants/acme/smpp-credentials", admin, `{"system_id":"acme","password":"s3cret"}`)
	must(201, "POST", "/v1/tenants/acme/topups", admin, `{"amount":"1","reference":"wire-2"}`)
	rx := dialESMEAs(t, b.SMPPAddr, "acme", "s3cret", pdu.NewBindReceiver())
	tx := dialESMEAs(t, a.SMPPAddr, "acme", "s3cret", pdu.NewBindTransmitter())
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var published bool
		if err := conn.QueryRow(ctx, `SELECT 'acme' = ANY(receivers) FROM cluster_nodes WHERE node_id = 'node-b'`).Scan(&published); err != nil {
			t.Fatal(err)
		}
		if published {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node-b did not publish its receiver of acme")
		}
	}
	var ids []string
	for range 5 {
		id, st := tx.submit("+4915112345678", "dlr across nodes")
		if st != data.ESME_ROK {
			t.Fatalf("submit on node-a: status 0x%X", uint32(st))
		}
		ids = append(ids, id)
	}
	for id, txt := range rx.receipts(ids) {
		if !strings.Contains(txt, "stat:DELIVRD") {
			t.Fatalf("DLR of %s on node-b: %q", id, txt)
		}
	}
	// None a second time (e.g. from node-a as well).
	select {
	case p := <-rx.pdus:
		if d, ok := p.(*pdu.DeliverSM); ok {
			txt, _ := d.Message.GetMessage()
			t.Fatalf("another deliver_sm after every DLR came: %q", txt)
		}
	case <-time.After(2 * time.Second):
	}
	accepted.Add(int64(len(ids)))

	// A supplier with one bind for two nodes: only node-a (the first by
	// id) binds it; node-b hands its messages for it over to node-a, and
	// they are sent all the same.
	sim2 := startSim(t, smscsim.Config{SystemID: "s2", Password: "p"})
	host2, port2, _ := net.SplitHostPort(sim2.Addr())
	must(201, "POST", "/v1/suppliers", admin, fmt.Sprintf(`{"id":"sup2","name":"S2","currency":"EUR","host":%q,"port":%s,"system_id":"s2","password":"p","binds":1,"tps_limit":100,"window":10}`, host2, port2))
	must(200, "PUT", "/v1/suppliers/sup2/costs", admin, `[{"prefix":"44","cost":"0.02"}]`)
	must(200, "PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1"]},{"prefix":"44","suppliers":["sup2"]}]`)
	must(200, "PUT", "/v1/tenants/acme/rates", admin, `[{"prefix":"49","price":"0.05"},{"prefix":"44","price":"0.05"}]`)
	must(201, "POST", "/v1/tenants/acme/topups", admin, `{"amount":"1","reference":"wire-3"}`)
	waitSupplierUp(t, baseA, "sup2")
	for _, base := range []string{baseB, baseA} {
		for range 4 {
			if st, body := apiCall(t, "POST", base+"/v1/messages", apiKey, `{"from":"Acme","to":"+447700900123","text":"one bind"}`); st != 202 {
				t.Fatalf("submit for sup2 on %s: %d %v", base, st, body)
			}
			accepted.Add(1)
		}
	}
	sentBy := func() int {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM readmodel.cdrs WHERE supplier_id = 'sup2' AND state = 'delivered'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for deadline := time.Now().Add(15 * time.Second); sentBy() < 8; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 8 messages for the one-bind supplier delivered", sentBy())
		}
	}
	if n := sim2.Sessions(); n != 1 {
		t.Fatalf("the one-bind supplier has %d sessions, want 1", n)
	}

	// node-b cannot renew: its row is locked. It stops (as it would exit),
	// and node-a takes it over once its lease expired.
	lock, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(ctx, `SELECT 1 FROM cluster_nodes WHERE node_id = 'node-b' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for fatal.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("node-b did not stop when it could not renew its lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err, _ := fatal.Load().(error); !errors.Is(err, cluster.ErrLeaseLost) {
		t.Fatalf("node-b stopped on %v, want the lost lease", err)
	}
	_ = lock.Rollback(ctx)
	_ = stopB()

	var leaseUntil, takenAt time.Time
	if err := conn.QueryRow(ctx, `SELECT lease_until FROM cluster_nodes WHERE node_id = 'node-b'`).Scan(&leaseUntil); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		at, ok := takenOverAt(t, conn, kurrentURL, "node-b")
		if ok {
			takenAt = at
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node-b not taken over within 15 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("takeover %d ms after node-b's lease expired", takenAt.Sub(leaseUntil).Milliseconds())
	if takenAt.Sub(leaseUntil) > 5*time.Second {
		t.Errorf("takeover %s after the lease expired, want within 5 s", takenAt.Sub(leaseUntil))
	}
	// node-a goes on alone: what node-b leased comes back to it, and every
	// accepted message ends delivered.
	waitDelivered(t, baseA, admin, int(accepted.Load()))
	bal := must(200, "GET", "/v1/balance", apiKey, "")
	want := decimal.NewFromInt(3).Sub(decimal.RequireFromString("0.05").Mul(decimal.NewFromInt(accepted.Load())))
	if bal["held"] != "0" || bal["balance"] != want.String() {
		t.Fatalf("balance after %d delivered: %v", accepted.Load(), bal)
	}
}

// waitDelivered waits until n CDRs of tenant acme are delivered.
func waitDelivered(t *testing.T, base, admin string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := apiCall(t, "GET", base+"/v1/cdrs?tenant_id=acme&limit=1000", admin, "")
		items, _ := body["items"].([]any)
		done := 0
		for _, it := range items {
			if m, _ := it.(map[string]any); m["state"] == "delivered" {
				done++
			}
		}
		if done == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages delivered after 30 s: %v", done, n, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// takenOverAt reads when the log recorded the takeover of node (the
// cluster stream, in PostgreSQL or on KurrentDB).
func takenOverAt(t *testing.T, conn *pgx.Conn, kurrentURL, node string) (time.Time, bool) {
	t.Helper()
	ctx := context.Background()
	if kurrentURL == "" {
		var at time.Time
		err := conn.QueryRow(ctx, `SELECT recorded_at FROM es_events WHERE stream_id = 'cluster' AND event_type = 'NodeTakenOver' AND data LIKE '%"node":"`+node+`"%'`).Scan(&at)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
		return at, err == nil
	}
	store, err := kurrentstore.Open(ctx, kurrentURL, kurrentstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, err := store.ReadStream(ctx, "cluster", 0, 100)
	if err != nil {
		return time.Time{}, false
	}
	for _, e := range evs {
		if e.Type == "NodeTakenOver" && strings.Contains(string(e.Data), `"node":"`+node+`"`) {
			return e.RecordedAt, true
		}
	}
	return time.Time{}, false
}
