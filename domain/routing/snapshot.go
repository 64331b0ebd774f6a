package routing

import (
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/prefix"
)

// MaxCandidates bounds the suppliers of one route, so a Decision fits in a
// fixed array and deciding never allocates.
const MaxCandidates = 8

// Errors for errors.Is.
var (
	ErrNoRoute            = errors.New("no route for destination")
	ErrNoEligibleSupplier = errors.New("no eligible supplier for destination")
	ErrInvalidRoute       = errors.New("invalid route table")
	ErrInvalidCostCard    = errors.New("invalid cost card")
)

// Route is one line of the route table: destinations starting with Prefix
// — or, MCCMNC set and Prefix empty, on that mobile network — go to
// Suppliers, in preference order (first is most preferred).
type Route struct {
	Prefix    string   `json:"prefix"`
	MCCMNC    string   `json:"mccmnc,omitempty"`
	Suppliers []string `json:"suppliers"`
}

// Cost is one line of a supplier cost card: the buy price per part, for a
// prefix or (MCCMNC set, Prefix empty) a mobile network.
type Cost struct {
	Prefix string          `json:"prefix"`
	MCCMNC string          `json:"mccmnc,omitempty"`
	Cost   decimal.Decimal `json:"cost"`
}

// CostCard is one supplier's cost card.
type CostCard struct {
	SupplierID string
	Currency   money.Currency
	// Billing is when the supplier is owed its cost (zero: on submit);
	// carried into each Candidate so the message knows it.
	Billing money.BillingMode
	Costs   []Cost
	// Disabled marks a supplier switched off by its operator: its card is
	// validated and kept, but Decide excludes it (ExcludedDown) so it gets
	// no new messages and routes fail over past it.
	Disabled bool
}

// SnapshotInput is everything a routing Snapshot is built from: the route
// table and every supplier's cost card, as carried by the latest
// RouteTableChanged and CostCardChanged events.
type SnapshotInput struct {
	Routes    []Route
	CostCards []CostCard
	// BaseCurrency is the currency costs are compared in when suppliers
	// bill in different currencies; FXToBase gives, for every other supplier
	// currency, the value of one unit in BaseCurrency. Only the ordering uses
	// it; settlement always uses the supplier's own currency and cost. When
	// every supplier has the same currency both may be left empty.
	BaseCurrency money.Currency
	FXToBase     map[money.Currency]decimal.Decimal
}

// supplierCost is what a cost card stores per prefix: the cost in the
// supplier's currency and the same converted to the base currency for
// comparison.
type supplierCost struct {
	native money.Units
	base   money.Units
}

type supplier struct {
	id       string
	currency money.Currency
	billing  money.BillingMode
	costs    *prefix.Table[supplierCost] // nil: no cost card
	netCosts map[numbering.Code]supplierCost
	disabled bool // switched off (CostCard.Disabled)
}

// routeEntry is a route with its suppliers interned as indices.
type routeEntry struct {
	n         uint8
	suppliers [MaxCandidates]int32
}

// Snapshot is an immutable route table with cost cards. Build one with
// NewSnapshot; share it freely between goroutines.
type Snapshot struct {
	routes    *prefix.Table[int32] // index into routeList
	netRoutes map[numbering.Code]int32
	routeList []routeEntry
	suppliers []supplier
}

