package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// cdrColumns are the columns of a CDR page, JSON keys and CSV header alike.
var cdrColumns = []string{
	"message_id", "tenant_id", "channel", "source", "destination", "prefix", "parts", "encoding",
	"price", "currency", "supplier_id", "attempts", "cost", "cost_currency", "state", "error",
	"supplier_message_id", "dlr_status", "accepted_at", "routed_at", "submitted_at",
	"supplier_accepted_at", "dlr_at", "final_at", "settled_at", "released_at", "forwarded_at",
}

func (r reports) CDRs(ctx context.Context, q httpapi.CDRQuery) (httpapi.CDRPage, error) {
	page, err := projections.QueryCDRs(ctx, r.pool, projections.CDRQuery{
		TenantID: q.TenantID, From: q.From, To: q.To, Status: q.Status, Cursor: q.Cursor, Limit: q.Limit,
	})
	if errors.Is(err, projections.ErrBadCursor) {
		return httpapi.CDRPage{}, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	if err != nil {
		return httpapi.CDRPage{}, err
	}
	out := httpapi.CDRPage{Columns: cdrColumns, NextCursor: page.NextCursor, Rows: make([][]string, len(page.CDRs))}
	for i, c := range page.CDRs {
		out.Rows[i] = []string{
			c.MessageID.String(), c.TenantID, c.Channel, c.Source, c.Destination, c.Prefix, strconv.Itoa(c.Parts), c.Encoding,
			c.Price, c.Currency, c.SupplierID, strconv.Itoa(c.Attempts), c.Cost, c.CostCurrency, c.State, c.Error,
			c.SupplierMessageID, c.DLRStatus, stamp(&c.AcceptedAt), stamp(c.RoutedAt), stamp(c.SubmittedAt),
			stamp(c.SupplierAcceptedAt), stamp(c.DLRAt), stamp(c.FinalAt), stamp(c.SettledAt), stamp(c.ReleasedAt), stamp(c.ForwardedAt),
		}
	}
	return out, nil
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (r reports) Reconcile(ctx context.Context, from, to time.Time) (any, error) {
	return projections.Reconcile(ctx, r.pool, from, to)
}

func (r reports) Replay(ctx context.Context) (any, error) {
	return projections.Replay(ctx, r.store, r.pool, projections.ReplayOptions{Verify: true})
}
