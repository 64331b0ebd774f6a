package ledger

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/eventstore"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Limits of configuration commands.
const (
	MaxNameLen      = 200
	MaxReferenceLen = 200
	MaxCardLines    = 100_000
)

// idempotency namespace for deterministic event ids.
var eventNamespace = uuid.MustParse("0b9c7f52-3c1e-4d0a-8f3e-5a2e7c9d1b44")

// TenantSpec is the configuration of a new tenant.
type TenantSpec struct {
	ID          string
	Name        string
	Currency    string
	Billing     string // "on_submit" | "on_delivery"
	TPSLimit    int    // 0 = unlimited
	CreditLimit decimal.Decimal
	Tier        string // "premium" | "standard" | "economy"
	// DefaultValidityS is the validity in seconds of the tenant's messages
	// that give none (0: Options.DefaultValidity; at most MaxValidityS).
	DefaultValidityS int
	// MaxBinds bounds the tenant's SMPP binds at once (0: no limit).
	MaxBinds int
	// AllowedIPs are the CIDRs (or single addresses) the tenant's binds and
	// API calls may come from (empty: any; at most MaxAllowedIPs).
	AllowedIPs []string
	// MOPrice is what each mobile-originated message to one of its numbers
	// costs it (zero: free; mo.go).
	MOPrice decimal.Decimal
}

// SupplierSpec is the configuration of a new supplier. Password is sealed
// (Options.Sealer) before it is recorded.
type SupplierSpec struct {
	ID       string
	Name     string
	Currency string
	Host     string
	Port     int
	SystemID string
	Password string
	Binds    int
	TPSLimit int
	Window   int
	// Billing is when the supplier is owed its cost: "on_submit" (default
	// when empty) or "on_delivery".
	Billing string
	// DLRGraceS is how long in seconds after its expires_at a message this
	// supplier accepted may still get its final DLR (0: Options.DLRGrace;
	// at most MaxDLRGraceS).
	DLRGraceS int
	// TLS makes the binds to the supplier use TLS, verifying TLSServerName
	// (empty: Host) against TLSCAPEM (PEM CA certificates; empty: the
	// system's roots).
	TLS           bool
	TLSServerName string
	TLSCAPEM      string
}

// Bounds of the validity settings.
const (
	MaxValidityS = 7 * 24 * 3600 // a week, as SMSCs commonly cap it
	MaxDLRGraceS = 7 * 24 * 3600
)

// supplierBilling validates a supplier's billing basis: empty is on_submit.
func supplierBilling(b string) (money.BillingMode, error) {
	if b == "" {
		return money.BillOnSubmit, nil
	}
	m, err := money.ParseBillingMode(b)
	if err != nil {
		return "", invalid("billing", "must be on_submit or on_delivery")
	}
	return m, nil
}

// appendConfig is appendEvents and waits until the follower has applied
// them, so the caller's next read sees them.
func (s *Service) appendConfig(ctx context.Context, stream string, expected eventstore.ExpectedVersion, ids []uuid.UUID, evs ...events.Event) (eventstore.AppendResult, error) {
	res, err := s.appendEvents(ctx, stream, expected, ids, evs...)
	if err != nil {
		return res, err
	}
	if err := s.waitApplied(ctx, res.Position); err != nil {
		return res, err
	}
	return res, nil
}

// appendEvents encodes evs and appends them to stream, with the given
// event ids (nil: drawn) and one correlation id of their own.
func (s *Service) appendEvents(ctx context.Context, stream string, expected eventstore.ExpectedVersion, ids []uuid.UUID, evs ...events.Event) (eventstore.AppendResult, error) {
	data := make([]eventstore.EventData, len(evs))
	corr, err := s.id()
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	for i, e := range evs {
		typ, b, err := events.Encode(e)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		id := uuid.Nil
		if ids != nil {
			id = ids[i]
		} else if id, err = s.id(); err != nil {
			return eventstore.AppendResult{}, err
		}
		data[i] = eventstore.EventData{ID: id, Type: typ, Data: b, Metadata: eventstore.Metadata{CorrelationID: corr, CausationID: corr}}
	}
	res, err := s.store.Append(ctx, stream, expected, data...)
	if err != nil {
		return res, fmt.Errorf("append to %s: %w", stream, err)
	}
	return res, nil
}

