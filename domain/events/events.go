// Package events is smsledger's event catalogue: every fact the ledger
// records, as a JSON-encoded Go struct with an explicit type name and schema
// version, plus the registry that decodes stored events and the stream
// layout (which stream each event is appended to).
//
// The package depends on nothing but the standard library, uuid and
// decimal, so the event store, projections and adapters can all share it.
// Enumerations (tier, billing mode, encoding, states) are plain strings here
// so the stored JSON stays stable whatever the Go types do.
package events

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Event is any fact in the catalogue.
type Event interface {
	// EventType is the stored type name, e.g. "MessageAccepted".
	EventType() string
}

// Type names. They are part of the stored format: never rename one; a new
// incompatible shape gets a new schema version in the registry.
const (
	// Configuration.
	TypeTenantCreated      = "TenantCreated"
	TypeTenantChanged      = "TenantChanged"
	TypeSmppCredentialsSet = "SmppCredentialsSet"
	TypeApiKeyIssued       = "ApiKeyIssued"
	TypeTopUpRecorded      = "TopUpRecorded"
	TypeRateCardChanged    = "RateCardChanged"
	TypeWebhookSet         = "WebhookSet"
	TypeWebhookRemoved     = "WebhookRemoved"
	TypeSupplierCreated    = "SupplierCreated"
	TypeSupplierChanged    = "SupplierChanged"
	TypeCostCardChanged    = "CostCardChanged"
	TypeRouteTableChanged  = "RouteTableChanged"
	// Traffic.
	TypeMessageAccepted     = "MessageAccepted"
	TypeRouteSelected       = "RouteSelected"
	TypeSubmittedToSupplier = "SubmittedToSupplier"
	TypeSupplierAccepted    = "SupplierAccepted"
	TypeSupplierRejected    = "SupplierRejected"
	TypeSupplierTimedOut    = "SupplierTimedOut"
	TypeFailedOver          = "FailedOver"
	TypeDeliveryReported    = "DeliveryReported"
	TypeDeliveryForwarded   = "DeliveryForwarded"
	TypeMessageExpired      = "MessageExpired"
	TypeMessageFailed       = "MessageFailed"
	// Money.
	TypeHeld                 = "Held"
	TypeSettled              = "Settled"
	TypeReleased             = "Released"
	TypeJournalEntryRecorded = "JournalEntryRecorded"
	TypeSupplierCostBooked   = "SupplierCostBooked"
	// Administration.
	TypeApiKeyRevoked      = "ApiKeyRevoked"
	TypeAdjustmentRecorded = "AdjustmentRecorded"
	// Networks.
	TypeNumberingPlanChanged = "NumberingPlanChanged"
	TypePortabilityChanged   = "PortabilityChanged"
	TypeFXTableChanged       = "FXTableChanged"
	// Mobile-originated (MO) messages.
	TypeTenantNumbersChanged = "TenantNumbersChanged"
	TypeMOReceived           = "MOReceived"
	TypeMOForwarded          = "MOForwarded"
	// Controls before a message is accepted.
	TypeTenantControlsChanged = "TenantControlsChanged"
	TypeGlobalControlsChanged = "GlobalControlsChanged"
	TypeSubmitRefused         = "SubmitRefused"
	// A cluster of serve nodes on one log (cluster stream and tenant streams).
	TypeNodeJoined         = "NodeJoined"
	TypeNodeTakenOver      = "NodeTakenOver"
	TypeDispatchHandedOver = "DispatchHandedOver"
	TypeSubmitWithdrawn    = "SubmitWithdrawn"
	TypeBudgetLeased       = "BudgetLeased"
	TypeBudgetReturned     = "BudgetReturned"
)

// ---------------------------------------------------------------------------
// Configuration events. Each carries the complete new state of what it
// configures (not a diff), so the latest event of a kind is the state in
// force and an audit can show which card was in force for any message.

// TenantCreated opens a tenant. Currency never changes afterwards.
type TenantCreated struct {
	TenantID    string          `json:"tenant_id"`
	Name        string          `json:"name"`
	Currency    string          `json:"currency"`
	Billing     string          `json:"billing"` // "on_submit" | "on_delivery"
	TPSLimit    int             `json:"tps_limit"`
	CreditLimit decimal.Decimal `json:"credit_limit"`
	Tier        string          `json:"tier"` // "premium" | "standard" | "economy"
	// DefaultValidityS is the validity in seconds of a message that gives
	// none (0: the service's default).
	DefaultValidityS int `json:"default_validity_s,omitempty"`
	// MaxBinds bounds the tenant's SMPP binds at once (0: no limit);
	// AllowedIPs are the CIDRs its binds and API calls may come from
	// (empty: any).
	MaxBinds   int      `json:"max_binds,omitempty"`
	AllowedIPs []string `json:"allowed_ips,omitempty"`
	// MOPrice is what the tenant pays for each mobile-originated message
	// to one of its numbers (zero: MOs are free).
	MOPrice decimal.Decimal `json:"mo_price,omitzero"`
	At      time.Time       `json:"at"`
}

