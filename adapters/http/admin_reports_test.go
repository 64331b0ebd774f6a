package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/projections"
)

// CompareInvoice completes handler_test.go's reports (its tests do not
// call it).
func (reports) CompareInvoice(context.Context, string, time.Time, time.Time, io.Reader) (any, error) {
	return nil, errors.New("not in this test")
}

// recordingReports remembers the CDR queries the API makes and compares
// invoices by parsing them as serve does (projections.ParseInvoiceCSV),
// without a database: the API's part is what it asks for and how it
// answers.
type recordingReports struct {
	reports
	mu      sync.Mutex
	queries []httpapi.CDRQuery
	invoice struct {
		supplier string
		from, to time.Time
		lines    int
	}
}

func (rr *recordingReports) CDRs(ctx context.Context, q httpapi.CDRQuery) (httpapi.CDRPage, error) {
	rr.mu.Lock()
	rr.queries = append(rr.queries, q)
	rr.mu.Unlock()
	return httpapi.CDRPage{Columns: []string{"message_id", "tenant_id", "supplier_id", "cost", "price"},
		Rows: [][]string{{"m1", q.TenantID, "sup1", "0.02", "0.05"}}}, nil
}

func (rr *recordingReports) last() httpapi.CDRQuery {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.queries[len(rr.queries)-1]
}

func (rr *recordingReports) CompareInvoice(ctx context.Context, supplier string, from, to time.Time, invoice io.Reader) (any, error) {
	lines, err := projections.ParseInvoiceCSV(invoice)
	if errors.Is(err, projections.ErrInvoice) {
		return nil, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	if err != nil {
		return nil, err
	}
	rr.mu.Lock()
	rr.invoice.supplier, rr.invoice.from, rr.invoice.to, rr.invoice.lines = supplier, from, to, len(lines)
	rr.mu.Unlock()
	return map[string]any{"supplier_id": supplier, "lines": len(lines)}, nil
}

// GET /v1/cdrs: the admin token reads every tenant's CDRs or one
// tenant's, with the destination, client_ref and supplier filters; a
// tenant's key reads only its own, whatever tenant_id it names, and may
// not filter by supplier.
func TestCDRFiltersAdminAndTenant(t *testing.T) {
	rr := &recordingReports{}
	c, _ := start(t, httpapi.Options{Reports: rr})
	acme, _ := setup(t, c)
	from := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, token, query string
		want               httpapi.CDRQuery
	}{
		{"admin, every tenant", admin, "", httpapi.CDRQuery{}},
		{"admin, one tenant", admin, "tenant_id=beta&status=delivered", httpapi.CDRQuery{TenantID: "beta", Status: "delivered"}},
		{"admin, by destination with its +", admin, "destination=%2B4915112345678&from=2026-04-01", httpapi.CDRQuery{Destination: "4915112345678", From: from}},
		{"admin, by client_ref and supplier", admin, "client_ref=order-7&supplier_id=sup1", httpapi.CDRQuery{ClientRef: "order-7", SupplierID: "sup1"}},
		{"tenant", acme, "destination=4915112345678", httpapi.CDRQuery{TenantID: "acme", Destination: "4915112345678"}},
		{"tenant naming another", acme, "tenant_id=beta&client_ref=x", httpapi.CDRQuery{TenantID: "acme", ClientRef: "x"}},
	} {
		st, m := c.do("GET", "/v1/cdrs?"+tc.query, tc.token, "")
		if st != 200 {
			t.Errorf("%s: %d %v", tc.name, st, m)
			continue
		}
		tc.want.Limit = 1000
		if got := rr.last(); got != tc.want {
			t.Errorf("%s: the API asked for %+v, want %+v", tc.name, got, tc.want)
		}
		items, _ := m["items"].([]any)
		if tc.token == acme && (len(items) != 1 || items[0].(map[string]any)["tenant_id"] != "acme") {
			t.Errorf("%s: items %v", tc.name, items)
		}
	}
	n := len(rr.queries)
	if st, m := c.do("GET", "/v1/cdrs?supplier_id=sup1", acme, ""); st != 400 || !strings.Contains(fmt.Sprint(m), "supplier_id") {
		t.Errorf("tenant with supplier_id: %d %v, want a 400 naming it", st, m)
	}
	if st, m := c.do("GET", "/v1/cdrs", "wrong-token", ""); st != 401 {
		t.Errorf("wrong token: %d %v", st, m)
	}
	if len(rr.queries) != n {
		t.Errorf("refused calls reached the reports")
	}
}