func (s *Service) tenant(id string) (*tenantSnap, error) {
	t, ok := s.state.Load().tenants[id]
	if !ok {
		return nil, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	return t, nil
}

func validID(field, id string) error {
	if !idPattern.MatchString(id) {
		return invalid(field, "must be 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit")
	}
	return nil
}

func validName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return invalid("name", "must be 1-%d bytes", MaxNameLen)
	}
	return nil
}

// validAccountHolder checks what a tenant and a supplier share: an id, a
// name and an ISO 4217 currency.
func validAccountHolder(id, name, currency string) error {
	if err := validID("id", id); err != nil {
		return err
	}
	if err := validName(name); err != nil {
		return err
	}
	if _, err := money.ParseCurrency(currency); err != nil {
		return invalid("currency", "must be an ISO 4217 code like EUR")
	}
	return nil
}

func nonNegativeExact(field string, d decimal.Decimal) (money.Units, error) {
	u, err := money.FromDecimal(d)
	if err != nil {
		return 0, invalid(field, "%v", err)
	}
	if u < 0 {
		return 0, invalid(field, "must not be negative")
	}
	return u, nil
}

// validSettings checks a tenant's settings but its id, name and currency
// (CreateTenant and PatchTenant) and returns allowed_ips canonical.
func (spec TenantSpec) validSettings() ([]netip.Prefix, error) {
	if _, err := money.ParseBillingMode(spec.Billing); err != nil {
		return nil, invalid("billing", "must be on_submit or on_delivery")
	}
	if _, err := routing.ParseTier(spec.Tier); err != nil {
		return nil, invalid("tier", "must be premium, standard or economy")
	}
	if spec.TPSLimit < 0 || spec.TPSLimit > 1_000_000 {
		return nil, invalid("tps_limit", "must be 0 (unlimited) to 1000000")
	}
	if _, err := nonNegativeExact("credit_limit", spec.CreditLimit); err != nil {
		return nil, err
	}
	if _, err := nonNegativeExact("mo_price", spec.MOPrice); err != nil {
		return nil, err
	}
	if spec.DefaultValidityS < 0 || spec.DefaultValidityS > MaxValidityS {
		return nil, invalid("default_validity_s", "must be 0 (the default) to %d", MaxValidityS)
	}
	if spec.MaxBinds < 0 || spec.MaxBinds > MaxBindsLimit {
		return nil, invalid("max_binds", "must be 0 (no limit) to %d", MaxBindsLimit)
	}
	return parseAllowedIPs(spec.AllowedIPs)
}

// CreateTenant opens a tenant. A tenant id already in use is
// ErrAlreadyExists.
func (s *Service) CreateTenant(ctx context.Context, spec TenantSpec) error {
	if err := validAccountHolder(spec.ID, spec.Name, spec.Currency); err != nil {
		return err
	}
	allowed, err := spec.validSettings()
	if err != nil {
		return err
	}
	_, err = s.appendConfig(ctx, events.TenantStream(spec.ID), eventstore.NoStream, nil, events.TenantCreated{
		TenantID: spec.ID, Name: spec.Name, Currency: spec.Currency, Billing: spec.Billing,
		TPSLimit: spec.TPSLimit, CreditLimit: spec.CreditLimit, Tier: spec.Tier,
		DefaultValidityS: spec.DefaultValidityS, MaxBinds: spec.MaxBinds, AllowedIPs: prefixStrings(allowed),
		MOPrice: spec.MOPrice, At: s.clock().UTC(),
	})
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return fmt.Errorf("tenant %q: %w", spec.ID, ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("create tenant %q: %w", spec.ID, err)
	}
	return nil
}

// SetSmppCredentials sets (replaces) a tenant's SMPP bind credentials. The
// password is stored as a hash (Options.Hasher). A system_id of another tenant is
// ErrConflict.
func (s *Service) SetSmppCredentials(ctx context.Context, tenantID, systemID, password string) error {
	if _, err := s.tenant(tenantID); err != nil {
		return err
	}
	if systemID == "" || len(systemID) > 16 {
		return invalid("system_id", "must be 1-16 characters")
	}
	if password == "" || len(password) > 64 {
		return invalid("password", "must be 1-64 characters")
	}
	if c, ok := s.state.Load().smpp[systemID]; ok && c.TenantID != tenantID {
		return fmt.Errorf("system_id %q belongs to another tenant: %w", systemID, ErrConflict)
	}
	h, err := s.auth.hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	_, err = s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, nil, events.SmppCredentialsSet{
		TenantID: tenantID, SystemID: systemID, PasswordHash: h, At: s.clock().UTC(),
	})
	if err != nil {
		return fmt.Errorf("set smpp credentials of %q: %w", tenantID, err)
	}
	// The check above can race another tenant's claim; the log decides
	// (the first claim wins, smppCredentialsSet), and the follower has
	// applied ours by now.
	if c := s.state.Load().smpp[systemID]; c.TenantID != tenantID {
		return fmt.Errorf("system_id %q was claimed by another tenant first: %w", systemID, ErrConflict)
	}
	return nil
}

