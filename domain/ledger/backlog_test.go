package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/message"
)

// Backpressure (backlog.go): nothing here drains the lifecycle but the test
// itself — no dispatch runs, so every accepted message stays routed, the
// node's backlog, until the test moves it on.

// backlogWorld is a ledger with a small backlog bound and tenants of the
// given tiers, each with money for many messages.
func backlogWorld(t *testing.T, bound int, tiers map[string]string) *ledger.Service {
	t.Helper()
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{BacklogMax: bound})
	for id, tier := range tiers {
		ledgertest.Setup(t, svc, id)
		if _, err := svc.TopUp(ctx, id, dec("1000"), "t-"+id); err != nil {
			t.Fatal(err)
		}
		if tier != "standard" {
			if _, err := svc.PatchTenant(ctx, id, ledger.TenantPatch{Tier: &tier}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return svc
}

// submitN submits n messages for tenant and returns how many were accepted;
// every refusal must be a backlog refusal (an ErrThrottled, code throttled).
func submitN(t *testing.T, svc *ledger.Service, tenant string, n int) int {
	t.Helper()
	accepted := 0
	for range n {
		_, err := svc.Submit(context.Background(), tenant, accept.Request{To: "+4915112345678", Text: "x", RegisteredDelivery: true})
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, ledger.ErrBacklog) && errors.Is(err, ledger.ErrThrottled) && ledger.CodeOf(err) == ledger.CodeThrottled:
		default:
			t.Fatalf("submit for %s: %v, want accepted or refused for backlog", tenant, err)
		}
	}
	return accepted
}

func backlogTotal(svc *ledger.Service) int64 {
	b := svc.Backlog()
	return b.Dispatch + b.DLRIntake + b.DLRForward
}

// supplierAccepts moves up to n of tenant's routed messages past the
// supplier's submit_sm_resp: no longer the node's backlog (the DLR wait is
// the supplier's). It returns the supplier message ids by message.
func supplierAccepts(t *testing.T, svc *ledger.Service, tenant string, n int) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, w := range svc.Unfinished(func(w *ledger.Work) bool { return w.NeedsDispatch() && w.Message.TenantID == tenant }, n) {
		id := w.Message.ID
		if _, err := svc.SubmittedToSupplier(ctx, id); err != nil {
			t.Fatal(err)
		}
		smid := "SUP-" + id.String()
		if _, err := svc.SupplierAccepted(ctx, id, "sup1", 1, smid, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		out[id.String()] = smid
	}
	return out
}

func TestBacklogRefusesEconomyThenStandardThenPremium(t *testing.T) {
	// Bound 20: economy fair from 10, all from 15; standard fair from 15,
	// all from 20; premium fair from 18, all from 20.
	svc := backlogWorld(t, 20, map[string]string{"eco": "economy", "std": "standard", "prem": "premium", "prem2": "premium"})

	if got := submitN(t, svc, "prem", 9); got != 9 {
		t.Fatalf("premium below every line: %d of 9 accepted", got)
	}
	if got := submitN(t, svc, "eco", 1); got != 1 {
		t.Fatalf("economy below 50 %%: %d of 1 accepted", got)
	}
	if b := svc.Backlog(); b.Dispatch != 10 || b.DLRIntake != 0 || b.DLRForward != 0 || b.Max != 20 {
		t.Fatalf("backlog of 10 routed messages: %+v", b)
	}
	// 50 %: economy, holding all of its tier's backlog, is refused; the
	// others are not.
	if got := submitN(t, svc, "eco", 3); got != 0 {
		t.Fatalf("economy at 50 %%: %d accepted, want 0", got)
	}
	if got := submitN(t, svc, "std", 4); got != 4 {
		t.Fatalf("standard at 50-70 %%: %d of 4 accepted", got)
	}
	if got := submitN(t, svc, "prem", 1); got != 1 {
		t.Fatal("premium at 70 %: refused")
	}
	// 75 %: economy all refused, standard (one tenant: its tier's whole
	// share) refused, premium still accepted.
	if got := submitN(t, svc, "eco", 2) + submitN(t, svc, "std", 2); got != 0 {
		t.Fatalf("economy and standard at 75 %%: %d accepted", got)
	}
	if got := submitN(t, svc, "prem", 3); got != 3 {
		t.Fatalf("premium at 75-85 %%: %d of 3 accepted", got)
	}
	// 90 %: the premium tenant holding its tier's backlog is refused; a
	// premium tenant holding less still gets in, up to the bound.
	if got := submitN(t, svc, "prem", 2); got != 0 {
		t.Fatalf("premium flooder at 90 %%: %d accepted", got)
	}
	if got := submitN(t, svc, "prem2", 5); got != 2 {
		t.Fatalf("small premium tenant at 90 %%: %d accepted, want 2 (to the bound)", got)
	}
	if n := backlogTotal(svc); n != 20 {
		t.Fatalf("backlog %d, want the bound 20", n)
	}
	// 100 %: everyone is refused.
	for _, tenant := range []string{"eco", "std", "prem", "prem2"} {
		if got := submitN(t, svc, tenant, 1); got != 0 {
			t.Fatalf("%s at the bound: accepted", tenant)
		}
	}
	thr := svc.Backlog().Throttled
	if thr["economy"] != 6 || thr["standard"] != 3 || thr["premium"] != 7 {
		t.Fatalf("refusals by tier: %v", thr)
	}

	// The lifecycle catches up: premium's messages are answered by the
	// supplier, the backlog falls under 50 % and economy is accepted again.
	supplierAccepts(t, svc, "prem", 100)
	supplierAccepts(t, svc, "prem2", 100)
	if n := backlogTotal(svc); n != 5 {
		t.Fatalf("backlog after premium's messages went out: %d, want 5 (eco 1, std 4)", n)
	}
	if got := submitN(t, svc, "eco", 4); got != 4 {
		t.Fatalf("economy after the drain: %d of 4 accepted", got)
	}
}

