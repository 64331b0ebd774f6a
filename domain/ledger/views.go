package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/eventstore"
)

// MaxMessageEvents bounds how many events of one message are read.
const MaxMessageEvents = 1000

// TenantInfo is a tenant's configuration (money as decimal strings).
type TenantInfo struct {
	ID, Name, Currency, Billing, Tier string
	TPSLimit                          int
	CreditLimit                       string
	SystemID                          string
	Rates                             []events.Rate
	DefaultValidityS                  int      // in force: the tenant's own, or the service's default
	MaxBinds                          int      // 0: no limit
	AllowedIPs                        []string // CIDRs; empty: any
	// Status is "active" or "suspended" (filled by TenantDetail and
	// ListTenants; Tenant leaves it empty).
	Status string
	// MOPrice is what an MO to one of its numbers costs it (decimal).
	MOPrice string
}

// SupplierInfo is a supplier's configuration. PasswordSealed opens with
// Service.SupplierPassword.
type SupplierInfo struct {
	ID, Name, Currency, Host string
	Port                     int
	SystemID                 string
	PasswordSealed           string
	Binds, TPSLimit, Window  int
	Enabled                  bool
	Billing                  string // "on_submit" | "on_delivery"
	DLRGraceS                int    // in force: the supplier's own, or the service's default
	TLS                      bool   // binds over TLS, verifying TLSServerName (empty: Host)
	TLSServerName            string
	TLSCAPEM                 string // PEM CA certificates (empty: the system's roots)
}

// BalanceView is a tenant's money from its in-memory account.
type BalanceView struct {
	TenantID    string `json:"tenant_id"`
	Currency    string `json:"currency"`
	Balance     string `json:"balance"`
	CreditLimit string `json:"credit_limit"`
	Held        string `json:"held"`
	Available   string `json:"available"`
}

