package routing

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/fx"
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
	// Weights, when set, has one traffic share per supplier (e.g. 70 and
	// 30): the eligible suppliers with a share take the route's traffic in
	// those proportions, exactly over every cycle of sum(Weights) messages
	// (shares.go). A supplier with 0 is failover only.
	Weights []int `json:"weights,omitempty"`
	// Hours, when set ("08:00-20:00", UTC, may wrap past midnight), limits
	// the row to that time of day; a prefix or network may have several
	// rows with disjoint hours and at most one without.
	Hours string `json:"hours,omitempty"`
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
	// FX, when set, replaces BaseCurrency and FXToBase: costs are compared
	// in its base currency at the rates in force at each decision's time
	// (At for a decision without a time). Every supplier currency must have
	// a rate in it.
	FX *fx.Table
	At time.Time
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
	netCost  []netCost                   // its network rows by network number; nil: none
	disabled bool                        // switched off (CostCard.Disabled)
}

// netCost is a cost card's network row, if it has one (ok).
type netCost struct {
	cost supplierCost
	ok   bool
}

// routeEntry is a route row with its suppliers interned as indices, its
// traffic shares and its hours.
type routeEntry struct {
	n         uint8
	suppliers [MaxCandidates]int32
	shares    *shares // nil: no traffic shares
	hours     hours   // zero: all day
}

// routeGroup is the rows of one prefix or network: routeList[first :
// first+n], the one without hours (if any) last.
type routeGroup struct {
	first, n int32
}

// Snapshot is an immutable route table with cost cards. Build one with
// NewSnapshot; share it freely between goroutines.
type Snapshot struct {
	fx      *fx.Table // nil: costs compared as converted at build
	builtAt time.Time
	routes  *prefix.Table[int32] // index into groups
	// nets numbers every network a route row or cost row names, so that a
	// decision hashes its destination's network once (networkIndex) and
	// reaches the network's route (netRoute), each candidate's cost
	// (supplier.netCost) and health (healthIndex) by that number.
	nets      map[numbering.Code]int32
	netCodes  []numbering.Code // by network number
	netRoute  []int32          // by network number: index into groups, -1 none
	groups    []routeGroup
	routeList []routeEntry
	suppliers []supplier
}

// NewSnapshot validates the input and builds the lookup tables.
func NewSnapshot(in SnapshotInput) (*Snapshot, error) {
	s := &Snapshot{fx: in.FX, builtAt: in.At}
	if in.FX != nil {
		in.BaseCurrency, in.FXToBase = in.FX.Base(), nil
	}
	index := make(map[string]int32, len(in.CostCards))
	netCosts := map[int32]map[numbering.Code]supplierCost{} // by supplier index: its network rows
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
		if in.FX != nil {
			if !in.FX.Has(cc.Currency) {
				return nil, fmt.Errorf("cost card for %s in %s: no fx rate to %s: %w",
					cc.SupplierID, cc.Currency, in.FX.Base(), ErrInvalidCostCard)
			}
		} else if cc.Currency != in.BaseCurrency && in.BaseCurrency != "" {
			r, ok := in.FXToBase[cc.Currency]
			if !ok || !r.IsPositive() {
				return nil, fmt.Errorf("cost card for %s in %s: no rate to %s: %w",
					cc.SupplierID, cc.Currency, in.BaseCurrency, ErrInvalidCostCard)
			}
			rate = r
		}
		entries := make([]prefix.Entry[supplierCost], 0, len(cc.Costs))
		var cardNetCosts map[numbering.Code]supplierCost
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
			if cardNetCosts == nil {
				cardNetCosts = make(map[numbering.Code]supplierCost)
			}
			if _, dup := cardNetCosts[code]; dup {
				return nil, fmt.Errorf("cost card for %s: network %s twice: %w", cc.SupplierID, c.MCCMNC, ErrInvalidCostCard)
			}
			cardNetCosts[code] = sc
		}
		t, err := prefix.New(entries)
		if err != nil {
			return nil, fmt.Errorf("cost card for %s: %w", cc.SupplierID, err)
		}
		i := intern(cc.SupplierID)
		s.suppliers[i].currency = cc.Currency
		s.suppliers[i].billing = cc.Billing
		s.suppliers[i].costs = t
		if cardNetCosts != nil {
			netCosts[i] = cardNetCosts
		}
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
	netRoutes, err := s.buildRoutes(in.Routes, intern)
	if err != nil {
		return nil, err
	}
	s.numberNetworks(netRoutes, netCosts)
	return s, nil
}

// numberNetworks numbers the networks the route rows (netRoutes: network
// → index into groups) and cost rows (netCosts: supplier index → network
// → cost) name and lays their routes and costs out by number. Memory: 4
// bytes per network, and 24 per network for each supplier with network
// rows (2,000 networks × 200 such suppliers: under 10 MB).
func (s *Snapshot) numberNetworks(netRoutes map[numbering.Code]int32, netCosts map[int32]map[numbering.Code]supplierCost) {
	number := func(c numbering.Code) {
		if _, ok := s.nets[c]; !ok {
			if s.nets == nil {
				s.nets = make(map[numbering.Code]int32)
			}
			s.nets[c] = int32(len(s.netCodes))
			s.netCodes = append(s.netCodes, c)
		}
	}
	for c := range netRoutes {
		number(c)
	}
	for _, costs := range netCosts {
		for c := range costs {
			number(c)
		}
	}
	s.netRoute = make([]int32, len(s.netCodes))
	for ni, c := range s.netCodes {
		gi, ok := netRoutes[c]
		if !ok {
			gi = -1
		}
		s.netRoute[ni] = gi
	}
	for i, costs := range netCosts {
		sup := &s.suppliers[i]
		sup.netCost = make([]netCost, len(s.netCodes))
		for c, cost := range costs {
			sup.netCost[s.nets[c]] = netCost{cost: cost, ok: true}
		}
	}
}

