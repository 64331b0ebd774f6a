package projections

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// ErrNotFound is returned for a tenant (or other key) without a row.
var ErrNotFound = errors.New("not found")

// Balance is a tenant's balance read model. Money is exact decimal.
type Balance struct {
	TenantID    string          `json:"tenant_id"`
	Currency    string          `json:"currency"`
	Balance     decimal.Decimal `json:"balance"`
	CreditLimit decimal.Decimal `json:"credit_limit"`
	Held        decimal.Decimal `json:"held"`
	Available   decimal.Decimal `json:"available"`
	OpenHolds   int64           `json:"open_holds"`
}

// TenantBalance returns one tenant's balance, held and available funds.
func TenantBalance(ctx context.Context, pool *pgxpool.Pool, tenantID string) (Balance, error) {
	var b Balance
	var bal, lim, held, avail string
	err := pool.QueryRow(ctx, `SELECT tenant_id, currency, balance::text, credit_limit::text, held::text, available::text, open_holds
		FROM `+ident(LiveSchema)+`.tenant_balances WHERE tenant_id = $1`, tenantID).
		Scan(&b.TenantID, &b.Currency, &bal, &lim, &held, &avail, &b.OpenHolds)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("tenant %s balance: %w", tenantID, ErrNotFound)
	}
	if err != nil {
		return b, fmt.Errorf("tenant %s balance: %w", tenantID, err)
	}
	for _, f := range []struct {
		s string
		d *decimal.Decimal
	}{{bal, &b.Balance}, {lim, &b.CreditLimit}, {held, &b.Held}, {avail, &b.Available}} {
		if *f.d, err = decimal.NewFromString(f.s); err != nil {
			return b, fmt.Errorf("tenant %s balance: %w", tenantID, err)
		}
	}
	return b, nil
}

// CDR is one message's record. Money is a decimal string; optional fields
// are empty/nil when not reached.
type CDR struct {
	MessageID          uuid.UUID  `json:"message_id"`
	TenantID           string     `json:"tenant_id"`
	Channel            string     `json:"channel"`
	Source             string     `json:"source"`
	Destination        string     `json:"destination"`
	Prefix             string     `json:"prefix"`
	Parts              int        `json:"parts"`
	Encoding           string     `json:"encoding"`
	Price              string     `json:"price"`
	Currency           string     `json:"currency"`
	SupplierID         string     `json:"supplier_id,omitempty"`
	Attempts           int        `json:"attempts"`
	Cost               string     `json:"cost,omitempty"`
	CostCurrency       string     `json:"cost_currency,omitempty"`
	State              string     `json:"state"`
	Error              string     `json:"error,omitempty"`
	SupplierMessageID  string     `json:"supplier_message_id,omitempty"`
	DLRStatus          string     `json:"dlr_status,omitempty"`
	AcceptedAt         time.Time  `json:"accepted_at"`
	RoutedAt           *time.Time `json:"routed_at,omitempty"`
	SubmittedAt        *time.Time `json:"submitted_at,omitempty"`
	SupplierAcceptedAt *time.Time `json:"supplier_accepted_at,omitempty"`
	DLRAt              *time.Time `json:"dlr_at,omitempty"`
	FinalAt            *time.Time `json:"final_at,omitempty"`
	SettledAt          *time.Time `json:"settled_at,omitempty"`
	ReleasedAt         *time.Time `json:"released_at,omitempty"`
	ForwardedAt        *time.Time `json:"forwarded_at,omitempty"`
}

// CDRQuery selects CDRs. TenantID empty means every tenant (admin); From
// inclusive, To exclusive on accepted_at; Status filters on state; Cursor
// continues a previous page.
type CDRQuery struct {
	TenantID string
	From, To time.Time
	Status   string
	Cursor   string
	// Limit is the page size, 1..CDRPageMax (default 100).
	Limit int
}

// CDRPageMax bounds one page.
const CDRPageMax = 1000

