// Package accept is the hot-path decision for one submitted message:
// normalise the destination, count its parts, price it from the tenant's
// rate card, route it, and hold the price on the tenant's in-memory
// account — in that order, so that the hold, the only step with a side
// effect, comes last and nothing has to be undone when an earlier step
// refuses the message.
//
// One message through the ledger:
//
//  1. ingress (SMPP submit_sm or HTTP POST /v1/messages) calls Decide;
//  2. Decision.Events gives MessageAccepted, RouteSelected and Held, which
//     the adapter appends to message-<id> with expected version "no stream"
//     (call Undo if the append fails: the hold is given back);
//  3. only after the append is durable does the tenant get its message id;
//  4. the egress side rebuilds/keeps a message.Message and feeds it supplier
//     answers and DLRs, appending what its commands decide (settlement or
//     release included).
package accept

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/pricing"
	"github.com/smsledger/smsledger/domain/routing"
)

// ErrTenantMisconfigured reports a tenant whose rate card is missing or in
// another currency than its account.
var ErrTenantMisconfigured = errors.New("tenant misconfigured")

// Tenant is the hot path's view of one tenant: immutable settings plus the
// live Account. Replace the whole value (atomically) when settings change;
// keep the same *Account.
type Tenant struct {
	ID      string
	Billing money.BillingMode
	Tier    routing.Tier
	Rates   *pricing.RateCard
	Account *money.Account
}

// Request is one submitted message.
type Request struct {
	MessageID uuid.UUID
	// Node is the cluster node deciding the submit (empty outside a
	// cluster): it owns the message and its hold is on the node's budget
	// lease (Tenant.Account is then the lease).
	Node    string
	Channel string // "smpp" | "http"
	From    string
	To      string // as submitted; normalised by Decide
	Text    string
	// DataCoding is the SMPP data_coding when HasDataCoding is set;
	// otherwise the encoding is chosen from the text (GSM 03.38 or UCS-2).
	DataCoding         uint8
	HasDataCoding      bool
	RegisteredDelivery bool
	// ReceiptOnFailureOnly: a DLR only for a message that does not end
	// delivered (SMPP registered_delivery 2).
	ReceiptOnFailureOnly bool
	TenantReference      string
	ExpiresAt            time.Time
	// SendAt schedules the message (zero: at once); see Schedule.
	SendAt time.Time
	// ClientRef is the tenant's own reference (≤ MaxClientRefLen bytes),
	// echoed in views, CDRs and webhooks.
	ClientRef string
	// IdempotencyKey and RequestHash: an HTTP Idempotency-Key and the hash
	// of the request that came with it (ledger's idempotency index).
	IdempotencyKey, RequestHash string
	// At is when the message is decided (route rows with hours apply by
	// it); zero: only rows without hours.
	At time.Time
}

// MaxClientRefLen bounds Request.ClientRef.
const MaxClientRefLen = 64

// Decision is the outcome of Decide: where the message goes and what it
// costs the tenant (already held).
type Decision struct {
	To string // E.164 digits
	// Network is the destination's mobile network (zero Code: unknown) and
	// NetworkSource how it was found (plan range or portability table).
	Network       numbering.Network
	NetworkSource numbering.Source
	Segments      pricing.Segments
	Quote         pricing.Quote
	Route         routing.Decision
}

// Decide is DecideOn without numbering tables: every destination's
// network is unknown, so prefixes alone price and route it.
func Decide(t *Tenant, routes *routing.Snapshot, health *routing.Health, req *Request) (Decision, error) {
	return DecideOn(t, routes, health, nil, req)
}

// DecideOn takes one message through normalise → network → parts → price
// → route → hold. The network (numbering plan and portability table of
// nets) lets rate, cost and route rows that name a network apply. On
// success the price is held on t.Account. It allocates nothing on success
// when req.To is plain digits.
func DecideOn(t *Tenant, routes *routing.Snapshot, health *routing.Health, nets *numbering.Tables, req *Request) (Decision, error) {
	var d Decision
	err := DecideInto(&d, t, routes, health, nets, req)
	return d, err
}

// DecideInto is DecideOn writing into d, as the hot path does: a Decision
// is over a kilobyte, and returning it by value copies it once more per
// message.
func DecideInto(d *Decision, t *Tenant, routes *routing.Snapshot, health *routing.Health, nets *numbering.Tables, req *Request) error {
	if t.Rates == nil || t.Account == nil || t.Rates.Currency() != t.Account.Currency() {
		return fmt.Errorf("tenant %s: %w", t.ID, ErrTenantMisconfigured)
	}
	to, err := routing.Normalize(req.To)
	if err != nil {
		return err
	}
	d.To = to
	d.Network, d.NetworkSource = nets.Resolve(to)
	if req.HasDataCoding {
		d.Segments, err = pricing.CountDataCoding(req.Text, req.DataCoding)
	} else {
		d.Segments, err = pricing.CountAuto(req.Text)
	}
	if err != nil {
		return fmt.Errorf("message %s: %w", req.MessageID, err)
	}
	d.Quote, err = t.Rates.QuoteOn(to, d.Network.Code, d.Segments.Parts)
	if err != nil {
		return fmt.Errorf("tenant %s to %s: %w", t.ID, to, err)
	}
	if err := routes.DecideInto(&d.Route, to, d.Network.Code, t.Tier, health, req.At); err != nil {
		return fmt.Errorf("to %s: %w", to, err)
	}
	if err := t.Account.Hold(d.Quote.Price); err != nil {
		return fmt.Errorf("tenant %s: %w", t.ID, err)
	}
	return nil
}

