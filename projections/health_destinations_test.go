package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

// traffic appends hand-made events to their streams.
type traffic struct {
	t        *testing.T
	e        *env
	versions map[string]uint64
}

func (tr *traffic) add(stream string, evs ...events.Event) {
	tr.t.Helper()
	data, err := workload.Encode(workload.Append{Stream: stream, Expected: eventstore.Any, Events: evs}, tr.versions[stream])
	if err != nil {
		tr.t.Fatal(err)
	}
	if _, err := tr.e.store.Append(context.Background(), stream, eventstore.Any, data...); err != nil {
		tr.t.Fatal(err)
	}
	tr.versions[stream] += uint64(len(evs))
}

// accept appends a message's acceptance and route: to network mccmnc
// (empty: unknown) over route prefix 447, supplier sup.
func (tr *traffic) accept(id uuid.UUID, mccmnc, sup string, at time.Time) {
	tr.t.Helper()
	tr.add(events.MessageStream(id),
		events.MessageAccepted{MessageID: id, TenantID: "t1", Channel: "http", From: "Shop", To: "447700900123", Text: "hi",
			Encoding: "gsm7", Parts: 1, RatePrefix: "44", MCCMNC: mccmnc, PricePerPart: dd("0.05"), Price: dd("0.05"),
			Currency: "EUR", Billing: "on_submit", At: at},
		events.RouteSelected{MessageID: id, RoutePrefix: "447", Tier: "standard", Winner: sup, Reason: "only_candidate",
			Candidates: []events.RouteCandidate{{SupplierID: sup, Preference: 1, CostPerPart: dd("0.01"), Currency: "EUR", Up: true, HealthScore: 1000, Eligible: true}},
			At:         at})
}

// A supplier that rejects everything on one network and delivers on
// another gets a score per network: bad on the first, full on the second,
// and routing's snapshot takes each where it applies. The messages'
// destinations are learnt in one batch and used in later ones.
func TestRouteHealthPerNetwork(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tr := &traffic{t: t, e: e, versions: map[string]uint64{}}
	base := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	tr.add(events.SupplierStream("s1"), events.SupplierCreated{SupplierID: "s1", Name: "S1", Currency: "EUR", Binds: 1, At: base})

	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, projections.Options{Logger: quiet, BatchInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	const n = 30
	failing, fine := make([]uuid.UUID, n), make([]uuid.UUID, n)
	// A message accepted four days before the others: its row is pruned.
	old := uuid.New()
	tr.accept(old, "23415", "s1", base.Add(-96*time.Hour))
	for i := range n {
		failing[i], fine[i] = uuid.New(), uuid.New()
		tr.accept(failing[i], "23415", "s1", base)
		tr.accept(fine[i], "23420", "s1", base)
	}
	waitForHead(t, e, rt)
	// The old one is pruned as soon as newer traffic is applied.
	if got := count(t, e, "readmodel.route_health_messages"); got != 2*n {
		t.Fatalf("message destinations stored: %d, want %d", got, 2*n)
	}

	at := base.Add(time.Minute)
	for i := range n {
		tr.add(events.MessageStream(failing[i]),
			events.SubmittedToSupplier{MessageID: failing[i], SupplierID: "s1", Attempt: 1, At: at},
			events.SupplierRejected{MessageID: failing[i], SupplierID: "s1", Attempt: 1, CommandStatus: 0x45, At: at})
		tr.add(events.MessageStream(fine[i]),
			events.SubmittedToSupplier{MessageID: fine[i], SupplierID: "s1", Attempt: 1, At: at},
			events.SupplierAccepted{MessageID: fine[i], SupplierID: "s1", Attempt: 1, SupplierMessageID: fmt.Sprint("x", i), LatencyMs: 40, At: at})
		if i == n/2 {
			waitForHead(t, e, rt) // the DLRs of some in another batch
		}
		tr.add(events.MessageStream(fine[i]),
			events.DeliveryReported{MessageID: fine[i], SupplierID: "s1", SupplierMessageID: fmt.Sprint("x", i), Status: "DELIVRD", At: at.Add(time.Second)})
	}
	waitForHead(t, e, rt)
	// The delivered messages are forgotten at their final DLR; the
	// rejected ones wait (a failover or a DLR may come).
	if got := count(t, e, "readmodel.route_health_messages"); got != n {
		t.Errorf("message destinations left: %d, want %d", got, n)
	}

	rep, err := projections.SupplierHealthDetail(ctx, e.pool, "s1", base.Add(5*time.Minute), 15*time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Supplier.Submits != 2*n || rep.Supplier.Accepted != n || rep.Supplier.Rejected != n || rep.Supplier.SubmitSuccess != 500 {
		t.Errorf("supplier level: %+v", rep.Supplier)
	}
	if len(rep.Networks) != 2 {
		t.Fatalf("networks: %+v", rep.Networks)
	}
	bad, good := rep.Networks[0], rep.Networks[1] // worst first
	if bad.MCCMNC != "23415" || bad.Rejected != n || bad.Accepted != 0 || bad.SubmitSuccess != 0 || bad.Score != 500 {
		t.Errorf("failing network: %+v", bad)
	}
	if good.MCCMNC != "23420" || good.Accepted != n || good.Delivered != n || good.SubmitSuccess != 1000 || good.DeliveryRate != 1000 ||
		good.LatencyP95Ms != 50 || good.Score != routing.ScoreMax {
		t.Errorf("fine network: %+v", good)
	}
	if len(rep.Prefixes) != 1 || rep.Prefixes[0].RoutePrefix != "447" || rep.Prefixes[0].Submits != 2*n || rep.Prefixes[0].SubmitSuccess != 500 {
		t.Errorf("prefixes: %+v", rep.Prefixes)
	}
	if rep, err := projections.SupplierHealthDetail(ctx, e.pool, "s1", base.Add(5*time.Minute), 15*time.Minute, 1); err != nil || len(rep.Networks) != 1 || rep.Networks[0].MCCMNC != "23415" {
		t.Errorf("limit 1: %+v %v", rep.Networks, err)
	}

	h, err := projections.HealthSnapshot(ctx, e.pool, base.Add(5*time.Minute), 15*time.Minute, 600)
	if err != nil {
		t.Fatal(err)
	}
	vodafone, _ := numbering.ParseCode("23415")
	three, _ := numbering.ParseCode("23420")
	if got := h.OfOn("s1", vodafone, "447"); got.Score != 500 || !got.Up {
		t.Errorf("on the failing network: %+v", got)
	}
	if got := h.OfOn("s1", three, "447"); got.Score != routing.ScoreMax {
		t.Errorf("on the fine network: %+v", got)
	}
	if got, sup := h.OfOn("s1", 0, "447"), h.Of("s1"); got.Score != rep.Prefixes[0].Score || sup.Score != rep.Supplier.Score {
		t.Errorf("prefix level %+v, supplier %+v", got, sup)
	}

	// A replay rebuilds the same counters.
	rt.Close()
	rp, err := projections.Replay(ctx, e.store, e.pool, projections.ReplayOptions{Verify: true, BatchEventsMax: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(rp.Differences) != 0 {
		t.Fatalf("replay differs: %v", rp.Differences)
	}
	for _, c := range rp.Checksums {
		if c.ReadModel == projections.ProjectorRouteHealthDestinations && c.Rows != 3 {
			t.Errorf("%s: %d rows, want 3 (two networks, one prefix, one minute)", c.ReadModel, c.Rows)
		}
	}
}

func count(t *testing.T, e *env, table string) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
