package projections

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smsledger/smsledger/domain/fx"
	"github.com/smsledger/smsledger/domain/money"
)

// MismatchesMax bounds the mismatches listed per check (the count is
// always complete).
const MismatchesMax = 100

// DefaultValidity is assumed for a message accepted without an expiry.
const DefaultValidity = 72 * time.Hour

// TenantFigures are one tenant's traffic and revenue in a period:
// messages and parts by acceptance time, revenue by settlement time.
type TenantFigures struct {
	TenantID string `json:"tenant_id"`
	Currency string `json:"currency"`
	Messages int64  `json:"messages"`
	Parts    int64  `json:"parts"`
	Revenue  string `json:"revenue"`
}

// SupplierFigures are one supplier's messages whose cost was booked in the
// period, and that cost: the supplier's billing basis decides when (at its
// acceptance for on_submit, at delivery for on_delivery), whatever the
// tenant's.
type SupplierFigures struct {
	SupplierID string `json:"supplier_id"`
	Currency   string `json:"currency"`
	Messages   int64  `json:"messages"`
	Parts      int64  `json:"parts"`
	Cost       string `json:"cost"`
}

// Margin is revenue minus cost in the period for one key (tenant, supplier,
// destination prefix or destination network) and currency pair: the revenue of the messages
// settled in it and the cost of those whose supplier cost was booked in it
// (the two fall apart when tenant and supplier bill on different bases);
// Messages counts either. A message without a cost (its on_delivery
// supplier did not deliver it) counts in the tenant's currency. Margin is
// empty when revenue and cost are in different currencies.
type Margin struct {
	Key string `json:"key"`
	// Country and Operator name a network's key (its mccmnc; empty for the
	// messages whose network is not known), as the numbering plan names
	// it (the greatest name, should the plan have spelled it differently
	// over the period); empty for the other keys.
	Country      string `json:"country,omitempty"`
	Operator     string `json:"operator,omitempty"`
	Currency     string `json:"currency"`
	CostCurrency string `json:"cost_currency"`
	Messages     int64  `json:"messages"`
	Revenue      string `json:"revenue"`
	Cost         string `json:"cost"`
	Margin       string `json:"margin,omitempty"`
}

// Check is one reconciliation check; Mismatches lists up to MismatchesMax
// of Count.
type Check struct {
	Name       string   `json:"name"`
	OK         bool     `json:"ok"`
	Count      int64    `json:"count"`
	Mismatches []string `json:"mismatches,omitempty"`
}

// Report is the reconciliation of a period [From, To).
type Report struct {
	From             time.Time         `json:"from"`
	To               time.Time         `json:"to"`
	Tenants          []TenantFigures   `json:"tenants"`
	Suppliers        []SupplierFigures `json:"suppliers"`
	MarginByTenant   []Margin          `json:"margin_by_tenant"`
	MarginBySupplier []Margin          `json:"margin_by_supplier"`
	MarginByPrefix   []Margin          `json:"margin_by_prefix"`
	MarginByNetwork  []Margin          `json:"margin_by_network"`
	// Reporting is the period in the FX table's base currency; nil
	// without a table.
	Reporting *ReportingCurrency `json:"reporting_currency,omitempty"`
	Checks    []Check            `json:"checks"`
	// OK is true when every check passed.
	OK bool `json:"ok"`
}

// Reconcile reports on [from, to) with the stale-message check taken at
// the current time; with an FX table (nil: none), in its base currency
// too. The caller reads the table from the log (the latest
// FXTableChanged): the read models do not hold it.
func Reconcile(ctx context.Context, pool *pgxpool.Pool, from, to time.Time, table *fx.Table) (Report, error) {
	return ReconcileFX(ctx, pool, from, to, time.Now(), table)
}

// ReconcileAt is Reconcile with the time of the stale-message check given,
// without an FX table.
func ReconcileAt(ctx context.Context, pool *pgxpool.Pool, from, to, now time.Time) (Report, error) {
	return ReconcileFX(ctx, pool, from, to, now, nil)
}

