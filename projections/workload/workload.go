// Package workload generates realistic, deterministic event sequences for
// tests and benchmarks of the projections: tenants with rate cards and
// top-ups, suppliers with cost cards (one billing in another currency), a
// route table, and messages taken through the domain (accept.Decide, the
// message state machine): supplier acceptances, rejections and timeouts
// with failover, DLRs of every kind, expiries, settlements and releases.
// Suppliers bill on either basis (supplierBilling), so supplier costs are
// booked with the tenant's charge and apart from it; some messages carry a
// client_ref, some a send_at (scheduled, due at once).
//
// Every decision is made by the domain packages, so the events are exactly
// what the product would append. The appends are arranged in rounds: a
// round holds at most one append per stream, so its appends may run
// concurrently, and message steps interleave across rounds as live traffic
// does.
package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/pricing"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/eventstore"
)

// Config describes a workload.
type Config struct {
	Seed      uint64
	Tenants   int       // default 4
	Suppliers int       // default 4 (the last bills in USD)
	Messages  int       // default 1000
	Wave      int       // messages accepted per round, default 100
	Start     time.Time // time of the first event; default 2025-01-31T23:30:00Z (crosses a month)
	// Spacing is the event time between waves. Default 2s.
	Spacing time.Duration
	// Adjustments adds occasional manual adjustments of either sign to the
	// tenant streams (a negative one only where the available balance
	// covers it). Off, the workload is the same as before they existed.
	Adjustments bool
}

// Append is one append: events to one stream with its expected version.
type Append struct {
	Stream   string
	Expected eventstore.ExpectedVersion
	Events   []events.Event
}

// Workload is a generated sequence of rounds of appends.
type Workload struct {
	Rounds [][]Append
	// Events is the total number of events.
	Events int
	// Messages is the number of messages accepted.
	Messages int
}

var sellRates = []string{"0.0125", "0.02", "0.035", "0.008", "0.05"}

// supplierBilling is the billing basis of the i-th supplier (0-based):
// on_submit, on_delivery, none (on_submit), on_delivery, and so on.
func supplierBilling(i int) string {
	return [...]string{string(money.BillOnSubmit), string(money.BillOnDelivery), "", string(money.BillOnDelivery)}[i%4]
}