// NewSnapshot validates the input and builds the lookup tables.
func NewSnapshot(in SnapshotInput) (*Snapshot, error) {
	s := &Snapshot{}
	index := make(map[string]int32, len(in.CostCards))
	intern := func(id string) int32 {
		if i, ok := index[id]; ok {
			return i
		}
		i := int32(len(s.suppliers))
		s.suppliers = append(s.suppliers, supplier{id: id})
		index[id] = i
		return i
	}
	for _, cc := range in.CostCards {
		if cc.SupplierID == "" {
			return nil, fmt.Errorf("cost card without supplier id: %w", ErrInvalidCostCard)
		}
		if _, dup := index[cc.SupplierID]; dup {
			return nil, fmt.Errorf("cost card for %s twice: %w", cc.SupplierID, ErrInvalidCostCard)
		}
		if !cc.Currency.Valid() {
			return nil, fmt.Errorf("cost card for %s: currency %q: %w", cc.SupplierID, cc.Currency, ErrInvalidCostCard)
		}
		rate := decimal.NewFromInt(1)
		if cc.Currency != in.BaseCurrency && in.BaseCurrency != "" {
			r, ok := in.FXToBase[cc.Currency]
			if !ok || !r.IsPositive() {
				return nil, fmt.Errorf("cost card for %s in %s: no rate to %s: %w",
					cc.SupplierID, cc.Currency, in.BaseCurrency, ErrInvalidCostCard)
			}
			rate = r
		}
		entries := make([]prefix.Entry[supplierCost], 0, len(cc.Costs))
		var netCosts map[numbering.Code]supplierCost
		for _, c := range cc.Costs {
			u, err := money.FromDecimal(c.Cost)
			if err != nil || u < 0 {
				return nil, fmt.Errorf("cost card for %s prefix %q cost %s: %w (%v)",
					cc.SupplierID, c.Prefix, c.Cost, ErrInvalidCostCard, err)
			}
			base := u
			if rate.Cmp(decimal.NewFromInt(1)) != 0 {
				base, err = money.FromDecimal(c.Cost.Mul(rate).Truncate(money.Scale))
				if err != nil {
					return nil, fmt.Errorf("cost card for %s prefix %q: %w", cc.SupplierID, c.Prefix, err)
				}
			}
			sc := supplierCost{native: u, base: base}
			if c.MCCMNC == "" {
				entries = append(entries, prefix.Entry[supplierCost]{Prefix: c.Prefix, Value: sc})
				continue
			}
			code, err := networkOf(c.Prefix, c.MCCMNC)
			if err != nil {
				return nil, fmt.Errorf("cost card for %s: %w: %w", cc.SupplierID, ErrInvalidCostCard, err)
			}
			if netCosts == nil {
				netCosts = make(map[numbering.Code]supplierCost)
			}
			if _, dup := netCosts[code]; dup {
				return nil, fmt.Errorf("cost card for %s: network %s twice: %w", cc.SupplierID, c.MCCMNC, ErrInvalidCostCard)
			}
			netCosts[code] = sc
		}
		t, err := prefix.New(entries)
		if err != nil {
			return nil, fmt.Errorf("cost card for %s: %w", cc.SupplierID, err)
		}
		i := intern(cc.SupplierID)
		s.suppliers[i].currency = cc.Currency
		s.suppliers[i].billing = cc.Billing
		s.suppliers[i].costs = t
		s.suppliers[i].netCosts = netCosts
		s.suppliers[i].disabled = cc.Disabled
	}
	if in.BaseCurrency == "" {
		// Without a base currency all cost cards must share one currency,
		// or their costs could not be compared.
		for i := 1; i < len(s.suppliers); i++ {
			if s.suppliers[i].currency != s.suppliers[0].currency {
				return nil, fmt.Errorf("cost cards in %s and %s without a base currency: %w",
					s.suppliers[0].currency, s.suppliers[i].currency, ErrInvalidCostCard)
			}
		}
	}
	entries := make([]prefix.Entry[int32], 0, len(in.Routes))
	s.routeList = make([]routeEntry, len(in.Routes))
	for i, r := range in.Routes {
		if len(r.Suppliers) == 0 || len(r.Suppliers) > MaxCandidates {
			return nil, fmt.Errorf("route %q has %d suppliers (1..%d): %w", r.Prefix, len(r.Suppliers), MaxCandidates, ErrInvalidRoute)
		}
		var e routeEntry
		for j, id := range r.Suppliers {
			if id == "" {
				return nil, fmt.Errorf("route %q: empty supplier id: %w", r.Prefix, ErrInvalidRoute)
			}
			for k := 0; k < j; k++ {
				if r.Suppliers[k] == id {
					return nil, fmt.Errorf("route %q lists %s twice: %w", r.Prefix, id, ErrInvalidRoute)
				}
			}
			// A supplier without a cost card is kept (configuration events
			// may arrive in any order) and excluded at decision time.
			e.suppliers[j] = intern(id)
		}
		e.n = uint8(len(r.Suppliers))
		s.routeList[i] = e
		if r.MCCMNC == "" {
			entries = append(entries, prefix.Entry[int32]{Prefix: r.Prefix, Value: int32(i)})
			continue
		}
		code, err := networkOf(r.Prefix, r.MCCMNC)
		if err != nil {
			return nil, fmt.Errorf("route table: %w: %w", ErrInvalidRoute, err)
		}
		if s.netRoutes == nil {
			s.netRoutes = make(map[numbering.Code]int32)
		}
		if _, dup := s.netRoutes[code]; dup {
			return nil, fmt.Errorf("route table: network %s twice: %w", r.MCCMNC, ErrInvalidRoute)
		}
		s.netRoutes[code] = int32(i)
	}
	t, err := prefix.New(entries)
	if err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}
	s.routes = t
	return s, nil
}

// networkOf checks a line that names a network: not a prefix as well.
func networkOf(prefixDigits, mccmnc string) (numbering.Code, error) {
	if prefixDigits != "" {
		return 0, fmt.Errorf("line with prefix %q and mccmnc %q: one or the other", prefixDigits, mccmnc)
	}
	return numbering.ParseCode(mccmnc)
}