// TenantChanged replaces a tenant's settings (all but id and currency).
type TenantChanged struct {
	TenantID    string          `json:"tenant_id"`
	Name        string          `json:"name"`
	Billing     string          `json:"billing"`
	TPSLimit    int             `json:"tps_limit"`
	CreditLimit decimal.Decimal `json:"credit_limit"`
	Tier        string          `json:"tier"`
	// DefaultValidityS, MaxBinds, AllowedIPs and MOPrice as in
	// TenantCreated.
	DefaultValidityS int             `json:"default_validity_s,omitempty"`
	MaxBinds         int             `json:"max_binds,omitempty"`
	AllowedIPs       []string        `json:"allowed_ips,omitempty"`
	MOPrice          decimal.Decimal `json:"mo_price,omitzero"`
	// Status is "active" (empty means active) or "suspended": a suspended
	// tenant's new binds and API calls are refused and its open binds
	// closed; its accepted messages still finish.
	Status string    `json:"status,omitempty"`
	At     time.Time `json:"at"`
}

// ApiKeyRevoked revokes a tenant's API key: it no longer authenticates.
type ApiKeyRevoked struct {
	TenantID string    `json:"tenant_id"`
	KeyID    string    `json:"key_id"`
	At       time.Time `json:"at"`
}

// AdjustmentRecorded corrects a tenant's balance by a signed amount (its
// journal entry, kind "adjustment", follows in the same append). Reference
// is the caller's idempotency key, as for top-ups; Reason says why.
type AdjustmentRecorded struct {
	TenantID  string          `json:"tenant_id"`
	Reference string          `json:"reference"`
	Amount    decimal.Decimal `json:"amount"` // signed: positive credits the tenant
	Currency  string          `json:"currency"`
	Reason    string          `json:"reason"`
	EntryID   uuid.UUID       `json:"entry_id"`
	// Node is the cluster node whose budget lease a debit (a negative
	// Amount) was taken from; empty outside a cluster.
	Node string    `json:"node,omitempty"`
	At   time.Time `json:"at"`
}

// SmppCredentialsSet sets a tenant's SMPP bind credentials. Only a password
// hash (e.g. bcrypt/argon2id, produced by the adapter) is ever stored: the
// log is immutable and replicated, so a plaintext could never be erased.
type SmppCredentialsSet struct {
	TenantID     string    `json:"tenant_id"`
	SystemID     string    `json:"system_id"`
	PasswordHash string    `json:"password_hash"`
	At           time.Time `json:"at"`
}

// ApiKeyIssued records a tenant API key by its id and hash only.
type ApiKeyIssued struct {
	TenantID string    `json:"tenant_id"`
	KeyID    string    `json:"key_id"`   // public, non-secret identifier of the key
	KeyHash  string    `json:"key_hash"` // e.g. SHA-256 of the key, hex
	At       time.Time `json:"at"`
}

// TopUpRecorded adds funds to a tenant. Reference is the caller's
// idempotency key: a second top-up with the same reference is a no-op (the
// journal entry id is derived from tenant and reference).
type TopUpRecorded struct {
	TenantID  string          `json:"tenant_id"`
	Reference string          `json:"reference"`
	Amount    decimal.Decimal `json:"amount"`
	Currency  string          `json:"currency"`
	EntryID   uuid.UUID       `json:"entry_id"`
	At        time.Time       `json:"at"`
}

// Rate is one rate card line: sell price per part, for destinations
// starting with Prefix or, when MCCMNC is set (Prefix then empty), for
// destinations on that mobile network.
type Rate struct {
	Prefix string          `json:"prefix"`
	MCCMNC string          `json:"mccmnc,omitempty"`
	Price  decimal.Decimal `json:"price"`
}

// RateCardChanged replaces a tenant's whole rate card.
type RateCardChanged struct {
	TenantID string    `json:"tenant_id"`
	Currency string    `json:"currency"`
	Rates    []Rate    `json:"rates"`
	At       time.Time `json:"at"`
}

// WebhookSet sets (replaces) the URL a tenant's final DLRs are POSTed to.
// SecretSealed is the HMAC signing secret sealed by the ledger's Sealer
// (like a supplier password: the log is immutable and replicated, so the
// secret never enters it in plaintext). While a webhook is set, it is the
// tenant's DLR channel instead of its SMPP receiver binds.
type WebhookSet struct {
	TenantID     string    `json:"tenant_id"`
	URL          string    `json:"url"`
	SecretSealed string    `json:"secret_sealed"`
	At           time.Time `json:"at"`
}

