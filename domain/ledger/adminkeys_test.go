package ledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// A revoked API key is refused at once, though its verification was
// cached, and after a replay; the list shows the keys in force with their
// issue times.
func TestRevokedAPIKeyRefusedAtOnceAndAfterReplay(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	clock := ledgertest.NewClock()
	svc := ledgertest.Start(t, store, ledger.Options{Clock: clock.Now})
	ledgertest.Setup(t, svc, "acme")
	ledgertest.Setup(t, svc, "other")
	t0 := clock.Now()
	k1, id1, err := svc.IssueAPIKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	k2, id2, err := svc.IssueAPIKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	_, idOther, err := svc.IssueAPIKey(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	list, err := svc.ListAPIKeys("acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.APIKeyInfo{{ID: id1, CreatedAt: t0}, {ID: id2, CreatedAt: t0.Add(time.Minute)}}
	if len(list) != 2 || list[0] != want[0] || list[1] != want[1] {
		t.Fatalf("list %+v, want %+v", list, want)
	}
	for _, k := range []string{k1, k1, k2} { // the second use of k1 is cached
		if tid, err := svc.AuthenticateAPIKey(ctx, k); err != nil || tid != "acme" {
			t.Fatalf("authenticate: %q %v", tid, err)
		}
	}
	if err := svc.RevokeAPIKey(ctx, "acme", idOther); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("revoking another tenant's key: %v", err)
	}
	if err := svc.RevokeAPIKey(ctx, "acme", id1); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateAPIKey(ctx, k1); !errors.Is(err, ledger.ErrBadCredentials) {
		t.Fatalf("revoked key authenticates: %v", err)
	}
	if tid, err := svc.AuthenticateAPIKey(ctx, k2); err != nil || tid != "acme" {
		t.Fatalf("the other key: %q %v", tid, err)
	}
	if err := svc.RevokeAPIKey(ctx, "acme", id1); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := svc.ListAPIKeys("nobody"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("list of an unknown tenant: %v", err)
	}
	if list, _ := svc.ListAPIKeys("acme"); len(list) != 1 || list[0] != want[1] {
		t.Fatalf("list after revocation: %+v", list)
	}

	replayed := ledgertest.Start(t, store, ledger.Options{})
	if _, err := replayed.AuthenticateAPIKey(ctx, k1); !errors.Is(err, ledger.ErrBadCredentials) {
		t.Fatalf("revoked key authenticates after a replay: %v", err)
	}
	if tid, err := replayed.AuthenticateAPIKey(ctx, k2); err != nil || tid != "acme" {
		t.Fatalf("the other key after a replay: %q %v", tid, err)
	}
	if list, _ := replayed.ListAPIKeys("acme"); len(list) != 1 || list[0] != want[1] {
		t.Fatalf("list after a replay: %+v", list)
	}
}

// tenantJournal returns the journal entries on a tenant's stream, checking
// that each balances.
func tenantJournal(t *testing.T, store eventstore.Store, tenantID string) (adjustments []events.AdjustmentRecorded, entries []events.JournalEntryRecorded) {
	t.Helper()
	recs, err := store.ReadStream(context.Background(), events.TenantStream(tenantID), 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ev, err := events.Decode(r.Type, r.Data)
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case events.AdjustmentRecorded:
			adjustments = append(adjustments, e)
		case events.JournalEntryRecorded:
			sum := decimal.Zero
			for _, p := range e.Postings {
				sum = sum.Add(p.Amount)
			}
			if !sum.IsZero() || len(e.Postings) < 2 {
				t.Fatalf("entry %s does not balance: %+v", e.EntryID, e.Postings)
			}
			entries = append(entries, e)
		}
	}
	return adjustments, entries
}

