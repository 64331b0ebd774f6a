package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/domain/events"
)

// balances projects the journal (entries, postings, account balances) and
// the tenant balances (balance, held, credit limit, available).
type balances struct {
	// fresh: the tables were empty when the pipeline started and only it
	// writes them (a replay). Journal entries are then COPYed, on the
	// assumption that none was recorded before; a duplicate entry id (a
	// unique violation) rolls the COPY back and the batch takes the
	// general path, which applies an entry id once.
	fresh bool
}

func (*balances) name() string { return ProjectorBalances }

type tenantSettings struct {
	currency    string
	creditLimit decimal.Decimal
}

type tenantDelta struct {
	balance, held decimal.Decimal
	holds         int64
}

type acctKey struct{ account, currency string }

type acctDelta struct {
	sum decimal.Decimal
	n   int64
}

const tenantAccountPrefix = "tenant:"

func (b *balances) apply(ctx context.Context, tx pgx.Tx, schema string, evs []Event) error {
	s := ident(schema)
	settings := map[string]tenantSettings{}
	deltas := map[string]*tenantDelta{}
	delta := func(t string) *tenantDelta {
		d := deltas[t]
		if d == nil {
			d = &tenantDelta{}
			deltas[t] = d
		}
		return d
	}
	type entry struct {
		e   events.JournalEntryRecorded
		pos int64
	}
	var entries []entry
	seen := map[uuid.UUID]bool{}
	for i := range evs {
		switch e := evs[i].Data.(type) {
		case events.TenantCreated:
			settings[e.TenantID] = tenantSettings{currency: e.Currency, creditLimit: e.CreditLimit}
		case events.TenantChanged:
			cur := settings[e.TenantID].currency
			settings[e.TenantID] = tenantSettings{currency: cur, creditLimit: e.CreditLimit}
		case events.Held:
			d := delta(e.TenantID)
			d.held = d.held.Add(e.Amount)
			d.holds++
		case events.Settled:
			d := delta(e.TenantID)
			d.held = d.held.Sub(e.Held)
			d.holds--
		case events.Released:
			d := delta(e.TenantID)
			d.held = d.held.Sub(e.Amount)
			d.holds--
		case events.JournalEntryRecorded:
			if seen[e.EntryID] {
				continue // the same entry twice in one batch: once only
			}
			seen[e.EntryID] = true
			entries = append(entries, entry{e: e, pos: int64(evs[i].Position)})
		}
	}

	if len(settings) > 0 {
		ids := make([]string, 0, len(settings))
		curs := make([]string, 0, len(settings))
		limits := make([]string, 0, len(settings))
		for id, st := range settings {
			ids = append(ids, id)
			curs = append(curs, st.currency)
			limits = append(limits, st.creditLimit.String())
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.tenant_balances AS t (tenant_id, currency, credit_limit)
			SELECT id, cur, trim_scale(lim::numeric) FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, cur, lim)
			ON CONFLICT (tenant_id) DO UPDATE SET
				currency = CASE WHEN EXCLUDED.currency <> '' THEN EXCLUDED.currency ELSE t.currency END,
				credit_limit = EXCLUDED.credit_limit`, ids, curs, limits); err != nil {
			return fmt.Errorf("upsert tenant settings: %w", err)
		}
	}

	if len(entries) > 0 {
		n := len(entries)
		ids := make([]pgtype.UUID, n)
		kinds, curs, tenants, refs := make([]string, n), make([]string, n), make([]*string, n), make([]*string, n)
		msgs := make([]pgtype.UUID, n)
		ats := make([]time.Time, n)
		poss := make([]int64, n)
		for i, en := range entries {
			e := en.e
			ids[i], kinds[i], curs[i], ats[i], poss[i] = pgUUID(e.EntryID), e.Kind, e.Currency, e.At.UTC(), en.pos
			if e.MessageID != uuid.Nil {
				msgs[i] = pgUUID(e.MessageID)
			}
			if e.TenantID != "" {
				t := e.TenantID
				tenants[i] = &t
			}
			if e.Reference != "" {
				r := e.Reference
				refs[i] = &r
			}
		}
		inserted, err := b.insertEntries(ctx, tx, schema, ids, kinds, curs, msgs, tenants, refs, ats, poss)
		if err != nil {
			return err
		}
		var postings [][]any
		accts := map[acctKey]*acctDelta{}
		for _, en := range entries {
			e := en.e
			if inserted != nil && !inserted[e.EntryID] {
				continue // recorded before: an entry id is applied once
			}
			for line, p := range e.Postings {
				postings = append(postings, []any{pgUUID(e.EntryID), int16(line), p.Account, e.Currency, numeric(p.Amount), e.At.UTC()})
				k := acctKey{p.Account, e.Currency}
				a := accts[k]
				if a == nil {
					a = &acctDelta{}
					accts[k] = a
				}
				a.sum = a.sum.Add(p.Amount)
				a.n++
				if tenant, ok := strings.CutPrefix(p.Account, tenantAccountPrefix); ok {
					d := delta(tenant)
					d.balance = d.balance.Sub(p.Amount) // a liability: balance is the credit side
				}
			}
		}
		if len(postings) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{schema, "postings"},
				[]string{"entry_id", "line", "account", "currency", "amount", "at"}, pgx.CopyFromRows(postings)); err != nil {
				return fmt.Errorf("copy postings: %w", err)
			}
			as, cs, sums, ns := make([]string, 0, len(accts)), make([]string, 0, len(accts)), make([]string, 0, len(accts)), make([]int64, 0, len(accts))
			for k, a := range accts {
				as, cs, sums, ns = append(as, k.account), append(cs, k.currency), append(sums, a.sum.String()), append(ns, a.n)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.account_balances AS a (account, currency, balance, postings)
				SELECT acc, cur, trim_scale(sm::numeric), n FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(acc, cur, sm, n)
				ON CONFLICT (account, currency) DO UPDATE SET
					balance = trim_scale(a.balance + EXCLUDED.balance), postings = a.postings + EXCLUDED.postings`,
				as, cs, sums, ns); err != nil {
				return fmt.Errorf("upsert account balances: %w", err)
			}
		}
	}

	if len(deltas) > 0 {
		ids := make([]string, 0, len(deltas))
		bals, helds := make([]string, 0, len(deltas)), make([]string, 0, len(deltas))
		holds := make([]int64, 0, len(deltas))
		for id, d := range deltas {
			ids, bals, helds, holds = append(ids, id), append(bals, d.balance.String()), append(helds, d.held.String()), append(holds, d.holds)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+s+`.tenant_balances AS t (tenant_id, balance, held, open_holds)
			SELECT id, trim_scale(b::numeric), trim_scale(h::numeric), n FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(id, b, h, n)
			ON CONFLICT (tenant_id) DO UPDATE SET
				balance = trim_scale(t.balance + EXCLUDED.balance),
				held = trim_scale(t.held + EXCLUDED.held),
				open_holds = t.open_holds + EXCLUDED.open_holds`, ids, bals, helds, holds); err != nil {
			return fmt.Errorf("upsert tenant balances: %w", err)
		}
	}
	return nil
}