// WebhookRemoved removes a tenant's webhook; DLRs go to its SMPP receiver
// binds again.
type WebhookRemoved struct {
	TenantID string    `json:"tenant_id"`
	At       time.Time `json:"at"`
}

// SupplierCreated opens a supplier (an upstream SMSC). PasswordSealed is the
// bind password sealed by the adapter (e.g. AES-GCM under a key held outside
// the log); the domain treats it as opaque and it is never plaintext.
type SupplierCreated struct {
	SupplierID     string `json:"supplier_id"`
	Name           string `json:"name"`
	Currency       string `json:"currency"`
	Host           string `json:"host"`
	Port           int    `json:"port"`
	SystemID       string `json:"system_id"`
	PasswordSealed string `json:"password_sealed"`
	Binds          int    `json:"binds"`
	TPSLimit       int    `json:"tps_limit"`
	Window         int    `json:"window"`
	// Billing is when we owe the supplier its cost: "on_submit" (its
	// submit_sm_resp; empty means on_submit) or "on_delivery" (only for
	// delivered messages), independent of the tenant's billing mode.
	Billing string `json:"billing,omitempty"`
	// DLRGraceS is how long in seconds after its expires_at a message this
	// supplier accepted may still get its final DLR (0: the service's
	// default).
	DLRGraceS int `json:"dlr_grace_s,omitempty"`
	// TLS: the binds to the supplier use TLS, verifying TLSServerName (empty:
	// the host) against TLSCAPEM (PEM certificates; empty: the system's).
	TLS           bool      `json:"tls,omitempty"`
	TLSServerName string    `json:"tls_server_name,omitempty"`
	TLSCAPEM      string    `json:"tls_ca_pem,omitempty"`
	At            time.Time `json:"at"`
}

// SupplierChanged replaces a supplier's settings (all but id and currency).
type SupplierChanged struct {
	SupplierID     string `json:"supplier_id"`
	Name           string `json:"name"`
	Host           string `json:"host"`
	Port           int    `json:"port"`
	SystemID       string `json:"system_id"`
	PasswordSealed string `json:"password_sealed"`
	Binds          int    `json:"binds"`
	TPSLimit       int    `json:"tps_limit"`
	Window         int    `json:"window"`
	Enabled        bool   `json:"enabled"`
	// Billing, DLRGraceS and the TLS settings as in SupplierCreated.
	Billing       string    `json:"billing,omitempty"`
	DLRGraceS     int       `json:"dlr_grace_s,omitempty"`
	TLS           bool      `json:"tls,omitempty"`
	TLSServerName string    `json:"tls_server_name,omitempty"`
	TLSCAPEM      string    `json:"tls_ca_pem,omitempty"`
	At            time.Time `json:"at"`
}

// Cost is one cost card line: buy price per part, for a prefix or (MCCMNC
// set, Prefix empty) a mobile network.
type Cost struct {
	Prefix string          `json:"prefix"`
	MCCMNC string          `json:"mccmnc,omitempty"`
	Cost   decimal.Decimal `json:"cost"`
}

// CostCardChanged replaces a supplier's whole cost card.
type CostCardChanged struct {
	SupplierID string    `json:"supplier_id"`
	Currency   string    `json:"currency"`
	Costs      []Cost    `json:"costs"`
	At         time.Time `json:"at"`
}

// Route is one route table line, for a prefix or (MCCMNC set, Prefix
// empty) a mobile network.
type Route struct {
	Prefix    string   `json:"prefix"`
	MCCMNC    string   `json:"mccmnc,omitempty"`
	Suppliers []string `json:"suppliers"` // in preference order
	// Weights: a traffic share per supplier (routing.Route.Weights), as
	// integers separated by spaces ("70 30"; a string keeps the event in
	// the codec's one-pass path).
	Weights string `json:"weights,omitempty"`
	// Hours: the time of day the row applies ("08:00-20:00" UTC; empty:
	// all day).
	Hours string `json:"hours,omitempty"`
}

// FXRate is one line of the FX table: one unit of Currency is worth Rate
// units of the base currency from From on.
type FXRate struct {
	Currency string          `json:"currency"`
	Rate     decimal.Decimal `json:"rate"`
	From     time.Time       `json:"from"`
}

// FXTableChanged replaces the whole FX table (domain/fx): supplier costs
// are compared in Base at each decision's time, margins reported in it.
type FXTableChanged struct {
	Base  string    `json:"base"`
	Rates []FXRate  `json:"rates"`
	At    time.Time `json:"at"`
}

