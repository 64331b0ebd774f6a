package ledger

import (
	"context"
	"fmt"
	"sort"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// The administration of suppliers, routes and decks: a supplier's settings
// patched (or it disabled), and the route table and cost cards read back.

// validSupplierSettings checks a supplier's settings (all but id, name and
// currency) as CreateSupplier and PatchSupplier accept them, and returns
// its billing basis.
func validSupplierSettings(spec SupplierSpec) (money.BillingMode, error) {
	if spec.Host == "" || len(spec.Host) > 255 {
		return "", invalid("host", "must be 1-255 characters")
	}
	if spec.Port < 1 || spec.Port > 65535 {
		return "", invalid("port", "must be 1-65535")
	}
	if spec.SystemID == "" || len(spec.SystemID) > 16 {
		return "", invalid("system_id", "must be 1-16 characters")
	}
	if len(spec.Password) > 64 {
		return "", invalid("password", "must be at most 64 characters")
	}
	if spec.Binds < 1 || spec.Binds > 64 {
		return "", invalid("binds", "must be 1-64")
	}
	if spec.TPSLimit < 0 || spec.TPSLimit > 1_000_000 {
		return "", invalid("tps_limit", "must be 0 (unlimited) to 1000000")
	}
	if spec.Window < 1 || spec.Window > 10_000 {
		return "", invalid("window", "must be 1-10000")
	}
	billing, err := supplierBilling(spec.Billing)
	if err != nil {
		return "", err
	}
	if spec.DLRGraceS < 0 || spec.DLRGraceS > MaxDLRGraceS {
		return "", invalid("dlr_grace_s", "must be 0 (the default) to %d", MaxDLRGraceS)
	}
	if err := validSupplierTLS(spec.TLS, spec.TLSServerName, spec.TLSCAPEM); err != nil {
		return "", err
	}
	return billing, nil
}

// SupplierPatch changes some of a supplier's settings: only the fields
// that are not nil. The currency cannot change. Password is sealed
// (Options.Sealer) before it is recorded; Enabled false disables the
// supplier: it gets no new messages, routes fail over past it, and its
// binds are stopped.
type SupplierPatch struct {
	Name          *string
	Host          *string
	Port          *int
	SystemID      *string
	Password      *string
	Binds         *int
	TPSLimit      *int
	Window        *int
	Billing       *string
	DLRGraceS     *int
	TLS           *bool
	TLSServerName *string
	TLSCAPEM      *string
	Enabled       *bool
}

// PatchSupplier applies p to a supplier's settings, validated as
// CreateSupplier validates them, and records the complete new settings
// (SupplierChanged). An empty patch records nothing. It returns the
// settings in force afterwards.
func (s *Service) PatchSupplier(ctx context.Context, id string, p SupplierPatch) (SupplierInfo, error) {
	sp, ok := s.state.Load().suppliers[id]
	if !ok {
		return SupplierInfo{}, fmt.Errorf("supplier %q: %w", id, ErrNotFound)
	}
	cur := sp.info // DLRGraceS as recorded (0: the default), not the one in force
	spec := SupplierSpec{ID: id, Name: cur.Name, Currency: cur.Currency, Host: cur.Host, Port: cur.Port,
		SystemID: cur.SystemID, Binds: cur.Binds, TPSLimit: cur.TPSLimit, Window: cur.Window,
		Billing: cur.Billing, DLRGraceS: cur.DLRGraceS, TLS: cur.TLS, TLSServerName: cur.TLSServerName, TLSCAPEM: cur.TLSCAPEM}
	enabled := cur.Enabled
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setInt := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&spec.Name, p.Name)
	set(&spec.Host, p.Host)
	setInt(&spec.Port, p.Port)
	set(&spec.SystemID, p.SystemID)
	setInt(&spec.Binds, p.Binds)
	setInt(&spec.TPSLimit, p.TPSLimit)
	setInt(&spec.Window, p.Window)
	set(&spec.Billing, p.Billing)
	setInt(&spec.DLRGraceS, p.DLRGraceS)
	if p.TLS != nil {
		spec.TLS = *p.TLS
	}
	set(&spec.TLSServerName, p.TLSServerName)
	set(&spec.TLSCAPEM, p.TLSCAPEM)
	if p.Enabled != nil {
		enabled = *p.Enabled
	}
	if p.Password != nil {
		spec.Password = *p.Password
	}
	if err := validName(spec.Name); err != nil {
		return SupplierInfo{}, err
	}
	billing, err := validSupplierSettings(spec)
	if err != nil {
		return SupplierInfo{}, err
	}
	if p == (SupplierPatch{}) {
		return s.Supplier(id)
	}
	sealed := cur.PasswordSealed
	if p.Password != nil {
		if sealed, err = s.sealer.Seal([]byte(spec.Password)); err != nil {
			return SupplierInfo{}, fmt.Errorf("seal supplier password: %w", err)
		}
	}
	_, err = s.appendConfig(ctx, events.SupplierStream(id), eventstore.StreamExists, nil, events.SupplierChanged{
		SupplierID: id, Name: spec.Name, Host: spec.Host, Port: spec.Port, SystemID: spec.SystemID,
		PasswordSealed: sealed, Binds: spec.Binds, TPSLimit: spec.TPSLimit, Window: spec.Window, Enabled: enabled,
		Billing: string(billing), DLRGraceS: spec.DLRGraceS,
		TLS: spec.TLS, TLSServerName: spec.TLSServerName, TLSCAPEM: spec.TLSCAPEM, At: s.clock().UTC(),
	})
	if err != nil {
		return SupplierInfo{}, fmt.Errorf("patch supplier %q: %w", id, err)
	}
	return s.Supplier(id)
}

