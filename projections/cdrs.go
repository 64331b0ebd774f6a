package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/eventstore"
)

// cdrs projects one row per message into monthly partitions of cdrs.
type cdrs struct {
	partitions map[string]bool // months whose partition this pipeline ensured
	// unlogged creates the partitions UNLOGGED (the bulk-load schema of a
	// replay; see smsledger_create_read_models).
	unlogged bool
}

func newCDRs() *cdrs { return &cdrs{partitions: map[string]bool{}} }

func (*cdrs) name() string { return ProjectorCDRs }

// stateOf is a message state as the CDR's state column holds it: the
// column holds domain/message.State values, and stateMOReceived for an MO.
func stateOf(st message.State) *string { return sp(string(st)) }

// Two states of a change that only the row can settle, for a change that
// does not hold its message's MessageAccepted (an earlier batch did): the
// UPDATE turns them into message.State values (see cdrs.update), as
// domain/message's Apply does.
const (
	// stateRouteSelected: routed, or scheduled when the row has a send_at.
	stateRouteSelected = "+route_selected"
	// stateFailedOver: routed, unless the row is scheduled (a failover
	// before the send time keeps the message scheduled).
	stateFailedOver = "+failed_over"
)

// stateMOReceived is the state of every MO's row (direction "mo"): an MO
// is final at its receipt; forwarded_at says when its tenant had it.
const stateMOReceived = "received"

// CDR directions: a message a tenant sent, or an MO a supplier delivered
// to a tenant's number.
const (
	directionMT = "mt"
	directionMO = "mo"
)

// routeSelected is the state a RouteSelected leaves: scheduled for a
// message accepted with a send_at, else routed.
func routeSelected(ch *cdrChange) *string {
	switch {
	case ch.acc == nil:
		return sp(stateRouteSelected)
	case !ch.acc.SendAt.IsZero():
		return stateOf(message.StateScheduled)
	}
	return stateOf(message.StateRouted)
}

// failedOver is the state a FailedOver leaves: the next candidate is
// routed, but a message still waiting for its send time stays scheduled.
func failedOver(ch *cdrChange) *string {
	switch {
	case ch.state == nil:
		return sp(stateFailedOver)
	case *ch.state == string(message.StateScheduled) || *ch.state == stateRouteSelected || *ch.state == stateFailedOver:
		return ch.state
	}
	return stateOf(message.StateRouted)
}

// cdrChange is what one batch changes in one message's CDR. Pointers are
// nil when unchanged.
type cdrChange struct {
	id   uuid.UUID
	acc  *events.MessageAccepted // set when the message was accepted in this batch
	mo   *events.MOReceived      // set when the MO was received in this batch
	last eventstore.Position     // the last event merged in (replay: when to write it)

	routePrefix, supplierID, costCurrency, state, errText, smid, dlrStatus *string
	attempts                                                               int
	cost                                                                   *decimal.Decimal
	routedAt, submittedAt, supplierAcceptedAt, dlrAt, doneAt, finalAt      *time.Time
	settledAt, releasedAt, forwardedAt, costBookedAt                       *time.Time
}

// bookCost notes the supplier's cost booked for the message: the CDR's
// cost is what was booked, and when (none until it is).
func (ch *cdrChange) bookCost(supplierID string, cost decimal.Decimal, currency string, at time.Time) {
	ch.supplierID, ch.cost, ch.costCurrency, ch.costBookedAt = sp(supplierID), &cost, sp(currency), tp(at)
}

func sp(s string) *string { return &s }

// orNull is s, or NULL when empty: a column that is not known (the
// destination's network outside the numbering plan) holds NULL, not an empty string.
func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
func tp(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}

func (c *cdrs) apply(ctx context.Context, tx pgx.Tx, schema string, evs []Event) error {
	changes := map[uuid.UUID]*cdrChange{}
	var order []*cdrChange
	err := collectCDRs(evs, func(id uuid.UUID) *cdrChange {
		ch := changes[id]
		if ch == nil {
			ch = &cdrChange{id: id}
			changes[id] = ch
			order = append(order, ch)
		}
		return ch
	})
	if err != nil {
		return err
	}
	return c.write(ctx, tx, schema, order)
}