// NumberingRow is one range of the numbering plan: numbers starting with
// Prefix belong to the network MCCMNC.
type NumberingRow struct {
	Prefix   string `json:"prefix"`
	MCCMNC   string `json:"mccmnc"`
	Country  string `json:"country,omitempty"`
	Operator string `json:"operator,omitempty"`
}

// NumberingPlanChanged replaces the whole numbering plan (prefix → mobile
// network), which rates, costs and routes naming a network rely on.
type NumberingPlanChanged struct {
	Rows []NumberingRow `json:"rows"`
	At   time.Time      `json:"at"`
}

// PortabilityChanged replaces the whole portability table: numbers that
// moved to another network than their range's. Numbers is one entry
// "msisdn=mccmnc" per number, separated by single spaces: one string
// (nothing to escape) rather than millions of objects, ~20 bytes a number,
// decoded in one pass.
type PortabilityChanged struct {
	Numbers string    `json:"numbers"`
	Count   int       `json:"count"`
	At      time.Time `json:"at"`
}

// RouteTableChanged replaces the whole route table.
type RouteTableChanged struct {
	Routes []Route   `json:"routes"`
	At     time.Time `json:"at"`
}

// ---------------------------------------------------------------------------
// Traffic events: all in the message's own stream.

// MessageAccepted is the first event of every message: the tenant's submit,
// accepted after routing, pricing and the hold succeeded. It carries what is
// needed to submit the message again after a crash, and the price agreed.
type MessageAccepted struct {
	MessageID  uuid.UUID `json:"message_id"`
	TenantID   string    `json:"tenant_id"`
	Channel    string    `json:"channel"` // "smpp" | "http"
	From       string    `json:"from"`
	To         string    `json:"to"` // E.164 digits
	Text       string    `json:"text"`
	Encoding   string    `json:"encoding"` // "gsm7" | "latin1" | "ucs2"
	Parts      int       `json:"parts"`
	RatePrefix string    `json:"rate_prefix"`
	// RateMCCMNC is set when the price came from a network row of the
	// rate card (RatePrefix is then empty).
	RateMCCMNC string `json:"rate_mccmnc,omitempty"`
	// MCCMNC, Country and Operator are the destination's mobile network
	// when known; NetworkSource says how it was found ("plan": the
	// numbering plan's range, "ported": the portability table).
	MCCMNC             string          `json:"mccmnc,omitempty"`
	Country            string          `json:"country,omitempty"`
	Operator           string          `json:"operator,omitempty"`
	NetworkSource      string          `json:"network_source,omitempty"`
	PricePerPart       decimal.Decimal `json:"price_per_part"`
	Price              decimal.Decimal `json:"price"`
	Currency           string          `json:"currency"`
	Billing            string          `json:"billing"`
	RegisteredDelivery bool            `json:"registered_delivery"`
	// ReceiptOnFailureOnly: the tenant asked for a DLR only if the message
	// fails (SMPP registered_delivery 2).
	ReceiptOnFailureOnly bool      `json:"receipt_on_failure_only,omitzero"`
	TenantReference      string    `json:"tenant_reference,omitempty"` // e.g. SMPP sequence or client id
	ExpiresAt            time.Time `json:"expires_at,omitzero"`
	// SendAt is a scheduled delivery time: the message is held now and
	// sent from then on (zero: at once).
	SendAt time.Time `json:"send_at,omitzero"`
	// ClientRef is the tenant's own reference, echoed in views, CDRs and
	// DLR webhooks.
	ClientRef string `json:"client_ref,omitempty"`
	// IdempotencyKey and RequestHash are the HTTP Idempotency-Key header
	// and a hash of the request it came with: a repeat of the key within
	// its window returns this message, another request with it is refused.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"`
	// Node is the cluster node that accepted the message and owns its
	// lifecycle until another takes it over (NodeTakenOver); empty
	// outside a cluster.
	Node string    `json:"node,omitempty"`
	At   time.Time `json:"at"`
}

// RouteCandidate is one supplier as evaluated by the routing decision.
type RouteCandidate struct {
	SupplierID  string          `json:"supplier_id"`
	Preference  int             `json:"preference"` // 1-based position in the route
	CostPerPart decimal.Decimal `json:"cost_per_part"`
	Currency    string          `json:"currency"`
	CostPrefix  string          `json:"cost_prefix,omitempty"`
	CostMCCMNC  string          `json:"cost_mccmnc,omitempty"` // a network row of the cost card matched
	// Billing is the supplier's billing basis when it was chosen
	// (SupplierCreated.Billing; empty: on_submit).
	Billing     string `json:"billing,omitempty"`
	Up          bool   `json:"up"`
	HealthScore int    `json:"health_score"`
	Eligible    bool   `json:"eligible"`
	Excluded    string `json:"excluded,omitempty"` // why not eligible
}