// Generate builds a workload.
func Generate(cfg Config) (*Workload, error) {
	if cfg.Tenants <= 0 {
		cfg.Tenants = 4
	}
	if cfg.Suppliers <= 0 {
		cfg.Suppliers = 4
	}
	if cfg.Messages < 0 {
		return nil, errors.New("workload: negative message count")
	}
	if cfg.Messages == 0 {
		cfg.Messages = 1000
	}
	if cfg.Wave <= 0 {
		cfg.Wave = 100
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2025, 1, 31, 23, 30, 0, 0, time.UTC)
	}
	if cfg.Spacing <= 0 {
		cfg.Spacing = 2 * time.Second
	}
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5bd1e995))
	w := &Workload{}
	round := func(i int) *[]Append {
		for len(w.Rounds) <= i {
			w.Rounds = append(w.Rounds, nil)
		}
		return &w.Rounds[i]
	}
	add := func(i int, a Append) {
		p := round(i)
		*p = append(*p, a)
		w.Events += len(a.Events)
	}
	at := cfg.Start
	d := decimal.RequireFromString

	// Suppliers, cost cards, routes.
	supIDs := make([]string, cfg.Suppliers)
	bases := map[string]string{} // supplier id → billing basis
	in := routing.SnapshotInput{BaseCurrency: "EUR", FXToBase: map[money.Currency]decimal.Decimal{"USD": d("0.9")}}
	var setup []Append
	for i := range supIDs {
		id := "sup-" + strconv.Itoa(i+1)
		supIDs[i] = id
		bases[id] = supplierBilling(i)
		cur := "EUR"
		if i == cfg.Suppliers-1 && cfg.Suppliers > 1 {
			cur = "USD"
		}
		costs := []events.Cost{{Prefix: "", Cost: d("0.006")}, {Prefix: "44", Cost: d("0.004").Add(decimal.New(int64(i), -3))}, {Prefix: "49", Cost: d("0.007")}, {Prefix: "33", Cost: d("0.0055")}}
		cc := routing.CostCard{SupplierID: id, Currency: money.Currency(cur)}
		for _, c := range costs {
			cc.Costs = append(cc.Costs, routing.Cost{Prefix: c.Prefix, Cost: c.Cost})
		}
		in.CostCards = append(in.CostCards, cc)
		setup = append(setup, Append{Stream: events.SupplierStream(id), Expected: eventstore.NoStream, Events: []events.Event{
			events.SupplierCreated{SupplierID: id, Name: "Supplier " + id, Currency: cur, Host: "smsc" + strconv.Itoa(i+1) + ".example", Port: 2775, SystemID: id, PasswordSealed: "sealed", Binds: 2, TPSLimit: 500, Window: 10, Billing: supplierBilling(i), At: at},
			events.CostCardChanged{SupplierID: id, Currency: cur, Costs: costs, At: at},
		}})
	}
	var routes []events.Route
	for _, p := range []string{"", "44", "49", "33", "447"} {
		perm := r.Perm(len(supIDs))
		k := min(len(supIDs), 2+r.IntN(2))
		rt := events.Route{Prefix: p}
		for _, j := range perm[:k] {
			rt.Suppliers = append(rt.Suppliers, supIDs[j])
		}
		routes = append(routes, rt)
		in.Routes = append(in.Routes, routing.Route{Prefix: rt.Prefix, Suppliers: rt.Suppliers})
	}
	snap, err := routing.NewSnapshot(in)
	if err != nil {
		return nil, fmt.Errorf("workload: routes: %w", err)
	}
	setup = append(setup, Append{Stream: events.RoutesStream(), Expected: eventstore.NoStream, Events: []events.Event{events.RouteTableChanged{Routes: routes, At: at}}})

	// Tenants.
	tenants := make([]*accept.Tenant, cfg.Tenants)
	tenantVersion := make([]uint64, cfg.Tenants)
	tiers := []routing.Tier{routing.Premium, routing.Standard, routing.Economy}
	for i := range tenants {
		id := "tenant-" + strconv.Itoa(i+1)
		billing := money.BillOnSubmit
		if i%2 == 1 {
			billing = money.BillOnDelivery
		}
		tier := tiers[i%len(tiers)]
		rates := []events.Rate{{Prefix: "", Price: d(sellRates[i%len(sellRates)])}, {Prefix: "44", Price: d("0.015")}, {Prefix: "49", Price: d("0.0175")}, {Prefix: "33", Price: d("0.011")}}
		var pr []pricing.Rate
		for _, rt := range rates {
			pr = append(pr, pricing.Rate{Prefix: rt.Prefix, Price: rt.Price})
		}
		card, err := pricing.NewRateCard("EUR", pr)
		if err != nil {
			return nil, fmt.Errorf("workload: rate card: %w", err)
		}
		credit := decimal.Zero
		if i%3 == 2 {
			credit = d("5")
		}
		acct, err := money.NewAccount("EUR", 0, money.MustFromDecimal(credit), 0)
		if err != nil {
			return nil, err
		}
		tenants[i] = &accept.Tenant{ID: id, Billing: billing, Tier: tier, Rates: card, Account: acct}
		top := d("25").Add(decimal.New(int64(r.IntN(5000)), -2))
		topEvs, err := topUp(id, top, "initial", at)
		if err != nil {
			return nil, err
		}
		if err := acct.TopUp(money.MustFromDecimal(top)); err != nil {
			return nil, err
		}
		evs := append([]events.Event{
			events.TenantCreated{TenantID: id, Name: "Tenant " + id, Currency: "EUR", Billing: string(billing), TPSLimit: 100, CreditLimit: credit, Tier: tier.String(), At: at},
			events.RateCardChanged{TenantID: id, Currency: "EUR", Rates: rates, At: at},
		}, topEvs...)
		setup = append(setup, Append{Stream: events.TenantStream(id), Expected: eventstore.NoStream, Events: evs})
		tenantVersion[i] = uint64(len(evs) - 1)
	}
	for _, a := range setup {
		add(0, a)
	}

	dests := []string{"447700900123", "4915112345678", "33612345678", "14155550123", "447911123456", "4930123456", "3465432198"}
	texts := []string{"Your code is 123456", "Hello from smsledger, your parcel arrives today between 10:00 and 12:00.", "Привет! Ваш код 4242", "Long message with enough text to need two parts: Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam."}
	lastTopUp := make([]int, len(tenants))          // at most one top-up or adjustment per tenant and round
	ra := rand.New(rand.NewPCG(cfg.Seed, 0xad1057)) // adjustments draw apart: without them, r's sequence is unchanged
	for m := 0; m < cfg.Messages; m++ {
		wave := 1 + m/cfg.Wave
		ti := r.IntN(len(tenants))
		t := tenants[ti]
		base := cfg.Start.Add(time.Duration(wave) * cfg.Spacing).Add(time.Duration(m%cfg.Wave) * time.Millisecond)
		// Occasional top-up in the tenant stream.
		if r.IntN(50) == 0 && lastTopUp[ti] != wave {
			lastTopUp[ti] = wave
			amt := decimal.New(int64(500+r.IntN(2000)), -2)
			evs, err := topUp(t.ID, amt, "topup-"+strconv.Itoa(m), base)
			if err != nil {
				return nil, err
			}
			if err := t.Account.TopUp(money.MustFromDecimal(amt)); err != nil {
				return nil, err
			}
			add(wave, Append{Stream: events.TenantStream(t.ID), Expected: eventstore.Exact(tenantVersion[ti]), Events: evs})
			tenantVersion[ti] += uint64(len(evs))
		}
		// Occasional adjustment, either sign.
		if cfg.Adjustments && ra.IntN(30) == 0 && lastTopUp[ti] != wave {
			amt := decimal.New(int64(50+ra.IntN(450)), -2)
			ok := true
			if ra.IntN(2) == 0 {
				ok = t.Account.Debit(money.MustFromDecimal(amt)) == nil
				amt = amt.Neg()
			} else if err := t.Account.Adjust(money.MustFromDecimal(amt)); err != nil {
				return nil, err
			}
			if ok {
				lastTopUp[ti] = wave
				evs, err := adjustment(t.ID, amt, "adjustment-"+strconv.Itoa(m), base)
				if err != nil {
					return nil, err
				}
				add(wave, Append{Stream: events.TenantStream(t.ID), Expected: eventstore.Exact(tenantVersion[ti]), Events: evs})
				tenantVersion[ti] += uint64(len(evs))
			}
		}
		var idb [16]byte
		for i := range idb {
			idb[i] = byte(r.Uint32())
		}
		id, _ := uuid.FromBytes(idb[:])
		id[6] = (id[6] & 0x0f) | 0x40
		id[8] = (id[8] & 0x3f) | 0x80
		req := &accept.Request{MessageID: id, Channel: []string{"smpp", "http"}[r.IntN(2)], From: "SMSLEDGER",
			To: dests[r.IntN(len(dests))], Text: texts[r.IntN(len(texts))], RegisteredDelivery: r.IntN(4) != 0,
			ExpiresAt: base.Add(48 * time.Hour)}
		dec, err := accept.Decide(t, snap, nil, req)
		if err != nil {
			if errors.Is(err, money.ErrInsufficientFunds) {
				continue
			}
			return nil, fmt.Errorf("workload: message %d: %w", m, err)
		}
		w.Messages++
		msg := &message.Message{}
		stream := events.MessageStream(id)
		step := 0
		emit := func(evs []events.Event) error {
			if len(evs) == 0 {
				return nil
			}
			exp := eventstore.NoStream
			if msg.Version > 0 {
				exp = eventstore.Exact(uint64(msg.Version - 1))
			}
			if err := msg.ApplyAll(evs); err != nil {
				return err
			}
			for _, e := range evs {
				if err := message.ApplyToAccount(t.Account, e); err != nil {
					return err
				}
			}
			add(wave+step, Append{Stream: stream, Expected: exp, Events: evs})
			step++
			return nil
		}
		when := func() time.Time { return base.Add(time.Duration(step) * 300 * time.Millisecond) }
		if err := emit(dress(dec.Events(t, req, base), bases, m, base)); err != nil {
			return nil, err
		}
		if err := simulate(r, msg, emit, when); err != nil {
			return nil, fmt.Errorf("workload: message %d: %w", m, err)
		}
	}
	return w, nil
}

