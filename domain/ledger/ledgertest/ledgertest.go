// Package ledgertest starts ledger Services for tests of the ledger and of
// its adapters. Start takes any event store: MemStore gives the in-memory one
// (no PostgreSQL needed), which the domain's own tests use; adapters that want
// the production backend pass pgstoretest.Store (eventstore/pgstore/pgstoretest)
// and call pgtest.Main from their TestMain.
package ledgertest

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/eventstore/memstore"
)

// Hasher is a ledger.PasswordHasher for tests: fast and deterministic
// (SHA-256), so that tests of the ledger need no adapter. serve uses bcrypt
// (adapters/secret).
type Hasher struct{}

// Hash returns "sha256$<hex>".
func (Hasher) Hash(secret string) (string, error) {
	sum := sha256.Sum256([]byte(secret))
	return "sha256$" + hex.EncodeToString(sum[:]), nil
}

// Compare reports a mismatch as an error.
func (h Hasher) Compare(hash, secret string) error {
	want, _ := h.Hash(secret)
	if subtle.ConstantTimeCompare([]byte(hash), []byte(want)) != 1 {
		return errors.New("ledgertest: secret does not match")
	}
	return nil
}

// Sealer is a ledger.Sealer for tests: reversible, not secret ("test:" and
// base64). serve uses AES-GCM (adapters/secret).
type Sealer struct{}

// Seal encodes p.
func (Sealer) Seal(p []byte) (string, error) {
	return "test:" + base64.StdEncoding.EncodeToString(p), nil
}

// Open decodes what Seal made.
func (Sealer) Open(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, "test:")
	if !ok {
		return nil, errors.New("ledgertest: not sealed by ledgertest.Sealer")
	}
	return base64.StdEncoding.DecodeString(enc)
}

// MemStore returns a fresh, empty in-memory event store, closed at cleanup.
func MemStore(t testing.TB) *memstore.Store {
	t.Helper()
	s := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Start makes a Service over store (cheap bcrypt and a per-process sealer
// unless opts has its own), runs it until cleanup
// and waits until it has caught up.
func Start(t testing.TB, store eventstore.Store, opts ledger.Options) *ledger.Service {
	t.Helper()
	if opts.Hasher == nil {
		opts.Hasher = Hasher{}
	}
	if opts.Sealer == nil {
		opts.Sealer = Sealer{}
	}
	svc, err := ledger.New(store, opts)
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("run: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := svc.WaitCaughtUp(wctx); err != nil {
		t.Fatalf("catch up: %v", err)
	}
	return svc
}

// Setup configures a tenant "acme" (EUR, on_submit, standard, no TPS limit,
// no credit) with rates 49 → 0.05 and 4915 → 0.07, a supplier "sup1" with
// costs 49 → 0.02, and the route 49 → [sup1].
func Setup(t testing.TB, svc *ledger.Service, tenantID string) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(svc.CreateTenant(ctx, ledger.TenantSpec{ID: tenantID, Name: "Tenant " + tenantID, Currency: "EUR",
		Billing: "on_submit", Tier: "standard", CreditLimit: decimal.Zero}))
	must(svc.SetRates(ctx, tenantID, []events.Rate{
		{Prefix: "49", Price: decimal.RequireFromString("0.05")},
		{Prefix: "4915", Price: decimal.RequireFromString("0.07")},
	}))
	if _, err := svc.Supplier("sup1"); err != nil {
		must(svc.CreateSupplier(ctx, ledger.SupplierSpec{ID: "sup1", Name: "Supplier 1", Currency: "EUR",
			Host: "127.0.0.1", Port: 2775, SystemID: "sup1", Password: "pw", Binds: 1, TPSLimit: 100, Window: 10}))
		must(svc.SetCosts(ctx, "sup1", []events.Cost{{Prefix: "49", Cost: decimal.RequireFromString("0.02")}}))
		must(svc.SetRoutes(ctx, []events.Route{{Prefix: "49", Suppliers: []string{"sup1"}}}))
	}
}

// Clock is a settable time source for a ledger and whatever runs beside it
// (Options.Clock: Clock.Now), starting at 2026-12-06 12:00 UTC.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at 2026-12-06 12:00 UTC.
func NewClock() *Clock {
	c := &Clock{}
	c.ns.Store(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
