package httpapi

import (
	"encoding/json"

	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
)

// A message as its tenant sees it (API key) and as an operator sees it
// (admin token). The tenant's view has no supplier identity and no supplier
// cost: the supplier, its message id, the route (prefix or network) and
// the cost are left out of GET /v1/messages/{id}, and each event of GET
// …/events keeps only the members of its type's allow-list below (a type
// not listed keeps none): every event stays in the list, with its type,
// version, position and recorded_at, so that the trail's shape (attempts,
// failovers, the final outcome) is the tenant's to read, never whom it
// went through or what it cost us. Its destination's network (mccmnc,
// country, operator) is its own to see; the route's network is not. The
// admin view is the whole message with the margin.

// tenantMessage is the tenant's view of a message.
func tenantMessage(v ledger.MessageView) ledger.MessageView {
	v.Supplier, v.SupplierMessageID, v.RoutePrefix, v.RouteMCCMNC = "", "", "", ""
	v.Cost, v.CostCurrency = "", ""
	return v
}

// adminMessage is an operator's view: the whole message and the margin
// (price − cost, when both are in one currency).
type adminMessage struct {
	ledger.MessageView
	Margin string `json:"margin,omitempty"`
}

func adminView(v ledger.MessageView) adminMessage {
	out := adminMessage{MessageView: v}
	if v.Cost != "" && v.CostCurrency == v.Currency {
		price, err1 := decimal.NewFromString(v.Price)
		cost, err2 := decimal.NewFromString(v.Cost)
		if err1 == nil && err2 == nil {
			out.Margin = price.Sub(cost).String()
		}
	}
	return out
}

// tenantEventFields lists, per event type, the data members a tenant sees.
var tenantEventFields = func() map[string]map[string]bool {
	common := []string{"schema", "message_id", "at"}
	lists := map[string][]string{
		events.TypeMessageAccepted: {"tenant_id", "channel", "from", "to", "text", "encoding", "parts", "rate_prefix",
			"price_per_part", "price", "currency", "billing", "registered_delivery", "receipt_on_failure_only",
			"tenant_reference", "expires_at", "send_at", "client_ref", "idempotency_key",
			// Its price's network row and the destination's network: its own.
			"rate_mccmnc", "mccmnc", "country", "operator", "network_source"},
		events.TypeRouteSelected:        {"tier"},
		events.TypeSubmittedToSupplier:  {"attempt"},
		events.TypeSupplierAccepted:     {"attempt", "latency_ms"},
		events.TypeSupplierRejected:     {"attempt", "command_status"},
		events.TypeSupplierTimedOut:     {"attempt", "timeout_ms"},
		events.TypeFailedOver:           {"attempt", "reason"},
		events.TypeDispatchHandedOver:   {"attempt"},
		events.TypeSubmitWithdrawn:      {"attempt"},
		events.TypeDeliveryReported:     {"status", "error_code", "done_at"},
		events.TypeDeliveryForwarded:    {"tenant_id", "status"},
		events.TypeMessageExpired:       {},
		events.TypeMessageFailed:        {"reason"},
		events.TypeHeld:                 {"tenant_id", "amount", "currency"},
		events.TypeSettled:              {"tenant_id", "held", "price", "currency"},
		events.TypeReleased:             {"tenant_id", "amount", "currency", "reason"},
		events.TypeSupplierCostBooked:   {},
		events.TypeJournalEntryRecorded: {"entry_id", "kind", "tenant_id", "reference"},

		// A message a control refused: why, in the tenant's own terms.
		events.TypeSubmitRefused: {"tenant_id", "channel", "from", "to", "code", "rule"},
	}
	out := make(map[string]map[string]bool, len(lists))
	for typ, fields := range lists {
		m := make(map[string]bool, len(fields)+len(common))
		for _, f := range append(fields, common...) {
			m[f] = true
		}
		out[typ] = m
	}
	return out
}()

// tenantEvents filters each event's data to its type's allow-list.
func tenantEvents(evs []ledger.EventView) []ledger.EventView {
	out := make([]ledger.EventView, len(evs))
	for i, e := range evs {
		out[i] = e
		out[i].Data = filterData(e.Data, tenantEventFields[e.Type])
	}
	return out
}

func filterData(data json.RawMessage, allowed map[string]bool) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return json.RawMessage(`{}`)
	}
	for k := range m {
		if !allowed[k] {
			delete(m, k)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

// tenantHiddenCDRColumns are the CDR columns a tenant's key does not get:
// whom its messages went through and what they cost us — as its message
// view and audit trail hide them (D61).
var tenantHiddenCDRColumns = map[string]bool{
	"supplier_id": true, "supplier_message_id": true, "cost": true, "cost_currency": true, "cost_booked_at": true,
}

// tenantCDRPage is a CDR page without tenantHiddenCDRColumns.
func tenantCDRPage(p CDRPage) CDRPage {
	keep := make([]int, 0, len(p.Columns))
	for i, c := range p.Columns {
		if !tenantHiddenCDRColumns[c] {
			keep = append(keep, i)
		}
	}
	if len(keep) == len(p.Columns) {
		return p
	}
	out := CDRPage{Columns: make([]string, len(keep)), Rows: make([][]string, len(p.Rows)), NextCursor: p.NextCursor}
	for j, i := range keep {
		out.Columns[j] = p.Columns[i]
	}
	for r, row := range p.Rows {
		nr := make([]string, 0, len(keep))
		for _, i := range keep {
			if i < len(row) {
				nr = append(nr, row[i])
			}
		}
		out.Rows[r] = nr
	}
	return out
}