// collectCDRs merges evs (in order) into the changes get returns: a later
// event's value replaces an earlier one's, attempts only grow. Applying the
// merged change to the row gives what applying the events one by one would.
func collectCDRs(evs []Event, get func(uuid.UUID) *cdrChange) error {
	for i := range evs {
		var ch *cdrChange
		switch e := evs[i].Data.(type) {
		case events.MessageAccepted:
			ch = get(e.MessageID)
			if ch.acc != nil {
				return fmt.Errorf("message %s accepted twice (position %d)", e.MessageID, evs[i].Position)
			}
			ch.acc = &e
			ch.state = stateOf(message.StateAccepted)
		case events.RouteSelected:
			ch = get(e.MessageID)
			ch.routePrefix, ch.supplierID, ch.routedAt, ch.state = sp(e.RoutePrefix), sp(e.Winner), tp(e.At), routeSelected(ch)
		case events.SubmittedToSupplier:
			ch = get(e.MessageID)
			ch.supplierID, ch.submittedAt, ch.state = sp(e.SupplierID), tp(e.At), stateOf(message.StateSubmitted)
			ch.attempts = max(ch.attempts, e.Attempt)
		case events.SupplierAccepted:
			ch = get(e.MessageID)
			ch.supplierID, ch.smid, ch.supplierAcceptedAt, ch.state = sp(e.SupplierID), sp(e.SupplierMessageID), tp(e.At), stateOf(message.StateSupplierAccepted)
		case events.SupplierRejected:
			ch = get(e.MessageID)
			ch.errText = sp(fmt.Sprintf("supplier %s rejected: command_status 0x%08x", e.SupplierID, e.CommandStatus))
			ch.state = stateOf(message.StateSubmitFailed)
		case events.SupplierTimedOut:
			ch = get(e.MessageID)
			ch.errText = sp(fmt.Sprintf("supplier %s timed out after %d ms", e.SupplierID, e.TimeoutMs))
			ch.state = stateOf(message.StateSubmitFailed)
		case events.SubmitWithdrawn: // never sent: routed again, to the same supplier
			ch = get(e.MessageID)
			ch.state = stateOf(message.StateRouted)
		case events.FailedOver:
			ch = get(e.MessageID)
			ch.supplierID, ch.state = sp(e.ToSupplierID), failedOver(ch)
		case events.DeliveryReported:
			ch = get(e.MessageID)
			ch.dlrStatus, ch.dlrAt = sp(e.Status), tp(e.At)
			if !e.DoneAt.IsZero() {
				ch.doneAt = tp(e.DoneAt)
			}
			if e.ErrorCode != "" && e.Status != message.DLRDelivered {
				ch.errText = sp("dlr " + e.Status + " err:" + e.ErrorCode)
			}
			if st, final := message.DLROutcome(e.Status); final {
				ch.state, ch.finalAt = stateOf(st), tp(e.At)
			}
		case events.MessageExpired:
			ch = get(e.MessageID)
			ch.state, ch.finalAt = stateOf(message.StateExpired), tp(e.At)
		case events.MessageFailed:
			ch = get(e.MessageID)
			ch.state, ch.finalAt, ch.errText = stateOf(message.StateFailed), tp(e.At), sp(e.Reason)
		case events.Settled:
			ch = get(e.MessageID)
			ch.settledAt, ch.supplierID = tp(e.At), sp(e.SupplierID)
			if e.CostCurrency != "" { // else the cost is booked apart (SupplierCostBooked)
				ch.bookCost(e.SupplierID, e.Cost, e.CostCurrency, e.At)
			}
		case events.SupplierCostBooked:
			ch = get(e.MessageID)
			ch.bookCost(e.SupplierID, e.Cost, e.CostCurrency, e.At)
		case events.Released:
			ch = get(e.MessageID)
			ch.releasedAt = tp(e.At)
		case events.DeliveryForwarded:
			ch = get(e.MessageID)
			ch.forwardedAt = tp(e.At)
		case events.MOReceived:
			ch = get(e.MessageID)
			if ch.acc != nil || ch.mo != nil {
				return fmt.Errorf("message %s received twice (position %d)", e.MessageID, evs[i].Position)
			}
			ch.mo = &e
		case events.MOForwarded:
			ch = get(e.MessageID)
			ch.forwardedAt = tp(e.At)
		}
		if ch != nil {
			ch.last = evs[i].Position
		}
	}
	return nil
}

// write inserts the CDRs of the changes that carry their MessageAccepted
// (or MOReceived) and updates the others' rows.
func (c *cdrs) write(ctx context.Context, tx pgx.Tx, schema string, order []*cdrChange) error {
	if len(order) == 0 {
		return nil
	}
	var inserts, updates []*cdrChange
	for _, ch := range order {
		if ch.acc != nil || ch.mo != nil {
			inserts = append(inserts, ch)
		} else {
			updates = append(updates, ch)
		}
	}
	if err := c.insert(ctx, tx, schema, inserts); err != nil {
		return err
	}
	return c.update(ctx, tx, schema, updates)
}

