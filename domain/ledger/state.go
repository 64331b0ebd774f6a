package ledger

import (
	"maps"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/controls"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/fx"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/pricing"
	"github.com/smsledger/smsledger/domain/routing"
)

// state is an immutable snapshot of the configuration. The follower builds
// a new one (copying only the maps it changes) and swaps it whole.
type state struct {
	tenants   map[string]*tenantSnap
	smpp      map[string]smppCred // system_id -> credentials
	apiKeys   map[string]apiKeyRec
	suppliers map[string]*supplierSnap
	routes    []routing.Route
	snapshot  *routing.Snapshot
	// numbering is the numbering plan and portability table in force (nil:
	// none loaded; every network unknown) and when each was loaded.
	numbering        *numbering.Tables
	planAt, portedAt time.Time
	// fx is the FX table in force (nil: none; every supplier then bills in
	// one currency) and when it was loaded.
	fx   *fx.Table
	fxAt time.Time
	// numbers maps the numbers tenants own to them, for MOs (nil: none;
	// mo_numbers.go).
	numbers *numberIndex
	// controls are the rules every tenant's messages pass (nil: none);
	// limits the stateful controls' counters, shared by every snapshot
	// (controls.go).
	controls *controls.Set
	limits   *limits
}

func emptyState() *state {
	snap, err := routing.NewSnapshot(routing.SnapshotInput{})
	if err != nil {
		panic("ledger: empty routing snapshot: " + err.Error())
	}
	return &state{
		tenants:   map[string]*tenantSnap{},
		smpp:      map[string]smppCred{},
		apiKeys:   map[string]apiKeyRec{},
		suppliers: map[string]*supplierSnap{},
		snapshot:  snap,
		limits:    newLimits(),
	}
}

func (st *state) clone() *state {
	c := *st
	return &c
}

// tenantSnap is one tenant as the hot path sees it. It is immutable except
// for the Account, which is shared between snapshots.
type tenantSnap struct {
	accept   accept.Tenant // ID, Billing, Tier, Rates, Account
	Name     string
	Currency money.Currency
	TPSLimit int
	Credit   decimal.Decimal
	// DefaultValidityS is the validity of a submit that gives none (0:
	// Options.DefaultValidity).
	DefaultValidityS int
	// Access: max_binds and allowed_ips (access.go).
	Access   Access
	Rates    []events.Rate
	SystemID string
	// Webhook is where the tenant's final DLRs are POSTed (zero: none);
	// see webhook.go.
	Webhook webhookConf
	// Suspended: its new binds and API calls are refused and its open
	// binds closed (tenantadmin.go); its accepted messages still finish.
	Suspended bool
	// Numbers are the numbers it owns for MOs, sorted, separated by
	// single spaces (mo_numbers.go); MOPrice is what an MO costs it, MOUnits
	// the same in units (mo.go).
	Numbers string
	MOPrice decimal.Decimal
	MOUnits money.Units
	// controls are its sender and content rules (nil: none), DestRate and
	// DuplicateWindowS its stateful controls (controls.go).
	controls         *controls.Set
	DestRate         DestRateLimit
	DuplicateWindowS int
}

type smppCred struct {
	TenantID string
	Hash     string
}

type apiKeyRec struct {
	TenantID string
	Hash     string
	// CreatedAt is when the key was issued (ApiKeyIssued.At).
	CreatedAt time.Time
}

// supplierSnap is one supplier's configuration.
type supplierSnap struct {
	info  SupplierInfo
	costs []routing.Cost
}

// rebuildRouting builds the routing snapshot from the route table, every
// supplier's cost card and the FX table (nil: none) at time at.
func rebuildRouting(routes []routing.Route, suppliers map[string]*supplierSnap, fxt *fx.Table, at time.Time) (*routing.Snapshot, error) {
	in := routing.SnapshotInput{Routes: routes, FX: fxt, At: at}
	for id, sp := range suppliers {
		if sp.costs == nil {
			continue
		}
		cc := routing.CostCard{SupplierID: id, Currency: money.Currency(sp.info.Currency), Costs: sp.costs}
		if sp.info.Billing == string(money.BillOnDelivery) {
			cc.Billing = money.BillOnDelivery // the zero value is on_submit
		}
		cc.Disabled = !sp.info.Enabled // validated and kept, never routed to
		in.CostCards = append(in.CostCards, cc)
	}
	return routing.NewSnapshot(in)
}

func newRateCard(cur money.Currency, rates []events.Rate) (*pricing.RateCard, error) {
	pr := make([]pricing.Rate, len(rates))
	for i, r := range rates {
		pr[i] = pricing.Rate{Prefix: r.Prefix, MCCMNC: r.MCCMNC, Price: r.Price}
	}
	return pricing.NewRateCard(cur, pr)
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V { return maps.Clone(m) }
