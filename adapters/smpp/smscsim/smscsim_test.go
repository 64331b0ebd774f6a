package smscsim_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
)

func startSim(t *testing.T, cfg smscsim.Config) *smscsim.Sim {
	t.Helper()
	cfg.SystemID, cfg.Password = "sup", "pw"
	return simtest.Start(t, cfg)
}

// esme is one transceiver bind to the simulator that records what comes
// back: submit_sm_resp ids and DLR ids.
type esme struct {
	sess   *gosmpp.Session
	closed chan struct{}

	mu       sync.Mutex
	resps    map[int32]string                 // sequence → message id (ESME_ROK)
	statuses map[int32]data.CommandStatusType // sequence → command_status of its submit_sm_resp
	dlrs     []string
}

func bind(t *testing.T, addr string) *esme {
	t.Helper()
	e := &esme{closed: make(chan struct{}), resps: map[int32]string{}, statuses: map[int32]data.CommandStatusType{}}
	var once sync.Once
	dialer := func(a string) (net.Conn, error) { return net.DialTimeout("tcp", a, 5*time.Second) }
	sess, err := gosmpp.NewSession(gosmpp.TRXConnector(dialer, gosmpp.Auth{SMSC: addr, SystemID: "sup", Password: "pw"}),
		gosmpp.Settings{ReadTimeout: time.Minute, WriteTimeout: 5 * time.Second,
			OnAllPDU: func(p pdu.PDU) (pdu.PDU, bool) {
				switch q := p.(type) {
				case *pdu.SubmitSMResp:
					e.mu.Lock()
					e.statuses[q.GetSequenceNumber()] = q.CommandStatus
					if q.CommandStatus == data.ESME_ROK {
						e.resps[q.GetSequenceNumber()] = q.MessageID
					}
					e.mu.Unlock()
				case *pdu.DeliverSM:
					if rc, err := receipt.FromDeliverSM(q); err == nil && receipt.IsReceipt(q) {
						e.mu.Lock()
						e.dlrs = append(e.dlrs, rc.ID)
						e.mu.Unlock()
					}
					return q.GetResponse(), false
				case *pdu.EnquireLink:
					return q.GetResponse(), false
				}
				return nil, false
			},
			OnClosed: func(gosmpp.State) { once.Do(func() { close(e.closed) }) },
		}, 0)
	if err != nil {
		t.Fatalf("bind to %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	e.sess = sess
	return e
}

// submit sends one submit_sm with registered delivery and waits (≤ 5 s)
// for its message id.
func (e *esme) submit(t *testing.T) string {
	t.Helper()
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	p.SourceAddr, _ = pdu.NewAddressWithAddr("Test")
	p.DestAddr, _ = pdu.NewAddressWithAddr("491700000001")
	if err := p.Message.SetMessageWithEncoding("hello", data.GSM7BIT); err != nil {
		t.Fatal(err)
	}
	p.RegisteredDelivery = 1
	if err := e.sess.Transceiver().Submit(p); err != nil {
		t.Fatalf("submit: %v", err)
	}
	var id string
	waitFor(t, "submit_sm_resp", func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		id = e.resps[p.GetSequenceNumber()]
		return id != ""
	})
	return id
}

func (e *esme) gotDLR(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.dlrs {
		if d == id {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDropConnections: every connection is closed from the simulator's
// side, it keeps its address and takes a new bind at once, and a DLR that
// was due after the cut comes on the new bind.
func TestDropConnections(t *testing.T) {
	sim := startSim(t, smscsim.Config{DLRDelay: 300 * time.Millisecond})
	addr := sim.Addr()
	first := bind(t, addr)
	second := bind(t, addr)
	waitFor(t, "two sessions", func() bool { return sim.Sessions() == 2 })
	if got := sim.Binds.Load(); got != 2 {
		t.Fatalf("binds %d, want 2", got)
	}
	id := first.submit(t) // its DLR is due 300 ms later, after the cut

	n, err := sim.DropConnections()
	if err != nil || n != 2 {
		t.Fatalf("DropConnections = %d, %v; want 2 dropped", n, err)
	}
	for i, e := range []*esme{first, second} {
		select {
		case <-e.closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("bind %d not closed by the simulator", i)
		}
	}
	if sim.Addr() != addr {
		t.Fatalf("address changed: %s → %s", addr, sim.Addr())
	}

	again := bind(t, addr)
	if got := sim.Binds.Load(); got != 3 {
		t.Fatalf("binds %d after the re-bind, want 3", got)
	}
	waitFor(t, "the DLR of the submit before the cut on the new bind", func() bool { return again.gotDLR(id) })
	if id2 := again.submit(t); id2 == id {
		t.Fatalf("same message id %s twice", id)
	}
	if got := sim.Submitted.Load(); got != 2 {
		t.Fatalf("submitted %d, want 2", got)
	}
}

// TestDropConnectionsWhileDown: a simulator that is down has nothing to
// drop and stays down until SetDown(false).
func TestDropConnectionsWhileDown(t *testing.T) {
	sim := startSim(t, smscsim.Config{})
	if err := sim.SetDown(true); err != nil {
		t.Fatal(err)
	}
	if n, err := sim.DropConnections(); n != 0 || err != nil {
		t.Fatalf("DropConnections while down = %d, %v", n, err)
	}
	if _, err := net.DialTimeout("tcp", sim.Addr(), time.Second); err == nil {
		t.Fatal("a down simulator accepted a connection after DropConnections")
	}
	if err := sim.SetDown(false); err != nil {
		t.Fatal(err)
	}
	bind(t, sim.Addr()).submit(t)
}

// TestDLRDropRate: with a drop rate of 1 no DLR is ever sent, each one is
// counted, and OnSubmit sees every accepted submit.
func TestDLRDropRate(t *testing.T) {
	var mu sync.Mutex
	var seen []smscsim.Submit
	sim := startSim(t, smscsim.Config{DLRDelay: 10 * time.Millisecond, DLRDropRate: 1, OnSubmit: func(s smscsim.Submit) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}})
	e := bind(t, sim.Addr())
	id := e.submit(t)
	waitFor(t, "the drop counted", func() bool { return sim.DLRsDropped.Load() == 1 })
	time.Sleep(200 * time.Millisecond) // well past the DLR's time
	if e.gotDLR(id) || sim.DLRsSent.Load() != 0 {
		t.Fatalf("a dropped DLR was sent (sent %d)", sim.DLRsSent.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0].ID != id || seen[0].To != "491700000001" || seen[0].Text != "hello" || seen[0].At.IsZero() {
		t.Fatalf("OnSubmit saw %+v, want one submit %s to 491700000001", seen, id)
	}
}

// TestDLRMute: the DLRs that come due while the simulator is muted are
// lost, not delayed; after it speaks again new DLRs are sent.
func TestDLRMute(t *testing.T) {
	sim := startSim(t, smscsim.Config{DLRDelay: 20 * time.Millisecond})
	e := bind(t, sim.Addr())
	sim.SetDLRMute(true)
	lost := e.submit(t)
	waitFor(t, "the muted DLR counted", func() bool { return sim.DLRsMuted.Load() == 1 })
	sim.SetDLRMute(false)
	sent := e.submit(t)
	waitFor(t, "the DLR after the mute", func() bool { return e.gotDLR(sent) })
	time.Sleep(100 * time.Millisecond)
	if e.gotDLR(lost) {
		t.Fatal("the DLR due while muted was sent afterwards")
	}
	if sim.DLRsSent.Load() != 1 || sim.DLRsDropped.Load() != 0 {
		t.Fatalf("sent %d, dropped %d; want 1 and 0", sim.DLRsSent.Load(), sim.DLRsDropped.Load())
	}
}

// submitTo sends one submit_sm to dest and waits (≤ 5 s) for the status of
// its submit_sm_resp.
func (e *esme) submitTo(t *testing.T, dest string) data.CommandStatusType {
	t.Helper()
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	p.SourceAddr, _ = pdu.NewAddressWithAddr("Test")
	p.DestAddr, _ = pdu.NewAddressWithAddr(dest)
	if err := p.Message.SetMessageWithEncoding("hello", data.GSM7BIT); err != nil {
		t.Fatal(err)
	}
	if err := e.sess.Transceiver().Submit(p); err != nil {
		t.Fatalf("submit: %v", err)
	}
	var st data.CommandStatusType
	waitFor(t, "submit_sm_resp to "+dest, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		var ok bool
		st, ok = e.statuses[p.GetSequenceNumber()]
		return ok
	})
	return st
}

// TestRejectPrefixes: submits to the listed destinations (a '+' on either
// side ignored) are answered ErrorStatus and counted apart from the error
// rate; every other destination is accepted, as a supplier that fails on
// one network only.
func TestRejectPrefixes(t *testing.T) {
	sim := startSim(t, smscsim.Config{RejectPrefixes: []string{"4915", "+4477"}})
	e := bind(t, sim.Addr())
	for dest, want := range map[string]data.CommandStatusType{
		"491512345678":  data.ESME_RSUBMITFAIL,
		"+491599999999": data.ESME_RSUBMITFAIL,
		"447700900123":  data.ESME_RSUBMITFAIL,
		"491612345678":  data.ESME_ROK,
		"4915":          data.ESME_RSUBMITFAIL,
		"4491512345678": data.ESME_ROK, // the prefix anchors at the start
	} {
		if got := e.submitTo(t, dest); got != want {
			t.Errorf("submit to %s: %v, want %v", dest, got, want)
		}
	}
	if sim.RejectedByPrefix.Load() != 4 || sim.Submitted.Load() != 2 || sim.Errors.Load() != 0 {
		t.Fatalf("rejected %d, submitted %d, errors %d; want 4, 2, 0", sim.RejectedByPrefix.Load(), sim.Submitted.Load(), sim.Errors.Load())
	}
}
