package relay

import (
	"context"
	"net/netip"
	"testing"

	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// A tenant's max_binds and allowed_ips decide its binds (the server calls
// AuthorizeBind after the credentials check out, with this bind counted).
func TestAuthorizeBindAppliesTenantAccess(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	if err := svc.CreateTenant(ctx, ledger.TenantSpec{ID: "lim", Name: "L", Currency: "EUR", Billing: "on_submit", Tier: "standard",
		MaxBinds: 2, AllowedIPs: []string{"192.0.2.0/24"}}); err != nil {
		t.Fatal(err)
	}
	if err := svc.CreateTenant(ctx, ledger.TenantSpec{ID: "open", Name: "O", Currency: "EUR", Billing: "on_submit", Tier: "standard"}); err != nil {
		t.Fatal(err)
	}
	in := ingress{svc: svc}
	inside, outside := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("203.0.113.9")
	for _, tc := range []struct {
		tenant string
		from   netip.Addr
		binds  int
		ok     bool
	}{
		{"lim", inside, 1, true},
		{"lim", inside, 2, true},
		{"lim", inside, 3, false},    // over max_binds
		{"lim", outside, 1, false},   // outside allowed_ips
		{"open", outside, 500, true}, // no limits
	} {
		err := in.AuthorizeBind(ctx, server.Principal{TenantID: tc.tenant}, tc.from, tc.binds)
		if (err == nil) != tc.ok {
			t.Errorf("%s from %s, bind %d: %v, want ok=%v", tc.tenant, tc.from, tc.binds, err, tc.ok)
		}
	}
}

// A supplier's TLS settings reach its egress configuration, and a change of
// them restarts the egress (sameSupplier).
func TestSupplierTLSSettingsReachTheEgress(t *testing.T) {
	ctx := context.Background()
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	if err := svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: "sec", Name: "S", Currency: "EUR", Host: "127.0.0.1", Port: 3550,
		SystemID: "s", Password: "p", Binds: 1, Window: 10, TLS: true, TLSServerName: "smsc.example"}); err != nil {
		t.Fatal(err)
	}
	r := New(svc, Options{})
	want, _ := r.wantedSuppliers()
	cfg, ok := want["sec"]
	if !ok || !cfg.TLS || cfg.TLSServerName != "smsc.example" || len(cfg.TLSCAPEM) != 0 {
		t.Fatalf("egress config: %+v", cfg)
	}
	plain := cfg
	plain.TLS = false
	if sameSupplier(cfg, plain) {
		t.Fatal("turning TLS off is not seen as a change")
	}
}