func TestAdjustmentsIdempotentBalancedAndReplayed(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", dec("1"), "t1"); err != nil {
		t.Fatal(err)
	}
	up, err := svc.Adjust(ctx, "acme", dec("2.5"), "adj-1", "goodwill")
	if err != nil || up.Duplicate || up.EntryID != money.AdjustmentEntryID("acme", "adj-1") || !up.Amount.Equal(dec("2.5")) || up.Currency != "EUR" {
		t.Fatalf("adjustment: %+v %v", up, err)
	}
	again, err := svc.Adjust(ctx, "acme", dec("2.50"), "adj-1", "goodwill")
	if err != nil || !again.Duplicate || again.EntryID != up.EntryID {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	if _, err := svc.Adjust(ctx, "acme", dec("-2.5"), "adj-1", "goodwill"); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("reference reused with another amount: %v", err)
	}
	// A top-up and an adjustment may share a reference.
	if _, err := svc.Adjust(ctx, "acme", dec("-0.5"), "t1", "correction"); err != nil {
		t.Fatal(err)
	}
	waitBalance(t, svc, "acme", ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "3", CreditLimit: "0", Held: "0", Available: "3"})

	// Hold 0.07, leaving 2.93 available: 2.94 is refused and nothing is
	// held or booked; 2.93 takes available to zero.
	if _, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	_, before := tenantJournal(t, store, "acme")
	_, err = svc.Adjust(ctx, "acme", dec("-2.94"), "adj-2", "chargeback")
	if !errors.Is(err, money.ErrInsufficientFunds) || ledger.CodeOf(err) != ledger.CodeInsufficientFunds {
		t.Fatalf("adjustment below available: %v", err)
	}
	want := ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "3", CreditLimit: "0", Held: "0.07", Available: "2.93"}
	waitBalance(t, svc, "acme", want)
	if _, after := tenantJournal(t, store, "acme"); len(after) != len(before) {
		t.Fatalf("a refused adjustment was booked: %d entries, %d before", len(after), len(before))
	}
	// The refused reference is free for another amount.
	if _, err := svc.Adjust(ctx, "acme", dec("-2.93"), "adj-2", "chargeback"); err != nil {
		t.Fatal(err)
	}
	want = ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "0.07", CreditLimit: "0", Held: "0.07", Available: "0"}
	waitBalance(t, svc, "acme", want)
	if _, err := svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"}); ledger.CodeOf(err) != ledger.CodeInsufficientFunds {
		t.Fatalf("submit after the adjustment: %v", err)
	}

	for _, c := range []struct {
		amount, ref string
		field       string
	}{{"0", "z", "amount"}, {"0.000000001", "z", "amount"}, {"1", "", "reference"}} {
		var ve *ledger.ValidationError
		if _, err := svc.Adjust(ctx, "acme", dec(c.amount), c.ref, ""); !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("Adjust(%s, %q): %v, want invalid %s", c.amount, c.ref, err, c.field)
		}
	}
	if _, err := svc.Adjust(ctx, "nobody", dec("1"), "r", ""); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}

	adjs, entries := tenantJournal(t, store, "acme")
	if len(adjs) != 3 {
		t.Fatalf("%d AdjustmentRecorded, want 3: %+v", len(adjs), adjs)
	}
	var kinds int
	for _, e := range entries {
		if e.Kind == string(money.KindAdjustment) {
			kinds++
		}
	}
	if kinds != 3 || adjs[0].Reason != "goodwill" || adjs[0].EntryID != up.EntryID {
		t.Fatalf("adjustment entries %d, first %+v", kinds, adjs[0])
	}

	replayed := ledgertest.Start(t, store, ledger.Options{})
	waitBalance(t, replayed, "acme", want)
	if again, err := replayed.Adjust(ctx, "acme", dec("2.5"), "adj-1", "goodwill"); err != nil || !again.Duplicate {
		t.Fatalf("repeat after a replay: %+v %v", again, err)
	}
}

// Negative adjustments racing submits never take available below zero, and
// the log rebuilds the same figures.
func TestAdjustmentsRacingHoldsNeverOverspend(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.TopUp(ctx, "acme", dec("5"), "t1"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				var err error
				if g%2 == 0 {
					_, err = svc.Submit(ctx, "acme", accept.Request{To: "+4915112345678", Text: "x"})
				} else {
					_, err = svc.Adjust(ctx, "acme", dec("-0.13"), string(rune('a'+g))+string(rune('a'+i)), "")
				}
				if c := ledger.CodeOf(err); c != ledger.CodeOK && c != ledger.CodeInsufficientFunds {
					t.Errorf("%v", err)
				}
				b, _ := svc.Balance("acme")
				if d, _ := decimal.NewFromString(b.Available); d.IsNegative() {
					t.Errorf("available below zero: %+v", b)
				}
			}
		}()
	}
	wg.Wait()
	b, _ := svc.Balance("acme")
	if b.Available == "5" {
		t.Fatalf("nothing happened: %+v", b)
	}
	waitBalance(t, ledgertest.Start(t, store, ledger.Options{}), "acme", b)
}
