package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/eventstore"
)

// A tenant's numbers: normalised (MSISDNs "+<digits>" from "+", "00" or
// plain digits, short codes as they are), sorted and deduplicated; a bad
// one is refused naming it; another tenant's number is a conflict naming
// it; a replaced list frees the numbers it drops; and a new Service on the
// same log has the same owners.
func TestTenantNumbersOwnership(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	ledgertest.Setup(t, svc, "beta")

	got, err := svc.SetTenantNumbers(ctx, "acme", []string{"+49 151 12345678", "004915199999999", "12345", "4915112345678", " 0800 "})
	if err != nil {
		t.Fatal(err)
	}
	if want := "+4915112345678 +4915199999999 0800 12345"; strings.Join(got, " ") != want {
		t.Fatalf("numbers %q, want %q", got, want)
	}
	for _, tc := range []struct{ to, owner, number string }{
		{"4915112345678", "acme", "+4915112345678"},
		{"+4915112345678", "acme", "+4915112345678"},
		{"004915199999999", "acme", "+4915199999999"},
		{"12345", "acme", "12345"},
		{"0800", "acme", "0800"},
		{"800", "", ""},
		{"4915100000000", "", ""},
		{"Acme", "", ""},
	} {
		owner, number, ok := svc.NumberOwner(tc.to)
		if owner != tc.owner || number != tc.number || ok != (tc.owner != "") {
			t.Errorf("NumberOwner(%q) = %q %q %v, want %q %q", tc.to, owner, number, ok, tc.owner, tc.number)
		}
	}

	for _, bad := range []string{"12", "015112345678", "+49abc", "123456789012345678"} {
		_, err := svc.SetTenantNumbers(ctx, "beta", []string{"+4930123456", bad})
		if !errors.Is(err, ledger.ErrInvalid) || !strings.Contains(err.Error(), bad) {
			t.Errorf("number %q: %v, want invalid naming it", bad, err)
		}
	}
	_, err = svc.SetTenantNumbers(ctx, "beta", []string{"+4930123456", "+4915112345678"})
	if !errors.Is(err, ledger.ErrConflict) || !strings.Contains(err.Error(), "+4915112345678") {
		t.Fatalf("another tenant's number: %v, want a conflict naming it", err)
	}
	if n, _ := svc.TenantNumbers("beta"); len(n) != 0 {
		t.Fatalf("beta's numbers after the refusals: %q", n)
	}
	if _, err := svc.SetTenantNumbers(ctx, "nobody", nil); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}

	// Replacing acme's list frees 4915112345678 for beta; the same list
	// again appends nothing.
	if _, err := svc.SetTenantNumbers(ctx, "acme", []string{"12345", "+4915199999999"}); err != nil {
		t.Fatal(err)
	}
	before := streamLen(t, store, events.TenantStream("acme"))
	if _, err := svc.SetTenantNumbers(ctx, "acme", []string{"+4915199999999", "12345"}); err != nil {
		t.Fatal(err)
	}
	if after := streamLen(t, store, events.TenantStream("acme")); after != before {
		t.Fatalf("the same list appended %d events", after-before)
	}
	if _, err := svc.SetTenantNumbers(ctx, "beta", []string{"+4915112345678"}); err != nil {
		t.Fatalf("a freed number: %v", err)
	}

	again := ledgertest.Start(t, store, ledger.Options{})
	for to, owner := range map[string]string{"4915112345678": "beta", "4915199999999": "acme", "12345": "acme", "0800": ""} {
		if got, _, _ := again.NumberOwner(to); got != owner {
			t.Errorf("after a replay, %s is %q's, want %q's", to, got, owner)
		}
	}
}

// Two tenants claiming one number in the log (two nodes racing): the first
// claim wins on every replay, and the loser's list leaves it out.
func TestNumberClaimFirstInTheLogWins(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	ledgertest.Setup(t, svc, "beta")
	if _, err := svc.SetTenantNumbers(ctx, "acme", []string{"+4915112345678"}); err != nil {
		t.Fatal(err)
	}
	appendEvent(t, store, events.TenantStream("beta"), events.TenantNumbersChanged{TenantID: "beta", Numbers: "+4915112345678 +4930123456", Count: 2})
	for _, s := range []*ledger.Service{svc, ledgertest.Start(t, store, ledger.Options{})} {
		waitFor(t, "beta's list applied", func() bool { n, _ := s.TenantNumbers("beta"); return len(n) == 1 })
		if n, _ := s.TenantNumbers("beta"); n[0] != "+4930123456" {
			t.Fatalf("beta's numbers: %q", n)
		}
		if owner, _, _ := s.NumberOwner("4915112345678"); owner != "acme" {
			t.Fatalf("the contested number is %q's", owner)
		}
	}
}

