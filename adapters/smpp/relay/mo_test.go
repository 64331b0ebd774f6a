package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim"
	"github.com/smsledger/smsledger/adapters/smpp/smscsim/simtest"
	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/eventstore"
)

// moStore fails the appends to message streams while fail is set (an MO's
// is one).
type moStore struct {
	eventstore.Store
	fail atomic.Bool
}

func (s *moStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedVersion, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if _, msg := events.MessageIDFromStream(stream); msg && s.fail.Load() {
		return eventstore.AppendResult{}, errors.New("disk on fire")
	}
	return s.Store.Append(ctx, stream, exp, evs...)
}

// moWorld is serve's SMPP side around a ledger on the in-memory store:
// the relay with its egress bound to a simulated supplier (sup1), the
// ingress server, and tenant acme (system_id acme, mo_price 0.01, 1.00 of
// balance) owning +4915112345678 and the short code 12345.
type moWorld struct {
	t     *testing.T
	store *moStore
	svc   *ledger.Service
	sim   *smscsim.Sim
	r     *Relay
	srv   *server.Server
}

func newMOWorld(t *testing.T, opts Options) *moWorld {
	ctx := context.Background()
	w := &moWorld{t: t, store: &moStore{Store: ledgertest.MemStore(t)}}
	w.svc = ledgertest.Start(t, w.store, ledger.Options{})
	w.sim = simtest.Start(t, smscsim.Config{SystemID: "sup1", Password: "pw"})
	addSimSupplier(t, w.svc, "sup1", w.sim.Addr(), "0.02")
	ledgertest.Setup(t, w.svc, "acme")
	if _, err := w.svc.TopUp(ctx, "acme", decimal.RequireFromString("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SetSmppCredentials(ctx, "acme", "acme", "pw-acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.PatchTenant(ctx, "acme", ledger.TenantPatch{MOPrice: ptr(decimal.RequireFromString("0.01"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SetTenantNumbers(ctx, "acme", []string{"+4915112345678", "12345"}); err != nil {
		t.Fatal(err)
	}
	opts.Logger, opts.RetryEvery = slog.New(slog.DiscardHandler), 50*time.Millisecond
	w.r = New(w.svc, opts)
	w.srv = serveRelay(t, w.r)
	waitFor(t, "the egress bound to the supplier", func() bool {
		for _, st := range w.r.Stats() {
			if st.ID == "sup1" {
				return st.BindsUp == 1 && w.sim.Sessions() > 0
			}
		}
		return false
	})
	return w
}

// sendMO has the supplier deliver an MO and returns its answer.
func (w *moWorld) sendMO(to, text string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return w.sim.SendMO(ctx, "4917600000001", to, text)
}

// An MO for acme while it has no bind: acknowledged once durable, waiting;
// an MO for a number nobody owns: acknowledged, counted, not stored. acme
// binds: the waiting MO arrives as a deliver_sm with esm_class 0 (source
// the handset, destination its number), once; a second MO arrives at once;
// each was charged its mo_price.
func TestMOReachesTheTenantsReceiverBind(t *testing.T) {
	w := newMOWorld(t, Options{})
	if err := w.sendMO("4915112345678", "while unbound"); err != nil {
		t.Fatalf("MO for acme: %v", err)
	}
	if err := w.sendMO("4930000000", "nobody's"); err != nil {
		t.Fatalf("MO for an unknown number: %v", err)
	}
	if st := w.r.MOStats(); st.Received != 1 || st.Unknown != 1 || st.Forwarded != 0 {
		t.Fatalf("MO counts %+v", st)
	}
	time.Sleep(200 * time.Millisecond) // passes go by: nowhere to send it
	if n := w.svc.PendingMOCount(); n != 1 {
		t.Fatalf("%d MOs waiting, want 1", n)
	}

	acme := smppDial(t, w.srv)
	if st := acme.bind("acme", "pw-acme"); st != data.ESME_ROK {
		t.Fatalf("acme bind: 0x%x", st)
	}
	expectMO(t, acme, "4915112345678", data.GSM_TON_INTERNATIONAL, "while unbound")
	waitFor(t, "the MO recorded forwarded", func() bool { return w.svc.PendingMOCount() == 0 })

	if err := w.sendMO("12345", "Grüße"); err != nil {
		t.Fatal(err)
	}
	expectMO(t, acme, "12345", data.GSM_TON_NETWORK, "Grüße")
	waitFor(t, "both MOs forwarded", func() bool { return w.r.MOStats().Forwarded == 2 && w.svc.PendingMOCount() == 0 })
	if p, err := acme.recvWithin(300 * time.Millisecond); err == nil {
		t.Fatalf("a PDU after the MOs: %T", p)
	}
	if b, _ := w.svc.Balance("acme"); b.Balance != "0.98" {
		t.Fatalf("balance %s, want 1 - 2 × 0.01", b.Balance)
	}
}

// expectMO reads the next PDU, checks it is the MO, and acknowledges it.
func expectMO(t *testing.T, c *smppConn, dest string, ton byte, text string) {
	t.Helper()
	d, ok := c.recv().(*pdu.DeliverSM)
	if !ok {
		t.Fatal("no deliver_sm")
	}
	c.send(d.GetResponse())
	raw, _ := d.Message.GetMessageData()
	got, err := d.Message.Encoding().Decode(raw)
	if err != nil || got != text || d.EsmClass != 0 || d.SourceAddr.Address() != "4917600000001" ||
		d.DestAddr.Address() != dest || d.DestAddr.Ton() != ton {
		t.Fatalf("deliver_sm: esm_class 0x%x %s → %s (ton %d) %q (%v), want → %s %q", d.EsmClass, d.SourceAddr.Address(),
			d.DestAddr.Address(), d.DestAddr.Ton(), got, err, dest, text)
	}
}

// An MO the store cannot take is answered ESME_RSYSERR (the supplier
// delivers it again), nothing charged; delivered again once the store is
// back, it is recorded.
func TestMONotDurableIsRefusedForRedelivery(t *testing.T) {
	w := newMOWorld(t, Options{})
	w.store.fail.Store(true)
	err := w.sendMO("4915112345678", "x")
	if server.StatusOf(err) != data.ESME_RSYSERR {
		t.Fatalf("MO on a failing store: %v (0x%x), want ESME_RSYSERR", err, server.StatusOf(err))
	}
	if b, _ := w.svc.Balance("acme"); b.Balance != "1" || w.svc.PendingMOCount() != 0 {
		t.Fatalf("after the refusal: balance %s, %d MOs waiting", b.Balance, w.svc.PendingMOCount())
	}
	w.store.fail.Store(false)
	if err := w.sendMO("4915112345678", "x"); err != nil {
		t.Fatal(err)
	}
	if st := w.r.MOStats(); st.Received != 1 {
		t.Fatalf("MO counts %+v", st)
	}
}

// A tenant with a webhook gets its MOs there, signed, as {"type":"mo",
// ...}; the first answer failing, the MO is sent again and then recorded
// forwarded.
func TestMOToTheTenantsWebhook(t *testing.T) {
	const secret = "whsec-0123456789abcdef"
	bodies := make(chan webhook.MO, 4)
	var calls atomic.Int32
	hook := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("signature: %v", err)
		}
		if calls.Add(1) == 1 {
			rw.WriteHeader(http.StatusBadGateway)
			return
		}
		var mo webhook.MO
		if err := json.Unmarshal(body, &mo); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		bodies <- mo
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hook.Listener = ln
	hook.Start()
	t.Cleanup(hook.Close)
	sender := webhook.New(webhook.Config{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, RecentFor: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	sctx, stop := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { sender.Run(sctx); close(sdone) }()
	t.Cleanup(func() { stop(); <-sdone })

	w := newMOWorld(t, Options{Webhooks: sender})
	if err := w.svc.SetWebhook(context.Background(), "acme", hook.URL+"/mo", secret); err != nil {
		t.Fatal(err)
	}
	if err := w.sendMO("4915112345678", "by webhook"); err != nil {
		t.Fatal(err)
	}
	select {
	case mo := <-bodies:
		if mo.Type != "mo" || mo.From != "4917600000001" || mo.To != "+4915112345678" || mo.Text != "by webhook" || mo.MessageID == "" || mo.ReceivedAt.IsZero() {
			t.Fatalf("webhook body %+v", mo)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no MO on the webhook")
	}
	waitFor(t, "the MO recorded forwarded", func() bool { return w.svc.PendingMOCount() == 0 && w.r.MOStats().Forwarded == 1 })
}

// serveRelay runs relay r and an SMPP server on 127.0.0.1 attached to it
// until the test ends, and returns the server.
func serveRelay(t *testing.T, r *Relay) *server.Server {
	t.Helper()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", Ingress: r.Ingress(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	r.Attach(srv)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- r.Run(ctx) }()
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { stop(); <-done; <-done })
	return srv
}
