package console

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// reportRoutes registers the pages of CDRs with filters and CSV export, reconciliation and the supplier-invoice diff.
func (c *Console) reportRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/cdrs", c.signedIn(c.cdrsPage))
	mux.HandleFunc("GET /console/cdrs.csv", c.signedIn(c.cdrsCSV))
	mux.HandleFunc("GET /console/reconciliation", c.signedIn(c.reconciliationPage))
	mux.HandleFunc("POST /console/reconciliation/invoice", c.signedIn(c.invoiceUpload))
}

// messageStates are the states a CDR's status filter offers: the message
// states of domain/message.
var messageStates = []string{"accepted", "routed", "scheduled", "submitted", "submit_failed", "supplier_accepted",
	"delivered", "undelivered", "rejected", "expired", "failed"}

// cdrFilterFields are the filters of the CDR page, as GET /v1/cdrs names
// them.
var cdrFilterFields = []string{"tenant_id", "from", "to", "status", "destination", "client_ref", "supplier_id", "mccmnc"}

// maxExportPages bounds a CSV export (pages of 1,000 CDRs): a million rows;
// a longer period is exported in parts.
const maxExportPages = 1000

// liftWriteDeadline lifts the server's write timeout for an answer that
// may take long (reconciliation, an invoice, a CSV export), as the API's
// own noWriteDeadline does: the in-process API call cannot reach the
// browser's connection.
func liftWriteDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
}

// apiTime is a form's time as the API takes it: a datetime-local value
// ("2026-04-01T10:00", taken as UTC) becomes RFC 3339; a date or an RFC
// 3339 time is passed as it is, and anything else too, for the API to
// refuse with its own message.
func apiTime(v string) string {
	v = strings.TrimSpace(v)
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC().Format(time.RFC3339)
		}
	}
	return v
}

// cdrFilters are the CDR filters of a request, as the API query and as
// the form shows them.
func cdrFilters(r *http.Request) (api, form url.Values) {
	api, form = url.Values{}, url.Values{}
	q := r.URL.Query()
	for _, k := range cdrFilterFields {
		v := strings.TrimSpace(q.Get(k))
		if v == "" {
			continue
		}
		form.Set(k, v)
		if k == "from" || k == "to" {
			v = apiTime(v)
		}
		api.Set(k, v)
	}
	return api, form
}

// cdrCell is one cell of the CDR table.
type cdrCell struct {
	Text string
	Num  bool   // money and counts, right-aligned
	Link string // the message's page
}

// cdrTable is the data of the CDR page.
type cdrTable struct {
	Form    url.Values
	States  []string
	Columns []string
	Rows    [][]cdrCell
	Next    string // the next page, when there is one
	CSV     string // the export of every page of the filters
	Err     string // the API's answer to filters it refused
}

// cdrsPage shows a page of CDRs of the filters, in the API's columns (read
// as CSV, whose header keeps the API's column order).
func (c *Console) cdrsPage(w http.ResponseWriter, r *http.Request, s *session) {
	api, form := cdrFilters(r)
	d := cdrTable{Form: form, States: messageStates, CSV: "/console/cdrs.csv"}
	if len(form) > 0 {
		d.CSV += "?" + form.Encode()
	}
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		api.Set("cursor", cur)
	}
	res, err := c.call(r, s, http.MethodGet, "/v1/cdrs?"+api.Encode(), nil, "", "text/csv")
	if err != nil {
		if ae, ok := err.(*APIError); ok && ae.Status != http.StatusUnauthorized {
			d.Err = ae.Message // e.g. a filter refused: shown with the form kept
			c.render(w, r, s, ae.Status, "cdrs", "CDRs", "cdrs", d)
			return
		}
		c.renderError(w, r, s, "cdrs", err)
		return
	}
	records, err := csv.NewReader(bytes.NewReader(res.Body)).ReadAll()
	if err != nil || len(records) == 0 {
		c.renderError(w, r, s, "cdrs", &APIError{Status: http.StatusBadGateway, Code: "bad_csv", Message: "the API's CDR page did not read as CSV"})
		return
	}
	d.Columns = records[0]
	d.Rows = make([][]cdrCell, len(records)-1)
	for i, rec := range records[1:] {
		d.Rows[i] = cdrCells(d.Columns, rec)
	}
	if next := res.Header.Get("X-Next-Cursor"); next != "" {
		nq := url.Values{}
		for k, v := range form {
			nq[k] = v
		}
		nq.Set("cursor", next)
		d.Next = "/console/cdrs?" + nq.Encode()
	}
	c.render(w, r, s, http.StatusOK, "cdrs", "CDRs", "cdrs", d)
}

// cdrCells are a CDR's values as table cells: money and counts
// right-aligned, times to the second, the message id a link.
func cdrCells(columns, rec []string) []cdrCell {
	cells := make([]cdrCell, len(columns))
	for j, col := range columns {
		var v string
		if j < len(rec) {
			v = rec[j]
		}
		cell := cdrCell{Text: v}
		switch {
		case col == "message_id":
			cell.Link = "/console/messages/" + url.PathEscape(v)
		case col == "price" || col == "cost" || col == "parts" || col == "attempts":
			cell.Num = true
		case strings.HasSuffix(col, "_at") && v != "":
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				cell.Text = t.UTC().Format("2006-01-02 15:04:05")
			}
		}
		cells[j] = cell
	}
	return cells
}