// ReconcileFX is Reconcile with the time of the stale-message check given.
// It reads one consistent snapshot of the read models.
func ReconcileFX(ctx context.Context, pool *pgxpool.Pool, from, to, now time.Time, table *fx.Table) (Report, error) {
	rep := Report{From: from.UTC(), To: to.UTC()}
	if !to.After(from) {
		return rep, fmt.Errorf("reconcile: empty period %s..%s", from, to)
	}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, fmt.Errorf("reconcile: %w", err)
	}
	defer tx.Rollback(ctx)
	s := ident(LiveSchema)

	if err := collect(ctx, tx, &rep.Tenants, func(r pgx.Rows) (TenantFigures, error) {
		var f TenantFigures
		return f, r.Scan(&f.TenantID, &f.Currency, &f.Messages, &f.Parts, &f.Revenue)
	}, `SELECT tenant_id, currency, count(*) FILTER (WHERE accepted_at >= $1 AND accepted_at < $2),
			coalesce(sum(parts) FILTER (WHERE accepted_at >= $1 AND accepted_at < $2), 0),
			coalesce(sum(price) FILTER (WHERE settled_at >= $1 AND settled_at < $2), 0)::text
		FROM `+s+`.cdrs WHERE (accepted_at >= $1 AND accepted_at < $2) OR (settled_at >= $1 AND settled_at < $2)
		GROUP BY tenant_id, currency ORDER BY tenant_id, currency`, from, to); err != nil {
		return rep, fmt.Errorf("reconcile: tenants: %w", err)
	}
	if err := collect(ctx, tx, &rep.Suppliers, func(r pgx.Rows) (SupplierFigures, error) {
		var f SupplierFigures
		return f, r.Scan(&f.SupplierID, &f.Currency, &f.Messages, &f.Parts, &f.Cost)
	}, `SELECT supplier_id, cost_currency, count(*), sum(parts), sum(cost)::text
		FROM `+s+`.cdrs WHERE cost_booked_at >= $1 AND cost_booked_at < $2 AND supplier_id IS NOT NULL
		GROUP BY supplier_id, cost_currency ORDER BY supplier_id, cost_currency`, from, to); err != nil {
		return rep, fmt.Errorf("reconcile: suppliers: %w", err)
	}
	if err := margins(ctx, tx, s, from, to, &rep); err != nil {
		return rep, err
	}
	if table != nil {
		if rep.Reporting, err = reportingCurrency(ctx, tx, s, from, to, table); err != nil {
			return rep, fmt.Errorf("reconcile: reporting currency: %w", err)
		}
	}

	checks := []struct{ name, sql string }{
		{"journal_entries_balance", `SELECT format('entry %s (%s): postings sum to %s over %s postings', e.entry_id, e.currency, coalesce(sum(p.amount), 0), count(p.entry_id))
			FROM ` + s + `.journal_entries e LEFT JOIN ` + s + `.postings p ON p.entry_id = e.entry_id
			GROUP BY e.entry_id, e.currency HAVING coalesce(sum(p.amount), 0) <> 0 OR count(p.entry_id) < 2 OR bool_or(p.currency <> e.currency)`},
		{"account_balances_equal_postings", `SELECT format('account %s %s: balance %s, postings sum %s', coalesce(a.account, p.account), coalesce(a.currency, p.currency), coalesce(a.balance, 0), coalesce(p.total, 0))
			FROM ` + s + `.account_balances a
			FULL JOIN (SELECT account, currency, sum(amount) AS total FROM ` + s + `.postings GROUP BY 1, 2) p ON p.account = a.account AND p.currency = a.currency
			WHERE coalesce(a.balance, 0) <> coalesce(p.total, 0)`},
		{"tenant_balances_equal_postings", `SELECT format('tenant %s: balance %s, tenant account postings %s', t.tenant_id, t.balance, coalesce(-p.total, 0))
			FROM ` + s + `.tenant_balances t
			LEFT JOIN (SELECT substr(account, 8) AS tenant_id, currency, sum(amount) AS total FROM ` + s + `.postings WHERE account LIKE 'tenant:%' GROUP BY 1, 2) p
				ON p.tenant_id = t.tenant_id AND p.currency = t.currency
			WHERE t.balance <> coalesce(-p.total, 0)`},
		{"tenant_held_equals_open_cdrs", `SELECT format('tenant %s: held %s, open CDRs %s', t.tenant_id, t.held, coalesce(c.open, 0))
			FROM ` + s + `.tenant_balances t
			LEFT JOIN (SELECT tenant_id, sum(price) AS open FROM ` + s + `.cdrs WHERE settled_at IS NULL AND released_at IS NULL GROUP BY 1) c ON c.tenant_id = t.tenant_id
			WHERE t.held <> coalesce(c.open, 0)`},
		{"cdr_totals_equal_journal", `WITH cdr AS (
				SELECT 'revenue' AS side, currency, sum(price) AS total FROM ` + s + `.cdrs WHERE settled_at >= $1 AND settled_at < $2 GROUP BY currency
				UNION ALL
				SELECT 'cost', cost_currency, sum(cost) FROM ` + s + `.cdrs WHERE cost_booked_at >= $1 AND cost_booked_at < $2 GROUP BY cost_currency),
			jnl AS (
				SELECT CASE WHEN p.account = 'revenue' THEN 'revenue' ELSE 'cost' END AS side, p.currency,
					sum(CASE WHEN p.account = 'revenue' THEN -p.amount ELSE p.amount END) AS total
				FROM ` + s + `.postings p JOIN ` + s + `.journal_entries e ON e.entry_id = p.entry_id
				WHERE e.kind IN ('settlement', 'supplier_cost') AND e.at >= $1 AND e.at < $2 AND p.account IN ('revenue', 'cost_of_sales')
				GROUP BY 1, 2)
			SELECT format('%s in %s: CDRs %s, journal %s', coalesce(c.side, j.side), coalesce(c.currency, j.currency), coalesce(c.total, 0), coalesce(j.total, 0))
			FROM cdr c FULL JOIN jnl j ON j.side = c.side AND j.currency = c.currency
			WHERE coalesce(c.total, 0) <> coalesce(j.total, 0)`},
		{"no_stale_open_messages", `SELECT format('message %s (tenant %s) is %s since %s, valid until %s', message_id, tenant_id, state, accepted_at, coalesce(expires_at, accepted_at + $2::interval))
			FROM ` + s + `.cdrs WHERE final_at IS NULL AND coalesce(expires_at, accepted_at + $2::interval) < $1`},
	}
	rep.OK = true
	for _, c := range checks {
		var args []any
		switch c.name {
		case "cdr_totals_equal_journal":
			args = []any{from, to}
		case "no_stale_open_messages":
			args = []any{now, fmt.Sprintf("%d seconds", int64(DefaultValidity.Seconds()))}
		}
		chk := Check{Name: c.name}
		rows, err := tx.Query(ctx, c.sql, args...)
		if err != nil {
			return rep, fmt.Errorf("reconcile: check %s: %w", c.name, err)
		}
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return rep, fmt.Errorf("reconcile: check %s: %w", c.name, err)
			}
			chk.Count++
			if len(chk.Mismatches) < MismatchesMax {
				chk.Mismatches = append(chk.Mismatches, m)
			}
		}
		if err := rows.Err(); err != nil {
			return rep, fmt.Errorf("reconcile: check %s: %w", c.name, err)
		}
		chk.OK = chk.Count == 0
		rep.OK = rep.OK && chk.OK
		rep.Checks = append(rep.Checks, chk)
	}
	return rep, nil
}

