package load

import (
	"context"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"

	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
)

// startSim runs the SMSC simulator on an ephemeral loopback port: it is an
// SMPP server that answers submit_sm and sends DLRs back on the same binds,
// which is all the load generator needs to be exercised end to end.
func startSim(t *testing.T, cfg smscsim.Config) *smscsim.Sim {
	t.Helper()
	cfg.SystemID, cfg.Password = "bench", "pw"
	return simtest.Start(t, cfg)
}

func TestRunAgainstSimulatorWithDLRs(t *testing.T) {
	sim := startSim(t, smscsim.Config{DLRDelay: 20 * time.Millisecond, Delivered: 0.5, Undelivered: 0.5})
	res, err := Run(context.Background(), Config{
		Addr: sim.Addr(), Credentials: []Credential{{"bench", "pw"}},
		Binds: 3, Window: 16, Messages: 500, LongShare: 0.1, UCS2Share: 0.1,
		RegisteredDelivery: true, DLRWait: 20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Sent != 500 || res.Accepted != 500 || res.Refused != 0 || res.HasErrors() {
		t.Fatalf("sent %d accepted %d refused %d errors %v", res.Sent, res.Accepted, res.Refused, res.Errors)
	}
	if res.Statuses["ESME_ROK"] != 500 || res.Submit.Count != 500 || res.MsgPerS <= 0 || res.Submit.P99 <= 0 {
		t.Fatalf("submit side: %+v", res)
	}
	if res.DLRs != 500 || res.DLR.Count != 500 || res.DLRByStat["DELIVRD"]+res.DLRByStat["UNDELIV"] != 500 {
		t.Fatalf("DLRs %d by stat %v", res.DLRs, res.DLRByStat)
	}
	if res.DLR.P50 < 20*time.Millisecond {
		t.Fatalf("DLR p50 %v below the simulator's 20ms delay", res.DLR.P50)
	}
	if got := sim.Submitted.Load(); got != 500 {
		t.Fatalf("simulator saw %d submits", got)
	}
}

func TestRunCountsRefusalsAndMissingDLRs(t *testing.T) {
	// Every submit refused: nothing accepted, refusals are errors by status.
	sim := startSim(t, smscsim.Config{ErrorRate: 1, ErrorStatus: uint32(data.ESME_RSUBMITFAIL)})
	res, err := Run(context.Background(), Config{Addr: sim.Addr(), Credentials: []Credential{{"bench", "pw"}},
		Binds: 2, Window: 4, Messages: 40, RegisteredDelivery: true, DLRWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || res.Refused != 40 || res.Errors["ESME_RSUBMITFAIL"] != 40 || res.Errors["dlr_missing"] != 0 {
		t.Fatalf("%+v", res)
	}

	// Accepted, but the DLRs come after DLRWait: counted missing, bounded wait.
	slow := startSim(t, smscsim.Config{DLRDelay: time.Hour})
	start := time.Now()
	res, err = Run(context.Background(), Config{Addr: slow.Addr(), Credentials: []Credential{{"bench", "pw"}},
		Binds: 1, Window: 8, Messages: 30, RegisteredDelivery: true, DLRWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 30 || res.DLRs != 0 || res.Errors["dlr_missing"] != 30 || time.Since(start) > 20*time.Second {
		t.Fatalf("%+v after %v", res, time.Since(start))
	}
}

// TestRunDLRMark: the mark is taken DLRMark after the submit phase while
// the wait goes on for the rest; DLRs still to come at the mark are not in
// it, and every DLR back before the mark is.
func TestRunDLRMark(t *testing.T) {
	sim := startSim(t, smscsim.Config{DLRDelay: 600 * time.Millisecond})
	cfg := Config{Addr: sim.Addr(), Credentials: []Credential{{"bench", "pw"}}, Binds: 1, Window: 8, Messages: 20,
		RegisteredDelivery: true, DLRWait: 20 * time.Second, DLRMark: 50 * time.Millisecond}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := res.AtMark
	if res.DLRs != 20 || res.DLRsInSubmitPhase != 0 || m.DLRs != 0 || m.DLR.Count != 0 || m.After < 50*time.Millisecond || m.After > res.DLRWaited {
		t.Fatalf("early mark: DLRs %d (in the submit phase %d), at the mark %+v, waited %v", res.DLRs, res.DLRsInSubmitPhase, m, res.DLRWaited)
	}
	cfg.DLRMark = time.Minute // after DLRWait: taken when the wait ends
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m := res.AtMark; m.DLRs != 20 || m.Hist.Count() != 20 || m.DLR.P50 < 600*time.Millisecond {
		t.Fatalf("late mark: %+v", m)
	}
}

func TestRunStopsAtDurationAndRate(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	start := time.Now()
	res, err := Run(context.Background(), Config{Addr: sim.Addr(), Credentials: []Credential{{"bench", "pw"}},
		Binds: 2, Window: 8, Messages: MessagesMax, Duration: 500 * time.Millisecond, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	// ~100 messages in 0.5 s at 200/s (plus the limiter's small burst).
	if res.Accepted < 50 || res.Accepted > 150 || res.HasErrors() || el > 10*time.Second {
		t.Fatalf("accepted %d in %v, errors %v", res.Accepted, el, res.Errors)
	}
}

func TestRunRefusedBind(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	_, err := Run(context.Background(), Config{Addr: sim.Addr(), Credentials: []Credential{{"bench", "wrong"}}, Messages: 1})
	if err == nil {
		t.Fatal("bind with a wrong password succeeded")
	}
	if _, err := Run(context.Background(), Config{Addr: sim.Addr(), Credentials: []Credential{{"bench", "pw"}}, LongShare: 0.8, UCS2Share: 0.5}); err == nil {
		t.Fatal("shares above 1 accepted")
	}
}

func TestDestinationsAndMix(t *testing.T) {
	r := &runner{cfg: Config{Addr: "x", Credentials: []Credential{{}}, LongShare: 0.2, UCS2Share: 0.1}}
	if err := r.cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	if d := r.dest(42); d != "999000000042" {
		t.Fatalf("dest %q", d)
	}
	var kinds [3]int
	for n := int64(1); n <= 10000; n++ {
		kinds[r.kindOf(n)]++
		if _, err := r.buildSubmit(n); err != nil {
			t.Fatal(err)
		}
	}
	if kinds[kindLongGSM] < 1900 || kinds[kindLongGSM] > 2100 || kinds[kindShortUCS2] < 900 || kinds[kindShortUCS2] > 1100 {
		t.Fatalf("mix %v", kinds)
	}
}

// Offset shifts the message numbers; Validity and SendAfter are written as
// SMPP relative times.
func TestOffsetAndRelativeTimes(t *testing.T) {
	r := &runner{cfg: Config{Addr: "x", Credentials: []Credential{{}}, DestPrefix: "4917", Offset: 500,
		Validity: 6500 * time.Millisecond, SendAfter: 90 * time.Minute}}
	if err := r.cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	p, err := r.buildSubmit(r.cfg.Offset + 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := p.DestAddr.Address(); d != "491700000501" {
		t.Fatalf("dest %q", d)
	}
	if p.ValidityPeriod != "000000000007000R" || p.ScheduleDeliveryTime != "000000013000000R" {
		t.Fatalf("validity %q, schedule %q", p.ValidityPeriod, p.ScheduleDeliveryTime)
	}
	for d, want := range map[time.Duration]string{time.Second: "000000000001000R", 36*time.Hour + 61*time.Second: "000001120101000R",
		7 * 24 * time.Hour: "000007000000000R"} {
		if got := RelativeTime(d); got != want {
			t.Errorf("RelativeTime(%v) = %q, want %q", d, got, want)
		}
	}
	plain := &runner{cfg: Config{Addr: "x", Credentials: []Credential{{}}}}
	_ = plain.cfg.defaults()
	if p, _ := plain.buildSubmit(1); p.ValidityPeriod != "" || p.ScheduleDeliveryTime != "" {
		t.Fatalf("times without asking: %q %q", p.ValidityPeriod, p.ScheduleDeliveryTime)
	}
}

// TestRunHandsOnMOs: a deliver_sm that is not a receipt (an MO the SMSC
// sends on the binds) goes to OnMO with its addresses, text and
// esm_class, and is not counted as a DLR.
func TestRunHandsOnMOs(t *testing.T) {
	// The DLR comes a second after the submit: the run's bind is up that
	// long at least, for the MO.
	sim := startSim(t, smscsim.Config{DLRDelay: time.Second})
	got := make(chan MO, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Until the run's bind is up (the simulator needs a
		// receiver-capable bind to send an MO on).
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := sim.SendMO(ctx, "4917600000001", "4930111111", "hello from a handset")
			cancel()
			if err == nil {
				return
			}
		}
	}()
	res, err := Run(context.Background(), Config{Addr: sim.Addr(), Credentials: []Credential{{"bench", "pw"}},
		Binds: 1, Window: 1, Messages: 1, Rate: 1, RegisteredDelivery: true, DLRWait: 5 * time.Second,
		Duration: 2 * time.Second, OnMO: func(m MO) { got <- m }})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	select {
	case m := <-got:
		if m.From != "4917600000001" || m.To != "4930111111" || m.Text != "hello from a handset" || m.EsmClass != 0 {
			t.Fatalf("MO %+v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no MO handed on (the simulator sent %d)", sim.MOsSent.Load())
	}
	if res.DLRs != 1 || res.Errors["dlr_unmatched"] != 0 {
		t.Fatalf("DLRs %d, errors %v: the MO must not count as a DLR", res.DLRs, res.Errors)
	}
}
