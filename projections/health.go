package projections

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
)

// LatencyBoundsMs are the upper bounds (inclusive) of the submit_sm_resp
// latency histogram buckets; a last, unbounded bucket follows.
var LatencyBoundsMs = []int64{5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}

// histBuckets is the number of histogram buckets (bounded ones + overflow).
var histBuckets = len(LatencyBoundsMs) + 1

func latencyBucket(ms int64) int {
	for i, b := range LatencyBoundsMs {
		if ms <= b {
			return i
		}
	}
	return len(LatencyBoundsMs)
}

// routeHealth projects per-supplier, per-minute counters (by event time,
// so a replay reproduces them) and the supplier list.
type routeHealth struct{}

func (*routeHealth) name() string { return ProjectorRouteHealth }

// healthKey is one row of a health table: a supplier's minute bucket, on
// a destination (a network or a route prefix) in the per-destination
// tables, dest empty in route_health.
type healthKey struct {
	supplier, dest string
	bucket         time.Time
}

type healthCounters struct {
	submits, accepted, rejected, timeouts, failovers, dlrFinal, dlrDelivered, latencySum int64
	hist                                                                                 []int64
}

// healthTally gathers one batch's counters per row of one health table.
type healthTally map[healthKey]*healthCounters

func (t healthTally) get(supplier, dest string, at time.Time) *healthCounters {
	k := healthKey{supplier, dest, at.UTC().Truncate(time.Minute)}
	c := t[k]
	if c == nil {
		c = &healthCounters{hist: make([]int64, histBuckets)}
		t[k] = c
	}
	return c
}

// healthHit is what one traffic event adds to a supplier's health.
type healthHit struct {
	supplier string
	message  uuid.UUID
	at       time.Time
	kind     hitKind
	latency  int64 // hitAccepted: submit_sm_resp latency
}

type hitKind uint8

const (
	hitSubmit hitKind = iota
	hitAccepted
	hitRejected
	hitTimeout
	hitFailover
	hitDLRFinal     // a final DLR, not delivered
	hitDLRDelivered // a final DLR, delivered
)

// healthHitOf returns what an event adds to route health, false for an
// event that adds nothing (including a DLR that is not final).
func healthHitOf(data events.Event) (healthHit, bool) {
	switch e := data.(type) {
	case events.SubmittedToSupplier:
		return healthHit{supplier: e.SupplierID, message: e.MessageID, at: e.At, kind: hitSubmit}, true
	case events.SupplierAccepted:
		return healthHit{supplier: e.SupplierID, message: e.MessageID, at: e.At, kind: hitAccepted, latency: max(e.LatencyMs, 0)}, true
	case events.SupplierRejected:
		return healthHit{supplier: e.SupplierID, message: e.MessageID, at: e.At, kind: hitRejected}, true
	case events.SupplierTimedOut:
		return healthHit{supplier: e.SupplierID, message: e.MessageID, at: e.At, kind: hitTimeout}, true
	case events.FailedOver:
		return healthHit{supplier: e.FromSupplierID, message: e.MessageID, at: e.At, kind: hitFailover}, true
	case events.DeliveryReported:
		if !message.DLRFinal(e.Status) {
			return healthHit{}, false
		}
		kind := hitDLRFinal
		if e.Status == message.DLRDelivered {
			kind = hitDLRDelivered
		}
		return healthHit{supplier: e.SupplierID, message: e.MessageID, at: e.At, kind: kind}, true
	}
	return healthHit{}, false
}

func (c *healthCounters) add(h healthHit) {
	switch h.kind {
	case hitSubmit:
		c.submits++
	case hitAccepted:
		c.accepted++
		c.latencySum += h.latency
		c.hist[latencyBucket(h.latency)]++
	case hitRejected:
		c.rejected++
	case hitTimeout:
		c.timeouts++
	case hitFailover:
		c.failovers++
	case hitDLRFinal, hitDLRDelivered:
		c.dlrFinal++
		if h.kind == hitDLRDelivered {
			c.dlrDelivered++
		}
	}
}

type supplierRow struct {
	name, currency string
	enabled        bool
}