// margins fills the report's margins by tenant, supplier, destination
// prefix and destination network, each in its currency pairs.
func margins(ctx context.Context, tx pgx.Tx, s string, from, to time.Time, rep *Report) error {
	for _, m := range []struct {
		name, key, names string
		out              *[]Margin
	}{
		{"tenant", "tenant_id", "'', ''", &rep.MarginByTenant},
		{"supplier", "supplier_id", "'', ''", &rep.MarginBySupplier},
		{"prefix", "prefix", "'', ''", &rep.MarginByPrefix},
		{"network", "coalesce(mccmnc, '')", "coalesce(max(country), ''), coalesce(max(operator), '')", &rep.MarginByNetwork},
	} {
		if err := collect(ctx, tx, m.out, func(r pgx.Rows) (Margin, error) {
			var g Margin
			return g, r.Scan(&g.Key, &g.Country, &g.Operator, &g.Currency, &g.CostCurrency, &g.Messages, &g.Revenue, &g.Cost, &g.Margin)
		}, `WITH p AS (
				SELECT `+m.key+` AS key, country, operator, currency, coalesce(cost_currency, currency) AS cost_currency,
					CASE WHEN settled_at >= $1 AND settled_at < $2 THEN price ELSE 0 END AS revenue,
					CASE WHEN cost_booked_at >= $1 AND cost_booked_at < $2 THEN cost ELSE 0 END AS cost
				FROM `+s+`.cdrs WHERE (settled_at >= $1 AND settled_at < $2) OR (cost_booked_at >= $1 AND cost_booked_at < $2))
			SELECT key, `+m.names+`, currency, cost_currency, count(*), sum(revenue)::text, sum(cost)::text,
				CASE WHEN cost_currency = currency THEN (sum(revenue) - sum(cost))::text ELSE '' END
			FROM p GROUP BY 1, currency, cost_currency ORDER BY 1, currency, cost_currency`, from, to); err != nil {
			return fmt.Errorf("reconcile: margin by %s: %w", m.name, err)
		}
	}
	return nil
}

