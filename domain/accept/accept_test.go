package accept

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/pricing"
	"github.com/smsledger/smsledger/domain/routing"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func smallWorld(t testing.TB, balance string) (*Tenant, *routing.Snapshot) {
	t.Helper()
	rates, err := pricing.NewRateCard("EUR", []pricing.Rate{
		{Prefix: "44", Price: decimal.RequireFromString("0.04")},
		{Prefix: "4477", Price: decimal.RequireFromString("0.03")},
		{Prefix: "33", Price: decimal.RequireFromString("0.05")},
	})
	if err != nil {
		t.Fatal(err)
	}
	routes, err := routing.NewSnapshot(routing.SnapshotInput{
		Routes: []routing.Route{{Prefix: "44", Suppliers: []string{"a", "b"}}, {Prefix: "33", Suppliers: []string{"down"}}},
		CostCards: []routing.CostCard{
			{SupplierID: "a", Currency: "EUR", Costs: []routing.Cost{{Prefix: "44", Cost: decimal.RequireFromString("0.02")}}},
			{SupplierID: "b", Currency: "EUR", Costs: []routing.Cost{{Prefix: "4", Cost: decimal.RequireFromString("0.01")}}},
			{SupplierID: "down", Currency: "EUR", Costs: []routing.Cost{{Prefix: "3", Cost: decimal.RequireFromString("0.01")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	acct, err := money.NewAccount("EUR", money.MustFromDecimal(decimal.RequireFromString(balance)), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &Tenant{ID: "acme", Billing: money.BillOnDelivery, Tier: routing.Standard, Rates: rates, Account: acct}, routes
}

var downHealth = routing.NewHealth(map[string]routing.SupplierHealth{"down": {Up: false}}, 0)

func TestDecide(t *testing.T) {
	ten, routes := smallWorld(t, "1")
	req := &Request{MessageID: uuid.New(), Channel: "http", From: "Acme", To: "+44 7700 900123", Text: strings.Repeat("x", 161)}
	d, err := Decide(ten, routes, downHealth, req)
	if err != nil {
		t.Fatal(err)
	}
	if d.To != "447700900123" || d.Segments.Parts != 2 || d.Quote.Price.String() != "0.06" || d.Route.Winner().SupplierID != "a" {
		t.Fatalf("%+v", d)
	}
	if s := ten.Account.State(); s.Held.String() != "0.06" {
		t.Fatalf("held %s", s.Held)
	}
	m, err := message.Rebuild(d.Events(ten, req, t0))
	if err != nil {
		t.Fatal(err)
	}
	if m.State != message.StateRouted || !m.HoldOpen || m.Price.String() != "0.06" || m.Parts != 2 || len(m.Candidates) != 2 {
		t.Fatalf("%+v", m)
	}
	for _, e := range d.Events(ten, req, t0) {
		if s, _ := events.StreamOf(e); s != events.MessageStream(req.MessageID) {
			t.Fatalf("%s in %s", e.EventType(), s)
		}
		if _, _, err := events.Encode(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := Undo(ten, &d); err != nil || ten.Account.State().Held != 0 {
		t.Fatalf("undo: %v", err)
	}
}

func TestDecideRefusalsHoldNothing(t *testing.T) {
	cases := []struct {
		to, text string
		dc       int // -1: auto
		want     Refusal
	}{
		{"07700900123", "hi", -1, RefusedInvalidDestination},
		{"4912345678", "hi", -1, RefusedNoRate},
		{"33612345678", "hi", -1, RefusedNoRoute},
		{"447700900123", strings.Repeat("x", 153*256), -1, RefusedTooLong},
		{"447700900123", "€", int(pricing.DataCodingLatin1), RefusedInvalidText},
		{"447700900123", "hi", 0x04, RefusedUnsupportedEncoding},
		{"447700900123", strings.Repeat("x", 153*40), -1, RefusedInsufficientFunds}, // 40 × 0.03 > 1
	}
	for _, c := range cases {
		ten, routes := smallWorld(t, "1")
		req := &Request{MessageID: uuid.New(), To: c.to, Text: c.text}
		if c.dc >= 0 {
			req.HasDataCoding, req.DataCoding = true, uint8(c.dc)
		}
		_, err := Decide(ten, routes, downHealth, req)
		if got := RefusalOf(err); got != c.want {
			t.Errorf("%s %q: %s (%v), want %s", c.to, c.text[:min(len(c.text), 10)], got, err, c.want)
		}
		if ten.Account.State().Held != 0 {
			t.Errorf("%s: refused message left a hold", c.to)
		}
	}
	ten, routes := smallWorld(t, "1")
	ten.Rates = nil
	if _, err := Decide(ten, routes, nil, &Request{To: "447700900123"}); !errors.Is(err, ErrTenantMisconfigured) || RefusalOf(err) != RefusedSystem {
		t.Errorf("misconfigured: %v", err)
	}
}

func TestDecideAllocations(t *testing.T) {
	ten, routes := smallWorld(t, "1000000")
	req := &Request{MessageID: uuid.New(), To: "447700900123", Text: "hello"}
	n := testing.AllocsPerRun(200, func() {
		d, err := Decide(ten, routes, downHealth, req)
		if err != nil {
			t.Fatal(err)
		}
		_ = Undo(ten, &d)
	})
	if n > 0 {
		t.Fatalf("%v allocations per decision", n)
	}
}

// world is the property-test oracle: the tenant's account, the ledger
// built from every journal entry event, and each message's aggregate.
type world struct {
	t        *testing.T
	ten      *Tenant
	routes   *routing.Snapshot
	ledger   *money.Ledger
	messages []*message.Message
	r        *rand.Rand
}

// commit applies decided events as an adapter would after appending them:
// to the aggregate, the account and the ledger.
func (w *world) commit(m *message.Message, es []events.Event, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
	for _, e := range es {
		// Every event survives the store's encoding.
		typ, data, err := events.Encode(e)
		if err != nil {
			w.t.Fatal(err)
		}
		if e, err = events.Decode(typ, data); err != nil {
			w.t.Fatal(err)
		}
		if err := m.Apply(e); err != nil {
			w.t.Fatal(err)
		}
		if err := message.ApplyToAccount(w.ten.Account, e); err != nil {
			w.t.Fatal(err)
		}
		if je, ok := e.(events.JournalEntryRecorded); ok {
			entry, err := message.EntryFromEvent(je)
			if err != nil {
				w.t.Fatal(err) // an unbalanced entry
			}
			if err := w.ledger.Record(entry); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

func (w *world) check(step int) {
	w.t.Helper()
	s := w.ten.Account.State()
	if s.Balance+s.CreditLimit-s.Held < 0 {
		w.t.Fatalf("step %d: available negative: %+v", step, s)
	}
	if funds := w.ledger.TenantFunds("acme", "EUR"); !funds.Equal(s.Balance.Decimal()) {
		w.t.Fatalf("step %d: ledger funds %s, account balance %s", step, funds, s.Balance)
	}
	var open money.Units
	for _, m := range w.messages {
		if m.HoldOpen {
			open += m.Price
		}
		if m.State.Terminal() && m.HoldOpen {
			w.t.Fatalf("step %d: final message %s still holds", step, m.ID)
		}
		if m.Settled && m.Released {
			w.t.Fatalf("step %d: message both settled and released", step)
		}
	}
	if open != s.Held {
		w.t.Fatalf("step %d: open holds %s, account held %s", step, open, s.Held)
	}
	if bad := w.ledger.TrialBalance(); len(bad) != 0 {
		w.t.Fatalf("step %d: books do not balance in %v", step, bad)
	}
}

// TestPropertyRandomLifecycles drives random sequences of top-ups (with
// duplicate references), accepts, supplier answers, failovers, DLRs (with
// duplicates), expiries and duplicate commands through the domain, and
// checks the invariants after every step.
func TestPropertyRandomLifecycles(t *testing.T) {
	var settled, released, failedOver int
	defer func() {
		// The random walk must actually reach the interesting paths.
		if settled < 100 || released < 100 || failedOver < 10 {
			t.Errorf("coverage: %d settled, %d released, %d failed over", settled, released, failedOver)
		}
	}()
	for seed := uint64(1); seed <= 30; seed++ {
		ten, routes := smallWorld(t, "0")
		if seed%2 == 0 {
			ten.Billing = money.BillOnSubmit
		}
		if err := ten.Account.SetCreditLimit(money.MustFromDecimal(decimal.RequireFromString("0.5"))); err != nil {
			t.Fatal(err)
		}
		w := &world{t: t, ten: ten, routes: routes, ledger: money.NewLedger(), r: rand.New(rand.NewPCG(seed, 99))}
		refs := map[string]decimal.Decimal{}
		for step := 0; step < 600; step++ {
			switch op := w.r.IntN(10); {
			case op == 0: // top-up, sometimes a replayed or conflicting reference
				ref := "ref-" + string(rune('a'+w.r.IntN(8)))
				amount := decimal.New(int64(1+w.r.IntN(100)), -2)
				prev, seen := refs[ref]
				if seen && w.r.IntN(2) == 0 {
					amount = prev // an exact replay: must be a no-op
				}
				entry, err := money.TopUpEntry("acme", money.Money{Amount: amount, Currency: "EUR"}, ref)
				if err != nil {
					t.Fatal(err)
				}
				err = w.ledger.Record(entry)
				switch {
				case !seen:
					if err != nil {
						t.Fatal(err)
					}
					u, _ := money.FromDecimal(amount)
					if err := ten.Account.TopUp(u); err != nil {
						t.Fatal(err)
					}
					refs[ref] = amount
				case amount.Equal(prev) && err != nil:
					t.Fatalf("replayed top-up: %v", err)
				case !amount.Equal(prev) && !errors.Is(err, money.ErrConflictingEntry):
					t.Fatalf("conflicting top-up: %v", err)
				}
			case op <= 3: // accept
				req := &Request{MessageID: uuid.NewSHA1(uuid.Nil, []byte{byte(seed), byte(step), byte(step >> 8)}),
					To: "44770090" + string(rune('0'+w.r.IntN(10))) + "123", Text: strings.Repeat("y", w.r.IntN(400))}
				d, err := Decide(ten, routes, nil, req)
				if err != nil {
					if !errors.Is(err, money.ErrInsufficientFunds) {
						t.Fatal(err)
					}
					break
				}
				m := &message.Message{}
				w.commit(m, d.Events(ten, req, t0), nil)
				w.messages = append(w.messages, m)
			default: // advance a random message with a random input
				if len(w.messages) == 0 {
					break
				}
				m := w.messages[w.r.IntN(len(w.messages))]
				w.advance(m)
			}
			w.check(step)
		}
		for _, m := range w.messages {
			if m.Settled {
				settled++
			}
			if m.Released {
				released++
			}
			if m.Attempt > 1 {
				failedOver++
			}
		}
	}
}

func (w *world) advance(m *message.Message) {
	sup := m.Supplier().SupplierID
	switch w.r.IntN(9) {
	case 0, 1:
		es, err := m.Submit(t0)
		if errors.Is(err, message.ErrIllegalTransition) {
			return // e.g. submit in submit_failed: legal to refuse
		}
		w.commit(m, es, err)
	case 2, 3:
		es, err := m.OnSupplierAccepted(sup, m.Attempt-w.r.IntN(2), "S-"+m.ID.String(), 3, t0)
		if errors.Is(err, message.ErrIllegalTransition) {
			return
		}
		w.commit(m, es, err)
	case 4:
		es, err := m.OnSupplierRejected(sup, m.Attempt, 0x58, t0)
		w.commit(m, es, err)
	case 5:
		es, err := m.OnSupplierTimedOut(sup, m.Attempt, 1000, t0)
		w.commit(m, es, err)
	case 6, 7:
		status := []string{message.DLRDelivered, message.DLRUndeliverable, message.DLREnroute, message.DLRRejected}[w.r.IntN(4)]
		es, err := m.OnDeliveryReport(m.SupplierMessageID, status, "", t0, t0)
		if errors.Is(err, message.ErrIllegalTransition) {
			return
		}
		w.commit(m, es, err)
	case 8:
		if w.r.IntN(4) == 0 {
			es, err := m.Expire(t0)
			if errors.Is(err, message.ErrIllegalTransition) {
				return
			}
			w.commit(m, es, err)
		}
	}
}

// TestConcurrentAcceptsNeverOverspend runs accepts from many goroutines on
// one tenant (run with -race): exactly as many messages are accepted as the
// funds allow.
func TestConcurrentAcceptsNeverOverspend(t *testing.T) {
	ten, routes := smallWorld(t, "3") // 100 messages at 0.03
	const workers, each = 8, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				req := &Request{MessageID: uuid.New(), To: "447700900123", Text: "hi"}
				if _, err := Decide(ten, routes, nil, req); err != nil {
					if !errors.Is(err, money.ErrInsufficientFunds) {
						t.Error(err)
					}
					continue
				}
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	if s := ten.Account.State(); accepted != 100 || s.Available != 0 || s.Held.String() != "3" {
		t.Fatalf("accepted %d, state %+v", accepted, s)
	}
}
