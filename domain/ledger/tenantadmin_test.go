package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

func ptr[T any](v T) *T { return &v }

func TestListTenantsPages(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("t%02d", 6-i) // created out of order
		want = append(want, id)
		if err := svc.CreateTenant(ctx, ledger.TenantSpec{ID: id, Name: "N", Currency: "EUR", Billing: "on_submit", Tier: "standard"}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	var got []string
	cursor, pages := "", 0
	for {
		page, next := svc.ListTenants(cursor, 3)
		pages++
		if len(page) > 3 {
			t.Fatalf("page of %d", len(page))
		}
		for _, ti := range page {
			if ti.Status != ledger.TenantActive || ti.Currency != "EUR" {
				t.Fatalf("tenant %+v", ti)
			}
			got = append(got, ti.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("listed %v in %d pages, want %v in 3", got, pages, want)
	}
	if all, next := svc.ListTenants("", 0); len(all) != 7 || next != "" {
		t.Fatalf("default page: %d %q", len(all), next)
	}
	if all, _ := svc.ListTenants("", 1_000_000); len(all) != 7 {
		t.Fatalf("big limit: %d", len(all))
	}
}

func TestPatchTenant(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	info, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{
		Name: ptr("Acme Ltd"), TPSLimit: ptr(50), Tier: ptr("premium"), Billing: ptr("on_delivery"),
		DefaultValidityS: ptr(3600), MaxBinds: ptr(3), AllowedIPs: ptr([]string{"192.0.2.0/24", "198.51.100.7"}),
		CreditLimit: ptr(decimal.RequireFromString("10.5")),
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, info ledger.TenantInfo) {
		t.Helper()
		if info.Name != "Acme Ltd" || info.TPSLimit != 50 || info.Tier != "premium" || info.Billing != "on_delivery" ||
			info.DefaultValidityS != 3600 || info.MaxBinds != 3 || !slices.Equal(info.AllowedIPs, []string{"192.0.2.0/24", "198.51.100.7/32"}) ||
			info.CreditLimit != "10.5" || info.Currency != "EUR" || info.Status != ledger.TenantActive || len(info.Rates) != 2 {
			t.Fatalf("%s: %+v", what, info)
		}
	}
	check("patched", info)
	if b, _ := svc.Balance("acme"); b.CreditLimit != "10.5" || b.Available != "10.5" {
		t.Fatalf("balance after the credit limit: %+v", b)
	}
	// Only the fields given change.
	info, err = svc.PatchTenant(ctx, "acme", ledger.TenantPatch{Status: ptr("suspended")})
	if err != nil || info.Status != ledger.TenantSuspended || info.Name != "Acme Ltd" || info.MaxBinds != 3 {
		t.Fatalf("suspend: %+v %v", info, err)
	}
	if !svc.TenantSuspended("acme") || !slices.Equal(svc.SuspendedTenants(), []string{"acme"}) {
		t.Fatalf("suspended: %v %v", svc.TenantSuspended("acme"), svc.SuspendedTenants())
	}
	// A suspended tenant's submit is refused by the ledger itself (a bind
	// not yet closed by the adapters must not get one through).
	if _, err := svc.Submit(ctx, "acme", accept.Request{MessageID: uuid.New(), To: "+4915112345678", Text: "hi"}); ledger.CodeOf(err) != ledger.CodeTenantSuspended {
		t.Fatalf("submit while suspended: %v, want tenant_suspended", err)
	}
	// A patch that changes nothing appends nothing.
	head, _ := store.Head(ctx)
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{Status: ptr("suspended"), Name: ptr("Acme Ltd")}); err != nil {
		t.Fatal(err)
	}
	if h2, _ := store.Head(ctx); h2 != head {
		t.Fatalf("a no-op patch appended: %v → %v", head, h2)
	}
	// A replay keeps every setting and the status.
	replayed := ledgertest.Start(t, store, ledger.Options{})
	ri, err := replayed.TenantDetail("acme")
	if err != nil || ri.Status != ledger.TenantSuspended || !replayed.TenantSuspended("acme") {
		t.Fatalf("after a replay: %+v %v", ri, err)
	}
	ri.Status = ledger.TenantActive
	check("replayed", ri)
	if b, _ := replayed.Balance("acme"); b.CreditLimit != "10.5" {
		t.Fatalf("replayed balance: %+v", b)
	}
	// Resumed.
	if info, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{Status: ptr("active")}); err != nil || info.Status != ledger.TenantActive || svc.TenantSuspended("acme") || len(svc.SuspendedTenants()) != 0 {
		t.Fatalf("resume: %+v %v", info, err)
	}
	if _, err := svc.Submit(ctx, "acme", accept.Request{MessageID: uuid.New(), To: "+4915112345678", Text: "hi"}); ledger.CodeOf(err) == ledger.CodeTenantSuspended {
		t.Fatalf("submit after resume: %v", err)
	}
	// Clearing allowed_ips.
	if info, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{AllowedIPs: ptr([]string{})}); err != nil || len(info.AllowedIPs) != 0 {
		t.Fatalf("clear allowed_ips: %+v %v", info, err)
	}
	if _, err := svc.PatchTenant(ctx, "ghost", ledger.TenantPatch{Name: ptr("x")}); ledger.CodeOf(err) != ledger.CodeNotFound {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func TestPatchTenantValidation(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	for _, tc := range []struct {
		field string
		p     ledger.TenantPatch
	}{
		{"name", ledger.TenantPatch{Name: ptr("")}},
		{"tps_limit", ledger.TenantPatch{TPSLimit: ptr(-1)}},
		{"credit_limit", ledger.TenantPatch{CreditLimit: ptr(decimal.RequireFromString("-1"))}},
		{"credit_limit", ledger.TenantPatch{CreditLimit: ptr(decimal.RequireFromString("0.000000000001"))}},
		{"tier", ledger.TenantPatch{Tier: ptr("gold")}},
		{"billing", ledger.TenantPatch{Billing: ptr("monthly")}},
		{"default_validity_s", ledger.TenantPatch{DefaultValidityS: ptr(ledger.MaxValidityS + 1)}},
		{"max_binds", ledger.TenantPatch{MaxBinds: ptr(-1)}},
		{"allowed_ips", ledger.TenantPatch{AllowedIPs: ptr([]string{"10.0.0.0/33"})}},
		{"status", ledger.TenantPatch{Status: ptr("deleted")}},
	} {
		_, err := svc.PatchTenant(ctx, "acme", tc.p)
		var ve *ledger.ValidationError
		if ledger.CodeOf(err) != ledger.CodeInvalid || !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
	// Nothing of it was applied.
	if info, _ := svc.TenantDetail("acme"); info.Name != "Tenant acme" || info.Tier != "standard" || info.Status != "active" {
		t.Fatalf("after refused patches: %+v", info)
	}
}

// TestCreditLimitBelowHeld: lowering the credit limit below what is held
// keeps the holds (their messages finish); available reads zero and new
// holds are refused until funds return.
func TestCreditLimitBelowHeld(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	ledgertest.Setup(t, svc, "acme")
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{CreditLimit: ptr(decimal.RequireFromString("0.10"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Submit(ctx, "acme", accept.Request{MessageID: uuid.New(), To: "+4915112345678", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PatchTenant(ctx, "acme", ledger.TenantPatch{CreditLimit: ptr(decimal.RequireFromString("0.01"))}); err != nil {
		t.Fatal(err)
	}
	b, _ := svc.Balance("acme")
	if b.Held != "0.07" || b.Available != "0" || b.CreditLimit != "0.01" {
		t.Fatalf("balance: %+v", b)
	}
	if _, err := svc.Submit(ctx, "acme", accept.Request{MessageID: uuid.New(), To: "+4915112345678", Text: "hi"}); ledger.CodeOf(err) != ledger.CodeInsufficientFunds {
		t.Fatalf("a submit beyond the lowered limit: %v", err)
	}
}
