package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/fx"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// FXInfo is the FX table in force.
type FXInfo struct {
	Base     string          `json:"base"`
	Rates    []events.FXRate `json:"rates"`
	LoadedAt *time.Time      `json:"loaded_at,omitempty"`
}

// SetFX replaces the FX table: rates of other currencies to base, each from
// its effective time. Least-cost routing then compares supplier costs in
// base at each decision's time (suppliers may bill in any currency the
// table has), and reconciliation reports margins in it. A table that
// leaves a supplier's currency without a rate is refused.
func (s *Service) SetFX(ctx context.Context, base string, rates []events.FXRate) (FXInfo, error) {
	tab, err := fxTable(base, rates)
	if err != nil {
		return FXInfo{}, invalid("fx", "%v", err)
	}
	st := s.state.Load()
	if _, err := rebuildRouting(st.routes, st.suppliers, tab, s.clock()); err != nil {
		return FXInfo{}, invalid("fx", "%v", err)
	}
	if _, err := s.appendConfig(ctx, events.FXStreamName, eventstore.Any, nil,
		events.FXTableChanged{Base: base, Rates: rates, At: s.clock().UTC()}); err != nil {
		return FXInfo{}, fmt.Errorf("set fx: %w", err)
	}
	return s.FX(), nil
}

// FX returns the FX table in force (Base empty: none).
func (s *Service) FX() FXInfo {
	st := s.state.Load()
	info := FXInfo{Base: string(st.fx.Base()), Rates: []events.FXRate{}}
	for _, r := range st.fx.Lines() {
		info.Rates = append(info.Rates, events.FXRate{Currency: string(r.Currency), Rate: r.Rate, From: r.From})
	}
	if !st.fxAt.IsZero() {
		t := st.fxAt
		info.LoadedAt = &t
	}
	return info
}

// FXTable is the FX table in force (nil: none), for reports.
func (s *Service) FXTable() *fx.Table { return s.state.Load().fx }

func fxTable(base string, rates []events.FXRate) (*fx.Table, error) {
	lines := make([]fx.Rate, len(rates))
	for i, r := range rates {
		lines[i] = fx.Rate{Currency: money.Currency(r.Currency), Rate: r.Rate, From: r.From}
	}
	return fx.New(money.Currency(base), lines)
}

// fxTableChanged swaps in the FX table and rebuilds the routing snapshot
// with it; one the snapshot refuses leaves both as they were.
func (f *follower) fxTableChanged(cur, orig *state, e events.FXTableChanged) *state {
	tab, err := fxTable(e.Base, e.Rates)
	if err != nil {
		f.s.log.Error("ledger: invalid FXTableChanged skipped", "err", err)
		return cur
	}
	snap, err := rebuildRouting(cur.routes, cur.suppliers, tab, f.s.clock())
	if err != nil {
		f.s.log.Error("ledger: FXTableChanged skipped: routing refuses it", "err", err)
		return cur
	}
	cur = mutable(cur, orig)
	cur.fx, cur.fxAt, cur.snapshot = tab, e.At, snap
	return cur
}