// IssueAPIKey makes a new API key for a tenant and returns it; only its id
// and a hash (Options.Hasher) are recorded, so the key cannot be shown again.
func (s *Service) IssueAPIKey(ctx context.Context, tenantID string) (key, keyID string, err error) {
	if _, err := s.tenant(tenantID); err != nil {
		return "", "", err
	}
	key, keyID, err = newAPIKey()
	if err != nil {
		return "", "", fmt.Errorf("issue api key: %w", err)
	}
	h, err := s.auth.hasher.Hash(key)
	if err != nil {
		return "", "", fmt.Errorf("hash api key: %w", err)
	}
	_, err = s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, nil, events.ApiKeyIssued{
		TenantID: tenantID, KeyID: keyID, KeyHash: h, At: s.clock().UTC(),
	})
	if err != nil {
		return "", "", fmt.Errorf("issue api key for %q: %w", tenantID, err)
	}
	return key, keyID, nil
}

// TopUpResult tells what a top-up did.
type TopUpResult struct {
	EntryID uuid.UUID
	// Duplicate is true when the reference was already recorded (with the
	// same amount) and nothing new happened.
	Duplicate bool
}

// TopUp adds amount to a tenant's balance, recorded as TopUpRecorded plus
// its journal entry (Dr cash / Cr tenant). It is idempotent by reference:
// the event ids derive from tenant and reference, so a repeat is a no-op;
// a repeat with another amount is ErrConflict.
func (s *Service) TopUp(ctx context.Context, tenantID string, amount decimal.Decimal, reference string) (TopUpResult, error) {
	t, err := s.tenant(tenantID)
	if err != nil {
		return TopUpResult{}, err
	}
	if reference == "" || len(reference) > MaxReferenceLen {
		return TopUpResult{}, invalid("reference", "must be 1-%d bytes", MaxReferenceLen)
	}
	u, err := nonNegativeExact("amount", amount)
	if err != nil {
		return TopUpResult{}, err
	}
	if u == 0 {
		return TopUpResult{}, invalid("amount", "must be positive")
	}
	res := TopUpResult{EntryID: money.TopUpEntryID(tenantID, reference)}
	check := func() (bool, error) {
		prev, ok := s.topUpAmount(tenantID, reference)
		if ok && prev != u {
			return true, fmt.Errorf("top-up reference %q of tenant %q was recorded with amount %s: %w", reference, tenantID, prev, ErrConflict)
		}
		return ok, nil
	}
	if dup, err := check(); dup || err != nil {
		res.Duplicate = dup
		return res, err
	}
	entry, err := money.TopUpEntry(tenantID, money.Money{Amount: amount, Currency: t.Currency}, reference)
	if err != nil {
		return TopUpResult{}, invalid("amount", "%v", err)
	}
	at := s.clock().UTC()
	ids := []uuid.UUID{uuid.NewSHA1(eventNamespace, []byte("topup\x00"+tenantID+"\x00"+reference)), entry.ID}
	_, err = s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, ids,
		events.TopUpRecorded{TenantID: tenantID, Reference: reference, Amount: amount, Currency: string(t.Currency), EntryID: entry.ID, At: at},
		message.JournalEvent(entry, tenantID, at))
	if err != nil {
		return TopUpResult{}, fmt.Errorf("top up %q: %w", tenantID, err)
	}
	// A concurrent top-up with the same reference may have won.
	if _, err := check(); err != nil {
		return res, err
	}
	return res, nil
}

