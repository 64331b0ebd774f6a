package projections

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// InvoiceLinesMax bounds one invoice file.
const InvoiceLinesMax = 5_000_000

// InvoiceLine is one line of a supplier's invoice/CDR file.
type InvoiceLine struct {
	SupplierMessageID string
	Destination       string
	Parts             int
	Cost              decimal.Decimal
	Date              time.Time
}

// ErrInvoice marks an invoice file that does not parse.
var ErrInvoice = errors.New("invalid invoice CSV")

var invoiceColumns = []string{"supplier_message_id", "destination", "parts", "cost", "date"}

var invoiceDateLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"}

// ParseInvoiceCSV reads an invoice: columns supplier_message_id,
// destination, parts, cost, date, in that order or named by a header line
// (extra columns ignored). Cost is the line's total, an exact decimal;
// dates are RFC 3339, "YYYY-MM-DD HH:MM:SS" (UTC) or YYYY-MM-DD.
func ParseInvoiceCSV(r io.Reader) ([]InvoiceLine, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	idx := []int{0, 1, 2, 3, 4}
	var out []InvoiceLine
	for lineNo := 1; ; lineNo++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvoice, err)
		}
		if lineNo == 1 && isHeader(rec) {
			pos := map[string]int{}
			for i, h := range rec {
				pos[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
			}
			for i, c := range invoiceColumns {
				p, ok := pos[c]
				if !ok {
					return nil, fmt.Errorf("%w: header lacks column %q", ErrInvoice, c)
				}
				idx[i] = p
			}
			continue
		}
		if len(out) >= InvoiceLinesMax {
			return nil, fmt.Errorf("%w: more than %d lines", ErrInvoice, InvoiceLinesMax)
		}
		field := func(i int) (string, error) {
			if idx[i] >= len(rec) {
				return "", fmt.Errorf("%w: line %d: missing %s", ErrInvoice, lineNo, invoiceColumns[i])
			}
			return strings.TrimSpace(rec[idx[i]]), nil
		}
		var l InvoiceLine
		var f [5]string
		for i := range f {
			if f[i], err = field(i); err != nil {
				return nil, err
			}
		}
		if f[0] == "" {
			return nil, fmt.Errorf("%w: line %d: empty supplier_message_id", ErrInvoice, lineNo)
		}
		l.SupplierMessageID, l.Destination = f[0], strings.TrimPrefix(f[1], "+")
		if l.Parts, err = strconv.Atoi(f[2]); err != nil || l.Parts < 1 || l.Parts > 255 {
			return nil, fmt.Errorf("%w: line %d: parts %q", ErrInvoice, lineNo, f[2])
		}
		// No exponent form: "1e2000000000" parses, and every later
		// comparison of it rescales to two billion digits (reconcile hung).
		if strings.ContainsAny(f[3], "eE") || len(f[3]) > 40 {
			return nil, fmt.Errorf("%w: line %d: cost %q (a plain decimal like 0.0125)", ErrInvoice, lineNo, truncateField(f[3]))
		}
		if l.Cost, err = decimal.NewFromString(f[3]); err != nil || l.Cost.IsNegative() || l.Cost.Exponent() < -18 {
			return nil, fmt.Errorf("%w: line %d: cost %q", ErrInvoice, lineNo, f[3])
		}
		ok := false
		for _, layout := range invoiceDateLayouts {
			if t, err := time.Parse(layout, f[4]); err == nil {
				l.Date, ok = t.UTC(), true
				break
			}
		}
		if !ok {
			return nil, fmt.Errorf("%w: line %d: date %q", ErrInvoice, lineNo, f[4])
		}
		out = append(out, l)
	}
}

func isHeader(rec []string) bool {
	for _, h := range rec {
		if strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")), "supplier_message_id") {
			return true
		}
	}
	return false
}

// InvoiceDiff is one difference between an invoice and our CDRs. Kind is
// missing_in_ours, missing_in_invoice (a message whose cost we booked),
// duplicate_in_invoice, parts, cost, destination or no_cost_recorded (the
// invoice bills a message we booked no cost for: its supplier bills on
// delivery and it was not delivered, or not yet).
type InvoiceDiff struct {
	Kind              string `json:"kind"`
	SupplierMessageID string `json:"supplier_message_id"`
	Ours              string `json:"ours,omitempty"`
	Theirs            string `json:"theirs,omitempty"`
}

// InvoiceReport compares an invoice with our CDRs of the supplier whose
// submit it accepted in the period.
type InvoiceReport struct {
	SupplierID       string        `json:"supplier_id"`
	Lines            int           `json:"lines"`
	Matched          int           `json:"matched"`
	InvoiceTotal     string        `json:"invoice_total"`
	OurTotal         string        `json:"our_total"`
	Differences      []InvoiceDiff `json:"differences"`
	DifferencesTotal int           `json:"differences_total"`
}

