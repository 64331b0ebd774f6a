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