// networkIndex is the number of network net in s, -1 when no row names
// it (or net is unknown).
func (s *Snapshot) networkIndex(net numbering.Code) int32 {
	if !net.Known() || s.nets == nil {
		return -1
	}
	if ni, ok := s.nets[net]; ok {
		return ni
	}
	return -1
}

// buildRoutes groups the route rows by prefix or network (rows of one key
// differ by their hours) and builds the prefix lookup; it returns the
// network rows' groups (network → index into groups) for numberNetworks.
func (s *Snapshot) buildRoutes(routes []Route, intern func(string) int32) (map[numbering.Code]int32, error) {
	var netRoutes map[numbering.Code]int32
	type key struct {
		prefix string
		net    numbering.Code
	}
	byKey := make(map[key][]int, len(routes))
	var order []key
	for i, r := range routes {
		k := key{prefix: r.Prefix}
		if r.MCCMNC != "" {
			code, err := networkOf(r.Prefix, r.MCCMNC)
			if err != nil {
				return nil, fmt.Errorf("route table: %w: %w", ErrInvalidRoute, err)
			}
			k = key{net: code}
		}
		if _, seen := byKey[k]; !seen {
			order = append(order, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	s.routeList = make([]routeEntry, 0, len(routes))
	s.groups = make([]routeGroup, 0, len(order))
	entries := make([]prefix.Entry[int32], 0, len(order))
	for _, k := range order {
		rows := byKey[k]
		g := routeGroup{first: int32(len(s.routeList)), n: int32(len(rows))}
		var always []routeEntry // the row without hours goes last
		var taken [(minutesPerDay + 63) / 64]uint64
		for _, i := range rows {
			r := routes[i]
			e, err := newRouteEntry(r, intern)
			if err != nil {
				return nil, err
			}
			if e.hours.set {
				if !e.hours.claim(&taken) {
					return nil, fmt.Errorf("route %s: hours %s overlap another row's: %w", routeName(r), r.Hours, ErrInvalidRoute)
				}
				s.routeList = append(s.routeList, e)
				continue
			}
			if len(always) > 0 {
				return nil, fmt.Errorf("route %s twice without hours: %w", routeName(r), ErrInvalidRoute)
			}
			always = append(always, e)
		}
		s.routeList = append(s.routeList, always...)
		gi := int32(len(s.groups))
		s.groups = append(s.groups, g)
		if k.net.Known() {
			if netRoutes == nil {
				netRoutes = make(map[numbering.Code]int32)
			}
			netRoutes[k.net] = gi
			continue
		}
		entries = append(entries, prefix.Entry[int32]{Prefix: k.prefix, Value: gi})
	}
	t, err := prefix.New(entries)
	if err != nil {
		return nil, fmt.Errorf("route table: %w", err)
	}
	s.routes = t
	return netRoutes, nil
}

func routeName(r Route) string {
	if r.MCCMNC != "" {
		return "network " + r.MCCMNC
	}
	return fmt.Sprintf("%q", r.Prefix)
}

// newRouteEntry checks one route row and interns its suppliers.
func newRouteEntry(r Route, intern func(string) int32) (routeEntry, error) {
	var e routeEntry
	if len(r.Suppliers) == 0 || len(r.Suppliers) > MaxCandidates {
		return e, fmt.Errorf("route %s has %d suppliers (1..%d): %w", routeName(r), len(r.Suppliers), MaxCandidates, ErrInvalidRoute)
	}
	for j, id := range r.Suppliers {
		if id == "" {
			return e, fmt.Errorf("route %s: empty supplier id: %w", routeName(r), ErrInvalidRoute)
		}
		for k := 0; k < j; k++ {
			if r.Suppliers[k] == id {
				return e, fmt.Errorf("route %s lists %s twice: %w", routeName(r), id, ErrInvalidRoute)
			}
		}
		// A supplier without a cost card is kept (configuration events
		// may arrive in any order) and excluded at decision time.
		e.suppliers[j] = intern(id)
	}
	e.n = uint8(len(r.Suppliers))
	if len(r.Weights) > 0 {
		sh, err := newShares(r.Weights, len(r.Suppliers))
		if err != nil {
			return e, fmt.Errorf("route %s: %w: %w", routeName(r), ErrInvalidRoute, err)
		}
		e.shares = sh
	}
	if r.Hours != "" {
		h, err := parseHours(r.Hours)
		if err != nil {
			return e, fmt.Errorf("route %s: %w: %w", routeName(r), ErrInvalidRoute, err)
		}
		e.hours = h
	}
	return e, nil
}

// rowAt picks the row of group g in force at minute of day m (-1: only a
// row without hours applies).
func (s *Snapshot) rowAt(g routeGroup, m int) (*routeEntry, bool) {
	for i := g.first; i < g.first+g.n; i++ {
		e := &s.routeList[i]
		if !e.hours.set || (m >= 0 && e.hours.contains(m)) {
			return e, true
		}
	}
	return nil, false
}

// networkOf checks a line that names a network: not a prefix as well.
func networkOf(prefixDigits, mccmnc string) (numbering.Code, error) {
	if prefixDigits != "" {
		return 0, fmt.Errorf("line with prefix %q and mccmnc %q: one or the other", prefixDigits, mccmnc)
	}
	return numbering.ParseCode(mccmnc)
}
