package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/jackc/pgx/v5"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/projections"
	"github.com/smsledger/smsledger/projections/workload"
)

// findMsg is one message of the CDR find tests.
type findMsg struct {
	tenant, to, ref, supplier string
	at                        time.Time
	id                        uuid.UUID
}

// findMessages appends the accept (and, with a supplier, the routing) of
// each message in its own stream, runs the live projections until they
// have caught up, and returns the messages with their ids.
func findMessages(t *testing.T, e *env) []findMsg {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 3, 31, 22, 0, 0, 0, time.UTC) // two monthly partitions
	msgs := []findMsg{
		{tenant: "acme", to: "4915112345678", ref: "order-1", supplier: "sup1"},
		{tenant: "acme", to: "4915112345678", ref: "", supplier: "sup2"},
		{tenant: "beta", to: "4915112345678", ref: "order-1", supplier: "sup1"},
		{tenant: "acme", to: "4917000000000", ref: "order-2", supplier: ""},
		{tenant: "beta", to: "4915112345678", ref: "order-3", supplier: "sup2"},
		{tenant: "acme", to: "4915112345678", ref: "order-1", supplier: "sup1"},
	}
	for i := range msgs {
		m := &msgs[i]
		m.id, m.at = uuid.New(), at.Add(time.Duration(i)*30*time.Minute)
		evs := []events.Event{events.MessageAccepted{MessageID: m.id, TenantID: m.tenant, Channel: "http", From: "ACME", To: m.to,
			Text: "hi", Encoding: "gsm7", Parts: 1, RatePrefix: "49", PricePerPart: dd("0.05"), Price: dd("0.05"), Currency: "EUR",
			Billing: "on_submit", ClientRef: m.ref, At: m.at}}
		if m.supplier != "" {
			evs = append(evs, events.RouteSelected{MessageID: m.id, RoutePrefix: "49", Tier: "standard", Winner: m.supplier, Reason: "cheapest",
				Candidates: []events.RouteCandidate{{SupplierID: m.supplier, Preference: 1, CostPerPart: dd("0.02"), Currency: "EUR", Up: true, Eligible: true}}, At: m.at})
		}
		stream := events.MessageStream(m.id)
		data, err := workload.Encode(workload.Append{Stream: stream, Expected: eventstore.NoStream, Events: evs}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Append(ctx, stream, eventstore.NoStream, data...); err != nil {
			t.Fatal(err)
		}
	}
	rt, err := projections.StartWithOptions(ctx, e.store, e.pool, projections.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	waitForHead(t, e, rt)
	return msgs
}

// ids are the message ids of msgs that keep says, in accepted order.
func ids(msgs []findMsg, keep func(findMsg) bool) []uuid.UUID {
	var out []uuid.UUID
	for _, m := range msgs {
		if keep(m) {
			out = append(out, m.id)
		}
	}
	return out
}

// allPages reads every page of q, limit rows each, and returns the ids in
// order.
func allPages(t *testing.T, e *env, q projections.CDRQuery) []uuid.UUID {
	t.Helper()
	var out []uuid.UUID
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatalf("%+v: no end of pages", q)
		}
		page, err := projections.QueryCDRs(context.Background(), e.pool, q)
		if err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		for _, c := range page.CDRs {
			out = append(out, c.MessageID)
		}
		if page.NextCursor == "" {
			return out
		}
		q.Cursor = page.NextCursor
	}
}