// dress gives the accept events what the routing snapshot here does not:
// each candidate's billing basis, and for some messages (by their index m)
// a client_ref and a send_at of the accept time (scheduled, due at once).
func dress(evs []events.Event, bases map[string]string, m int, at time.Time) []events.Event {
	for i, e := range evs {
		switch e := e.(type) {
		case events.MessageAccepted:
			if m%3 == 0 {
				e.ClientRef = "ref-" + strconv.Itoa(m)
			}
			if m%7 == 0 {
				e.SendAt = at
			}
			evs[i] = e
		case events.RouteSelected:
			cands := make([]events.RouteCandidate, len(e.Candidates))
			for j, c := range e.Candidates {
				c.Billing = bases[c.SupplierID]
				cands[j] = c
			}
			e.Candidates = cands
			evs[i] = e
		}
	}
	return evs
}

func topUp(tenantID string, amount decimal.Decimal, ref string, at time.Time) ([]events.Event, error) {
	e, err := money.TopUpEntry(tenantID, money.Money{Amount: amount, Currency: "EUR"}, ref)
	if err != nil {
		return nil, err
	}
	return []events.Event{
		events.TopUpRecorded{TenantID: tenantID, Reference: ref, Amount: amount, Currency: "EUR", EntryID: e.ID, At: at},
		message.JournalEvent(e, tenantID, at),
	}, nil
}