// insertEntries inserts journal entries (in columns) and returns the ids it
// inserted; nil means all of them.
func (b *balances) insertEntries(ctx context.Context, tx pgx.Tx, schema string, ids []pgtype.UUID, kinds, curs []string,
	msgs []pgtype.UUID, tenants, refs []*string, ats []time.Time, poss []int64) (map[uuid.UUID]bool, error) {
	s := ident(schema)
	if b.fresh {
		sp, err := tx.Begin(ctx) // a savepoint
		if err != nil {
			return nil, fmt.Errorf("insert journal entries: %w", err)
		}
		_, err = sp.CopyFrom(ctx, pgx.Identifier{schema, "journal_entries"},
			[]string{"entry_id", "kind", "currency", "message_id", "tenant_id", "reference", "at", "position"},
			pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) {
				return []any{ids[i], kinds[i], curs[i], msgs[i], tenants[i], refs[i], ats[i], poss[i]}, nil
			}))
		if err == nil {
			if err := sp.Commit(ctx); err != nil {
				return nil, fmt.Errorf("insert journal entries: %w", err)
			}
			return nil, nil
		}
		if rerr := sp.Rollback(ctx); rerr != nil {
			return nil, fmt.Errorf("insert journal entries: %w (rollback: %v)", err, rerr)
		}
		if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "23505" {
			return nil, fmt.Errorf("copy journal entries: %w", err)
		}
		// A unique violation: an entry recorded before. The general path.
	}
	rows, err := tx.Query(ctx, `INSERT INTO `+s+`.journal_entries (entry_id, kind, currency, message_id, tenant_id, reference, at, position)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[])
		ON CONFLICT (entry_id) DO NOTHING RETURNING entry_id`, ids, kinds, curs, msgs, tenants, refs, ats, poss)
	if err != nil {
		return nil, fmt.Errorf("insert journal entries: %w", err)
	}
	inserted := map[uuid.UUID]bool{}
	for rows.Next() {
		var id pgtype.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("insert journal entries: %w", err)
		}
		inserted[uuid.UUID(id.Bytes)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("insert journal entries: %w", err)
	}
	return inserted, nil
}