// Routes returns the route table in force, by prefix (network rows after
// the prefixes, by network).
func (s *Service) Routes() []events.Route {
	rr := s.state.Load().routes
	out := make([]events.Route, len(rr))
	for i, r := range rr {
		out[i] = events.Route{Prefix: r.Prefix, MCCMNC: r.MCCMNC, Suppliers: append([]string(nil), r.Suppliers...),
			Weights: events.FormatWeights(r.Weights), Hours: r.Hours}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Prefix == out[j].Prefix && out[i].MCCMNC == out[j].MCCMNC {
			return out[i].Hours < out[j].Hours
		}
		return deckLess(out[i].Prefix, out[i].MCCMNC, out[j].Prefix, out[j].MCCMNC)
	})
	return out
}

// deckLess orders deck lines: prefixes first, by prefix, then networks.
func deckLess(p1, n1, p2, n2 string) bool {
	if (n1 == "") != (n2 == "") {
		return n1 == ""
	}
	if n1 != n2 {
		return n1 < n2
	}
	return p1 < p2
}

// SupplierCosts returns a supplier's cost card in force, by prefix (empty
// when it has none yet).
func (s *Service) SupplierCosts(id string) ([]events.Cost, error) {
	sp, ok := s.state.Load().suppliers[id]
	if !ok {
		return nil, fmt.Errorf("supplier %q: %w", id, ErrNotFound)
	}
	out := make([]events.Cost, len(sp.costs))
	for i, c := range sp.costs {
		out[i] = events.Cost{Prefix: c.Prefix, MCCMNC: c.MCCMNC, Cost: c.Cost}
	}
	sort.SliceStable(out, func(i, j int) bool { return deckLess(out[i].Prefix, out[i].MCCMNC, out[j].Prefix, out[j].MCCMNC) })
	return out, nil
}

// SupplierLive is a supplier's live state, for its administration: its
// egress binds (from the process that runs them) and routing's view of
// its health.
type SupplierLive struct {
	// Running: the supplier's egress runs here (false when disabled, or
	// not started yet).
	Running bool
	// BindsUp of Binds configured are bound.
	BindsUp, Binds int
	// QueueDepth is how many messages wait in its egress queues.
	QueueDepth int
	// TPS is the adaptive send rate in force (may be below the limit set
	// while the supplier throttles).
	TPS float64
	// Up and HealthScore (0..routing.ScoreMax) are what routing uses:
	// down, or a score below the threshold, excludes the supplier.
	Up          bool
	HealthScore int
}

// SupplierHealth is routing's view of a supplier's health as last fed
// (SetSupplierHealth): up and its score.
func (s *Service) SupplierHealth(id string) (up bool, score int) {
	h := s.health.Load().Of(id)
	return h.Up, int(h.Score)
}