func adjustment(tenantID string, amount decimal.Decimal, ref string, at time.Time) ([]events.Event, error) {
	e, err := money.AdjustmentEntry(tenantID, money.Money{Amount: amount, Currency: "EUR"}, ref)
	if err != nil {
		return nil, err
	}
	return []events.Event{
		events.AdjustmentRecorded{TenantID: tenantID, Reference: ref, Amount: amount, Currency: "EUR", Reason: "workload", EntryID: e.ID, At: at},
		message.JournalEvent(e, tenantID, at),
	}, nil
}

// simulate takes an accepted message through supplier answers and DLRs.
func simulate(r *rand.Rand, m *message.Message, emit func([]events.Event) error, when func() time.Time) error {
	for attempt := 0; attempt < 8 && !m.State.Terminal(); attempt++ {
		if m.Sendable() {
			if r.IntN(40) == 0 { // supplier went down before the submit
				evs, err := m.Failover("bind lost", when())
				if err != nil {
					return err
				}
				if err := emit(evs); err != nil {
					return err
				}
				continue
			}
			evs, err := m.Submit(when())
			if err != nil {
				return err
			}
			if err := emit(evs); err != nil {
				return err
			}
		}
		if m.State != message.StateSubmitted {
			break
		}
		sup := m.Supplier().SupplierID
		var evs []events.Event
		var err error
		switch x := r.IntN(100); {
		case x < 78:
			evs, err = m.OnSupplierAccepted(sup, m.Attempt, "smid-"+m.ID.String()[:13], int64(5+r.IntN(400)+r.IntN(2)*r.IntN(3000)), when())
		case x < 92:
			evs, err = m.OnSupplierRejected(sup, m.Attempt, 0x58, when())
		default:
			evs, err = m.OnSupplierTimedOut(sup, m.Attempt, 10_000, when())
		}
		if err != nil {
			return err
		}
		if err := emit(evs); err != nil {
			return err
		}
		if m.State == message.StateSupplierAccepted {
			break
		}
	}
	if m.State == message.StateSupplierAccepted {
		if r.IntN(3) == 0 {
			evs, err := m.OnDeliveryReport(m.SupplierMessageID, message.DLREnroute, "", time.Time{}, when())
			if err != nil {
				return err
			}
			if err := emit(evs); err != nil {
				return err
			}
		}
		var status, code string
		switch x := r.IntN(100); {
		case x < 80:
			status, code = message.DLRDelivered, "000"
		case x < 90:
			status, code = message.DLRUndeliverable, "001"
		case x < 93:
			status, code = message.DLRExpired, "002"
		case x < 95:
			status, code = message.DLRRejected, "003"
		case x < 98:
			evs, err := m.Expire(when())
			if err != nil {
				return err
			}
			if err := emit(evs); err != nil {
				return err
			}
		default: // no answer yet: stays open
		}
		if status != "" {
			evs, err := m.OnDeliveryReport(m.SupplierMessageID, status, code, when(), when())
			if err != nil {
				return err
			}
			if err := emit(evs); err != nil {
				return err
			}
		}
	}
	if m.State.Terminal() && m.RegisteredDelivery {
		evs, err := m.OnForwarded(when())
		if err != nil {
			return err
		}
		return emit(evs)
	}
	return nil
}

// Encode turns an append into store event data, with deterministic ids
// derived from the stream and version so that a repeated append is a
// no-op.
func Encode(a Append, firstVersion uint64) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, len(a.Events))
	for i, e := range a.Events {
		typ, data, err := events.Encode(e)
		if err != nil {
			return nil, fmt.Errorf("workload: encode %T: %w", e, err)
		}
		out[i] = eventstore.EventData{
			ID:   uuid.NewSHA1(uuid.NameSpaceOID, []byte(a.Stream+"/"+strconv.FormatUint(firstVersion+uint64(i), 10))),
			Type: typ, Data: data,
		}
	}
	return out, nil
}

// Run appends the workload's rounds to store, each round's appends by up
// to concurrency goroutines, and returns the head position after the last.
func (w *Workload) Run(ctx context.Context, store eventstore.Store, concurrency int) (eventstore.Position, error) {
	return w.RunRounds(ctx, store, concurrency, 0, len(w.Rounds))
}

// RunRounds appends rounds [from, to).
func (w *Workload) RunRounds(ctx context.Context, store eventstore.Store, concurrency, from, to int) (eventstore.Position, error) {
	concurrency = max(1, concurrency)
	for ri := from; ri < min(to, len(w.Rounds)); ri++ {
		round := w.Rounds[ri]
		sem := make(chan struct{}, concurrency)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for _, a := range round {
			first := uint64(0)
			if v, ok := a.Expected.Version(); ok {
				first = v + 1
			}
			data, err := Encode(a, first)
			if err != nil {
				return 0, err
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				if _, err := store.Append(ctx, a.Stream, a.Expected, data...); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("workload: append to %s: %w", a.Stream, err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return 0, firstErr
		}
	}
	return store.Head(ctx)
}
