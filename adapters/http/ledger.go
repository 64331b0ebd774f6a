package httpapi

import (
	"context"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/eventstore"
)

// Ledger is what the HTTP API uses of the ledger's application service:
// exactly the methods it calls. *ledger.Service implements it; tests may
// pass a stand-in.
type Ledger interface {
	// Tenants: authentication, the hot path and their queries.
	AuthenticateAPIKey(ctx context.Context, key string) (tenantID string, err error)
	Submit(ctx context.Context, tenantID string, req accept.Request) (ledger.Accepted, error)
	Message(ctx context.Context, tenantID string, id uuid.UUID) (ledger.MessageView, error)
	MessageEvents(ctx context.Context, tenantID string, id uuid.UUID) ([]ledger.EventView, error)
	Balance(tenantID string) (ledger.BalanceView, error)
	Tenant(id string) (ledger.TenantInfo, error)
	TenantAccess(id string) (ledger.Access, error)
	Supplier(id string) (ledger.SupplierInfo, error)
	Webhook(tenantID string) (url, secret string, ok bool)

	// Operators: configuration and money commands.
	CreateTenant(ctx context.Context, spec ledger.TenantSpec) error
	SetSmppCredentials(ctx context.Context, tenantID, systemID, password string) error
	IssueAPIKey(ctx context.Context, tenantID string) (key, keyID string, err error)
	TopUp(ctx context.Context, tenantID string, amount decimal.Decimal, reference string) (ledger.TopUpResult, error)
	SetRates(ctx context.Context, tenantID string, rates []events.Rate) error
	SetWebhook(ctx context.Context, tenantID, rawURL, secret string) error
	RemoveWebhook(ctx context.Context, tenantID string) error
	CreateSupplier(ctx context.Context, spec ledger.SupplierSpec) error
	SetCosts(ctx context.Context, supplierID string, costs []events.Cost) error
	SetRoutes(ctx context.Context, routes []events.Route) error

	// Administration (admin_tenants.go, admin_keys.go, admin_suppliers.go,
	// admin_numbering.go).
	tenantAdmin
	keyAdmin
	fxAdmin
	supplierAdmin
	controlsAdmin
	numberingAdmin
	numbersAdmin

	// Probes and metrics.
	Ready() bool
	Position() eventstore.Position
	OutboxDropped() uint64
	RefusalAuditDropped() uint64
	UnfinishedCount() int
}

var _ Ledger = (*ledger.Service)(nil)
