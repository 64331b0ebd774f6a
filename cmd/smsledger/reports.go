package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	httpapi "github.com/smsledger/smsledger/adapters/http"
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
		Destination: q.Destination, ClientRef: q.ClientRef, SupplierID: q.SupplierID,
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

func (r reports) Reconcile(ctx context.Context, from, to time.Time) (any, error) {
	return projections.Reconcile(ctx, r.pool, from, to)
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
