package projections

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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

type healthKey struct {
	supplier string
	bucket   time.Time
}

type healthCounters struct {
	submits, accepted, rejected, timeouts, failovers, dlrFinal, dlrDelivered, latencySum int64
	hist                                                                                 []int64
}

type supplierRow struct {
	name, currency string
	enabled        bool
}

func (*routeHealth) apply(ctx context.Context, tx pgx.Tx, schema string, evs []Event) error {
	s := ident(schema)
	counters := map[healthKey]*healthCounters{}
	get := func(supplier string, at time.Time) *healthCounters {
		k := healthKey{supplier, at.UTC().Truncate(time.Minute)}
		c := counters[k]
		if c == nil {
			c = &healthCounters{hist: make([]int64, histBuckets)}
			counters[k] = c
		}
		return c
	}
	suppliers := map[string]supplierRow{}
	for i := range evs {
		switch e := evs[i].Data.(type) {
		case events.SupplierCreated:
			suppliers[e.SupplierID] = supplierRow{name: e.Name, currency: e.Currency, enabled: true}
		case events.SupplierChanged:
			suppliers[e.SupplierID] = supplierRow{name: e.Name, currency: suppliers[e.SupplierID].currency, enabled: e.Enabled}
		case events.SubmittedToSupplier:
			get(e.SupplierID, e.At).submits++
		case events.SupplierAccepted:
			c := get(e.SupplierID, e.At)
			c.accepted++
			lat := max(e.LatencyMs, 0)
			c.latencySum += lat
			c.hist[latencyBucket(lat)]++
		case events.SupplierRejected:
			get(e.SupplierID, e.At).rejected++
		case events.SupplierTimedOut:
			get(e.SupplierID, e.At).timeouts++
		case events.FailedOver:
			get(e.FromSupplierID, e.At).failovers++
		case events.DeliveryReported:
			if message.DLRFinal(e.Status) {
				c := get(e.SupplierID, e.At)
				c.dlrFinal++
				if e.Status == message.DLRDelivered {
					c.dlrDelivered++
				}
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
	if len(counters) == 0 {
		return nil
	}
	n := len(counters)
	sup, buckets, hists := make([]string, 0, n), make([]time.Time, 0, n), make([]string, 0, n)
	var cols [8][]int64
	for k, c := range counters {
		sup, buckets = append(sup, k.supplier), append(buckets, k.bucket)
		for i, v := range []int64{c.submits, c.accepted, c.rejected, c.timeouts, c.failovers, c.dlrFinal, c.dlrDelivered, c.latencySum} {
			cols[i] = append(cols[i], v)
		}
		hists = append(hists, histText(c.hist))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.route_health AS h (supplier_id, bucket, submits, accepted, rejected, timeouts,
			failovers, dlr_final, dlr_delivered, latency_sum_ms, latency_hist)
		SELECT sup, b, s1, s2, s3, s4, s5, s6, s7, s8, hist::bigint[]
		FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
			$8::bigint[], $9::bigint[], $10::bigint[], $11::text[]) AS u(sup, b, s1, s2, s3, s4, s5, s6, s7, s8, hist)
		ON CONFLICT (supplier_id, bucket) DO UPDATE SET
			submits = h.submits + EXCLUDED.submits, accepted = h.accepted + EXCLUDED.accepted,
			rejected = h.rejected + EXCLUDED.rejected, timeouts = h.timeouts + EXCLUDED.timeouts,
			failovers = h.failovers + EXCLUDED.failovers, dlr_final = h.dlr_final + EXCLUDED.dlr_final,
			dlr_delivered = h.dlr_delivered + EXCLUDED.dlr_delivered,
			latency_sum_ms = h.latency_sum_ms + EXCLUDED.latency_sum_ms,
			latency_hist = smsledger_add_hist(h.latency_hist, EXCLUDED.latency_hist)`,
		sup, buckets, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], hists); err != nil {
		return fmt.Errorf("upsert route health: %w", err)
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