// RouteSelected records the routing decision: every candidate, the order
// they will be tried in (eligible first, winner at index 0), and why the
// winner won.
type RouteSelected struct {
	MessageID   uuid.UUID        `json:"message_id"`
	RoutePrefix string           `json:"route_prefix"`
	RouteMCCMNC string           `json:"route_mccmnc,omitempty"` // a network row of the route table matched
	Tier        string           `json:"tier"`
	Candidates  []RouteCandidate `json:"candidates"`
	Winner      string           `json:"winner"`
	Reason      string           `json:"reason"`
	At          time.Time        `json:"at"`
}

// SubmittedToSupplier records that submit_sm was sent for attempt Attempt.
type SubmittedToSupplier struct {
	MessageID  uuid.UUID `json:"message_id"`
	SupplierID string    `json:"supplier_id"`
	Attempt    int       `json:"attempt"` // 1-based
	At         time.Time `json:"at"`
}

// SupplierAccepted is a successful submit_sm_resp (all parts accepted).
type SupplierAccepted struct {
	MessageID         uuid.UUID `json:"message_id"`
	SupplierID        string    `json:"supplier_id"`
	Attempt           int       `json:"attempt"`
	SupplierMessageID string    `json:"supplier_message_id"`
	LatencyMs         int64     `json:"latency_ms"`
	At                time.Time `json:"at"`
}

// SupplierRejected is a submit_sm_resp with an error command_status.
type SupplierRejected struct {
	MessageID     uuid.UUID `json:"message_id"`
	SupplierID    string    `json:"supplier_id"`
	Attempt       int       `json:"attempt"`
	CommandStatus uint32    `json:"command_status"`
	At            time.Time `json:"at"`
}

// SupplierTimedOut records that no submit_sm_resp came in time (or the bind
// was lost with the request outstanding).
type SupplierTimedOut struct {
	MessageID  uuid.UUID `json:"message_id"`
	SupplierID string    `json:"supplier_id"`
	Attempt    int       `json:"attempt"`
	TimeoutMs  int64     `json:"timeout_ms"`
	At         time.Time `json:"at"`
}

// FailedOver moves the message to the next candidate of RouteSelected.
type FailedOver struct {
	MessageID      uuid.UUID `json:"message_id"`
	FromSupplierID string    `json:"from_supplier_id"`
	ToSupplierID   string    `json:"to_supplier_id"`
	Attempt        int       `json:"attempt"` // the new attempt number
	Reason         string    `json:"reason"`
	At             time.Time `json:"at"`
}

// DeliveryReported is a DLR from the supplier. Status is the receipt's stat
// field (DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, UNKNOWN, ACCEPTD,
// ENROUTE).
type DeliveryReported struct {
	MessageID         uuid.UUID `json:"message_id"`
	SupplierID        string    `json:"supplier_id"`
	SupplierMessageID string    `json:"supplier_message_id"`
	Status            string    `json:"status"`
	ErrorCode         string    `json:"error_code,omitempty"`
	DoneAt            time.Time `json:"done_at,omitzero"`
	At                time.Time `json:"at"`
}

// DeliveryForwarded records that the DLR was delivered to the tenant.
type DeliveryForwarded struct {
	MessageID uuid.UUID `json:"message_id"`
	TenantID  string    `json:"tenant_id"`
	Status    string    `json:"status"`
	At        time.Time `json:"at"`
}

// MessageExpired records that the validity period ran out before a final
// outcome.
type MessageExpired struct {
	MessageID uuid.UUID `json:"message_id"`
	At        time.Time `json:"at"`
}