func (*routeHealth) apply(ctx context.Context, tx pgx.Tx, schema string, evs []Event) error {
	s := ident(schema)
	counters := healthTally{}
	suppliers := map[string]supplierRow{}
	for i := range evs {
		switch e := evs[i].Data.(type) {
		case events.SupplierCreated:
			suppliers[e.SupplierID] = supplierRow{name: e.Name, currency: e.Currency, enabled: true}
		case events.SupplierChanged:
			suppliers[e.SupplierID] = supplierRow{name: e.Name, currency: suppliers[e.SupplierID].currency, enabled: e.Enabled}
		default:
			if h, ok := healthHitOf(e); ok {
				counters.get(h.supplier, "", h.at).add(h)
			}
		}
	}
	if len(suppliers) > 0 {
		ids, names, curs := make([]string, 0, len(suppliers)), make([]string, 0, len(suppliers)), make([]string, 0, len(suppliers))
		enabled := make([]bool, 0, len(suppliers))
		for id, r := range suppliers {
			ids, names, curs, enabled = append(ids, id), append(names, r.name), append(curs, r.currency), append(enabled, r.enabled)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.suppliers AS t (supplier_id, name, currency, enabled)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[])
			ON CONFLICT (supplier_id) DO UPDATE SET name = EXCLUDED.name, enabled = EXCLUDED.enabled,
				currency = CASE WHEN EXCLUDED.currency <> '' THEN EXCLUDED.currency ELSE t.currency END`,
			ids, names, curs, enabled); err != nil {
			return fmt.Errorf("upsert suppliers: %w", err)
		}
	}
	return writeHealth(ctx, tx, s+".route_health", "", counters)
}

// writeHealth adds a batch's counters to a health table: route_health
// (destCol empty) or a per-destination one (destCol names its destination
// column).
func writeHealth(ctx context.Context, tx pgx.Tx, table, destCol string, counters healthTally) error {
	if len(counters) == 0 {
		return nil
	}
	n := len(counters)
	sup, dests, buckets, hists := make([]string, 0, n), make([]string, 0, n), make([]time.Time, 0, n), make([]string, 0, n)
	var cols [8][]int64
	for k, c := range counters {
		sup, dests, buckets = append(sup, k.supplier), append(dests, k.dest), append(buckets, k.bucket)
		for i, v := range []int64{c.submits, c.accepted, c.rejected, c.timeouts, c.failovers, c.dlrFinal, c.dlrDelivered, c.latencySum} {
			cols[i] = append(cols[i], v)
		}
		hists = append(hists, histText(c.hist))
	}
	keyCols, keyVals := "supplier_id", "sup"
	if destCol != "" {
		keyCols, keyVals = "supplier_id, "+destCol, "sup, dest"
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+table+` AS h (`+keyCols+`, bucket, submits, accepted, rejected, timeouts,
			failovers, dlr_final, dlr_delivered, latency_sum_ms, latency_hist)
		SELECT `+keyVals+`, b, s1, s2, s3, s4, s5, s6, s7, s8, hist::bigint[]
		FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
			$9::bigint[], $10::bigint[], $11::bigint[], $12::text[]) AS u(sup, dest, b, s1, s2, s3, s4, s5, s6, s7, s8, hist)
		ON CONFLICT (`+keyCols+`, bucket) DO UPDATE SET
			submits = h.submits + EXCLUDED.submits, accepted = h.accepted + EXCLUDED.accepted,
			rejected = h.rejected + EXCLUDED.rejected, timeouts = h.timeouts + EXCLUDED.timeouts,
			failovers = h.failovers + EXCLUDED.failovers, dlr_final = h.dlr_final + EXCLUDED.dlr_final,
			dlr_delivered = h.dlr_delivered + EXCLUDED.dlr_delivered,
			latency_sum_ms = h.latency_sum_ms + EXCLUDED.latency_sum_ms,
			latency_hist = smsledger_add_hist(h.latency_hist, EXCLUDED.latency_hist)`,
		sup, dests, buckets, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], hists); err != nil {
		return fmt.Errorf("upsert %s: %w", table, err)
	}
	return nil
}

func histText(h []int64) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range h {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	b.WriteByte('}')
	return b.String()
}

// How long the destination health projector remembers a message's network
// and route prefix (event time, from its acceptance or its send time,
// whichever is later): answers and DLRs within messageDestUse count per
// destination (later ones count for the supplier only), and the message's
// row is dropped once the newest event applied is messageDestKeep past
// it. The margin between the two makes what counts independent of where
// the batches end (live and replay split the log differently) unless
// events' times run out of log order by more than a day.
const (
	messageDestUse  = 48 * time.Hour
	messageDestKeep = 72 * time.Hour
)

// routeHealthDestinations projects the route_health counters per supplier
// × destination network (route_health_networks) and per supplier × route
// prefix (route_health_prefixes). A supplier's answers and DLRs do not name
// the destination, so it keeps each message's network (MessageAccepted)
// and route prefix (RouteSelected) in route_health_messages until its
// final DLR, or messageDestKeep (bounded by about three days of traffic).
type routeHealthDestinations struct{}

func (*routeHealthDestinations) name() string { return ProjectorRouteHealthDestinations }

// messageDest is a message's destination as route health keys it.
type messageDest struct {
	at             time.Time
	mccmnc, prefix string
	stored         bool // a row of route_health_messages holds it
}

func (*routeHealthDestinations) apply(ctx context.Context, tx pgx.Tx, schema string, evs []Event) error {
	s := ident(schema)
	dests, err := loadMessageDests(ctx, tx, s, evs)
	if err != nil {
		return err
	}
	changed := map[uuid.UUID]bool{} // to write (insert or update)
	var gone []pgtype.UUID          // stored rows to delete
	networks, prefixes := healthTally{}, healthTally{}
	var newest time.Time
	for i := range evs {
		switch e := evs[i].Data.(type) {
		case events.MessageAccepted:
			at := e.At
			if e.SendAt.After(at) {
				at = e.SendAt
			}
			newest = maxTime(newest, e.At)
			d := dests[e.MessageID]
			d.at, d.mccmnc = maxTime(d.at, at), e.MCCMNC
			dests[e.MessageID], changed[e.MessageID] = d, true
		case events.RouteSelected:
			newest = maxTime(newest, e.At)
			d := dests[e.MessageID]
			d.at, d.prefix = maxTime(d.at, e.At), e.RoutePrefix
			dests[e.MessageID], changed[e.MessageID] = d, true
		default:
			h, ok := healthHitOf(e)
			if !ok {
				continue
			}
			newest = maxTime(newest, h.at)
			d, ok := dests[h.message]
			if !ok || h.at.Sub(d.at) > messageDestUse {
				continue
			}
			if d.mccmnc != "" {
				networks.get(h.supplier, d.mccmnc, h.at).add(h)
			}
			if d.prefix != "" {
				prefixes.get(h.supplier, d.prefix, h.at).add(h)
			}
			if h.kind == hitDLRFinal || h.kind == hitDLRDelivered {
				// The message's last word on health: forget it.
				if d.stored {
					gone = append(gone, pgUUID(h.message))
				}
				delete(dests, h.message)
				delete(changed, h.message)
			}
		}
	}
	if err := writeMessageDests(ctx, tx, s, dests, changed, gone, newest); err != nil {
		return err
	}
	if err := writeHealth(ctx, tx, s+".route_health_networks", "mccmnc", networks); err != nil {
		return err
	}
	return writeHealth(ctx, tx, s+".route_health_prefixes", "route_prefix", prefixes)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// loadMessageDests reads the stored destinations of the messages evs
// route or get supplier answers and DLRs for.
func loadMessageDests(ctx context.Context, tx pgx.Tx, s string, evs []Event) (map[uuid.UUID]messageDest, error) {
	dests := map[uuid.UUID]messageDest{}
	seen := map[uuid.UUID]bool{}
	var ids []pgtype.UUID
	for i := range evs {
		var id uuid.UUID
		switch e := evs[i].Data.(type) {
		case events.MessageAccepted:
			seen[e.MessageID] = true // accepted in this batch: nothing stored yet
			continue
		case events.RouteSelected:
			id = e.MessageID
		default:
			h, ok := healthHitOf(e)
			if !ok {
				continue
			}
			id = h.message
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, pgUUID(id))
		}
	}
	if len(ids) == 0 {
		return dests, nil
	}
	rows, err := tx.Query(ctx, "SELECT message_id, at, mccmnc, route_prefix FROM "+s+".route_health_messages WHERE message_id = ANY($1)", ids)
	if err != nil {
		return nil, fmt.Errorf("look up message destinations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id pgtype.UUID
		d := messageDest{stored: true}
		if err := rows.Scan(&id, &d.at, &d.mccmnc, &d.prefix); err != nil {
			return nil, fmt.Errorf("look up message destinations: %w", err)
		}
		dests[uuid.UUID(id.Bytes)] = d
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up message destinations: %w", err)
	}
	return dests, nil
}

// writeMessageDests stores the destinations the batch learnt (a message
// with neither a network nor a route prefix needs no row), deletes those
// whose final DLR came, and prunes the rows messageDestKeep older than
// newest, the newest event time of the batch.
func writeMessageDests(ctx context.Context, tx pgx.Tx, s string, dests map[uuid.UUID]messageDest, changed map[uuid.UUID]bool, gone []pgtype.UUID, newest time.Time) error {
	var ids []pgtype.UUID
	var ats []time.Time
	var nets, prefixes []string
	for id := range changed {
		d := dests[id]
		if d.mccmnc == "" && d.prefix == "" && !d.stored {
			continue
		}
		ids, ats, nets, prefixes = append(ids, pgUUID(id)), append(ats, d.at), append(nets, d.mccmnc), append(prefixes, d.prefix)
	}
	if len(ids) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.route_health_messages AS m (message_id, at, mccmnc, route_prefix)
			SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[])
			ON CONFLICT (message_id) DO UPDATE SET at = EXCLUDED.at, mccmnc = EXCLUDED.mccmnc, route_prefix = EXCLUDED.route_prefix`,
			ids, ats, nets, prefixes); err != nil {
			return fmt.Errorf("store message destinations: %w", err)
		}
	}
	if len(gone) > 0 {
		if _, err := tx.Exec(ctx, "DELETE FROM "+s+".route_health_messages WHERE message_id = ANY($1)", gone); err != nil {
			return fmt.Errorf("forget message destinations: %w", err)
		}
	}
	if !newest.IsZero() {
		if _, err := tx.Exec(ctx, "DELETE FROM "+s+".route_health_messages WHERE at < $1", newest.Add(-messageDestKeep)); err != nil {
			return fmt.Errorf("prune message destinations: %w", err)
		}
	}
	return nil
}
