package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// Margin is revenue minus cost in the period for one key (tenant, supplier
// or destination prefix) and currency pair: the revenue of the messages
// settled in it and the cost of those whose supplier cost was booked in it
// (the two fall apart when tenant and supplier bill on different bases);
// Messages counts either. A message without a cost (its on_delivery
// supplier did not deliver it) counts in the tenant's currency. Margin is
// empty when revenue and cost are in different currencies.
type Margin struct {
	Key          string `json:"key"`
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
	Checks           []Check           `json:"checks"`
	// OK is true when every check passed.
	OK bool `json:"ok"`
}

// Reconcile reports on [from, to) with the stale-message check taken at
// the current time.
func Reconcile(ctx context.Context, pool *pgxpool.Pool, from, to time.Time) (Report, error) {
	return ReconcileAt(ctx, pool, from, to, time.Now())
}

// ReconcileAt is Reconcile with the time of the stale-message check given.
// It reads one consistent snapshot of the read models.
func ReconcileAt(ctx context.Context, pool *pgxpool.Pool, from, to, now time.Time) (Report, error) {
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
	for _, m := range []struct {
		col string
		out *[]Margin
	}{{"tenant_id", &rep.MarginByTenant}, {"supplier_id", &rep.MarginBySupplier}, {"prefix", &rep.MarginByPrefix}} {
		if err := collect(ctx, tx, m.out, func(r pgx.Rows) (Margin, error) {
			var g Margin
			return g, r.Scan(&g.Key, &g.Currency, &g.CostCurrency, &g.Messages, &g.Revenue, &g.Cost, &g.Margin)
		}, `WITH p AS (
				SELECT `+m.col+` AS key, currency, coalesce(cost_currency, currency) AS cost_currency,
					CASE WHEN settled_at >= $1 AND settled_at < $2 THEN price ELSE 0 END AS revenue,
					CASE WHEN cost_booked_at >= $1 AND cost_booked_at < $2 THEN cost ELSE 0 END AS cost
				FROM `+s+`.cdrs WHERE (settled_at >= $1 AND settled_at < $2) OR (cost_booked_at >= $1 AND cost_booked_at < $2))
			SELECT key, currency, cost_currency, count(*), sum(revenue)::text, sum(cost)::text,
				CASE WHEN cost_currency = currency THEN (sum(revenue) - sum(cost))::text ELSE '' END
			FROM p GROUP BY 1, currency, cost_currency ORDER BY 1, currency, cost_currency`, from, to); err != nil {
			return rep, fmt.Errorf("reconcile: margin by %s: %w", m.col, err)
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