// CDRPage is one page of CDRs in (accepted_at, message_id) order;
// NextCursor is empty on the last page.
type CDRPage struct {
	CDRs       []CDR  `json:"cdrs"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// ErrBadCursor is returned for a cursor that does not parse.
var ErrBadCursor = errors.New("invalid cursor")

func encodeCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + id.String()))
}

func decodeCursor(c string) (time.Time, uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	ts, ids, ok := strings.Cut(string(b), "|")
	if !ok {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	at, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	id, err := uuid.Parse(ids)
	if err != nil {
		return time.Time{}, uuid.Nil, ErrBadCursor
	}
	return at, id, nil
}

// QueryCDRs returns one page of CDRs (keyset pagination: each page is one
// index range scan, however deep).
func QueryCDRs(ctx context.Context, pool *pgxpool.Pool, q CDRQuery) (CDRPage, error) {
	var page CDRPage
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, CDRPageMax)
	if q.To.IsZero() {
		q.To = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	afterAt, afterID := q.From, uuid.Nil
	if q.Cursor != "" {
		var err error
		if afterAt, afterID, err = decodeCursor(q.Cursor); err != nil {
			return page, err
		}
	}
	rows, err := pool.Query(ctx, `SELECT message_id, tenant_id, channel, source, destination, prefix, parts, encoding,
			price::text, currency, coalesce(supplier_id, ''), attempts, coalesce(cost::text, ''), coalesce(cost_currency, ''),
			state, coalesce(error, ''), coalesce(supplier_message_id, ''), coalesce(dlr_status, ''),
			accepted_at, routed_at, submitted_at, supplier_accepted_at, dlr_at, final_at, settled_at, released_at, forwarded_at
		FROM `+ident(LiveSchema)+`.cdrs
		WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR state = $2)
		  AND accepted_at >= $3 AND accepted_at < $4 AND (accepted_at, message_id) > ($5, $6)
		ORDER BY accepted_at, message_id LIMIT $7`,
		q.TenantID, q.Status, q.From, q.To, afterAt, afterID, q.Limit+1)
	if err != nil {
		return page, fmt.Errorf("query CDRs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c CDR
		if err := rows.Scan(&c.MessageID, &c.TenantID, &c.Channel, &c.Source, &c.Destination, &c.Prefix, &c.Parts, &c.Encoding,
			&c.Price, &c.Currency, &c.SupplierID, &c.Attempts, &c.Cost, &c.CostCurrency,
			&c.State, &c.Error, &c.SupplierMessageID, &c.DLRStatus,
			&c.AcceptedAt, &c.RoutedAt, &c.SubmittedAt, &c.SupplierAcceptedAt, &c.DLRAt, &c.FinalAt, &c.SettledAt, &c.ReleasedAt, &c.ForwardedAt); err != nil {
			return page, fmt.Errorf("query CDRs: %w", err)
		}
		page.CDRs = append(page.CDRs, c)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("query CDRs: %w", err)
	}
	if len(page.CDRs) > q.Limit {
		page.CDRs = page.CDRs[:q.Limit]
		last := page.CDRs[len(page.CDRs)-1]
		page.NextCursor = encodeCursor(last.AcceptedAt, last.MessageID)
	}
	return page, nil
}

// CDRCSVHeader is the header line of WriteCDRsCSV.
var CDRCSVHeader = []string{"message_id", "tenant_id", "channel", "source", "destination", "prefix", "parts", "encoding",
	"price", "currency", "supplier_id", "attempts", "cost", "cost_currency", "state", "error", "supplier_message_id",
	"dlr_status", "accepted_at", "submitted_at", "supplier_accepted_at", "dlr_at", "final_at", "settled_at", "released_at"}

// CSVRowsMax bounds one CSV export.
const CSVRowsMax = 10_000_000

// WriteCDRsCSV streams every CDR matching q (from q.Cursor on) to w as
// CSV, page by page, so memory stays bounded whatever the period.
func WriteCDRsCSV(ctx context.Context, pool *pgxpool.Pool, w io.Writer, q CDRQuery) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CDRCSVHeader); err != nil {
		return err
	}
	q.Limit = CDRPageMax
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	for n := 0; n < CSVRowsMax; {
		page, err := QueryCDRs(ctx, pool, q)
		if err != nil {
			return err
		}
		for _, c := range page.CDRs {
			if err := cw.Write([]string{c.MessageID.String(), c.TenantID, c.Channel, c.Source, c.Destination, c.Prefix,
				strconv.Itoa(c.Parts), c.Encoding, c.Price, c.Currency, c.SupplierID, strconv.Itoa(c.Attempts), c.Cost,
				c.CostCurrency, c.State, c.Error, c.SupplierMessageID, c.DLRStatus, ts(&c.AcceptedAt), ts(c.SubmittedAt),
				ts(c.SupplierAcceptedAt), ts(c.DLRAt), ts(c.FinalAt), ts(c.SettledAt), ts(c.ReleasedAt)}); err != nil {
				return err
			}
		}
		n += len(page.CDRs)
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("write CDR CSV: %w", err)
		}
		if page.NextCursor == "" {
			return nil
		}
		q.Cursor = page.NextCursor
	}
	return fmt.Errorf("write CDR CSV: more than %d rows; narrow the period", CSVRowsMax)
}