// InvoiceDifferencesMax bounds the differences listed.
const InvoiceDifferencesMax = 10_000

// CompareInvoice reports the differences between a supplier's invoice and
// our CDRs for the messages that supplier accepted in [from, to). The
// invoice is expected to bill the messages whose cost we booked, which the
// supplier's billing basis decides: every message an on_submit supplier
// accepted, only the delivered ones of an on_delivery supplier. A message
// it accepted without a cost booked is not expected on the invoice, and is
// a difference (no_cost_recorded) only when the invoice bills it.
func CompareInvoice(ctx context.Context, pool *pgxpool.Pool, supplierID string, from, to time.Time, lines []InvoiceLine) (InvoiceReport, error) {
	rep := InvoiceReport{SupplierID: supplierID, Lines: len(lines)}
	type ours struct {
		dest  string
		parts int
		cost  *string
		seen  bool
	}
	rows, err := pool.Query(ctx, `SELECT supplier_message_id, destination, parts, cost::text FROM `+ident(LiveSchema)+`.cdrs
		WHERE supplier_id = $1 AND supplier_accepted_at >= $2 AND supplier_accepted_at < $3 AND supplier_message_id IS NOT NULL
		LIMIT $4`, supplierID, from, to, InvoiceLinesMax+1)
	if err != nil {
		return rep, fmt.Errorf("invoice: our CDRs: %w", err)
	}
	our := map[string]*ours{}
	for rows.Next() {
		var id string
		o := &ours{}
		if err := rows.Scan(&id, &o.dest, &o.parts, &o.cost); err != nil {
			rows.Close()
			return rep, fmt.Errorf("invoice: our CDRs: %w", err)
		}
		our[id] = o
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("invoice: our CDRs: %w", err)
	}
	if len(our) > InvoiceLinesMax {
		return rep, fmt.Errorf("invoice: more than %d CDRs in the period; narrow it", InvoiceLinesMax)
	}
	diff := func(d InvoiceDiff) {
		rep.DifferencesTotal++
		if len(rep.Differences) < InvoiceDifferencesMax {
			rep.Differences = append(rep.Differences, d)
		}
	}
	invTotal, ourTotal := decimal.Zero, decimal.Zero
	for _, l := range lines {
		invTotal = invTotal.Add(l.Cost)
		o, ok := our[l.SupplierMessageID]
		switch {
		case !ok:
			diff(InvoiceDiff{Kind: "missing_in_ours", SupplierMessageID: l.SupplierMessageID, Theirs: l.Cost.String()})
			continue
		case o.seen:
			diff(InvoiceDiff{Kind: "duplicate_in_invoice", SupplierMessageID: l.SupplierMessageID, Theirs: l.Cost.String()})
			continue
		}
		o.seen = true
		matched := true
		if o.dest != l.Destination {
			diff(InvoiceDiff{Kind: "destination", SupplierMessageID: l.SupplierMessageID, Ours: o.dest, Theirs: l.Destination})
			matched = false
		}
		if o.parts != l.Parts {
			diff(InvoiceDiff{Kind: "parts", SupplierMessageID: l.SupplierMessageID, Ours: strconv.Itoa(o.parts), Theirs: strconv.Itoa(l.Parts)})
			matched = false
		}
		if o.cost == nil {
			diff(InvoiceDiff{Kind: "no_cost_recorded", SupplierMessageID: l.SupplierMessageID, Theirs: l.Cost.String()})
			matched = false
		} else if c, err := decimal.NewFromString(*o.cost); err != nil || !c.Equal(l.Cost) {
			diff(InvoiceDiff{Kind: "cost", SupplierMessageID: l.SupplierMessageID, Ours: *o.cost, Theirs: l.Cost.String()})
			matched = false
		}
		if matched {
			rep.Matched++
		}
	}
	for id, o := range our {
		if o.cost != nil {
			if c, err := decimal.NewFromString(*o.cost); err == nil {
				ourTotal = ourTotal.Add(c)
			}
		}
		if !o.seen && o.cost != nil {
			diff(InvoiceDiff{Kind: "missing_in_invoice", SupplierMessageID: id, Ours: *o.cost})
		}
	}
	rep.InvoiceTotal, rep.OurTotal = invTotal.String(), ourTotal.String()
	return rep, nil
}

// truncateField shortens a field quoted in an error.
func truncateField(s string) string {
	if len(s) > 48 {
		return s[:48] + "…"
	}
	return s
}