func TestBacklogOneTenantsFloodDoesNotStarveASmallOne(t *testing.T) {
	// Bound 20, both standard: fair from 15, all refused from 20.
	svc := backlogWorld(t, 20, map[string]string{"big": "standard", "small": "standard"})
	if got := submitN(t, svc, "big", 30); got != 15 {
		t.Fatalf("flooding tenant: %d accepted, want 15 (to the fair line)", got)
	}
	// The flood goes on: big is refused, small (under the equal share of
	// its tier) is still accepted, interleaved, up to the bound.
	small := 0
	for range 10 {
		if submitN(t, svc, "big", 1) != 0 {
			t.Fatal("flooding tenant accepted over its share")
		}
		small += submitN(t, svc, "small", 1)
	}
	if small != 5 {
		t.Fatalf("small tenant: %d accepted beside the flood, want 5 (to the bound)", small)
	}
	// Drained (the supplier answered big's messages): both are accepted again.
	supplierAccepts(t, svc, "big", 100)
	if got := submitN(t, svc, "big", 3) + submitN(t, svc, "small", 3); got != 6 {
		t.Fatalf("after the drain: %d of 6 accepted", got)
	}
}

func TestBacklogCountsDLRsOnlyForTenantsThatCanTakeThem(t *testing.T) {
	ctx := context.Background()
	// Bound 8: a tenant's DLRs count at most 2; economy refused from 4.
	svc := backlogWorld(t, 8, map[string]string{"acme": "economy"})
	if got := submitN(t, svc, "acme", 3); got != 3 {
		t.Fatalf("%d of 3 accepted", got)
	}
	for id, smid := range supplierAccepts(t, svc, "acme", 3) {
		if _, err := svc.DeliveryReported(ctx, "sup1", smid, "DELIVRD", "000", time.Now()); err != nil {
			t.Fatalf("DLR of %s: %v", id, err)
		}
	}
	want := func(dispatch, intake, forward int64) {
		t.Helper()
		if b := svc.Backlog(); b.Dispatch != dispatch || b.DLRIntake != intake || b.DLRForward != forward {
			t.Fatalf("backlog %+v, want dispatch %d, intake %d, forward %d", b, dispatch, intake, forward)
		}
	}
	// Three DLRs due; the tenant has no channel (not seen yet): durable, not backlog.
	want(0, 0, 0)
	svc.ReceiverReady("acme", true)
	want(0, 0, 2) // capped at a quarter of the bound
	// Total 2 of 8 and 3 DLRs due: below every line.
	if got := submitN(t, svc, "acme", 1); got != 1 {
		t.Fatal("refused below every line")
	}
	for id, smid := range supplierAccepts(t, svc, "acme", 1) {
		if _, err := svc.DeliveryReported(ctx, "sup1", smid, "DELIVRD", "000", time.Now()); err != nil {
			t.Fatalf("DLR of %s: %v", id, err)
		}
	}
	// Its DLRs due alone reaching the bound (8), the tenant is refused,
	// though the total (2 of 8) is below every line: its DLRs are not
	// forwarded as fast as it submits, and its DLR delay stays bounded.
	for due := 4; due < 8; due++ {
		if got := submitN(t, svc, "acme", 1); got != 1 {
			t.Fatalf("refused with %d DLRs due", due)
		}
		for id, smid := range supplierAccepts(t, svc, "acme", 1) {
			if _, err := svc.DeliveryReported(ctx, "sup1", smid, "DELIVRD", "000", time.Now()); err != nil {
				t.Fatalf("DLR of %s: %v", id, err)
			}
		}
	}
	want(0, 0, 2)
	if _, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x", RegisteredDelivery: true}); !errors.Is(err, ledger.ErrBacklog) || !strings.Contains(err.Error(), "DLRs due") {
		t.Fatalf("a tenant with its DLRs due at the bound: %v, want ErrBacklog naming its DLRs due", err)
	}
	svc.ReceiverReady("acme", false)
	want(0, 0, 0)
	svc.ReceiverReady("acme", true)
	// Supplier DLRs being recorded count too, and can fill the bound.
	svc.DLRIntakeStarted()
	svc.DLRIntakeStarted()
	want(0, 2, 2)
	if got := submitN(t, svc, "acme", 1); got != 0 {
		t.Fatal("economy accepted at 50 %")
	}
	svc.DLRIntakeEnded()
	svc.DLRIntakeEnded()
	// The DLRs reach the tenant: nothing is owed any more.
	for _, w := range svc.Unfinished((*ledger.Work).NeedsForward, 10) {
		if _, err := svc.DeliveryForwarded(ctx, w.Message.ID); err != nil {
			t.Fatal(err)
		}
	}
	want(0, 0, 0)
	if got := submitN(t, svc, "acme", 1); got != 1 {
		t.Fatal("refused with nothing owed")
	}
}