// CDRs are found by destination, client_ref and supplier, alone or with a
// tenant, status and period, in accepted order, and a page size smaller
// than the find keeps every row once across the cursor's pages.
func TestCDRQueryFilters(t *testing.T) {
	e := newEnv(t)
	msgs := findMessages(t, e)
	cases := []struct {
		name string
		q    projections.CDRQuery
		keep func(findMsg) bool
	}{
		{"destination", projections.CDRQuery{Destination: "4915112345678"}, func(m findMsg) bool { return m.to == "4915112345678" }},
		{"destination and tenant", projections.CDRQuery{Destination: "4915112345678", TenantID: "acme"},
			func(m findMsg) bool { return m.to == "4915112345678" && m.tenant == "acme" }},
		{"client_ref", projections.CDRQuery{ClientRef: "order-1"}, func(m findMsg) bool { return m.ref == "order-1" }},
		{"client_ref and tenant", projections.CDRQuery{ClientRef: "order-1", TenantID: "beta"},
			func(m findMsg) bool { return m.ref == "order-1" && m.tenant == "beta" }},
		{"supplier", projections.CDRQuery{SupplierID: "sup2"}, func(m findMsg) bool { return m.supplier == "sup2" }},
		{"status", projections.CDRQuery{Status: "accepted"}, func(m findMsg) bool { return m.supplier == "" }},
		{"destination in a period", projections.CDRQuery{Destination: "4915112345678", From: msgs[1].at, To: msgs[5].at},
			func(m findMsg) bool {
				return m.to == "4915112345678" && !m.at.Before(msgs[1].at) && m.at.Before(msgs[5].at)
			}},
		{"nothing", projections.CDRQuery{Destination: "4915112345678", ClientRef: "order-2"}, func(findMsg) bool { return false }},
	}
	for _, tc := range cases {
		want := ids(msgs, tc.keep)
		for _, limit := range []int{100, 2, 1} {
			q := tc.q
			q.Limit = limit
			if got := allPages(t, e, q); !slices.Equal(got, want) {
				t.Errorf("%s, pages of %d: %v, want %v", tc.name, limit, got, want)
			}
		}
	}
}

// A find by destination or client_ref reads its index, also in the
// generic plan a prepared statement ends up with: never every CDR row.
func TestCDRFindUsesItsIndex(t *testing.T) {
	e := newEnv(t)
	findMessages(t, e)
	for _, tc := range []struct {
		q     projections.CDRQuery
		index string
	}{
		{projections.CDRQuery{Destination: "4915112345678"}, "destination_accepted_at_message_id_idx"},
		{projections.CDRQuery{ClientRef: "order-1"}, "client_ref_accepted_at_message_id_idx"},
		{projections.CDRQuery{ClientRef: "order-1", TenantID: "acme", Status: "routed", From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}, "client_ref_accepted_at_message_id_idx"},
	} {
		sql, args := projections.CDRQuerySQL(tc.q)
		text := genericPlan(t, e, sql, args)
		if !strings.Contains(text, tc.index) || strings.Contains(text, "Seq Scan") || !strings.Contains(text, "$1") {
			t.Errorf("%+v: the plan does not read %s:\n%s", tc.q, tc.index, text)
		}
	}
}

// genericPlan is the plan PostgreSQL makes of sql for any value of its
// parameters (the plan a prepared statement ends up with), without
// sequential scans where an index can do: on a handful of rows the planner
// rightly reads the table; the question is whether the query can use the
// index at all.
func genericPlan(t *testing.T, e *env, sql string, args []any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan; PREPARE find AS "+sql); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = tx.Exec(ctx, "DEALLOCATE find") }()
	rows, err := tx.Query(ctx, "EXPLAIN EXECUTE find("+literals(args)+")")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// literals are args as SQL literals (of the tests' own values).
func literals(args []any) string {
	out := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			out[i] = strconv.Itoa(v)
		case time.Time:
			out[i] = "'" + v.UTC().Format(time.RFC3339Nano) + "'"
		default:
			out[i] = "'" + strings.ReplaceAll(fmt.Sprint(v), "'", "''") + "'"
		}
	}
	return strings.Join(out, ", ")
}