// MessageView is a message's current state, built from its stream.
type MessageView struct {
	ID          uuid.UUID `json:"message_id"`
	TenantID    string    `json:"tenant_id"`
	State       string    `json:"state"`
	Channel     string    `json:"channel"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	Encoding    string    `json:"encoding"`
	Parts       int       `json:"parts"`
	Price       string    `json:"price"`
	Currency    string    `json:"currency"`
	Billing     string    `json:"billing"`
	RoutePrefix string    `json:"route_prefix,omitempty"`
	RouteMCCMNC string    `json:"route_mccmnc,omitempty"`
	// MCCMNC, Country and Operator: the destination's mobile network when
	// known at accept (numbering plan or portability table).
	MCCMNC             string     `json:"mccmnc,omitempty"`
	Country            string     `json:"country,omitempty"`
	Operator           string     `json:"operator,omitempty"`
	Supplier           string     `json:"supplier,omitempty"`
	Attempt            int        `json:"attempt"`
	Cost               string     `json:"cost,omitempty"` // settled or expected (cost per part × parts)
	CostCurrency       string     `json:"cost_currency,omitempty"`
	SupplierMessageID  string     `json:"supplier_message_id,omitempty"`
	DLRStatus          string     `json:"dlr_status,omitempty"`
	Forwarded          bool       `json:"forwarded"` // the final DLR reached the tenant (DeliveryForwarded)
	Money              string     `json:"money"`     // held | settled | released
	ClientRef          string     `json:"client_ref,omitempty"`
	AcceptedAt         time.Time  `json:"accepted_at"`
	SendAt             *time.Time `json:"send_at,omitempty"` // scheduled delivery
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
	SubmittedAt        *time.Time `json:"submitted_at,omitempty"`
	SupplierAcceptedAt *time.Time `json:"supplier_accepted_at,omitempty"`
	DoneAt             *time.Time `json:"done_at,omitempty"`
	FinalAt            *time.Time `json:"final_at,omitempty"`
	Version            int        `json:"version"`
	// Refusal says why a control refused the message (state "refused";
	// nothing was held or sent).
	Refusal *RefusalView `json:"refusal,omitempty"`
}

// RefusalView is why a control refused a message: the refusal's code and
// the rule ("tenant keyword: casino").
type RefusalView struct {
	Code string `json:"code"`
	Rule string `json:"rule"`
}

// refusedView is the view of a message a control refused.
func refusedView(r events.SubmitRefused) MessageView {
	at := r.At
	return MessageView{ID: r.MessageID, TenantID: r.TenantID, State: StateRefused, Channel: r.Channel,
		From: r.From, To: r.To, AcceptedAt: r.At, FinalAt: &at, Version: 1,
		Refusal: &RefusalView{Code: r.Code, Rule: r.Rule}}
}

// EventView is one event of a message's audit trail.
type EventView struct {
	Version    uint64          `json:"version"`
	Position   uint64          `json:"position"`
	Type       string          `json:"type"`
	RecordedAt time.Time       `json:"recorded_at"`
	Data       json.RawMessage `json:"data"`
}

// Tenant returns a tenant's configuration.
func (s *Service) Tenant(id string) (TenantInfo, error) {
	t, err := s.tenant(id)
	if err != nil {
		return TenantInfo{}, err
	}
	return TenantInfo{
		ID: id, Name: t.Name, Currency: string(t.Currency), Billing: string(t.accept.Billing),
		Tier: t.accept.Tier.String(), TPSLimit: t.TPSLimit, CreditLimit: t.Credit.String(),
		SystemID: t.SystemID, Rates: t.Rates, DefaultValidityS: s.validityOf(t),
		MaxBinds: t.Access.MaxBinds, AllowedIPs: prefixStrings(t.Access.AllowedIPs), Status: statusOf(t),
		MOPrice: t.MOPrice.String(),
	}, nil
}

// Supplier returns a supplier's configuration.
func (s *Service) Supplier(id string) (SupplierInfo, error) {
	sp, ok := s.state.Load().suppliers[id]
	if !ok {
		return SupplierInfo{}, fmt.Errorf("supplier %q: %w", id, ErrNotFound)
	}
	info := sp.info
	info.DLRGraceS = int(s.dlrGrace(id) / time.Second)
	return info, nil
}

// Suppliers lists every supplier, by id.
func (s *Service) Suppliers() []SupplierInfo {
	st := s.state.Load()
	out := make([]SupplierInfo, 0, len(st.suppliers))
	for _, sp := range st.suppliers {
		out = append(out, sp.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SupplierPassword opens a supplier's sealed bind password.
func (s *Service) SupplierPassword(id string) (string, error) {
	sp, err := s.Supplier(id)
	if err != nil {
		return "", err
	}
	p, err := s.sealer.Open(sp.PasswordSealed)
	if err != nil {
		return "", fmt.Errorf("supplier %q password: %w", id, err)
	}
	return string(p), nil
}

// Balance returns a tenant's balance, credit limit, held and available
// amounts from its in-memory account.
func (s *Service) Balance(tenantID string) (BalanceView, error) {
	t, err := s.tenant(tenantID)
	if err != nil {
		return BalanceView{}, err
	}
	a := t.accept.Account.State()
	return BalanceView{
		TenantID: tenantID, Currency: string(a.Currency), Balance: a.Balance.String(),
		CreditLimit: a.CreditLimit.String(), Held: a.Held.String(), Available: a.Available.String(),
	}, nil
}

// readMessage reads and decodes a message's stream, checking its tenant
// (empty tenantID: any tenant).
func (s *Service) readMessage(ctx context.Context, tenantID string, id uuid.UUID) ([]eventstore.RecordedEvent, []events.Event, error) {
	recs, err := s.store.ReadStream(ctx, events.MessageStream(id), 0, MaxMessageEvents)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil, nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read message %s: %w", id, err)
	}
	evs := make([]events.Event, len(recs))
	for i := range recs {
		if evs[i], err = events.Decode(recs[i].Type, recs[i].Data); err != nil {
			return nil, nil, fmt.Errorf("message %s event %d: %w", id, recs[i].Version, err)
		}
	}
	var owner string
	switch e := evs[0].(type) {
	case events.MessageAccepted:
		owner = e.TenantID
	case events.SubmitRefused: // refused by a control (controls.go)
		owner = e.TenantID
	default:
		return nil, nil, fmt.Errorf("message %s starts with %s: %w", id, recs[0].Type, ErrNotFound)
	}
	if tenantID != "" && owner != tenantID {
		return nil, nil, fmt.Errorf("message %s: %w", id, ErrNotFound)
	}
	return recs, evs, nil
}

// Message returns a tenant's message (another tenant's is ErrNotFound).
func (s *Service) Message(ctx context.Context, tenantID string, id uuid.UUID) (MessageView, error) {
	_, evs, err := s.readMessage(ctx, tenantID, id)
	if err != nil {
		return MessageView{}, err
	}
	if r, ok := evs[0].(events.SubmitRefused); ok {
		return refusedView(r), nil
	}
	m, err := message.Rebuild(evs)
	if err != nil {
		return MessageView{}, fmt.Errorf("message %s: %w", id, err)
	}
	v := MessageView{ID: id, TenantID: m.TenantID, State: string(m.State), Parts: m.Parts,
		Price: m.Price.String(), Currency: string(m.Currency), Billing: string(m.Billing),
		Attempt: m.Attempt, SupplierMessageID: m.SupplierMessageID, DLRStatus: m.DLRStatus, Forwarded: m.Forwarded, Version: m.Version}
	switch {
	case m.Settled:
		v.Money = "settled"
	case m.Released:
		v.Money = "released"
	case m.HoldOpen:
		v.Money = "held"
	}
	if sup := m.Supplier(); sup.SupplierID != "" {
		v.Supplier = sup.SupplierID
		if cost, err := sup.CostPerPart.MulInt(m.Parts); err == nil {
			v.Cost, v.CostCurrency = cost.String(), string(sup.Currency)
		}
	}
	tp := func(t time.Time) *time.Time { return &t }
	for _, e := range evs {
		switch e := e.(type) {
		case events.MessageAccepted:
			v.Channel, v.From, v.To, v.Encoding, v.AcceptedAt = e.Channel, e.From, e.To, e.Encoding, e.At
			v.ClientRef = e.ClientRef
			v.MCCMNC, v.Country, v.Operator = e.MCCMNC, e.Country, e.Operator
			if !e.SendAt.IsZero() {
				v.SendAt = tp(e.SendAt)
			}
			if !e.ExpiresAt.IsZero() {
				v.ExpiresAt = tp(e.ExpiresAt)
			}
		case events.RouteSelected:
			v.RoutePrefix, v.RouteMCCMNC = e.RoutePrefix, e.RouteMCCMNC
		case events.SubmittedToSupplier:
			v.SubmittedAt = tp(e.At)
		case events.SupplierAccepted:
			v.SupplierAcceptedAt = tp(e.At)
		case events.DeliveryReported:
			if !e.DoneAt.IsZero() {
				v.DoneAt = tp(e.DoneAt)
			}
			if message.DLRFinal(e.Status) {
				v.FinalAt = tp(e.At)
			}
		case events.MessageExpired:
			v.FinalAt = tp(e.At)
		case events.MessageFailed:
			v.FinalAt = tp(e.At)
		case events.Settled:
			if !e.Cost.IsZero() || e.CostCurrency != "" {
				v.Cost, v.CostCurrency = e.Cost.String(), e.CostCurrency
			}
		case events.SupplierCostBooked: // booked apart from the tenant's settlement
			v.Cost, v.CostCurrency = e.Cost.String(), e.CostCurrency
		}
	}
	return v, nil
}

// MessageEvents returns a tenant's message's events in order (the audit
// trail); another tenant's message is ErrNotFound.
func (s *Service) MessageEvents(ctx context.Context, tenantID string, id uuid.UUID) ([]EventView, error) {
	recs, _, err := s.readMessage(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	out := make([]EventView, len(recs))
	for i, r := range recs {
		out[i] = EventView{Version: r.Version, Position: uint64(r.Position), Type: r.Type, RecordedAt: r.RecordedAt, Data: json.RawMessage(r.Data)}
	}
	return out, nil
}