// collect scans every row of a query into out.
func collect[T any](ctx context.Context, tx pgx.Tx, out *[]T, scan func(pgx.Rows) (T, error), sql string, args ...any) error {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		*out = append(*out, v)
	}
	return rows.Err()
}

// ReportingCurrency is the period in the FX table's base currency: each
// message's revenue and cost converted at the rates in force at its
// accepted_at (as fx.Table.ToBase does: truncated toward zero to
// money.Scale places, message by message), then summed. A message none of
// whose money could be converted in full (a currency without a rate in
// force then) is left out of every figure here, counted in Unconverted and
// listed (up to MismatchesMax) in UnconvertedMessages: it stays in the
// report's figures per currency.
type ReportingCurrency struct {
	Currency string `json:"currency"`
	// Messages, Revenue, Cost and Margin are the converted messages' totals.
	Messages         int64    `json:"messages"`
	Revenue          string   `json:"revenue"`
	Cost             string   `json:"cost"`
	Margin           string   `json:"margin"`
	MarginByTenant   []Margin `json:"margin_by_tenant"`
	MarginBySupplier []Margin `json:"margin_by_supplier"`
	MarginByPrefix   []Margin `json:"margin_by_prefix"`
	MarginByNetwork  []Margin `json:"margin_by_network"`
	// Unconverted counts the messages left out; UnconvertedMessages lists
	// up to MismatchesMax of them.
	Unconverted         int64         `json:"unconverted"`
	UnconvertedMessages []Unconverted `json:"unconverted_messages,omitempty"`
}

// Unconverted is a message whose money could not be converted to the
// reporting currency: Currencies had no rate in force at its AcceptedAt.
type Unconverted struct {
	MessageID  string    `json:"message_id"`
	TenantID   string    `json:"tenant_id"`
	AcceptedAt time.Time `json:"accepted_at"`
	Currencies []string  `json:"currencies"`
}

// fxConvertedSQL is the period's messages (those whose revenue or cost the
// period counts, as the margins do) with the rate of each amount the
// period counts: the latest of its currency whose valid_from is not after
// the message's accepted_at ($3..$5 are the table's lines, the base
// currency among them at rate 1 from the year 1), NULL when none is. The
// table is small (fx.MaxRates lines at most, a few dozen in practice), so
// each lookup reads a few rows of it.
func fxConvertedSQL(s string) string {
	return `WITH fx AS MATERIALIZED (
			SELECT currency, rate::numeric AS rate, valid_from
			FROM unnest($3::text[], $4::text[], $5::timestamptz[]) AS f(currency, rate, valid_from)),
		p AS (
			SELECT message_id, tenant_id, accepted_at, coalesce(supplier_id, '') AS supplier_id, prefix,
				coalesce(mccmnc, '') AS mccmnc, country, operator, currency, coalesce(cost_currency, currency) AS cost_currency,
				coalesce(settled_at >= $1 AND settled_at < $2, false) AS has_revenue,
				coalesce(cost_booked_at >= $1 AND cost_booked_at < $2, false) AS has_cost, price, cost
			FROM ` + s + `.cdrs WHERE (settled_at >= $1 AND settled_at < $2) OR (cost_booked_at >= $1 AND cost_booked_at < $2)),
		r AS (
			SELECT p.*,
				CASE WHEN has_revenue THEN (SELECT rate FROM fx WHERE fx.currency = p.currency AND fx.valid_from <= p.accepted_at
					ORDER BY fx.valid_from DESC LIMIT 1) END AS revenue_rate,
				CASE WHEN has_cost THEN (SELECT rate FROM fx WHERE fx.currency = p.cost_currency AND fx.valid_from <= p.accepted_at
					ORDER BY fx.valid_from DESC LIMIT 1) END AS cost_rate
			FROM p),
		c AS (
			SELECT r.*, (NOT has_revenue OR revenue_rate IS NOT NULL) AND (NOT has_cost OR cost_rate IS NOT NULL) AS converted,
				CASE WHEN has_revenue THEN trunc(price * revenue_rate, ` + moneyScale + `) ELSE 0 END AS base_revenue,
				CASE WHEN has_cost THEN trunc(cost * cost_rate, ` + moneyScale + `) ELSE 0 END AS base_cost
			FROM r)`
}