// monthOf is the partition month of an accepted_at.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// cdrFillfactor leaves a quarter of each CDR page free, so that updates
// which change no indexed column (sent, forwarded) are HOT: no index
// inserts (migrations/003_cdr_hot_updates.sql).
const cdrFillfactor = 75

// ensurePartitions creates the monthly partitions the months need.
func (c *cdrs) ensurePartitions(ctx context.Context, tx pgx.Tx, schema string, months map[time.Time]bool) error {
	sql := ""
	for m := range months {
		key := schema + "/" + m.Format("2006_01")
		if c.partitions[key] {
			continue
		}
		c.partitions[key] = true
		kind := "TABLE"
		if c.unlogged {
			kind = "UNLOGGED TABLE"
		}
		sql += fmt.Sprintf("CREATE %s IF NOT EXISTS %s.%s PARTITION OF %s.cdrs FOR VALUES FROM ('%s') TO ('%s') WITH (fillfactor = %d);\n", kind,
			ident(schema), pgx.Identifier{"cdrs_" + m.Format("2006_01")}.Sanitize(), ident(schema),
			m.Format("2006-01-02 15:04:05+00"), m.AddDate(0, 1, 0).Format("2006-01-02 15:04:05+00"), cdrFillfactor)
	}
	if sql == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create CDR partitions: %w", err)
	}
	return nil
}

var cdrColumns = []string{
	"message_id", "accepted_at", "tenant_id", "channel", "source", "destination", "prefix", "route_prefix",
	"parts", "encoding", "price_per_part", "price", "currency", "billing", "supplier_id", "attempts",
	"cost", "cost_currency", "state", "error", "supplier_message_id", "dlr_status", "expires_at",
	"routed_at", "submitted_at", "supplier_accepted_at", "dlr_at", "done_at", "final_at",
	"settled_at", "released_at", "forwarded_at", "client_ref", "send_at", "cost_booked_at", "direction",
	"mccmnc", "country", "operator",
}

func (c *cdrs) insert(ctx context.Context, tx pgx.Tx, schema string, chs []*cdrChange) error {
	if len(chs) == 0 {
		return nil
	}
	months := map[time.Time]bool{}
	rows := make([][]any, len(chs))
	keys := make([][]any, len(chs))
	for i, ch := range chs {
		if ch.mo != nil {
			rows[i], keys[i] = ch.moRow()
			months[monthOf(ch.mo.At)] = true
			continue
		}
		a := ch.acc
		at := a.At.UTC()
		months[monthOf(at)] = true
		var expires, sendAt *time.Time
		if !a.ExpiresAt.IsZero() {
			expires = tp(a.ExpiresAt)
		}
		if !a.SendAt.IsZero() {
			sendAt = tp(a.SendAt)
		}
		var clientRef *string
		if a.ClientRef != "" {
			clientRef = sp(a.ClientRef)
		}
		var cost any
		if ch.cost != nil {
			cost = numeric(*ch.cost)
		}
		rows[i] = []any{
			pgUUID(a.MessageID), at, a.TenantID, a.Channel, a.From, a.To, a.RatePrefix, ch.routePrefix,
			int32(a.Parts), a.Encoding, numeric(a.PricePerPart), numeric(a.Price), a.Currency, a.Billing, ch.supplierID, int32(ch.attempts),
			cost, ch.costCurrency, *ch.state, ch.errText, ch.smid, ch.dlrStatus, expires,
			ch.routedAt, ch.submittedAt, ch.supplierAcceptedAt, ch.dlrAt, ch.doneAt, ch.finalAt,
			ch.settledAt, ch.releasedAt, ch.forwardedAt, clientRef, sendAt, ch.costBookedAt, directionMT,
			orNull(a.MCCMNC), orNull(a.Country), orNull(a.Operator),
		}
		keys[i] = []any{pgUUID(a.MessageID), at}
	}
	if err := c.ensurePartitions(ctx, tx, schema, months); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, "cdr_keys"}, []string{"message_id", "accepted_at"}, pgx.CopyFromRows(keys)); err != nil {
		return fmt.Errorf("copy CDR keys: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, "cdrs"}, cdrColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("copy CDRs: %w", err)
	}
	return nil
}