// POST /v1/reconciliation/invoice: admin only, text/csv, bounded; a bad
// line is a 400 naming it; the report is the Reports' answer.
func TestReconcileInvoiceEndpoint(t *testing.T) {
	rr := &recordingReports{}
	c, _ := start(t, httpapi.Options{Reports: rr})
	acme, _ := setup(t, c)
	path := "/v1/reconciliation/invoice?supplier=sup1&from=2026-04-01&to=2026-05-01"
	good := "supplier_message_id,destination,parts,cost,date\nsm-1,+4915112345678,1,0.02,2026-04-02\nsm-2,4915112345678,2,0.04,2026-04-03\n"
	csv := []string{"Content-Type", "text/csv"}
	st, raw := c.raw("POST", path, admin, good, csv...)
	if st != 200 || !strings.Contains(string(raw), `"lines":2`) {
		t.Fatalf("invoice: %d %s", st, raw)
	}
	if rr.invoice.supplier != "sup1" || !rr.invoice.from.Equal(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)) || !rr.invoice.to.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("compared %+v", rr.invoice)
	}
	for _, tc := range []struct {
		name, path, token, body string
		hdr                     []string
		status                  int
		says                    string
	}{
		{"a bad line", path, admin, "sm-1,4915112345678,1,0.02,2026-04-02\nsm-2,4915112345678,two,0.04,2026-04-03\n", csv, 400, "line 2: parts"},
		{"a bad cost", path, admin, "sm-1,4915112345678,1,1e9,2026-04-02\n", csv, 400, "line 1: cost"},
		{"a tenant's key", path, acme, good, csv, 401, "admin"},
		{"JSON", path, admin, `[]`, []string{"Content-Type", "application/json"}, 415, "text/csv"},
		{"no supplier", "/v1/reconciliation/invoice?from=2026-04-01&to=2026-05-01", admin, good, csv, 400, "supplier"},
		{"an unknown supplier", "/v1/reconciliation/invoice?supplier=ghost&from=2026-04-01&to=2026-05-01", admin, good, csv, 404, "ghost"},
		{"no period", "/v1/reconciliation/invoice?supplier=sup1", admin, good, csv, 400, "from and to"},
		{"to before from", "/v1/reconciliation/invoice?supplier=sup1&from=2026-05-01&to=2026-04-01", admin, good, csv, 400, "to after from"},
	} {
		st, m := c.do("POST", tc.path, tc.token, tc.body, tc.hdr...)
		if st != tc.status || !strings.Contains(fmt.Sprint(m), tc.says) {
			t.Errorf("%s: %d %v, want %d saying %q", tc.name, st, m, tc.status, tc.says)
		}
	}
	big := "supplier_message_id,destination,parts,cost,date\n" + strings.Repeat("sm-1,4915112345678,1,0.02,2026-04-02\n", httpapi.MaxInvoiceBodyBytes/37+1)
	if st, m := c.do("POST", path, admin, big, csv...); st != http.StatusRequestEntityTooLarge {
		t.Errorf("an invoice over %d bytes: %d %v, want 413", httpapi.MaxInvoiceBodyBytes, st, m)
	}
}

// A tenant's CDRs leave out whom its messages went through and what they
// cost us, in JSON and CSV; the admin token gets every column.
func TestTenantCDRsHideSupplierAndCost(t *testing.T) {
	rr := &recordingReports{}
	c, _ := start(t, httpapi.Options{Reports: rr})
	acme, _ := setup(t, c)
	st, m := c.do("GET", "/v1/cdrs", acme, "")
	items, _ := m["items"].([]any)
	if st != 200 || len(items) != 1 {
		t.Fatalf("tenant: %d %v", st, m)
	}
	row := items[0].(map[string]any)
	if _, ok := row["supplier_id"]; ok || row["cost"] != nil || row["price"] != "0.05" {
		t.Errorf("a tenant's CDR: %v", row)
	}
	if st, raw := c.raw("GET", "/v1/cdrs", acme, "", "Accept", "text/csv"); st != 200 || string(raw) != "message_id,tenant_id,price\nm1,acme,0.05\n" {
		t.Errorf("a tenant's CSV: %d %q", st, raw)
	}
	st, m = c.do("GET", "/v1/cdrs", admin, "")
	if items, _ := m["items"].([]any); st != 200 || len(items) != 1 || items[0].(map[string]any)["supplier_id"] != "sup1" {
		t.Errorf("admin: %d %v", st, m)
	}
}