// A replay's fresh schema gets the find indexes too.
func TestReplaySchemaHasTheFindIndexes(t *testing.T) {
	e := newEnv(t)
	findMessages(t, e)
	ctx := context.Background()
	if _, err := projections.Replay(ctx, e.store, e.pool, projections.ReplayOptions{Schema: "rm_find", Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	for _, schema := range []string{projections.LiveSchema, "rm_find"} {
		var n int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND tablename = 'cdrs'
			AND (indexdef LIKE '%(destination, accepted_at, message_id)' OR indexdef LIKE '%(client_ref, accepted_at, message_id) WHERE (client_ref IS NOT NULL)')`,
			schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("schema %s: %d of the 2 find indexes on cdrs", schema, n)
		}
	}
}

// The CDR projector's UPDATE reads on the CDR side only the rows of its
// batch, also with the plan it cached while the month's partition was new
// and unanalysed: such a plan once scanned the whole partition for every
// batch (a nested loop with the partition outside), which grew with the
// month until the projections fell minutes behind.
func TestCDRUpdateReadsOnlyItsBatch(t *testing.T) {
	e := newEnv(t)
	msgs := findMessages(t, e) // March and April 2026 partitions, a few rows each
	// Prepared now, on the near-empty partition; then the month fills up.
	tx, off := prepareCDRUpdate(t, e)
	fillApril(t, tx, "http")
	m := msgs[len(msgs)-1] // an April message
	id, at := m.id.String(), m.at.UTC().Format(time.RFC3339Nano)
	root, plan := explainCDRUpdate(t, tx, off, "'{"+id+"}'", "'{"+at+"}'", "'{NULL}'", "'{1}'", "'{NULL}'")
	read := 0.0
	var walk func(n planNode)
	walk = func(n planNode) {
		if strings.HasPrefix(n.Relation, "cdrs") && n.Type != "ModifyTable" {
			read += n.ActualRows * n.ActualLoops
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(root)
	if read != 1 {
		t.Fatalf("the UPDATE of 1 CDR read %v CDR rows of a 5,000-row month:\n%s", read, plan)
	}
}

// The CDR UPDATE joins its batch to the batch's CDRs reading each side
// once and pairing each row once. Under a generic plan it knows the size of
// neither, and without its settings it chose nested loops that compare
// every batch row with every CDR: n² pairs for a batch of n (in production
// the unnest of 21 arrays was even redone per CDR: 169 of a 185 ms
// statement for 279 CDRs at 1,040 msg/s, which set the submit_sm_resp
// tail; here a Materialize of the CDRs). Nor does it read the partitions
// of other months (a generic plan cannot prune them, and there is one more
// each month).
func TestCDRUpdateReadsItsBatchOnce(t *testing.T) {
	e := newEnv(t)
	findMessages(t, e) // March and April 2026 partitions
	ctx := context.Background()
	tx, off := prepareCDRUpdate(t, e)
	// Statistics of the new month (a few rows), and a first batch run on
	// them: a cached plan would be made now and kept.
	if _, err := tx.Exec(ctx, "ANALYZE readmodel.cdrs_2026_04"); err != nil {
		t.Fatal(err)
	}
	first := []string{"'{}'", "'{}'"}
	for range 19 {
		first = append(first, "'{}'")
	}
	if _, err := tx.Exec(ctx, "EXECUTE upd("+strings.Join(first, ", ")+")"); err != nil {
		t.Fatal(err)
	}
	fillApril(t, tx, "fill") // the month fills up
	const batch = 300
	var ids, ats string
	if err := tx.QueryRow(ctx, `SELECT array_agg(message_id ORDER BY accepted_at)::text, array_agg(accepted_at ORDER BY accepted_at)::text
		FROM (SELECT message_id, accepted_at FROM readmodel.cdrs WHERE channel = 'fill'
			ORDER BY accepted_at LIMIT $1) b`, batch).Scan(&ids, &ats); err != nil {
		t.Fatal(err)
	}
	n := strconv.Itoa(batch)
	root, plan := explainCDRUpdate(t, tx, off, "'"+ids+"'", "'"+ats+"'",
		"array_fill(NULL::text, ARRAY["+n+"])", "array_fill(2, ARRAY["+n+"])", "array_fill(NULL::timestamptz, ARRAY["+n+"])")
	var mode string
	if err := tx.QueryRow(ctx, "SELECT current_setting('plan_cache_mode')").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "force_generic_plan" {
		t.Errorf("after the CDR UPDATE plan_cache_mode = %s, want the batch's force_generic_plan back", mode)
	}
	cdrRows, batchRows, pairs := 0.0, 0.0, 0.0
	var others []string // partitions of other months the plan reads
	var walk func(n planNode)
	walk = func(n planNode) {
		pairs += n.JoinFiltered
		switch {
		case n.Type == "Function Scan":
			batchRows += n.ActualRows * n.ActualLoops
		case strings.HasPrefix(n.Relation, "cdrs") && n.Type != "ModifyTable":
			cdrRows += n.ActualRows * n.ActualLoops
			if n.Relation != "cdrs_2026_04" {
				others = append(others, n.Relation)
			}
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	walk(root)
	if batchRows != batch || cdrRows != batch || pairs != 0 || len(others) > 0 {
		t.Fatalf("the UPDATE of %d CDRs of April read %v batch rows and %v CDR rows (want %d each), dropped %v pairs (want 0) "+
			"and read the partitions %v (want none but April's):\n%s", batch, batchRows, cdrRows, batch, pairs, others, plan)
	}
	var updated int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM readmodel.cdrs WHERE channel = 'fill' AND attempts = 2").Scan(&updated); err != nil {
		t.Fatal(err)
	}
	if updated != batch {
		t.Fatalf("%d CDRs updated, want %d", updated, batch)
	}
}

// prepareCDRUpdate begins a transaction on e (findMessages' rows in it)
// with the CDR UPDATE prepared as upd under the settings of a projection
// batch and of the UPDATE within it; off restores the batch's settings.
func prepareCDRUpdate(t *testing.T, e *env) (tx pgx.Tx, off string) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = tx.Exec(ctx, "DEALLOCATE upd") // prepared statements outlive the transaction
		_ = tx.Rollback(ctx)
	})
	on, off := projections.CDRUpdatePlanSettings()
	if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off; "+on+"; PREPARE upd AS "+projections.CDRUpdateSQL()); err != nil {
		t.Fatal(err)
	}
	return tx, off
}

// fillApril adds 5,000 CDRs of channel to April 2026, a second apart.
func fillApril(t *testing.T, tx pgx.Tx, channel string) {
	t.Helper()
	if _, err := tx.Exec(context.Background(), `INSERT INTO readmodel.cdrs (message_id, accepted_at, tenant_id, channel, source, destination, prefix,
		parts, encoding, price_per_part, price, currency, billing, state)
		SELECT gen_random_uuid(), timestamptz '2026-04-01 00:00:00.000123+00' + i * interval '1 second', 'acme', $1, 'ACME',
			'4915100000000', '49', 1, 'gsm7', 0.05, 0.05, 'EUR', 'on_submit', 'routed'
		FROM generate_series(1, 5000) AS i`, channel); err != nil {
		t.Fatal(err)
	}
}

// explainCDRUpdate runs the prepared upd under EXPLAIN ANALYZE on a batch
// given as SQL arrays — ids, their accepted_at, and one array for each of
// the text, the attempts and the time columns — then restores the batch's
// settings (off). It returns the plan's root and its JSON.
func explainCDRUpdate(t *testing.T, tx pgx.Tx, off, ids, ats, text, attempts, times string) (planNode, string) {
	t.Helper()
	ctx := context.Background()
	args := []string{ids, ats}
	for range 8 { // route_prefix … cost: text
		args = append(args, text)
	}
	args = append(args, attempts)
	for range 10 { // routed_at … cost_booked_at
		args = append(args, times)
	}
	var plan string
	if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE upd("+strings.Join(args, ", ")+")").Scan(&plan); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, off); err != nil {
		t.Fatal(err)
	}
	var doc []struct{ Plan planNode }
	if err := json.Unmarshal([]byte(plan), &doc); err != nil {
		t.Fatal(err)
	}
	return doc[0].Plan, plan
}

type planNode struct {
	Type        string  `json:"Node Type"`
	Relation    string  `json:"Relation Name"`
	ActualRows  float64 `json:"Actual Rows"`
	ActualLoops float64 `json:"Actual Loops"`
	// JoinFiltered is "Rows Removed by Join Filter": pairs a join looked
	// at and dropped.
	JoinFiltered float64    `json:"Rows Removed by Join Filter"`
	Plans        []planNode `json:"Plans"`
}