// moRow is an MO's CDR (cdrColumns) and its key: the handset as source,
// the tenant's number (its digits) as destination, the supplier it came
// from, one part at the tenant's mo_price settled at its receipt, a cost
// of 0 (nothing is booked for the supplier), the state stateMOReceived
// (final at once) and forwarded_at when its tenant had it.
func (ch *cdrChange) moRow() (row, key []any) {
	e := ch.mo
	at := e.At.UTC()
	var errText *string
	if e.Unbilled {
		errText = sp("unbilled: the available balance did not cover mo_price")
	}
	zero := decimal.Zero
	row = []any{
		pgUUID(e.MessageID), at, e.TenantID, "smpp", e.From, strings.TrimPrefix(e.To, "+"), "", nil,
		int32(1), e.Encoding, numeric(e.Price), numeric(e.Price), e.Currency, "on_receipt", e.SupplierID, int32(0),
		numeric(zero), e.Currency, stateMOReceived, errText, nil, nil, nil,
		nil, nil, nil, nil, nil, &at,
		&at, nil, ch.forwardedAt, nil, nil, nil, directionMO,
		nil, nil, nil,
	}
	return row, []any{pgUUID(e.MessageID), at}
}

func (c *cdrs) update(ctx context.Context, tx pgx.Tx, schema string, chs []*cdrChange) error {
	if len(chs) == 0 {
		return nil
	}
	s := ident(schema)
	ids := make([]pgtype.UUID, len(chs))
	for i, ch := range chs {
		ids[i] = pgUUID(ch.id)
	}
	rows, err := tx.Query(ctx, "SELECT message_id, accepted_at FROM "+s+".cdr_keys WHERE message_id = ANY($1)", ids)
	if err != nil {
		return fmt.Errorf("look up CDR keys: %w", err)
	}
	acceptedAt := make(map[uuid.UUID]time.Time, len(chs))
	for rows.Next() {
		var id pgtype.UUID
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return fmt.Errorf("look up CDR keys: %w", err)
		}
		acceptedAt[uuid.UUID(id.Bytes)] = at
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up CDR keys: %w", err)
	}
	// One UPDATE, planned for its values (cdrUpdatePlanOn): "accepted_at =
	// ANY($2)" prunes it to the batch's months' partitions and reads only
	// the batch's rows there through the primary key. (A cached generic
	// plan read the whole partition per batch, or paired every batch row
	// with every CDR: see cdrUpdatePlanOn.)
	var (
		ats                                                         = make([]time.Time, 0, len(chs)) // ids' accepted_at
		routePrefix, supplierID, costCurrency, state, errText, smid []*string
		dlrStatus, cost                                             []*string
		attempts                                                    []int32
		routedAt, submittedAt, supplierAcceptedAt, dlrAt, doneAt    []*time.Time
		finalAt, settledAt, releasedAt, forwardedAt, costBookedAt   []*time.Time
	)
	for _, ch := range chs {
		at, ok := acceptedAt[ch.id]
		if !ok {
			return fmt.Errorf("message %s: events without MessageAccepted", ch.id)
		}
		var c *string
		if ch.cost != nil {
			c = sp(ch.cost.String())
		}
		ats = append(ats, at)
		routePrefix, supplierID, costCurrency = append(routePrefix, ch.routePrefix), append(supplierID, ch.supplierID), append(costCurrency, ch.costCurrency)
		state, errText, smid = append(state, ch.state), append(errText, ch.errText), append(smid, ch.smid)
		dlrStatus, cost, attempts = append(dlrStatus, ch.dlrStatus), append(cost, c), append(attempts, int32(ch.attempts))
		routedAt, submittedAt, supplierAcceptedAt = append(routedAt, ch.routedAt), append(submittedAt, ch.submittedAt), append(supplierAcceptedAt, ch.supplierAcceptedAt)
		dlrAt, doneAt, finalAt = append(dlrAt, ch.dlrAt), append(doneAt, ch.doneAt), append(finalAt, ch.finalAt)
		settledAt, releasedAt, forwardedAt = append(settledAt, ch.settledAt), append(releasedAt, ch.releasedAt), append(forwardedAt, ch.forwardedAt)
		costBookedAt = append(costBookedAt, ch.costBookedAt)
	}
	b := &pgx.Batch{}
	b.Queue(cdrUpdatePlanOn)
	b.Queue(cdrUpdateSQL(s), ids, ats, routePrefix, supplierID, costCurrency, state, errText, smid,
		dlrStatus, cost, attempts, routedAt, submittedAt, supplierAcceptedAt, dlrAt,
		doneAt, finalAt, settledAt, releasedAt, forwardedAt, costBookedAt)
	b.Queue(cdrUpdatePlanOff)
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("update CDRs: %w", err)
	}
	tag, err := br.Exec()
	if err != nil {
		br.Close()
		return fmt.Errorf("update CDRs: %w", err)
	}
	if int(tag.RowsAffected()) != len(chs) {
		br.Close()
		return fmt.Errorf("update CDRs: %d rows updated, want %d", tag.RowsAffected(), len(chs))
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("update CDRs: %w", err)
	}
	return nil
}

