package projections

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

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
	// ClientRef is the tenant's own reference of the message; SendAt its
	// scheduled delivery time (nil: at once).
	ClientRef string     `json:"client_ref,omitempty"`
	SendAt    *time.Time `json:"send_at,omitempty"`
	// Direction is "mt" for a message the tenant sent, "mo" for a
	// mobile-originated message to one of its numbers.
	Direction string `json:"direction"`
	// MCCMNC, Country and Operator are the destination's mobile network
	// (the numbering plan's range or the portability table's entry), empty
	// when not known — and for an MO.
	MCCMNC   string `json:"mccmnc"`
	Country  string `json:"country"`
	Operator string `json:"operator"`
}

// CDRQuery selects CDRs. TenantID empty means every tenant (admin); From
// inclusive, To exclusive on accepted_at; Status filters on state;
// Destination (E.164 digits as stored, no "+"), ClientRef, SupplierID and
// MCCMNC (the destination's network) are exact matches, empty for any;
// Cursor continues a previous page with the same filters.
type CDRQuery struct {
	TenantID    string
	From, To    time.Time
	Status      string
	Destination string
	ClientRef   string
	SupplierID  string
	MCCMNC      string
	Cursor      string
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
// index range scan, however deep). A find by destination or client_ref
// reads its own index (cdrs (destination, accepted_at, message_id) and the
// partial cdrs (client_ref, accepted_at, message_id) WHERE client_ref IS
// NOT NULL, migrations/005), a tenant's CDRs (tenant_id, accepted_at,
// message_id), and the others the partitions' primary keys.
func QueryCDRs(ctx context.Context, pool *pgxpool.Pool, q CDRQuery) (CDRPage, error) {
	var page CDRPage
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, CDRPageMax)
	afterAt, afterID := q.From, uuid.Nil
	if q.Cursor != "" {
		var err error
		if afterAt, afterID, err = decodeCursor(q.Cursor); err != nil {
			return page, err
		}
	}
	sql, args := cdrQuerySQL(LiveSchema, q, afterAt, afterID)
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return page, fmt.Errorf("query CDRs: %w", err)
	}
	defer rows.Close()
	dest := make([]any, len(cdrFields))
	for rows.Next() {
		var c CDR
		for i, f := range cdrFields {
			dest[i] = f.dest(&c)
		}
		if err := rows.Scan(dest...); err != nil {
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

// cdrQuerySQL is the query of one page of q after (afterAt, afterID), and
// its arguments. Only the filters q sets are in the WHERE clause: a
// condition that is true for an empty filter ("$1 is empty OR destination
// = $1") would let a generic plan (which a prepared statement gets after a
// few executions) ignore the destination index and scan every row.
func cdrQuerySQL(schema string, q CDRQuery, afterAt time.Time, afterID uuid.UUID) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	for _, f := range []struct{ column, value string }{
		{"tenant_id", q.TenantID}, {"state", q.Status}, {"destination", q.Destination},
		{"client_ref", q.ClientRef}, {"supplier_id", q.SupplierID}, {"mccmnc", q.MCCMNC},
	} {
		if f.value != "" {
			where = append(where, f.column+" = "+arg(f.value))
		}
	}
	if !q.From.IsZero() {
		where = append(where, "accepted_at >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "accepted_at < "+arg(q.To))
	}
	where = append(where, "(accepted_at, message_id) > ("+arg(afterAt)+", "+arg(afterID)+")")
	sql := "SELECT " + cdrSelect + " FROM " + ident(schema) + ".cdrs WHERE " + strings.Join(where, " AND ") +
		" ORDER BY accepted_at, message_id LIMIT " + arg(q.Limit+1)
	return sql, args
}

// cdrField is one column of a CDR as QueryCDRs reads it and the API serves
// it: its name (the JSON key and the CSV header), its SELECT expression,
// where Scan puts it, and its text.
type cdrField struct {
	name, sql string
	dest      func(*CDR) any
	text      func(*CDR) string
}

// cdrFields are the columns of a CDR, in the order of the API's pages.
var cdrFields = []cdrField{
	{"message_id", "message_id", func(c *CDR) any { return &c.MessageID }, func(c *CDR) string { return c.MessageID.String() }},
	textField("tenant_id", "tenant_id", func(c *CDR) *string { return &c.TenantID }),
	textField("channel", "channel", func(c *CDR) *string { return &c.Channel }),
	textField("source", "source", func(c *CDR) *string { return &c.Source }),
	textField("destination", "destination", func(c *CDR) *string { return &c.Destination }),
	textField("prefix", "prefix", func(c *CDR) *string { return &c.Prefix }),
	intField("parts", func(c *CDR) *int { return &c.Parts }),
	textField("encoding", "encoding", func(c *CDR) *string { return &c.Encoding }),
	textField("price", "price::text", func(c *CDR) *string { return &c.Price }),
	textField("currency", "currency", func(c *CDR) *string { return &c.Currency }),
	textField("supplier_id", "coalesce(supplier_id, '')", func(c *CDR) *string { return &c.SupplierID }),
	intField("attempts", func(c *CDR) *int { return &c.Attempts }),
	textField("cost", "coalesce(cost::text, '')", func(c *CDR) *string { return &c.Cost }),
	textField("cost_currency", "coalesce(cost_currency, '')", func(c *CDR) *string { return &c.CostCurrency }),
	textField("state", "state", func(c *CDR) *string { return &c.State }),
	textField("error", "coalesce(error, '')", func(c *CDR) *string { return &c.Error }),
	textField("supplier_message_id", "coalesce(supplier_message_id, '')", func(c *CDR) *string { return &c.SupplierMessageID }),
	textField("dlr_status", "coalesce(dlr_status, '')", func(c *CDR) *string { return &c.DLRStatus }),
	{"accepted_at", "accepted_at", func(c *CDR) any { return &c.AcceptedAt }, func(c *CDR) string { return stamp(&c.AcceptedAt) }},
	timeField("routed_at", func(c *CDR) **time.Time { return &c.RoutedAt }),
	timeField("submitted_at", func(c *CDR) **time.Time { return &c.SubmittedAt }),
	timeField("supplier_accepted_at", func(c *CDR) **time.Time { return &c.SupplierAcceptedAt }),
	timeField("dlr_at", func(c *CDR) **time.Time { return &c.DLRAt }),
	timeField("final_at", func(c *CDR) **time.Time { return &c.FinalAt }),
	timeField("settled_at", func(c *CDR) **time.Time { return &c.SettledAt }),
	timeField("released_at", func(c *CDR) **time.Time { return &c.ReleasedAt }),
	timeField("forwarded_at", func(c *CDR) **time.Time { return &c.ForwardedAt }),
	textField("client_ref", "coalesce(client_ref, '')", func(c *CDR) *string { return &c.ClientRef }),
	timeField("send_at", func(c *CDR) **time.Time { return &c.SendAt }),
	textField("direction", "direction", func(c *CDR) *string { return &c.Direction }),
	textField("mccmnc", "coalesce(mccmnc, '')", func(c *CDR) *string { return &c.MCCMNC }),
	textField("country", "coalesce(country, '')", func(c *CDR) *string { return &c.Country }),
	textField("operator", "coalesce(operator, '')", func(c *CDR) *string { return &c.Operator }),
}

func textField(name, sql string, f func(*CDR) *string) cdrField {
	return cdrField{name, sql, func(c *CDR) any { return f(c) }, func(c *CDR) string { return *f(c) }}
}

func intField(name string, f func(*CDR) *int) cdrField {
	return cdrField{name, name, func(c *CDR) any { return f(c) }, func(c *CDR) string { return strconv.Itoa(*f(c)) }}
}

func timeField(name string, f func(*CDR) **time.Time) cdrField {
	return cdrField{name, name, func(c *CDR) any { return f(c) }, func(c *CDR) string { return stamp(*f(c)) }}
}

// stamp is a time as a CDR's text: RFC 3339 in UTC with nanoseconds, empty
// when not reached.
func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// cdrSelect is the SELECT list of cdrFields.
var cdrSelect = func() string {
	exprs := make([]string, len(cdrFields))
	for i, f := range cdrFields {
		exprs[i] = f.sql
	}
	return strings.Join(exprs, ", ")
}()

// CDRColumns are the names of a CDR's columns as the API serves them (the
// JSON keys of a page's rows and the CSV header), in the order of
// CDR.Strings.
var CDRColumns = func() []string {
	names := make([]string, len(cdrFields))
	for i, f := range cdrFields {
		names[i] = f.name
	}
	return names
}()

// Strings is the CDR as text, one value per CDRColumns: numbers in
// decimal, times in RFC 3339 (UTC, nanoseconds), and what was not reached
// empty.
func (c *CDR) Strings() []string {
	out := make([]string, len(cdrFields))
	for i, f := range cdrFields {
		out[i] = f.text(c)
	}
	return out
}
