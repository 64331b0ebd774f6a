package ledger_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

func TestTenantAccessSettings(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	spec := ledger.TenantSpec{ID: "lim", Name: "L", Currency: "EUR", Billing: "on_submit", Tier: "standard",
		MaxBinds: 2, AllowedIPs: []string{"192.0.2.0/24", "2001:db8::1", "::ffff:198.51.100.7"}}
	if err := svc.CreateTenant(ctx, spec); err != nil {
		t.Fatal(err)
	}
	info, err := svc.Tenant("lim")
	if err != nil || info.MaxBinds != 2 || len(info.AllowedIPs) != 3 || info.AllowedIPs[1] != "2001:db8::1/128" || info.AllowedIPs[2] != "198.51.100.7/32" {
		t.Fatalf("tenant: %+v %v", info, err)
	}
	a, err := svc.TenantAccess("lim")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"192.0.2.9": true, "::ffff:192.0.2.9": true, "198.51.100.7": true, "2001:db8::1": true, "192.0.3.1": false, "2001:db8::2": false} {
		if got := a.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Allows(%s) = %v, want %v", addr, got, want)
		}
	}
	if (ledger.Access{}).Allows(netip.MustParseAddr("203.0.113.1")) != true {
		t.Error("an empty list must allow any address")
	}
	// A replay keeps them.
	replayed := ledgertest.Start(t, store, ledger.Options{})
	if b, _ := replayed.TenantAccess("lim"); b.MaxBinds != 2 || len(b.AllowedIPs) != 3 {
		t.Fatalf("after a replay: %+v", b)
	}
	for _, bad := range []ledger.TenantSpec{
		{ID: "b1", Name: "B", Currency: "EUR", Billing: "on_submit", Tier: "standard", MaxBinds: -1},
		{ID: "b2", Name: "B", Currency: "EUR", Billing: "on_submit", Tier: "standard", AllowedIPs: []string{"10.0.0.0/33"}},
		{ID: "b3", Name: "B", Currency: "EUR", Billing: "on_submit", Tier: "standard", AllowedIPs: []string{"example.com"}},
	} {
		if err := svc.CreateTenant(ctx, bad); ledger.CodeOf(err) != ledger.CodeInvalid {
			t.Errorf("CreateTenant(%+v) = %v, want invalid", bad, err)
		}
	}
	// Supplier TLS settings are validated and kept.
	sup := ledger.SupplierSpec{ID: "tls1", Name: "T", Currency: "EUR", Host: "smsc.example", Port: 3550, SystemID: "x", Password: "p",
		Binds: 1, Window: 10, TLS: true, TLSServerName: "smsc.example"}
	if err := svc.CreateSupplier(ctx, sup); err != nil {
		t.Fatal(err)
	}
	if info, _ := svc.Supplier("tls1"); !info.TLS || info.TLSServerName != "smsc.example" {
		t.Fatalf("supplier TLS: %+v", info)
	}
	sup.ID, sup.TLSCAPEM = "tls2", "not a certificate"
	if err := svc.CreateSupplier(ctx, sup); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Fatalf("a CA bundle without a certificate: %v", err)
	}
	sup.ID, sup.TLS, sup.TLSCAPEM = "tls3", false, ""
	if err := svc.CreateSupplier(ctx, sup); ledger.CodeOf(err) != ledger.CodeInvalid {
		t.Fatalf("a server name without tls: %v", err)
	}
}