// cdrUpdatePlanOn and cdrUpdatePlanOff enclose the CDR UPDATE of a batch:
// it is planned for its own values (a custom plan), and the setting the
// transaction had is restored after it.
//
// Why: the statement joins the batch (an unnest of its arrays) to the
// batch's rows (the primary key, "accepted_at = ANY($2)"). A
// generic plan knows neither side's size and guesses "10 batch rows, 1 CDR
// row", and what it then chose depended on the partition's statistics when
// it was made, each time wrong with a cost that grows with the month:
//   - a scan of the whole partition as the outer side of a nested loop
//     (fixed by "accepted_at = ANY($2)", see update);
//   - a nested loop that unnested the whole batch once per CDR: n² for a
//     batch of n, 169 of a 185 ms statement for 279 CDRs at 1,040 msg/s
//     (auto_explain);
//   - under enable_nestloop off, a range scan of another index over the
//     month filtered by ANY($2): 16,393 rows read for 110 CDRs, 50 ms.
//
// The CDR projector then spent most of its time there, and its CPU and WAL
// stretched the appends' commits, which set the submit_sm_resp tail. A
// custom plan sees the batch's values: the partitions of other months are
// pruned at plan time, the unnest's size is known, and the primary key is
// the only index its conditions lead with. Planning costs well under a
// millisecond a batch.
const (
	cdrUpdatePlanOn = "SELECT set_config('smsledger.plan_cache_mode', current_setting('plan_cache_mode'), true), " +
		"set_config('plan_cache_mode', 'force_custom_plan', true)"
	cdrUpdatePlanOff = "SELECT set_config('plan_cache_mode', current_setting('smsledger.plan_cache_mode'), true)"
)

// cdrUpdateSQL is the UPDATE of a batch's CDRs in schema s (quoted): $1 message ids, $2 their accepted_at, $3..$21 the columns. Run
// it under cdrUpdatePlanOn.
func cdrUpdateSQL(s string) string {
	return `UPDATE ` + s + `.cdrs c SET
		route_prefix = coalesce(u.route_prefix, c.route_prefix),
		supplier_id = coalesce(u.supplier_id, c.supplier_id),
		cost_currency = coalesce(u.cost_currency, c.cost_currency),
		state = CASE u.state
			WHEN '` + stateRouteSelected + `' THEN CASE WHEN c.send_at IS NULL THEN 'routed' ELSE 'scheduled' END
			WHEN '` + stateFailedOver + `' THEN CASE WHEN c.state = 'scheduled' THEN 'scheduled' ELSE 'routed' END
			ELSE coalesce(u.state, c.state) END,
		error = coalesce(u.error, c.error),
		supplier_message_id = coalesce(u.smid, c.supplier_message_id),
		dlr_status = coalesce(u.dlr_status, c.dlr_status),
		cost = coalesce(u.cost::numeric, c.cost),
		attempts = greatest(c.attempts, u.attempts),
		routed_at = coalesce(u.routed_at, c.routed_at),
		submitted_at = coalesce(u.submitted_at, c.submitted_at),
		supplier_accepted_at = coalesce(u.supplier_accepted_at, c.supplier_accepted_at),
		dlr_at = coalesce(u.dlr_at, c.dlr_at),
		done_at = coalesce(u.done_at, c.done_at),
		final_at = coalesce(u.final_at, c.final_at),
		settled_at = coalesce(u.settled_at, c.settled_at),
		released_at = coalesce(u.released_at, c.released_at),
		forwarded_at = coalesce(u.forwarded_at, c.forwarded_at),
		cost_booked_at = coalesce(u.cost_booked_at, c.cost_booked_at)
	FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::text[], $11::int[], $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::timestamptz[],
		$16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::timestamptz[], $20::timestamptz[], $21::timestamptz[])
		AS u(id, accepted_at, route_prefix, supplier_id, cost_currency, state, error, smid,
			dlr_status, cost, attempts, routed_at, submitted_at, supplier_accepted_at, dlr_at,
			done_at, final_at, settled_at, released_at, forwarded_at, cost_booked_at)
	WHERE c.accepted_at = ANY($2) AND c.accepted_at = u.accepted_at AND c.message_id = u.id`
}
