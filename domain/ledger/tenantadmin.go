package ledger

// The administration of tenants: list, detail, patch, and the status
// (active or suspended) the edges enforce. Every change is one
// TenantChanged carrying the complete new settings; the follower folds it
// (followconfig.go, tenantChanged), so replay rebuilds the same snapshot.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
)

// Tenant statuses.
const (
	TenantActive    = "active"
	TenantSuspended = "suspended"
)

// Page bounds of ListTenants.
const (
	DefaultTenantPage = 100
	MaxTenantPage     = 1000
)

// TenantPatch is a change of a tenant's settings: only the fields set
// (non-nil) change. The currency never changes. Validation is
// CreateTenant's.
//
// Lowering CreditLimit below what the tenant holds is allowed, as
// money.Account.SetCreditLimit does it: holds already granted stay granted
// (their messages finish), available reads zero, and no new hold succeeds
// until funds return. Available therefore never goes below zero and no
// hold is ever revoked.
type TenantPatch struct {
	Name             *string
	TPSLimit         *int
	CreditLimit      *decimal.Decimal
	Tier             *string
	Billing          *string
	DefaultValidityS *int // 0: the service's default
	MaxBinds         *int // 0: no limit
	AllowedIPs       *[]string
	Status           *string // "active" | "suspended"
	MOPrice          *decimal.Decimal
}

// patchMu serialises PatchTenant's read-modify-write of a tenant's settings
// in this process, so two patches of different fields do not lose one
// another. (Across nodes of a cluster the last TenantChanged wins.)
var patchMu sync.Mutex

// PatchTenant applies p to tenant id and returns its settings after. A
// patch that changes nothing appends nothing.
func (s *Service) PatchTenant(ctx context.Context, id string, p TenantPatch) (TenantInfo, error) {
	patchMu.Lock()
	defer patchMu.Unlock()
	t, err := s.tenant(id)
	if err != nil {
		return TenantInfo{}, err
	}
	cur := tenantChangedOf(id, t)
	next := cur
	next.AllowedIPs = slices.Clone(cur.AllowedIPs)
	if p.Name != nil {
		if err := validName(*p.Name); err != nil {
			return TenantInfo{}, err
		}
		next.Name = *p.Name
	}
	set(&next.TPSLimit, p.TPSLimit)
	set(&next.CreditLimit, p.CreditLimit)
	set(&next.Tier, p.Tier)
	set(&next.Billing, p.Billing)
	set(&next.DefaultValidityS, p.DefaultValidityS)
	set(&next.MaxBinds, p.MaxBinds)
	set(&next.AllowedIPs, p.AllowedIPs)
	set(&next.MOPrice, p.MOPrice)
	// The settings after the patch are checked as CreateTenant checks them.
	allowed, err := TenantSpec{Billing: next.Billing, TPSLimit: next.TPSLimit, CreditLimit: next.CreditLimit, Tier: next.Tier,
		DefaultValidityS: next.DefaultValidityS, MaxBinds: next.MaxBinds, AllowedIPs: next.AllowedIPs, MOPrice: next.MOPrice}.validSettings()
	if err != nil {
		return TenantInfo{}, err
	}
	next.AllowedIPs = prefixStrings(allowed)
	if p.Status != nil {
		if *p.Status != TenantActive && *p.Status != TenantSuspended {
			return TenantInfo{}, invalid("status", "must be active or suspended")
		}
		next.Status = *p.Status
	}
	if sameSettings(cur, next) {
		return s.TenantDetail(id)
	}
	next.At = s.clock().UTC()
	if _, err := s.appendConfig(ctx, events.TenantStream(id), eventstore.StreamExists, nil, next); err != nil {
		return TenantInfo{}, fmt.Errorf("change tenant %q: %w", id, err)
	}
	return s.TenantDetail(id)
}

// tenantChangedOf is a tenant's settings in force as a TenantChanged (its
// own validity, 0 for the default; status always spelled out).
func tenantChangedOf(id string, t *tenantSnap) events.TenantChanged {
	return events.TenantChanged{
		TenantID: id, Name: t.Name, Billing: string(t.accept.Billing), TPSLimit: t.TPSLimit,
		CreditLimit: t.Credit, Tier: t.accept.Tier.String(), DefaultValidityS: t.DefaultValidityS,
		MaxBinds: t.Access.MaxBinds, AllowedIPs: prefixStrings(t.Access.AllowedIPs), Status: statusOf(t),
		MOPrice: t.MOPrice,
	}
}

func sameSettings(a, b events.TenantChanged) bool {
	return a.Name == b.Name && a.Billing == b.Billing && a.TPSLimit == b.TPSLimit &&
		a.CreditLimit.Equal(b.CreditLimit) && a.Tier == b.Tier && a.DefaultValidityS == b.DefaultValidityS &&
		a.MaxBinds == b.MaxBinds && slices.Equal(a.AllowedIPs, b.AllowedIPs) && a.Status == b.Status &&
		a.MOPrice.Equal(b.MOPrice)
}

func statusOf(t *tenantSnap) string {
	if t.Suspended {
		return TenantSuspended
	}
	return TenantActive
}

// TenantDetail is Tenant with its status.
func (s *Service) TenantDetail(id string) (TenantInfo, error) {
	t, err := s.tenant(id)
	if err != nil {
		return TenantInfo{}, err
	}
	info, err := s.Tenant(id)
	if err != nil {
		return TenantInfo{}, err
	}
	info.Status = statusOf(t)
	return info, nil
}

// ListTenants returns up to limit tenants (DefaultTenantPage when ≤ 0, at
// most MaxTenantPage) with an id after the cursor after ("" from the
// start), by id, and the cursor of the next page ("" when this is the
// last).
func (s *Service) ListTenants(after string, limit int) ([]TenantInfo, string) {
	if limit <= 0 {
		limit = DefaultTenantPage
	}
	limit = min(limit, MaxTenantPage)
	st := s.state.Load()
	ids := make([]string, 0, len(st.tenants))
	for id := range st.tenants {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	out := make([]TenantInfo, 0, len(ids))
	for _, id := range ids {
		t := st.tenants[id]
		out = append(out, TenantInfo{
			ID: id, Name: t.Name, Currency: string(t.Currency), Billing: string(t.accept.Billing),
			Tier: t.accept.Tier.String(), TPSLimit: t.TPSLimit, CreditLimit: t.Credit.String(),
			SystemID: t.SystemID, DefaultValidityS: s.validityOf(t),
			MaxBinds: t.Access.MaxBinds, AllowedIPs: prefixStrings(t.Access.AllowedIPs), Status: statusOf(t),
			MOPrice: t.MOPrice.String(),
		})
	}
	return out, next
}

// TenantSuspended reports whether tenant id is suspended (false for an
// unknown tenant: its callers refuse that on their own). A snapshot read.
func (s *Service) TenantSuspended(id string) bool {
	t, ok := s.state.Load().tenants[id]
	return ok && t.Suspended
}

// SuspendedTenants returns the ids of the suspended tenants, sorted: one
// walk over the snapshot's tenants (the relay calls it once a second).
func (s *Service) SuspendedTenants() []string {
	var ids []string
	for id, t := range s.state.Load().tenants {
		if t.Suspended {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// set sets *dst to *v when the patch gives v.
func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}
