package events

import (
	"strings"

	"github.com/google/uuid"
)

// Stream layout. Every event lives in exactly one stream:
//
//   - message-<uuid>: every event of one message — MessageAccepted,
//     RouteSelected, Held, the supplier attempts and answers, failovers,
//     DLRs, forwarding, expiry/failure, Settled/Released and the settlement
//     JournalEntryRecorded; and for an MO (a message a handset sent to a
//     tenant's number), MOReceived with its settlement JournalEntryRecorded,
//     then MOForwarded. Audit reads one stream; the accept batch is
//     appended with expected version "no stream", so messages never contend
//     with each other.
//   - tenant-<id>: TenantCreated/Changed, SmppCredentialsSet, ApiKeyIssued,
//     TopUpRecorded with its JournalEntryRecorded, RateCardChanged,
//     WebhookSet/WebhookRemoved, TenantNumbersChanged.
//   - supplier-<id>: SupplierCreated/Changed, CostCardChanged.
//   - routes: RouteTableChanged.
//   - numbering: NumberingPlanChanged, PortabilityChanged.
//   - fx: FXTableChanged.
//   - cluster: NodeJoined, NodeTakenOver (a tenant's BudgetLeased and
//     BudgetReturned are in its tenant stream).
//   - controls: GlobalControlsChanged (a tenant's TenantControlsChanged is
//     in its tenant stream; a refused submit's SubmitRefused is the whole
//     of its message stream).
//
// Balances, CDRs and route health are projections of the global order.
const (
	MessageStreamPrefix  = "message-"
	TenantStreamPrefix   = "tenant-"
	SupplierStreamPrefix = "supplier-"
	RoutesStreamName     = "routes"
	NumberingStreamName  = "numbering"
	FXStreamName         = "fx"
	ControlsStreamName   = "controls"
	ClusterStreamName    = "cluster"
)

// MessageStream names a message's stream.
func MessageStream(id uuid.UUID) string { return MessageStreamPrefix + id.String() }

// TenantStream names a tenant's configuration stream.
func TenantStream(tenantID string) string { return TenantStreamPrefix + tenantID }

// SupplierStream names a supplier's configuration stream.
func SupplierStream(supplierID string) string { return SupplierStreamPrefix + supplierID }

// RoutesStream names the route table's stream.
func RoutesStream() string { return RoutesStreamName }

// MessageIDFromStream parses the message id out of a message stream name.
func MessageIDFromStream(stream string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(stream, MessageStreamPrefix)
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil
}

// StreamOf returns the stream an event belongs in according to the layout
// above; ok is false for an event it cannot place (a JournalEntryRecorded
// with neither message nor tenant).
func StreamOf(e Event) (stream string, ok bool) {
	switch e := e.(type) {
	case TenantCreated:
		return TenantStream(e.TenantID), true
	case TenantChanged:
		return TenantStream(e.TenantID), true
	case SmppCredentialsSet:
		return TenantStream(e.TenantID), true
	case ApiKeyIssued:
		return TenantStream(e.TenantID), true
	case ApiKeyRevoked:
		return TenantStream(e.TenantID), true
	case AdjustmentRecorded:
		return TenantStream(e.TenantID), true
	case TopUpRecorded:
		return TenantStream(e.TenantID), true
	case RateCardChanged:
		return TenantStream(e.TenantID), true
	case WebhookSet:
		return TenantStream(e.TenantID), true
	case WebhookRemoved:
		return TenantStream(e.TenantID), true
	case SupplierCreated:
		return SupplierStream(e.SupplierID), true
	case SupplierChanged:
		return SupplierStream(e.SupplierID), true
	case CostCardChanged:
		return SupplierStream(e.SupplierID), true
	case RouteTableChanged:
		return RoutesStream(), true
	case NumberingPlanChanged, PortabilityChanged:
		return NumberingStreamName, true
	case FXTableChanged:
		return FXStreamName, true
	case TenantNumbersChanged:
		return TenantStream(e.TenantID), true
	case MOReceived:
		return MessageStream(e.MessageID), true
	case MOForwarded:
		return MessageStream(e.MessageID), true
	case TenantControlsChanged:
		return TenantStream(e.TenantID), true
	case GlobalControlsChanged:
		return ControlsStreamName, true
	case SubmitRefused:
		return MessageStream(e.MessageID), true
	case NodeJoined, NodeTakenOver:
		return ClusterStreamName, true
	case BudgetLeased:
		return TenantStream(e.TenantID), true
	case BudgetReturned:
		return TenantStream(e.TenantID), true
	case MessageAccepted:
		return MessageStream(e.MessageID), true
	case RouteSelected:
		return MessageStream(e.MessageID), true
	case SubmittedToSupplier:
		return MessageStream(e.MessageID), true
	case SupplierAccepted:
		return MessageStream(e.MessageID), true
	case SupplierRejected:
		return MessageStream(e.MessageID), true
	case SupplierTimedOut:
		return MessageStream(e.MessageID), true
	case FailedOver:
		return MessageStream(e.MessageID), true
	case DispatchHandedOver:
		return MessageStream(e.MessageID), true
	case SubmitWithdrawn:
		return MessageStream(e.MessageID), true
	case DeliveryReported:
		return MessageStream(e.MessageID), true
	case DeliveryForwarded:
		return MessageStream(e.MessageID), true
	case MessageExpired:
		return MessageStream(e.MessageID), true
	case MessageFailed:
		return MessageStream(e.MessageID), true
	case Held:
		return MessageStream(e.MessageID), true
	case Settled:
		return MessageStream(e.MessageID), true
	case Released:
		return MessageStream(e.MessageID), true
	case SupplierCostBooked:
		return MessageStream(e.MessageID), true
	case JournalEntryRecorded:
		if e.MessageID != uuid.Nil {
			return MessageStream(e.MessageID), true
		}
		if e.TenantID != "" {
			return TenantStream(e.TenantID), true
		}
	}
	return "", false
}
