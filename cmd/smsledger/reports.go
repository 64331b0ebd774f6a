package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/fx"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/projections"
)

// reports serves the HTTP API's read-model queries from the projections.
type reports struct {
	store eventstore.Store
	pool  *pgxpool.Pool
}

var _ httpapi.Reports = reports{}

func (r reports) CDRs(ctx context.Context, q httpapi.CDRQuery) (httpapi.CDRPage, error) {
	page, err := projections.QueryCDRs(ctx, r.pool, projections.CDRQuery{
		TenantID: q.TenantID, From: q.From, To: q.To, Status: q.Status,
		Destination: q.Destination, ClientRef: q.ClientRef, SupplierID: q.SupplierID, MCCMNC: q.MCCMNC,
		Cursor: q.Cursor, Limit: q.Limit,
	})
	if errors.Is(err, projections.ErrBadCursor) {
		return httpapi.CDRPage{}, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	if err != nil {
		return httpapi.CDRPage{}, err
	}
	out := httpapi.CDRPage{Columns: projections.CDRColumns, NextCursor: page.NextCursor, Rows: make([][]string, len(page.CDRs))}
	for i := range page.CDRs {
		out.Rows[i] = page.CDRs[i].Strings()
	}
	return out, nil
}

// Reconcile reports on the period, in the FX table's base currency too
// when the log has a table.
func (r reports) Reconcile(ctx context.Context, from, to time.Time) (any, error) {
	table, err := latestFXTable(ctx, r.store)
	if err != nil {
		return nil, err
	}
	return projections.Reconcile(ctx, r.pool, from, to, table)
}

// latestFXTable is the FX table in force: the latest FXTableChanged of the
// log's "fx" stream that builds (the ledger skips one that does not, so
// the previous stays in force); nil when there is none. It reads the
// stream's last event without reading the others (a probe per doubling of
// the version, then a binary search): the table's history grows with
// every PUT /v1/fx and each table may be large.
func latestFXTable(ctx context.Context, store eventstore.Store) (*fx.Table, error) {
	exists := func(v uint64) (bool, error) {
		recs, err := store.ReadStream(ctx, events.FXStreamName, v, 1)
		return len(recs) > 0, err
	}
	ok, err := exists(0)
	if errors.Is(err, eventstore.ErrStreamNotFound) || (err == nil && !ok) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fx table: %w", err)
	}
	last, beyond := uint64(0), uint64(1) // last exists, beyond not (once probed)
	for {
		if ok, err = exists(beyond); err != nil {
			return nil, fmt.Errorf("fx table: %w", err)
		} else if !ok {
			break
		}
		last, beyond = beyond, beyond*2
	}
	for beyond-last > 1 {
		mid := last + (beyond-last)/2
		if ok, err = exists(mid); err != nil {
			return nil, fmt.Errorf("fx table: %w", err)
		} else if ok {
			last = mid
		} else {
			beyond = mid
		}
	}
	for v := int64(last); v >= 0; v-- {
		recs, err := store.ReadStream(ctx, events.FXStreamName, uint64(v), 1)
		if err != nil {
			return nil, fmt.Errorf("fx table: %w", err)
		}
		if len(recs) == 0 {
			continue
		}
		if table := fxTableOf(recs[0]); table != nil {
			return table, nil
		}
	}
	return nil, nil
}

// fxTableOf is the table an FXTableChanged records; nil for another event
// or a table that does not build.
func fxTableOf(rec eventstore.RecordedEvent) *fx.Table {
	ev, err := events.Decode(rec.Type, rec.Data)
	if err != nil {
		return nil
	}
	e, ok := ev.(events.FXTableChanged)
	if !ok {
		return nil
	}
	lines := make([]fx.Rate, len(e.Rates))
	for i, r := range e.Rates {
		lines[i] = fx.Rate{Currency: money.Currency(r.Currency), Rate: r.Rate, From: r.From}
	}
	table, err := fx.New(money.Currency(e.Base), lines)
	if err != nil {
		return nil
	}
	return table
}

// CompareInvoice parses a supplier's invoice as `smsledger reconcile
// --invoice` does and compares it with our CDRs; a bad line is a 400.
func (r reports) CompareInvoice(ctx context.Context, supplierID string, from, to time.Time, invoice io.Reader) (any, error) {
	lines, err := projections.ParseInvoiceCSV(invoice)
	if errors.Is(err, projections.ErrInvoice) {
		return nil, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	if err != nil {
		return nil, err
	}
	return projections.CompareInvoice(ctx, r.pool, supplierID, from, to, lines)
}

func (r reports) Replay(ctx context.Context) (any, error) {
	return projections.Replay(ctx, r.store, r.pool, projections.ReplayOptions{Verify: true})
}