// An MO to a tenant's number: durable with its charge (a settlement entry
// tenant → revenue) in the MO's own stream, waiting to be forwarded until
// MOForwarded (recorded once); an unknown number stores nothing; a tenant
// whose balance does not cover its mo_price gets the MO unbilled; and a new
// Service on the same log has the same balance and the same MOs waiting.
func TestReceiveMOChargesAndWaits(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{MOPrice: ptr(dec("0.004"))}); err != nil {
		t.Fatal(err)
	}
	if info, _ := svc.Tenant("acme"); info.MOPrice != "0.004" {
		t.Fatalf("mo_price %q", info.MOPrice)
	}
	if _, err := svc.TopUp(ctx, "acme", dec("0.01"), "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetTenantNumbers(ctx, "acme", []string{"+4915112345678", "12345"}); err != nil {
		t.Fatal(err)
	}

	if _, err := svc.ReceiveMO(ctx, ledger.MOIn{SupplierID: "sup1", From: "4917600000001", To: "4930999999"}); !errors.Is(err, ledger.ErrUnknownNumber) {
		t.Fatalf("unknown number: %v", err)
	}
	rc, err := svc.ReceiveMO(ctx, ledger.MOIn{SupplierID: "sup1", From: "4917600000001", To: "4915112345678", Text: "STOP", Encoding: "gsm7"})
	if err != nil {
		t.Fatal(err)
	}
	if rc.TenantID != "acme" || rc.Number != "+4915112345678" || rc.Price.String() != "0.004" || rc.Unbilled {
		t.Fatalf("receipt %+v", rc)
	}
	mo, ok := svc.MOOf(rc.MessageID)
	if !ok || mo.From != "4917600000001" || mo.To != "+4915112345678" || mo.Text != "STOP" || mo.SupplierID != "sup1" {
		t.Fatalf("pending MO %+v %v", mo, ok)
	}
	b, _ := svc.Balance("acme")
	if b.Balance != "0.006" || b.Available != "0.006" {
		t.Fatalf("balance after an MO: %+v", b)
	}
	evs := streamEvents(t, store, events.MessageStream(rc.MessageID))
	if len(evs) != 2 {
		t.Fatalf("MO stream: %+v", evs)
	}
	if e, ok := evs[0].(events.MOReceived); !ok || e.TenantID != "acme" || !e.Price.Equal(dec("0.004")) || e.Currency != "EUR" {
		t.Fatalf("first event %+v", evs[0])
	}
	je, ok := evs[1].(events.JournalEntryRecorded)
	if !ok || je.Kind != "settlement" || je.MessageID != rc.MessageID || len(je.Postings) != 2 ||
		je.Postings[0].Account != "tenant:acme" || !je.Postings[0].Amount.Equal(dec("0.004")) ||
		je.Postings[1].Account != "revenue" || !je.Postings[1].Amount.Equal(dec("-0.004")) {
		t.Fatalf("journal entry %+v", evs[1])
	}

	// A second MO leaves 0.002: the third is delivered unbilled.
	if _, err := svc.ReceiveMO(ctx, ledger.MOIn{SupplierID: "sup1", From: "4917600000002", To: "12345", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	free, err := svc.ReceiveMO(ctx, ledger.MOIn{SupplierID: "sup1", From: "4917600000003", To: "12345", Text: "hi"})
	if err != nil || !free.Unbilled || !free.Price.IsZero() {
		t.Fatalf("MO beyond the balance: %+v %v", free, err)
	}
	if evs := streamEvents(t, store, events.MessageStream(free.MessageID)); len(evs) != 1 || !evs[0].(events.MOReceived).Unbilled {
		t.Fatalf("unbilled MO stream: %+v", evs)
	}
	waitBalance(t, svc, "acme", ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "0.002", CreditLimit: "0", Held: "0", Available: "0.002"})
	if n := len(svc.PendingMOs(10)); n != 3 {
		t.Fatalf("%d MOs waiting, want 3", n)
	}

	// Forwarded: recorded once, then gone from the MOs waiting.
	for range 2 {
		if err := svc.MOForwarded(ctx, rc.MessageID); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the forwarded MO gone", func() bool { _, ok := svc.MOOf(rc.MessageID); return !ok })
	if evs := streamEvents(t, store, events.MessageStream(rc.MessageID)); len(evs) != 3 {
		t.Fatalf("MO stream after forwarding twice: %+v", evs)
	}
	if err := svc.MOForwarded(ctx, rc.MessageID); err != nil {
		t.Fatal(err)
	}

	again := ledgertest.Start(t, store, ledger.Options{})
	waitBalance(t, again, "acme", ledger.BalanceView{TenantID: "acme", Currency: "EUR", Balance: "0.002", CreditLimit: "0", Held: "0", Available: "0.002"})
	pending := again.PendingMOs(10)
	if len(pending) != 2 || pending[0].From != "4917600000002" || pending[1].ID != free.MessageID {
		t.Fatalf("MOs waiting after a replay: %+v", pending)
	}
	// The replayed tracker knows each MO's last version: MOForwarded goes
	// after the journal entry of a charged MO and after MOReceived of a
	// free one.
	for _, mo := range pending {
		if err := again.MOForwarded(ctx, mo.ID); err != nil {
			t.Fatal(err)
		}
		if evs := streamEvents(t, store, events.MessageStream(mo.ID)); len(evs) < 2 {
			t.Fatalf("MO %s not recorded forwarded: %+v", mo.ID, evs)
		}
	}
	waitFor(t, "no MO waiting", func() bool { return again.PendingMOCount() == 0 })
}

// An MO the store cannot take is not acknowledged (ErrNotDurable) and its
// charge is given back.
func TestReceiveMONotDurableGivesTheChargeBack(t *testing.T) {
	ctx := context.Background()
	svc := startAcmeOn(t, failingStore{ledgertest.MemStore(t)})
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{MOPrice: ptr(dec("0.25"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetTenantNumbers(ctx, "acme", []string{"12345"}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.ReceiveMO(ctx, ledger.MOIn{SupplierID: "sup1", From: "4917600000001", To: "12345", Text: "x"})
	if !errors.Is(err, ledger.ErrNotDurable) {
		t.Fatalf("MO on a failing store: %v", err)
	}
	if b, _ := svc.Balance("acme"); b.Balance != "1" || b.Available != "1" {
		t.Fatalf("charge not given back: %+v", b)
	}
	if svc.PendingMOCount() != 0 {
		t.Fatal("an MO not durable waits to be forwarded")
	}
}

// mo_price is validated like the other money settings.
func TestMOPriceValidated(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	for _, p := range []string{"-0.01", "0.0000000001"} {
		if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{MOPrice: ptr(dec(p))}); !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("mo_price %s: %v", p, err)
		}
		err := svc.CreateTenant(ctx, ledger.TenantSpec{ID: "b", Name: "b", Currency: "EUR", Billing: "on_submit", Tier: "standard", MOPrice: dec(p)})
		if !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("create with mo_price %s: %v", p, err)
		}
	}
	if err := svc.CreateTenant(ctx, ledger.TenantSpec{ID: "b", Name: "b", Currency: "EUR", Billing: "on_submit", Tier: "standard", MOPrice: dec("0.01")}); err != nil {
		t.Fatal(err)
	}
	if info, _ := svc.TenantDetail("b"); info.MOPrice != "0.01" {
		t.Fatalf("mo_price %q", info.MOPrice)
	}
}

func streamEvents(t *testing.T, store eventstore.Store, stream string) []events.Event {
	t.Helper()
	recs, err := store.ReadStream(context.Background(), stream, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.Event, len(recs))
	for i, r := range recs {
		if out[i], err = events.Decode(r.Type, r.Data); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func streamLen(t *testing.T, store eventstore.Store, stream string) int {
	return len(streamEvents(t, store, stream))
}

func appendEvent(t *testing.T, store eventstore.Store, stream string, e events.Event) {
	t.Helper()
	typ, data, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(context.Background(), stream, eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: typ, Data: data}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
