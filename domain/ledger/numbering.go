package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/eventstore"
)

// MaxPortedPerLoad bounds one portability load: its event carries ~20
// bytes a number, and an event is at most events.MaxDataBytes (64 MiB).
const MaxPortedPerLoad = 2_000_000

// NumberingInfo says what numbering tables are in force.
type NumberingInfo struct {
	PlanRows      int        `json:"plan_rows"`
	Networks      int        `json:"networks"`
	PortedNumbers int        `json:"ported_numbers"`
	PlanAt        *time.Time `json:"plan_loaded_at,omitempty"`
	PortedAt      *time.Time `json:"portability_loaded_at,omitempty"`
}

// NetworkView is a number's mobile network as the hot path resolves it.
type NetworkView struct {
	Number   string `json:"number"` // E.164 digits
	MCCMNC   string `json:"mccmnc,omitempty"`
	Country  string `json:"country,omitempty"`
	Operator string `json:"operator,omitempty"`
	// Source: "plan" (the numbering plan's range), "ported" (the
	// portability table) or "" (unknown).
	Source string `json:"source"`
}

// SetNumberingPlan replaces the numbering plan (prefix → network). Rates,
// costs and routes that name a network apply to the destinations it (or
// the portability table) places on that network.
func (s *Service) SetNumberingPlan(ctx context.Context, rows []numbering.Row) (NumberingInfo, error) {
	if _, err := numbering.NewPlan(rows); err != nil {
		return NumberingInfo{}, invalid("numbering", "%v", err)
	}
	out := make([]events.NumberingRow, len(rows))
	for i, r := range rows {
		out[i] = events.NumberingRow{Prefix: r.Prefix, MCCMNC: r.MCC + r.MNC, Country: r.Country, Operator: r.Operator}
	}
	if _, err := s.appendConfig(ctx, events.NumberingStreamName, eventstore.Any, nil,
		events.NumberingPlanChanged{Rows: out, At: s.clock().UTC()}); err != nil {
		return NumberingInfo{}, fmt.Errorf("set numbering plan: %w", err)
	}
	return s.Numbering(), nil
}

// SetPortability replaces the portability table (number → the network it
// moved to), at most MaxPortedPerLoad numbers.
func (s *Service) SetPortability(ctx context.Context, numbers []numbering.PortedNumber) (NumberingInfo, error) {
	if len(numbers) > MaxPortedPerLoad {
		return NumberingInfo{}, invalid("numbers", "at most %d numbers in one load", MaxPortedPerLoad)
	}
	if _, err := numbering.NewPorted(numbers); err != nil {
		return NumberingInfo{}, invalid("numbers", "%v", err)
	}
	var b strings.Builder
	b.Grow(len(numbers) * 20)
	for i, n := range numbers {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(n.MSISDN)
		b.WriteByte('=')
		b.WriteString(n.Code.String())
	}
	if _, err := s.appendConfig(ctx, events.NumberingStreamName, eventstore.Any, nil,
		events.PortabilityChanged{Numbers: b.String(), Count: len(numbers), At: s.clock().UTC()}); err != nil {
		return NumberingInfo{}, fmt.Errorf("set portability: %w", err)
	}
	return s.Numbering(), nil
}

// Numbering says what numbering tables are in force.
func (s *Service) Numbering() NumberingInfo {
	st := s.state.Load()
	var info NumberingInfo
	if st.numbering != nil {
		info.PlanRows, info.Networks = st.numbering.Plan.Rows(), st.numbering.Plan.Networks()
		info.PortedNumbers = st.numbering.Ported.Len()
	}
	if !st.planAt.IsZero() {
		t := st.planAt
		info.PlanAt = &t
	}
	if !st.portedAt.IsZero() {
		t := st.portedAt
		info.PortedAt = &t
	}
	return info
}

// LookupNetwork resolves a number (any form Normalize takes) to its mobile
// network, as the hot path would.
func (s *Service) LookupNetwork(number string) (NetworkView, error) {
	digits, err := routing.Normalize(number)
	if err != nil {
		return NetworkView{}, invalid("number", "%v", err)
	}
	n, src := s.state.Load().numbering.Resolve(digits)
	return NetworkView{Number: digits, MCCMNC: n.Code.String(), Country: n.Country, Operator: n.Operator, Source: src.String()}, nil
}

// numberingPlanChanged swaps in the new plan; one the domain refuses (the
// command checked it, so only a log written by something else) is skipped.
func (f *follower) numberingPlanChanged(cur, orig *state, e events.NumberingPlanChanged) *state {
	rows := make([]numbering.Row, len(e.Rows))
	for i, r := range e.Rows {
		if len(r.MCCMNC) < 5 {
			f.s.log.Error("ledger: invalid NumberingPlanChanged skipped", "row", i+1, "mccmnc", r.MCCMNC)
			return cur
		}
		rows[i] = numbering.Row{Prefix: r.Prefix, MCC: r.MCCMNC[:3], MNC: r.MCCMNC[3:], Country: r.Country, Operator: r.Operator}
	}
	plan, err := numbering.NewPlan(rows)
	if err != nil {
		f.s.log.Error("ledger: invalid NumberingPlanChanged skipped", "err", err)
		return cur
	}
	cur = f.withTables(cur, orig, plan, cur.ported())
	cur.planAt = e.At
	return cur
}

// ported is the portability table in force (nil: none).
func (st *state) ported() *numbering.Ported {
	if st.numbering == nil {
		return nil
	}
	return st.numbering.Ported
}

// plan is the numbering plan in force (nil: none).
func (st *state) plan() *numbering.Plan {
	if st.numbering == nil {
		return nil
	}
	return st.numbering.Plan
}

// withTables swaps in the numbering tables of plan and ported, with the
// service's remote portability source.
func (f *follower) withTables(cur, orig *state, plan *numbering.Plan, ported *numbering.Ported) *state {
	cur = mutable(cur, orig)
	cur.numbering = &numbering.Tables{Plan: plan, Ported: ported, Remote: f.s.opts.Portability}
	return cur
}

// portabilityChanged swaps in the new portability table.
func (f *follower) portabilityChanged(cur, orig *state, e events.PortabilityChanged) *state {
	numbers := make([]numbering.PortedNumber, 0, e.Count)
	for entry := range strings.SplitSeq(e.Numbers, " ") {
		if entry == "" {
			continue
		}
		msisdn, mccmnc, _ := strings.Cut(entry, "=")
		code, err := numbering.ParseCode(mccmnc)
		if err != nil {
			f.s.log.Error("ledger: invalid PortabilityChanged skipped", "entry", entry, "err", err)
			return cur
		}
		numbers = append(numbers, numbering.PortedNumber{MSISDN: msisdn, Code: code})
	}
	ported, err := numbering.NewPorted(numbers)
	if err != nil {
		f.s.log.Error("ledger: invalid PortabilityChanged skipped", "err", err)
		return cur
	}
	cur = f.withTables(cur, orig, cur.plan(), ported)
	cur.portedAt = e.At
	return cur
}