// SetRates replaces a tenant's rate card (sell price per part by prefix).
func (s *Service) SetRates(ctx context.Context, tenantID string, rates []events.Rate) error {
	t, err := s.tenant(tenantID)
	if err != nil {
		return err
	}
	if len(rates) > MaxCardLines {
		return invalid("rates", "at most %d lines", MaxCardLines)
	}
	if _, err := newRateCard(t.Currency, rates); err != nil {
		return invalid("rates", "%v", err)
	}
	_, err = s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, nil, events.RateCardChanged{
		TenantID: tenantID, Currency: string(t.Currency), Rates: rates, At: s.clock().UTC(),
	})
	if err != nil {
		return fmt.Errorf("set rates of %q: %w", tenantID, err)
	}
	return nil
}

// CreateSupplier opens a supplier; its bind password is sealed.
func (s *Service) CreateSupplier(ctx context.Context, spec SupplierSpec) error {
	if err := validAccountHolder(spec.ID, spec.Name, spec.Currency); err != nil {
		return err
	}
	billing, err := validSupplierSettings(spec)
	if err != nil {
		return err
	}
	sealed, err := s.sealer.Seal([]byte(spec.Password))
	if err != nil {
		return fmt.Errorf("seal supplier password: %w", err)
	}
	_, err = s.appendConfig(ctx, events.SupplierStream(spec.ID), eventstore.NoStream, nil, events.SupplierCreated{
		SupplierID: spec.ID, Name: spec.Name, Currency: spec.Currency, Host: spec.Host, Port: spec.Port,
		SystemID: spec.SystemID, PasswordSealed: sealed, Binds: spec.Binds, TPSLimit: spec.TPSLimit,
		Window: spec.Window, Billing: string(billing), DLRGraceS: spec.DLRGraceS,
		TLS: spec.TLS, TLSServerName: spec.TLSServerName, TLSCAPEM: spec.TLSCAPEM, At: s.clock().UTC(),
	})
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return fmt.Errorf("supplier %q: %w", spec.ID, ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("create supplier %q: %w", spec.ID, err)
	}
	return nil
}

// SetCosts replaces a supplier's cost card (buy price per part by prefix).
func (s *Service) SetCosts(ctx context.Context, supplierID string, costs []events.Cost) error {
	st := s.state.Load()
	sp, ok := st.suppliers[supplierID]
	if !ok {
		return fmt.Errorf("supplier %q: %w", supplierID, ErrNotFound)
	}
	if len(costs) > MaxCardLines {
		return invalid("costs", "at most %d lines", MaxCardLines)
	}
	rc := make([]routing.Cost, len(costs))
	for i, c := range costs {
		rc[i] = routing.Cost{Prefix: c.Prefix, MCCMNC: c.MCCMNC, Cost: c.Cost}
	}
	sups := cloneMap(st.suppliers)
	ns := *sp
	ns.costs = rc
	sups[supplierID] = &ns
	if _, err := rebuildRouting(st.routes, sups, st.fx, s.clock()); err != nil {
		return invalid("costs", "%v", err)
	}
	_, err := s.appendConfig(ctx, events.SupplierStream(supplierID), eventstore.StreamExists, nil, events.CostCardChanged{
		SupplierID: supplierID, Currency: sp.info.Currency, Costs: costs, At: s.clock().UTC(),
	})
	if err != nil {
		return fmt.Errorf("set costs of %q: %w", supplierID, err)
	}
	return nil
}

// SetRoutes replaces the route table. Every supplier named must exist.
func (s *Service) SetRoutes(ctx context.Context, routes []events.Route) error {
	st := s.state.Load()
	if len(routes) > MaxCardLines {
		return invalid("routes", "at most %d lines", MaxCardLines)
	}
	rr := make([]routing.Route, len(routes))
	for i, r := range routes {
		for _, id := range r.Suppliers {
			if _, ok := st.suppliers[id]; !ok {
				return invalid("routes", "route %q names unknown supplier %q", r.Prefix+r.MCCMNC, id)
			}
		}
		w, err := r.WeightList()
		if err != nil {
			return invalid("routes", "%v", err)
		}
		rr[i] = routing.Route{Prefix: r.Prefix, MCCMNC: r.MCCMNC, Suppliers: r.Suppliers, Weights: w, Hours: r.Hours}
	}
	if _, err := rebuildRouting(rr, st.suppliers, st.fx, s.clock()); err != nil {
		return invalid("routes", "%v", err)
	}
	_, err := s.appendConfig(ctx, events.RoutesStream(), eventstore.Any, nil, events.RouteTableChanged{Routes: routes, At: s.clock().UTC()})
	if err != nil {
		return fmt.Errorf("set routes: %w", err)
	}
	return nil
}