// MessageFailed records the final failure: every candidate was tried
// without a supplier accepting.
type MessageFailed struct {
	MessageID uuid.UUID `json:"message_id"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// ---------------------------------------------------------------------------
// Money events. Held/Settled/Released live in the message stream (they are
// steps of one message); JournalEntryRecorded lives in the message stream
// for settlements and in the tenant stream for top-ups.

// Held reserves the message price against the tenant's available balance.
type Held struct {
	MessageID uuid.UUID       `json:"message_id"`
	TenantID  string          `json:"tenant_id"`
	Amount    decimal.Decimal `json:"amount"`
	Currency  string          `json:"currency"`
	// Node is the cluster node whose budget lease (BudgetLeased) the hold
	// was taken from; empty outside a cluster (the tenant's whole
	// available balance).
	Node string    `json:"node,omitempty"`
	At   time.Time `json:"at"`
}

// Settled closes the hold and charges the tenant; it names the supplier and
// cost of the attempt that carried the message, so margin is exact. When
// the supplier's cost is booked at another moment than the tenant's charge
// (see SupplierCostBooked), Settled carries no cost: Cost is zero and
// CostCurrency empty.
type Settled struct {
	MessageID    uuid.UUID       `json:"message_id"`
	TenantID     string          `json:"tenant_id"`
	SupplierID   string          `json:"supplier_id"`
	Held         decimal.Decimal `json:"held"`
	Price        decimal.Decimal `json:"price"`
	Currency     string          `json:"currency"`
	Cost         decimal.Decimal `json:"cost"`
	CostCurrency string          `json:"cost_currency"`
	At           time.Time       `json:"at"`
}

// Released cancels the hold without a charge.
type Released struct {
	MessageID uuid.UUID       `json:"message_id"`
	TenantID  string          `json:"tenant_id"`
	Amount    decimal.Decimal `json:"amount"`
	Currency  string          `json:"currency"`
	Reason    string          `json:"reason"`
	At        time.Time       `json:"at"`
}

// Posting is one journal line, debit positive, credit negative.
type Posting struct {
	Account string          `json:"account"`
	Amount  decimal.Decimal `json:"amount"`
}

// JournalEntryRecorded is one balanced double-entry journal entry.
type JournalEntryRecorded struct {
	EntryID   uuid.UUID `json:"entry_id"`
	Kind      string    `json:"kind"` // "topup" | "settlement" | "supplier_cost" | "adjustment"
	Currency  string    `json:"currency"`
	Postings  []Posting `json:"postings"`
	MessageID uuid.UUID `json:"message_id,omitzero"`
	TenantID  string    `json:"tenant_id,omitempty"`
	Reference string    `json:"reference,omitempty"`
	At        time.Time `json:"at"`
}

// SupplierCostBooked books what we owe the supplier that carried the
// message, on its own, when that supplier's billing basis falls at another
// moment than the tenant's charge: at the supplier's submit_sm_resp for an
// on_submit supplier of an on_delivery tenant (it stands whatever the
// message's outcome), at the delivered DLR for an on_delivery supplier of
// an on_submit tenant. When both fall at the same moment Settled carries
// the cost and no SupplierCostBooked is recorded: a message's cost is
// booked once. Its journal entry (kind "supplier_cost": debit cost of
// sales, credit the supplier payable) follows it, none for a zero cost.
type SupplierCostBooked struct {
	MessageID    uuid.UUID       `json:"message_id"`
	TenantID     string          `json:"tenant_id"`
	SupplierID   string          `json:"supplier_id"`
	Attempt      int             `json:"attempt"`
	Cost         decimal.Decimal `json:"cost"`
	CostCurrency string          `json:"cost_currency"`
	At           time.Time       `json:"at"`
}

// ---------------------------------------------------------------------------
// Mobile-originated (MO) messages: a handset's message a supplier delivers
// to one of a tenant's numbers.

// TenantNumbersChanged replaces the numbers a tenant owns, which its MOs
// are delivered for: E.164 MSISDNs as "+<digits>" and short codes as their
// 3-8 digits, separated by single spaces (one string, as in
// PortabilityChanged: decoded in one pass, ~15 bytes a number). A number
// another tenant owns stays that tenant's (the first claim in the log
// wins).
type TenantNumbersChanged struct {
	TenantID string    `json:"tenant_id"`
	Numbers  string    `json:"numbers"`
	Count    int       `json:"count"`
	At       time.Time `json:"at"`
}

// MOReceived is the first event of an MO's stream (message-<id>, the id
// ours): a supplier's deliver_sm that is not a receipt, for a number
// TenantID owns, durable before the supplier's deliver_sm_resp. Price is
// what the tenant was charged (its mo_price; the settlement journal entry
// follows in the same append when it is not zero); Unbilled says the
// tenant's available balance did not cover its mo_price, so the MO was
// recorded and delivered free.
type MOReceived struct {
	MessageID  uuid.UUID       `json:"message_id"`
	SupplierID string          `json:"supplier_id"`
	TenantID   string          `json:"tenant_id"`
	From       string          `json:"from"`
	To         string          `json:"to"` // the tenant's number as owned: "+<digits>" or a short code
	Text       string          `json:"text"`
	Encoding   string          `json:"encoding"` // "gsm7" | "latin1" | "ucs2"
	Price      decimal.Decimal `json:"price"`
	Currency   string          `json:"currency"`
	Unbilled   bool            `json:"unbilled,omitempty"`
	// Node is the cluster node whose budget lease paid the MO's price;
	// empty outside a cluster.
	Node string    `json:"node,omitempty"`
	At   time.Time `json:"at"`
}

// MOForwarded records that the MO reached the tenant (its receiver bind
// took the deliver_sm, or its webhook answered): it is not sent again.
type MOForwarded struct {
	MessageID uuid.UUID `json:"message_id"`
	TenantID  string    `json:"tenant_id"`
	At        time.Time `json:"at"`
}

// ---------------------------------------------------------------------------
// Controls before a message is accepted (domain/controls): sender and
// content rules, per tenant and global, the tenant's per-destination rate
// limit and duplicate window, and the audit of a refusal.

// SenderRewrite replaces the sender of messages to one mobile network
// (From "*": any sender).
type SenderRewrite struct {
	MCCMNC string `json:"mccmnc"`
	From   string `json:"from"`
	To     string `json:"to"`
}

// TenantControlsChanged replaces a tenant's whole controls document: its
// sender and content rules, its per-destination rate limit (at most
// DestRateCount messages to one number per DestRateWindowS seconds; 0:
// off) and its duplicate window (the same destination and text within
// DuplicateWindowS seconds is refused; 0: off).
type TenantControlsChanged struct {
	TenantID         string          `json:"tenant_id"`
	SenderAllow      []string        `json:"sender_allow"`
	SenderRewrites   []SenderRewrite `json:"sender_rewrites"`
	Keywords         []string        `json:"keywords"`
	Patterns         []string        `json:"patterns"`
	URLDomains       []string        `json:"url_domains"`
	DestRateCount    int             `json:"dest_rate_count"`
	DestRateWindowS  int             `json:"dest_rate_window_s"`
	DuplicateWindowS int             `json:"duplicate_window_s"`
	At               time.Time       `json:"at"`
}

// GlobalControlsChanged replaces the rules every tenant's messages pass.
type GlobalControlsChanged struct {
	SenderAllow    []string        `json:"sender_allow"`
	SenderRewrites []SenderRewrite `json:"sender_rewrites"`
	Keywords       []string        `json:"keywords"`
	Patterns       []string        `json:"patterns"`
	URLDomains     []string        `json:"url_domains"`
	At             time.Time       `json:"at"`
}

// SubmitRefused is the whole stream of a message a control refused (it
// was given its id before it was decided): why — Code is the refusal
// (sender_not_allowed, content_blocked, destination_rate_limited,
// duplicate_message) and Rule the rule ("tenant keyword: casino"). Nothing
// was held and nothing is sent; To is the normalised destination.
type SubmitRefused struct {
	MessageID uuid.UUID `json:"message_id"`
	TenantID  string    `json:"tenant_id"`
	Channel   string    `json:"channel"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Code      string    `json:"code"`
	Rule      string    `json:"rule"`
	At        time.Time `json:"at"`
}