// moneyScale is money.Scale as SQL text: the places fx.Table.ToBase
// truncates to.
var moneyScale = strconv.Itoa(money.Scale)

// fxArgs are the table's lines as fxConvertedSQL's $3..$5, the base
// currency's own rate of 1 first, in force from the year 1 (before any
// message).
func fxArgs(table *fx.Table) []any {
	curs := []string{string(table.Base())}
	rates := []string{"1"}
	froms := []time.Time{{}}
	for _, l := range table.Lines() {
		curs, rates, froms = append(curs, string(l.Currency)), append(rates, l.Rate.String()), append(froms, l.From.UTC())
	}
	return []any{curs, rates, froms}
}

// reportingCurrency converts the period's messages to table's base
// currency (see ReportingCurrency).
func reportingCurrency(ctx context.Context, tx pgx.Tx, s string, from, to time.Time, table *fx.Table) (*ReportingCurrency, error) {
	rc := &ReportingCurrency{Currency: string(table.Base()),
		MarginByTenant: []Margin{}, MarginBySupplier: []Margin{}, MarginByPrefix: []Margin{}, MarginByNetwork: []Margin{}}
	args := append([]any{from, to}, fxArgs(table)...)
	rows, err := tx.Query(ctx, fxConvertedSQL(s)+`
		SELECT CASE WHEN GROUPING(tenant_id) = 0 THEN 'tenant' WHEN GROUPING(supplier_id) = 0 THEN 'supplier'
				WHEN GROUPING(prefix) = 0 THEN 'prefix' WHEN GROUPING(mccmnc) = 0 THEN 'network' ELSE '' END,
			coalesce(tenant_id, supplier_id, prefix, mccmnc, ''),
			CASE WHEN GROUPING(mccmnc) = 0 THEN coalesce(max(country), '') ELSE '' END,
			CASE WHEN GROUPING(mccmnc) = 0 THEN coalesce(max(operator), '') ELSE '' END,
			count(*), trim_scale(coalesce(sum(base_revenue), 0))::text, trim_scale(coalesce(sum(base_cost), 0))::text,
			trim_scale(coalesce(sum(base_revenue) - sum(base_cost), 0))::text
		FROM c WHERE converted
		GROUP BY GROUPING SETS ((), (tenant_id), (supplier_id), (prefix), (mccmnc))
		ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var by string
		g := Margin{Currency: rc.Currency, CostCurrency: rc.Currency}
		if err := rows.Scan(&by, &g.Key, &g.Country, &g.Operator, &g.Messages, &g.Revenue, &g.Cost, &g.Margin); err != nil {
			return nil, err
		}
		switch by {
		case "":
			rc.Messages, rc.Revenue, rc.Cost, rc.Margin = g.Messages, g.Revenue, g.Cost, g.Margin
		case "tenant":
			rc.MarginByTenant = append(rc.MarginByTenant, g)
		case "supplier":
			rc.MarginBySupplier = append(rc.MarginBySupplier, g)
		case "prefix":
			rc.MarginByPrefix = append(rc.MarginByPrefix, g)
		case "network":
			rc.MarginByNetwork = append(rc.MarginByNetwork, g)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return rc, unconverted(ctx, tx, s, args, rc)
}

// unconverted counts and lists the period's messages left out of rc.
func unconverted(ctx context.Context, tx pgx.Tx, s string, args []any, rc *ReportingCurrency) error {
	rows, err := tx.Query(ctx, fxConvertedSQL(s)+`
		SELECT message_id::text, tenant_id, accepted_at, currency, cost_currency,
			has_revenue AND revenue_rate IS NULL, has_cost AND cost_rate IS NULL, count(*) OVER ()
		FROM c WHERE NOT converted ORDER BY accepted_at, message_id LIMIT `+strconv.Itoa(MismatchesMax), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var u Unconverted
		var cur, costCur string
		var noRevenueRate, noCostRate bool
		if err := rows.Scan(&u.MessageID, &u.TenantID, &u.AcceptedAt, &cur, &costCur, &noRevenueRate, &noCostRate, &rc.Unconverted); err != nil {
			return err
		}
		if noRevenueRate {
			u.Currencies = append(u.Currencies, cur)
		}
		if noCostRate && (!noRevenueRate || costCur != cur) {
			u.Currencies = append(u.Currencies, costCur)
		}
		rc.UnconvertedMessages = append(rc.UnconvertedMessages, u)
	}
	return rows.Err()
}