// Undo gives back the hold of a Decision whose accept events could not be
// made durable.
func Undo(t *Tenant, d *Decision) error {
	return t.Account.Release(d.Quote.Price)
}

// Events returns the accept batch for message-<id>: MessageAccepted,
// RouteSelected and Held, to be appended together with expected version
// "no stream".
func (d *Decision) Events(t *Tenant, req *Request, at time.Time) []events.Event {
	cur := string(d.Quote.Currency)
	price := d.Quote.Price.Decimal()
	r := &d.Route
	cands := make([]events.RouteCandidate, r.N)
	for i := 0; i < r.N; i++ {
		c := &r.Candidates[i]
		cands[i] = events.RouteCandidate{
			SupplierID: c.SupplierID, Preference: c.Preference,
			CostPerPart: c.CostPerPart.Decimal(), Currency: string(c.Currency), CostPrefix: c.CostPrefix,
			CostMCCMNC: c.CostNetwork.String(),
			Billing:    string(c.Billing),
			Up:         c.Health.Up, HealthScore: int(c.Health.Score),
			Eligible: c.Excluded == routing.Eligible, Excluded: c.Excluded.String(),
		}
	}
	return []events.Event{
		events.MessageAccepted{
			MessageID: req.MessageID, TenantID: t.ID, Channel: req.Channel,
			From: req.From, To: d.To, Text: req.Text, Encoding: d.Segments.Encoding.String(),
			Parts: d.Segments.Parts, RatePrefix: d.Quote.RatePrefix, RateMCCMNC: d.Quote.RateNetwork.String(),
			MCCMNC: d.Network.Code.String(), Country: d.Network.Country, Operator: d.Network.Operator,
			NetworkSource: d.NetworkSource.String(),
			PricePerPart:  d.Quote.PricePerPart.Decimal(), Price: price, Currency: cur,
			Billing: string(t.Billing), RegisteredDelivery: req.RegisteredDelivery,
			ReceiptOnFailureOnly: req.RegisteredDelivery && req.ReceiptOnFailureOnly,
			TenantReference:      req.TenantReference, ExpiresAt: req.ExpiresAt, SendAt: req.SendAt,
			ClientRef: req.ClientRef, IdempotencyKey: req.IdempotencyKey, RequestHash: req.RequestHash, Node: req.Node, At: at,
		},
		events.RouteSelected{
			MessageID: req.MessageID, RoutePrefix: r.RoutePrefix, RouteMCCMNC: r.RouteNetwork.String(), Tier: r.Tier.String(),
			Candidates: cands, Winner: r.Winner().SupplierID, Reason: r.Reason.String(), At: at,
		},
		events.Held{MessageID: req.MessageID, TenantID: t.ID, Amount: price, Currency: cur, Node: req.Node, At: at},
	}
}

// Refusal is a stable code for why a message was refused, for adapters to
// map onto SMPP command_status and HTTP errors.
type Refusal string

// Refusal codes.
const (
	RefusedInvalidDestination  Refusal = "invalid_destination"  // SMPP ESME_RINVDSTADR
	RefusedNoRoute             Refusal = "no_route"             // no route, or no eligible supplier
	RefusedNoRate              Refusal = "no_rate"              // tenant has no price for the destination
	RefusedInsufficientFunds   Refusal = "insufficient_funds"   // available balance too low
	RefusedTooLong             Refusal = "message_too_long"     // more than pricing.MaxParts
	RefusedInvalidText         Refusal = "invalid_text"         // not representable / invalid UTF-8
	RefusedUnsupportedEncoding Refusal = "unsupported_encoding" // data_coding not supported
	RefusedInvalidSchedule     Refusal = "invalid_schedule"     // SMPP ESME_RINVSCHED: send_at too far ahead
	RefusedInvalidExpiry       Refusal = "invalid_expiry"       // SMPP ESME_RINVEXPIRY: expires before it may be sent
	RefusedSystem              Refusal = "system_error"
)

// RefusalOf classifies an error returned by Decide.
func RefusalOf(err error) Refusal {
	switch {
	case errors.Is(err, routing.ErrInvalidDestination):
		return RefusedInvalidDestination
	case errors.Is(err, routing.ErrNoRoute), errors.Is(err, routing.ErrNoEligibleSupplier):
		return RefusedNoRoute
	case errors.Is(err, pricing.ErrNoRate):
		return RefusedNoRate
	case errors.Is(err, money.ErrInsufficientFunds):
		return RefusedInsufficientFunds
	case errors.Is(err, pricing.ErrTooLong):
		return RefusedTooLong
	case errors.Is(err, pricing.ErrNotRepresentable), errors.Is(err, pricing.ErrInvalidUTF8):
		return RefusedInvalidText
	case errors.Is(err, pricing.ErrUnsupportedDataCoding):
		return RefusedUnsupportedEncoding
	case errors.Is(err, ErrInvalidSchedule):
		return RefusedInvalidSchedule
	case errors.Is(err, ErrInvalidExpiry):
		return RefusedInvalidExpiry
	}
	return RefusedSystem
}