// EventType implementations.
func (TenantCreated) EventType() string        { return TypeTenantCreated }
func (TenantChanged) EventType() string        { return TypeTenantChanged }
func (SmppCredentialsSet) EventType() string   { return TypeSmppCredentialsSet }
func (ApiKeyIssued) EventType() string         { return TypeApiKeyIssued }
func (TopUpRecorded) EventType() string        { return TypeTopUpRecorded }
func (RateCardChanged) EventType() string      { return TypeRateCardChanged }
func (WebhookSet) EventType() string           { return TypeWebhookSet }
func (WebhookRemoved) EventType() string       { return TypeWebhookRemoved }
func (SupplierCreated) EventType() string      { return TypeSupplierCreated }
func (SupplierChanged) EventType() string      { return TypeSupplierChanged }
func (CostCardChanged) EventType() string      { return TypeCostCardChanged }
func (RouteTableChanged) EventType() string    { return TypeRouteTableChanged }
func (NumberingPlanChanged) EventType() string { return TypeNumberingPlanChanged }
func (PortabilityChanged) EventType() string   { return TypePortabilityChanged }
func (FXTableChanged) EventType() string       { return TypeFXTableChanged }
func (MessageAccepted) EventType() string      { return TypeMessageAccepted }
func (RouteSelected) EventType() string        { return TypeRouteSelected }
func (SubmittedToSupplier) EventType() string  { return TypeSubmittedToSupplier }
func (SupplierAccepted) EventType() string     { return TypeSupplierAccepted }
func (SupplierRejected) EventType() string     { return TypeSupplierRejected }
func (SupplierTimedOut) EventType() string     { return TypeSupplierTimedOut }
func (FailedOver) EventType() string           { return TypeFailedOver }
func (DeliveryReported) EventType() string     { return TypeDeliveryReported }
func (DeliveryForwarded) EventType() string    { return TypeDeliveryForwarded }
func (MessageExpired) EventType() string       { return TypeMessageExpired }
func (MessageFailed) EventType() string        { return TypeMessageFailed }
func (Held) EventType() string                 { return TypeHeld }
func (Settled) EventType() string              { return TypeSettled }
func (Released) EventType() string             { return TypeReleased }
func (JournalEntryRecorded) EventType() string { return TypeJournalEntryRecorded }
func (SupplierCostBooked) EventType() string   { return TypeSupplierCostBooked }
func (ApiKeyRevoked) EventType() string        { return TypeApiKeyRevoked }
func (AdjustmentRecorded) EventType() string   { return TypeAdjustmentRecorded }
func (TenantNumbersChanged) EventType() string { return TypeTenantNumbersChanged }
func (MOReceived) EventType() string           { return TypeMOReceived }
func (MOForwarded) EventType() string          { return TypeMOForwarded }