// cdrsCSV exports every page of the filters as one CSV file (the API's
// CSV, Accept: text/csv, page after page; at most maxExportPages).
func (c *Console) cdrsCSV(w http.ResponseWriter, r *http.Request, s *session) {
	liftWriteDeadline(w)
	api, _ := cdrFilters(r)
	for page := 0; page < maxExportPages; page++ {
		res, err := c.call(r, s, http.MethodGet, "/v1/cdrs?"+api.Encode(), nil, "", "text/csv")
		if err != nil {
			if page == 0 {
				c.renderError(w, r, s, "cdrs", err)
				return
			}
			// The file is on its way: it ends here, short.
			c.log.Error("console: CDR export cut short", "page", page, "err", err)
			return
		}
		body := res.Body
		if page == 0 {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="cdrs.csv"`)
		} else if _, rest, ok := bytes.Cut(body, []byte("\n")); ok {
			body = rest // the header line, once is enough
		}
		if _, err := w.Write(body); err != nil {
			return
		}
		next := res.Header.Get("X-Next-Cursor")
		if next == "" {
			return
		}
		api.Set("cursor", next)
	}
}

// reconReport is the reconciliation report as GET /v1/reconciliation
// answers it.
type reconReport struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Tenants []struct {
		TenantID string `json:"tenant_id"`
		Currency string `json:"currency"`
		Messages int64  `json:"messages"`
		Parts    int64  `json:"parts"`
		Revenue  string `json:"revenue"`
	} `json:"tenants"`
	Suppliers []struct {
		SupplierID string `json:"supplier_id"`
		Currency   string `json:"currency"`
		Messages   int64  `json:"messages"`
		Parts      int64  `json:"parts"`
		Cost       string `json:"cost"`
	} `json:"suppliers"`
	MarginByTenant   []reconMargin `json:"margin_by_tenant"`
	MarginBySupplier []reconMargin `json:"margin_by_supplier"`
	MarginByPrefix   []reconMargin `json:"margin_by_prefix"`
	MarginByNetwork  []reconMargin `json:"margin_by_network"`
	// Reporting is the period in the FX table's base currency; nil when
	// the platform has no FX table.
	Reporting *reconReporting `json:"reporting_currency"`
	Checks    []struct {
		Name       string   `json:"name"`
		OK         bool     `json:"ok"`
		Count      int64    `json:"count"`
		Mismatches []string `json:"mismatches"`
	} `json:"checks"`
	OK bool `json:"ok"`
}

type reconMargin struct {
	Key          string `json:"key"`
	Country      string `json:"country"`  // a network's
	Operator     string `json:"operator"` // a network's
	Currency     string `json:"currency"`
	CostCurrency string `json:"cost_currency"`
	Messages     int64  `json:"messages"`
	Revenue      string `json:"revenue"`
	Cost         string `json:"cost"`
	Margin       string `json:"margin"`
}

// marginTable is one of the report's margin tables, titled; Network
// tables show each network's country and operator, and the messages of no
// known network as such.
type marginTable struct {
	Title, ID, Key string
	Network        bool
	Rows           []reconMargin
}

// Margins are the report's margins by tenant, supplier, destination
// prefix and destination network, as the page shows them.
func (r *reconReport) Margins() []marginTable {
	return marginTables("Margin", "margin", r.MarginByTenant, r.MarginBySupplier, r.MarginByPrefix, r.MarginByNetwork)
}

// marginTables titles the four margin lists: "<title> by tenant" with id
// "<id>-tenant", and so on.
func marginTables(title, id string, tenant, supplier, prefix, network []reconMargin) []marginTable {
	return []marginTable{
		{Title: title + " by tenant", ID: id + "-tenant", Key: "Tenant", Rows: tenant},
		{Title: title + " by supplier", ID: id + "-supplier", Key: "Supplier", Rows: supplier},
		{Title: title + " by destination prefix", ID: id + "-prefix", Key: "Prefix", Rows: prefix},
		{Title: title + " by destination network", ID: id + "-network", Key: "Network", Network: true, Rows: network},
	}
}

// reconReporting is the report's figures in the reporting currency: the
// messages converted (each at the rates in force at its acceptance), and
// those that could not be (no rate then), counted and the first listed.
type reconReporting struct {
	Currency            string        `json:"currency"`
	Messages            int64         `json:"messages"`
	Revenue             string        `json:"revenue"`
	Cost                string        `json:"cost"`
	Margin              string        `json:"margin"`
	MarginByTenant      []reconMargin `json:"margin_by_tenant"`
	MarginBySupplier    []reconMargin `json:"margin_by_supplier"`
	MarginByPrefix      []reconMargin `json:"margin_by_prefix"`
	MarginByNetwork     []reconMargin `json:"margin_by_network"`
	Unconverted         int64         `json:"unconverted"`
	UnconvertedMessages []struct {
		MessageID  string   `json:"message_id"`
		TenantID   string   `json:"tenant_id"`
		AcceptedAt string   `json:"accepted_at"`
		Currencies []string `json:"currencies"`
	} `json:"unconverted_messages"`
}

// Margins are the margins in the reporting currency, as the page shows
// them.
func (r *reconReporting) Margins() []marginTable {
	return marginTables("Margin in "+r.Currency, "reporting-margin", r.MarginByTenant, r.MarginBySupplier, r.MarginByPrefix, r.MarginByNetwork)
}

// invoiceReport is a supplier-invoice diff as POST
// /v1/reconciliation/invoice answers it.
type invoiceReport struct {
	SupplierID   string `json:"supplier_id"`
	Lines        int    `json:"lines"`
	Matched      int    `json:"matched"`
	InvoiceTotal string `json:"invoice_total"`
	OurTotal     string `json:"our_total"`
	Differences  []struct {
		Kind              string `json:"kind"`
		SupplierMessageID string `json:"supplier_message_id"`
		Ours              string `json:"ours"`
		Theirs            string `json:"theirs"`
	} `json:"differences"`
	DifferencesTotal int `json:"differences_total"`
}

// reconPage is the data of the reconciliation page.
type reconPage struct {
	From, To  string
	Suppliers []string // for the invoice form's choice
	Supplier  string
	Report    *reconReport
	Invoice   *invoiceReport
}

// reconciliationPage reconciles a period (GET /v1/reconciliation) when the
// form gives one, and offers the supplier-invoice upload.
func (c *Console) reconciliationPage(w http.ResponseWriter, r *http.Request, s *session) {
	liftWriteDeadline(w)
	q := r.URL.Query()
	d := c.reconForm(r, s, q.Get("from"), q.Get("to"), q.Get("supplier"))
	if d.From != "" || d.To != "" {
		var rep reconReport
		api := url.Values{"from": {apiTime(d.From)}, "to": {apiTime(d.To)}}
		if err := c.getJSON(r, s, "/v1/reconciliation?"+api.Encode(), &rep); err != nil {
			c.renderError(w, r, s, "reconciliation", err)
			return
		}
		d.Report = &rep
	}
	c.render(w, r, s, http.StatusOK, "reconciliation", "Reconciliation", "reconciliation", d)
}

// reconForm is the reconciliation page's forms, with the suppliers to
// choose an invoice's from (none listed if the API does not answer: the
// form then takes the id typed in).
func (c *Console) reconForm(r *http.Request, s *session, from, to, supplier string) reconPage {
	d := reconPage{From: strings.TrimSpace(from), To: strings.TrimSpace(to), Supplier: supplier}
	var list struct {
		Suppliers []struct {
			ID string `json:"id"`
		} `json:"suppliers"`
	}
	if err := c.getJSON(r, s, "/v1/suppliers", &list); err == nil {
		for _, sp := range list.Suppliers {
			d.Suppliers = append(d.Suppliers, sp.ID)
		}
	}
	return d
}

// invoiceUpload compares an uploaded supplier invoice with our CDRs (POST
// /v1/reconciliation/invoice) and shows the differences. It changes
// nothing, so its answer is the page itself; a refusal (e.g. the API's
// 400 naming a bad line) goes back to the reconciliation page, shown once.
func (c *Console) invoiceUpload(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.checkCSRF(w, r, s) {
		return
	}
	liftWriteDeadline(w)
	from, to, supplier := r.FormValue("from"), r.FormValue("to"), strings.TrimSpace(r.FormValue("supplier"))
	rep, err := c.compareInvoice(r, s, supplier, from, to)
	if err != nil {
		if ae, ok := err.(*APIError); ok && ae.Status == http.StatusUnauthorized {
			c.sessions.drop(s)
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
		c.sessions.setFlash(s, "", "Invoice of "+supplier+": "+err.Error())
		back := url.Values{"from": {from}, "to": {to}, "supplier": {supplier}}
		http.Redirect(w, r, "/console/reconciliation?"+back.Encode(), http.StatusSeeOther)
		return
	}
	d := c.reconForm(r, s, from, to, supplier)
	d.Invoice = rep
	c.render(w, r, s, http.StatusOK, "reconciliation", "Reconciliation", "reconciliation", d)
}

func (c *Console) compareInvoice(r *http.Request, s *session, supplier, from, to string) (*invoiceReport, error) {
	b, err := formFile(r, "file")
	if err != nil {
		return nil, err
	}
	q := url.Values{"supplier": {supplier}, "from": {apiTime(from)}, "to": {apiTime(to)}}
	res, err := c.call(r, s, http.MethodPost, "/v1/reconciliation/invoice?"+q.Encode(), b, "text/csv", "")
	if err != nil {
		return nil, err
	}
	var rep invoiceReport
	if err := json.Unmarshal(res.Body, &rep); err != nil {
		return nil, fmt.Errorf("console: the invoice report: %w", err)
	}
	return &rep, nil
}
