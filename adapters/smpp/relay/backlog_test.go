package relay

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// Backpressure end to end, real sockets on 127.0.0.1: a customer's 30
// submits over SMPP, one after the other, against a supplier that answers
// each submit after 1.5 s and a backlog bound of 10. The backlog fills to
// the standard tier's line (7), the rest is refused ESME_RTHROTTLED (never
// ESME_ROK without a message behind it), every message that was
// acknowledged is delivered and its DLR reaches the customer's bind, and
// once the lifecycle has caught up the customer's submits are accepted
// again. (One after the other, because submits decided together pass the
// check together — the bound is a level, not a fence: a burst of 30 in one
// window, appended in one group commit, can be accepted whole.)
func TestBacklogThrottlesSMPPSubmitsAndLosesNothingAccepted(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{BacklogMax: 10})
	sim := simtest.Start(t, smscsim.Config{SystemID: "sup1", Password: "pw", Latency: 1500 * time.Millisecond, DLRDelay: 50 * time.Millisecond})
	addSimSupplier(t, svc, "sup1", sim.Addr(), "0.02")
	ledgertest.Setup(t, svc, "acme") // standard: refused from 7 while it holds its tier's whole backlog, all from 10
	if err := svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"sup1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TopUp(ctx, "acme", decimal.RequireFromString("100"), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetSmppCredentials(ctx, "acme", "acme", "pw-acme"); err != nil {
		t.Fatal(err)
	}
	r := New(svc, Options{Logger: slog.New(slog.DiscardHandler), RetryEvery: 50 * time.Millisecond})
	srv := serveRelay(t, r)

	acme := smppDial(t, srv)
	if st := acme.bind("acme", "pw-acme"); st != data.ESME_ROK {
		t.Fatalf("bind: 0x%x", st)
	}
	const burst = 30
	accepted := map[string]bool{} // our message ids acknowledged ESME_ROK
	throttled := 0
	var dlrs []*pdu.DeliverSM // DLRs that overtook the last submit_sm_resp
	for sent, answered := 0, 0; answered < burst; {
		if sent == answered { // the next once the last one is answered
			sent++
			acme.send(backlogSubmit(uint32(sent)))
		}
		switch p := acme.recv().(type) {
		case *pdu.SubmitSMResp:
			answered++
			switch p.CommandStatus {
			case data.ESME_ROK:
				if p.MessageID == "" || accepted[p.MessageID] {
					t.Fatalf("ESME_ROK with message id %q (seen before: %v)", p.MessageID, accepted[p.MessageID])
				}
				accepted[p.MessageID] = true
			case data.ESME_RTHROTTLED:
				throttled++
			default:
				t.Fatalf("submit %d: status 0x%x, want ESME_ROK or ESME_RTHROTTLED", p.SequenceNumber, p.CommandStatus)
			}
		case *pdu.DeliverSM:
			dlrs = append(dlrs, p)
		default:
			t.Fatalf("unexpected %T", p)
		}
	}
	// 7 reach the line; one more may get in should the supplier answer a
	// message meanwhile (1.5 s after the first).
	if len(accepted) < 7 || len(accepted) > 8 || throttled != burst-len(accepted) {
		t.Fatalf("%d submits: %d accepted, %d throttled; want 7 (or 8) accepted, the rest throttled", burst, len(accepted), throttled)
	}
	t.Logf("%d submits: %d accepted, %d throttled", burst, len(accepted), throttled)
	if thr := svc.Backlog().Throttled["standard"]; thr != uint64(throttled) {
		t.Fatalf("throttled counted %d, want %d", thr, throttled)
	}

	// Every accepted message ends delivered and its DLR reaches the bind.
	got := map[string]bool{}
	take := func(p *pdu.DeliverSM) {
		rc, err := receipt.FromDeliverSM(p)
		if err != nil {
			t.Fatalf("DLR: %v", err)
		}
		if !accepted[rc.ID] || rc.Stat != "DELIVRD" {
			t.Fatalf("DLR for %q stat %q: not an accepted message, or not delivered", rc.ID, rc.Stat)
		}
		got[rc.ID] = true
		acme.send(p.GetResponse())
	}
	for _, p := range dlrs {
		take(p)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < len(accepted) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d DLRs after 20 s", len(got), len(accepted))
		}
		p, err := acme.recvWithin(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for DLRs (%d of %d): %v", len(got), len(accepted), err)
		}
		if d, ok := p.(*pdu.DeliverSM); ok {
			take(d)
		}
	}
	for id := range accepted {
		v, err := svc.Message(ctx, "acme", uuidOf(t, id))
		if err != nil || v.State != "delivered" {
			t.Fatalf("accepted message %s: %+v %v", id, v, err)
		}
	}

	// Caught up: nothing owed, and the customer's submits are accepted again.
	waitFor(t, "the backlog empty", func() bool {
		b := svc.Backlog()
		return b.Dispatch+b.DLRIntake+b.DLRForward == 0
	})
	acme.send(backlogSubmit(burst + 1))
	for {
		if p, ok := acme.recv().(*pdu.SubmitSMResp); ok {
			if p.CommandStatus != data.ESME_ROK {
				t.Fatalf("submit after the drain: 0x%x", p.CommandStatus)
			}
			break
		}
	}
}

func backlogSubmit(seq uint32) *pdu.SubmitSM {
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	sm.SequenceNumber = int32(seq)
	_ = sm.SourceAddr.SetAddress("Acme")
	_ = sm.DestAddr.SetAddress("4915112345678")
	_ = sm.Message.SetMessageWithEncoding("backlog", data.GSM7BIT)
	sm.RegisteredDelivery = 1
	return sm
}