// ---------------------------------------------------------------------------
// A cluster: several serve nodes on one log (docs/ARCHITECTURE.md,
// "Cluster"). Membership facts live in the cluster stream, appended with
// exact expected versions so that a join and a takeover of the same node
// are ordered; budget leases live in the tenant's stream, appended with its
// exact expected version so that the leases never add up to more than the
// tenant's available balance.

// NodeJoined: a node (re)started as a member of the cluster; Epoch is its
// membership epoch (one more at each join). The messages it accepted
// before are still its own unless a NodeTakenOver of it came first.
type NodeJoined struct {
	Node  string    `json:"node"`
	Epoch int64     `json:"epoch"`
	At    time.Time `json:"at"`
}

// NodeTakenOver: By took over Node (of Epoch), whose lease expired: every
// unfinished message Node owned and every budget lease it held are By's
// from here on.
type NodeTakenOver struct {
	Node  string    `json:"node"`
	Epoch int64     `json:"epoch"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// DispatchHandedOver: Node, which drove the message, gives its sending to
// To, a node with a bind of the message's current supplier (Node has
// none: the supplier's binds are fewer than the nodes). To drives it from
// here on, as its owner; the message's state does not change.
type DispatchHandedOver struct {
	MessageID  uuid.UUID `json:"message_id"`
	Node       string    `json:"node"`
	To         string    `json:"to"`
	SupplierID string    `json:"supplier_id"`
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
}

// SubmitWithdrawn: the submit_sm of Attempt, recorded as sent to
// SupplierID, never left Node: it still waited in Node's queue for the
// supplier when Node stopped binding it (its share of a cluster's binds
// moved to other nodes). The message is routed again, to the same
// supplier, as Attempt+1, for a node with a bind to send (a
// DispatchHandedOver follows); no answer to Attempt can come.
type SubmitWithdrawn struct {
	MessageID  uuid.UUID `json:"message_id"`
	SupplierID string    `json:"supplier_id"`
	Attempt    int       `json:"attempt"` // the withdrawn attempt; the next is Attempt+1
	Node       string    `json:"node"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// BudgetLeased: Node may hold up to Amount more of the tenant's money. The
// sum of every node's unspent lease never exceeds the tenant's available
// balance (balance + credit limit − holds outside leases).
type BudgetLeased struct {
	TenantID string          `json:"tenant_id"`
	Node     string          `json:"node"`
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	At       time.Time       `json:"at"`
}

// BudgetReturned: Amount of Node's unused lease goes back to the tenant.
// ID names the return (the returning node's own record of it).
type BudgetReturned struct {
	TenantID string          `json:"tenant_id"`
	Node     string          `json:"node"`
	Amount   decimal.Decimal `json:"amount"`
	Currency string          `json:"currency"`
	ID       uuid.UUID       `json:"id"`
	At       time.Time       `json:"at"`
}

// EventType of the cluster's events.
func (NodeJoined) EventType() string         { return TypeNodeJoined }
func (DispatchHandedOver) EventType() string { return TypeDispatchHandedOver }
func (SubmitWithdrawn) EventType() string    { return TypeSubmitWithdrawn }
func (NodeTakenOver) EventType() string      { return TypeNodeTakenOver }
func (BudgetLeased) EventType() string       { return TypeBudgetLeased }
func (BudgetReturned) EventType() string     { return TypeBudgetReturned }

// EventType of the controls' events.
func (TenantControlsChanged) EventType() string { return TypeTenantControlsChanged }
func (GlobalControlsChanged) EventType() string { return TypeGlobalControlsChanged }
func (SubmitRefused) EventType() string         { return TypeSubmitRefused }

// WeightList reads r.Weights ("70 30") as integers; empty gives nil.
func (r Route) WeightList() ([]int, error) {
	fields := strings.Fields(r.Weights)
	if len(fields) == 0 {
		return nil, nil
	}
	out := make([]int, len(fields))
	for i, f := range fields {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("weights %q: integers separated by spaces", r.Weights)
		}
		out[i] = n
	}
	return out, nil
}

// FormatWeights is Route.Weights' form of traffic shares: "70 30".
func FormatWeights(w []int) string {
	parts := make([]string, len(w))
	for i, n := range w {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, " ")
}