func TestBacklogScheduledMessagesAreNotBacklog(t *testing.T) {
	svc := backlogWorld(t, 4, map[string]string{"acme": "standard"})
	for i := range 10 {
		_, err := svc.Submit(context.Background(), "acme", accept.Request{To: "+4915112345678", Text: fmt.Sprint(i),
			SendAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatalf("scheduled submit %d: %v", i, err)
		}
	}
	if n := backlogTotal(svc); n != 0 {
		t.Fatalf("backlog of scheduled messages: %d, want 0", n)
	}
}

// Random submits, lifecycle steps, channel changes, DLR intake and tier
// changes, with a bound small enough to refuse: after every step the
// backlog's counters equal a recount from the tracker and none is
// negative; once all is drained the backlog is zero.
func TestBacklogCountersEqualARecountProperty(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { backlogProperty(t, seed) })
	}
}

func backlogProperty(t *testing.T, seed uint64) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, seed*7919))
	tenants := []string{"t1", "t2", "t3", "t4"}
	tierNames := []string{"economy", "standard", "premium"}
	tiers := map[string]string{}
	for _, id := range tenants {
		tiers[id] = tierNames[rnd.IntN(len(tierNames))]
	}
	svc := backlogWorld(t, 24, tiers)
	pick := func(keep func(*ledger.Work) bool) (ledger.Work, bool) {
		ws := svc.Unfinished(keep, 1000)
		if len(ws) == 0 {
			return ledger.Work{}, false
		}
		return ws[rnd.IntN(len(ws))], true
	}
	smid := func(w ledger.Work) string { return "SUP-" + w.Message.ID.String() }
	intake := 0
	done := map[string]int{} // successful steps by kind
	ok := func(kind string, err error) {
		if err == nil {
			done[kind]++
		}
	}
	for step := range 500 {
		switch op := rnd.IntN(10); op {
		case 0, 1:
			req := accept.Request{To: "+4915112345678", Text: "x", RegisteredDelivery: rnd.IntN(4) > 0, ReceiptOnFailureOnly: rnd.IntN(4) == 0}
			if rnd.IntN(10) == 0 {
				req.SendAt = time.Now().Add(time.Hour)
			}
			_, err := svc.Submit(ctx, tenants[rnd.IntN(len(tenants))], req)
			if err != nil && !errors.Is(err, ledger.ErrBacklog) {
				t.Fatalf("step %d: submit: %v", step, err)
			}
			if errors.Is(err, ledger.ErrBacklog) {
				done["refused"]++
			} else {
				done["submit"]++
			}
		case 2:
			if w, found := pick((*ledger.Work).NeedsDispatch); found {
				_, err := svc.SubmittedToSupplier(ctx, w.Message.ID)
				ok("dispatch", err)
			}
		case 3:
			if w, found := pick((*ledger.Work).InFlight); found {
				if rnd.IntN(4) == 0 {
					_, err := svc.SupplierRejected(ctx, w.Message.ID, "sup1", w.Message.Attempt, 0x45)
					ok("rejected", err)
				} else {
					_, err := svc.SupplierAccepted(ctx, w.Message.ID, "sup1", w.Message.Attempt, smid(w), time.Millisecond)
					ok("accepted", err)
				}
			}
		case 4:
			if w, found := pick(func(w *ledger.Work) bool { return w.Message.State == message.StateSupplierAccepted }); found {
				stat := []string{"DELIVRD", "UNDELIV", "REJECTD", "ENROUTE"}[rnd.IntN(4)]
				_, err := svc.DeliveryReported(ctx, "sup1", smid(w), stat, "000", time.Now())
				ok("dlr", err)
			}
		case 5:
			if w, found := pick((*ledger.Work).NeedsForward); found {
				_, err := svc.DeliveryForwarded(ctx, w.Message.ID)
				ok("forwarded", err)
			}
		case 6:
			if w, found := pick(func(w *ledger.Work) bool { return !w.Message.State.Terminal() }); found && rnd.IntN(3) == 0 {
				_, err := svc.Expire(ctx, w.Message.ID)
				ok("expired", err)
			}
		case 7:
			svc.ReceiverReady(tenants[rnd.IntN(len(tenants))], rnd.IntN(2) == 0)
		case 8:
			if intake > 0 && rnd.IntN(2) == 0 {
				svc.DLRIntakeEnded()
				intake--
			} else {
				svc.DLRIntakeStarted()
				intake++
			}
		case 9:
			if rnd.IntN(5) == 0 {
				tier := tierNames[rnd.IntN(len(tierNames))]
				_, err := svc.PatchTenant(ctx, tenants[rnd.IntN(len(tenants))], ledger.TenantPatch{Tier: &tier})
				ok("retier", err)
			}
		}
		if err := ledger.CheckBacklog(svc); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if b := svc.Backlog(); b.Dispatch < 0 || b.DLRIntake < 0 || b.DLRForward < 0 {
			t.Fatalf("step %d: negative backlog %+v", step, b)
		}
	}
	for _, kind := range []string{"submit", "refused", "dispatch", "accepted", "rejected", "dlr", "forwarded", "expired", "retier"} {
		if done[kind] == 0 {
			t.Errorf("no successful %q step in 500: %v", kind, done)
		}
	}

	// Drain: every message answered, every DLR delivered, every tenant able
	// to take its DLRs: nothing is owed.
	for range intake {
		svc.DLRIntakeEnded()
	}
	for _, id := range tenants {
		svc.ReceiverReady(id, true)
	}
	for _, w := range svc.Unfinished((*ledger.Work).NeedsDispatch, 10_000) {
		if _, err := svc.SubmittedToSupplier(ctx, w.Message.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range svc.Unfinished((*ledger.Work).InFlight, 10_000) {
		if _, err := svc.SupplierAccepted(ctx, w.Message.ID, "sup1", w.Message.Attempt, smid(w), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range svc.Unfinished(func(w *ledger.Work) bool { return w.Message.State == message.StateSupplierAccepted }, 10_000) {
		if _, err := svc.DeliveryReported(ctx, "sup1", smid(w), "DELIVRD", "000", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := ledger.CheckBacklog(svc); err != nil {
		t.Fatal(err)
	}
	for _, w := range svc.Unfinished((*ledger.Work).NeedsForward, 10_000) {
		if _, err := svc.DeliveryForwarded(ctx, w.Message.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := ledger.CheckBacklog(svc); err != nil {
		t.Fatal(err)
	}
	if n := backlogTotal(svc); n != 0 {
		t.Fatalf("backlog after the drain: %d (%+v)", n, svc.Backlog())
	}
}
