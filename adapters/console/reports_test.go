package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smsledger/smsledger/adapters/console"
	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/fx"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
	"github.com/smsledger/smsledger/eventstore/pgstore"
	"github.com/smsledger/smsledger/eventstore/pgstore/pgstoretest"
	"github.com/smsledger/smsledger/projections"
)

// projectionReports serves the API's reports from the projections of the
// test's database, as serve's reports (cmd/smsledger/reports.go) do; fx
// is the FX table in force (serve reads it from the log; nil: none).
type projectionReports struct {
	store *pgstore.Store
	pool  *pgxpool.Pool
	fx    func() *fx.Table
}

func (r projectionReports) CDRs(ctx context.Context, q httpapi.CDRQuery) (httpapi.CDRPage, error) {
	page, err := projections.QueryCDRs(ctx, r.pool, projections.CDRQuery{
		TenantID: q.TenantID, From: q.From, To: q.To, Status: q.Status, Destination: q.Destination,
		ClientRef: q.ClientRef, SupplierID: q.SupplierID, MCCMNC: q.MCCMNC, Cursor: q.Cursor, Limit: q.Limit,
	})
	if errors.Is(err, projections.ErrBadCursor) {
		return httpapi.CDRPage{}, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	if err != nil {
		return httpapi.CDRPage{}, err
	}
	out := httpapi.CDRPage{Columns: projections.CDRColumns, NextCursor: page.NextCursor}
	for i := range page.CDRs {
		out.Rows = append(out.Rows, page.CDRs[i].Strings())
	}
	return out, nil
}

func (r projectionReports) Reconcile(ctx context.Context, from, to time.Time) (any, error) {
	var table *fx.Table
	if r.fx != nil {
		table = r.fx()
	}
	return projections.Reconcile(ctx, r.pool, from, to, table)
}

func (r projectionReports) Replay(ctx context.Context) (any, error) {
	return nil, errors.New("no replay in the console's tests")
}

func (r projectionReports) CompareInvoice(ctx context.Context, supplier string, from, to time.Time, invoice io.Reader) (any, error) {
	lines, err := projections.ParseInvoiceCSV(invoice)
	if errors.Is(err, projections.ErrInvoice) {
		return nil, fmt.Errorf("%w: %w", httpapi.ErrBadRequest, err)
	}
	if err != nil {
		return nil, err
	}
	return projections.CompareInvoice(ctx, r.pool, supplier, from, to, lines)
}

// reportEnv is a console (as console_test.go's start makes it) whose API
// has its Reports from the projections, which run live on the test's
// database; tenants acme and beta (keys acme, beta) send to 49… through
// sup1.
type reportEnv struct {
	*env
	store      *pgstore.Store
	rt         *projections.Runtime
	acme, beta string
}

func startReports(t *testing.T) *reportEnv {
	t.Helper()
	ctx := context.Background()
	pool := pgstoretest.Pool(t, 16)
	store, err := pgstore.Open(ctx, pool, pgstore.Options{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	svc := ledgertest.Start(t, store, ledger.Options{})
	reg := prometheus.NewRegistry()
	api := httpapi.NewHandler(svc, httpapi.Options{AdminToken: admin, Registry: reg, Reports: projectionReports{store, pool, svc.FXTable}})
	con, err := console.New(console.Options{API: api, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := projections.StartWithOptions(ctx, store, pool, projections.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, con)
	mux.Handle("/", api)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &reportEnv{env: &env{t: t, url: srv.URL, svc: svc, reg: reg, con: con}, store: store, rt: rt}
	e.acme, e.beta = e.tenant("acme"), e.tenant("beta")
	e.call("POST", "/v1/suppliers", admin, `{"id":"sup1","name":"S","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s","password":"p","binds":1,"tps_limit":100,"window":10}`, 201)
	e.call("PUT", "/v1/suppliers/sup1/costs", admin, `[{"prefix":"49","cost":"0.02"}]`, 200)
	e.call("PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1"]}]`, 200)
	return e
}

// call makes an API call at e.url (as a client of the platform, not
// through the console) and wants status; it returns the JSON answer.
func (e *reportEnv) call(method, path, token, body string, status int) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, raw, status)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

// tenant creates tenant id (EUR, on_submit, 0.05 for 49…, 0.07 for
// 4915…), tops it up and returns an API key of it.
func (e *reportEnv) tenant(id string) string {
	e.t.Helper()
	e.call("POST", "/v1/tenants", admin, fmt.Sprintf(`{"id":%q,"name":"T","currency":"EUR","billing":"on_submit","tps_limit":0,"credit_limit":"0","tier":"premium"}`, id), 201)
	e.call("PUT", "/v1/tenants/"+id+"/rates", admin, `[{"prefix":"49","price":"0.05"},{"prefix":"4915","price":"0.07"}]`, 200)
	e.call("POST", "/v1/tenants/"+id+"/topups", admin, `{"amount":"10","reference":"first"}`, 201)
	return e.call("POST", "/v1/tenants/"+id+"/api-keys", admin, "", 201)["key"].(string)
}

// send sends a message with a tenant's key and returns its id.
func (e *reportEnv) send(key, to, clientRef string) string {
	e.t.Helper()
	body := fmt.Sprintf(`{"from":"ACME","to":%q,"text":"hello"`, to)
	if clientRef != "" {
		body += fmt.Sprintf(`,"client_ref":%q`, clientRef)
	}
	return e.call("POST", "/v1/messages", key, body+"}", 202)["message_id"].(string)
}

// deliver takes a routed message through its supplier as the relay would:
// submitted to sup1, accepted by it as smid, a DELIVRD DLR, forwarded.
func (e *reportEnv) deliver(id, smid string) {
	e.t.Helper()
	ctx := context.Background()
	mid := uuidOf(e.t, id)
	if _, err := e.svc.SubmittedToSupplier(ctx, mid); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.SupplierAccepted(ctx, mid, "sup1", 1, smid, 4*time.Millisecond); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.DeliveryReported(ctx, "sup1", smid, "DELIVRD", "000", time.Now()); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.DeliveryForwarded(ctx, mid); err != nil {
		e.t.Fatal(err)
	}
}

// catchUp waits until the projections have applied the whole log (the
// CDRs lag the log by design).
func (e *reportEnv) catchUp() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	head, err := e.store.Head(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rt.WaitFor(ctx, head); err != nil {
		e.t.Fatalf("projections at %+v, log at %d: %v", e.rt.Lag(), head, err)
	}
}

// reportElement is the element of id in page (up to its closing tag, for
// tables and lists), or fails the test.
func reportElement(t *testing.T, page, tag, id string) string {
	t.Helper()
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no #%s in the page:\n%s", id, page)
	}
	j := strings.Index(page[i:], "</"+tag+">")
	if j < 0 {
		t.Fatalf("#%s is not closed", id)
	}
	return page[i : i+j]
}

// reportFlash is the one-time error shown on page.
var reportFlash = regexp.MustCompile(`<p class="error" id="error">([^<]*)</p>`)

// period is the reconciliation form's days around now.
func period() (from, to string) {
	now := time.Now().UTC()
	return now.AddDate(0, 0, -1).Format("2006-01-02"), now.AddDate(0, 0, 2).Format("2006-01-02")
}

// The CDR page filters by tenant, status and destination through the API,
// shows the API's message for bad filters, and exports the same filters as
// CSV.
func TestCDRFiltersAndCSV(t *testing.T) {
	e := startReports(t)
	a1 := e.send(e.acme, "+4915112345678", "order-1")
	a2 := e.send(e.acme, "+4930123456", "")
	b1 := e.send(e.beta, "+4915112345678", "")
	e.deliver(a1, "smid-a1")
	e.catchUp()
	b := e.signedIn()
	res, page := b.get("/console/cdrs")
	table := reportElement(t, page, "table", "cdrs")
	if res.StatusCode != 200 || !strings.Contains(table, "<th>message_id</th>") || !strings.Contains(table, "<th>client_ref</th>") {
		t.Fatalf("CDR page: %d\n%s", res.StatusCode, table)
	}
	for _, id := range []string{a1, a2, b1} {
		if !strings.Contains(table, `href="/console/messages/`+id+`"`) {
			t.Errorf("every tenant's CDRs: %s is missing", id)
		}
	}
	if !strings.Contains(table, `<td class="num">0.07</td>`) {
		t.Errorf("money is not in td.num:\n%s", table)
	}
	for _, tc := range []struct {
		query   string
		in, out []string
	}{
		{"tenant_id=beta", []string{b1}, []string{a1, a2}},
		{"status=delivered", []string{a1}, []string{a2, b1}},
		{"destination=%2B4915112345678", []string{a1, b1}, []string{a2}},
		{"client_ref=order-1&tenant_id=acme", []string{a1}, []string{a2, b1}},
		{"supplier_id=sup1&tenant_id=acme&status=routed", []string{a2}, []string{a1, b1}},
	} {
		_, page := b.get("/console/cdrs?" + tc.query)
		table := reportElement(t, page, "table", "cdrs")
		for _, id := range tc.in {
			if !strings.Contains(table, id) {
				t.Errorf("%s: %s is missing", tc.query, id)
			}
		}
		for _, id := range tc.out {
			if strings.Contains(table, id) {
				t.Errorf("%s: %s is shown", tc.query, id)
			}
		}
	}
	// The form keeps the filters, and the CSV link exports them.
	_, page = b.get("/console/cdrs?tenant_id=beta&status=routed")
	if !strings.Contains(page, `id="cdr-tenant" value="beta"`) || !strings.Contains(page, `<option value="routed" selected>`) {
		t.Errorf("the filter form does not keep the filters")
	}
	link := regexp.MustCompile(`href="([^"]+)" id="cdr-csv"`).FindStringSubmatch(page)
	if link == nil {
		t.Fatalf("no CSV link:\n%s", page)
	}
	href := strings.ReplaceAll(link[1], "&amp;", "&")
	if href != "/console/cdrs.csv?status=routed&tenant_id=beta" {
		t.Errorf("CSV link %q", href)
	}
	res, csv := b.get(href)
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") || len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "message_id,tenant_id,") || !strings.HasPrefix(lines[1], b1+",beta,") {
		t.Errorf("CSV export: %d %v\n%s", res.StatusCode, res.Header, csv)
	}
	// A filter the API refuses: its message, the form kept.
	res, page = b.get("/console/cdrs?from=yesterday&tenant_id=acme")
	if res.StatusCode != 400 || !strings.Contains(page, "from must be an RFC 3339 time or a date") || !strings.Contains(page, `id="cdr-tenant" value="acme"`) {
		t.Errorf("bad from: %d\n%s", res.StatusCode, page)
	}
	// datetime-local values are times in UTC.
	_, page = b.get("/console/cdrs?from=2001-01-01T10:00&to=2001-01-02T10:00")
	if table := reportElement(t, page, "table", "cdrs"); !strings.Contains(table, "No CDR matches") {
		t.Errorf("a period of 2001 shows CDRs:\n%s", table)
	}
}

// pagedReports serves CDRs in pages of two from a fixed list, with a
// cursor that is the next row's index.
type pagedReports struct {
	projectionReports
	ids []string
}

func (p pagedReports) CDRs(ctx context.Context, q httpapi.CDRQuery) (httpapi.CDRPage, error) {
	at := 0
	if q.Cursor != "" {
		fmt.Sscan(q.Cursor, &at)
	}
	page := httpapi.CDRPage{Columns: []string{"message_id", "tenant_id", "price"}}
	for i := at; i < len(p.ids) && i < at+2; i++ {
		page.Rows = append(page.Rows, []string{p.ids[i], q.TenantID, "0.05"})
	}
	if at+2 < len(p.ids) {
		page.NextCursor = fmt.Sprint(at + 2)
	}
	return page, nil
}

// The CDR page links its next page; the CSV export is every page, one
// header.
func TestCDRPagesAndExportOfEveryPage(t *testing.T) {
	ids := []string{"m1", "m2", "m3", "m4", "m5"}
	e := start(t, httpapi.Options{Reports: pagedReports{ids: ids}})
	b := e.signedIn()
	_, page := b.get("/console/cdrs?tenant_id=acme")
	next := regexp.MustCompile(`href="([^"]+)" id="cdr-next"`).FindStringSubmatch(page)
	if next == nil || !strings.Contains(page, ">m2<") || strings.Contains(page, ">m3<") {
		t.Fatalf("first page:\n%s", page)
	}
	if _, page = b.get(strings.ReplaceAll(next[1], "&amp;", "&")); !strings.Contains(page, ">m3<") || !strings.Contains(page, ">m4<") || strings.Contains(page, ">m2<") {
		t.Errorf("second page:\n%s", page)
	}
	_, csv := b.get("/console/cdrs.csv?tenant_id=acme")
	want := "message_id,tenant_id,price\nm1,acme,0.05\nm2,acme,0.05\nm3,acme,0.05\nm4,acme,0.05\nm5,acme,0.05\n"
	if csv != want {
		t.Errorf("export %q, want %q", csv, want)
	}
}

// The reconciliation page shows a period's checks and totals; an uploaded
// invoice shows its differences with our CDRs; a bad line shows the API's
// 400 naming it.
func TestReconciliationChecksAndInvoice(t *testing.T) {
	e := startReports(t)
	a1, a2 := e.send(e.acme, "+4915112345678", ""), e.send(e.acme, "+4915112345679", "")
	e.send(e.beta, "+4930123456", "")
	e.deliver(a1, "smid-1")
	e.deliver(a2, "smid-2")
	e.catchUp()
	b := e.signedIn()
	from, to := period()
	res, page := b.get("/console/reconciliation?from=" + from + "&to=" + to)
	checks := reportElement(t, page, "table", "checks")
	if res.StatusCode != 200 || strings.Count(checks, "<tr><td>") < 3 || strings.Contains(checks, "badge fail") || !strings.Contains(checks, `<span class="badge pass">pass</span>`) {
		t.Fatalf("reconciliation: %d\n%s", res.StatusCode, checks)
	}
	tenants := reportElement(t, page, "table", "recon-tenants")
	if !strings.Contains(tenants, "<td>acme</td>") || !strings.Contains(tenants, "0.14 EUR") {
		t.Errorf("tenants' totals:\n%s", tenants)
	}
	if sup := reportElement(t, page, "table", "recon-suppliers"); !strings.Contains(sup, "<td>sup1</td>") || !strings.Contains(sup, "0.04 EUR") {
		t.Errorf("suppliers' totals:\n%s", sup)
	}
	if !strings.Contains(page, `<option value="sup1" selected>`) && !strings.Contains(page, `<option value="sup1" >`) {
		t.Errorf("the invoice form does not offer sup1")
	}

	// smid-1 as we have it; smid-2 billed dearer; smid-9 not ours.
	invoice := "supplier_message_id,destination,parts,cost,date\n" +
		"smid-1,+4915112345678,1,0.02," + from + "\n" +
		"smid-2,4915112345679,1,0.03," + from + "\n" +
		"smid-9,4915112345670,1,0.02," + from + "\n"
	form := url.Values{"supplier": {"sup1"}, "from": {from}, "to": {to}}
	res, page = b.postFile("/console/reconciliation/invoice", form, "file", "invoice.csv", []byte(invoice))
	diff := reportElement(t, page, "table", "invoice-diff")
	if res.StatusCode != 200 || !strings.Contains(page, "Invoice of sup1: 3 lines, 1 matched, 2 differences") {
		t.Fatalf("invoice: %d\n%s", res.StatusCode, page)
	}
	for _, want := range []string{`>cost</span></td><td><code>smid-2</code></td><td class="num">0.02</td><td class="num">0.03</td>`,
		`>missing_in_ours</span></td><td><code>smid-9</code></td>`} {
		if !strings.Contains(diff, want) {
			t.Errorf("the diff lacks %s:\n%s", want, diff)
		}
	}
	if sum := reportElement(t, page, "table", "invoice-summary"); !strings.Contains(sum, "0.07") || !strings.Contains(sum, "0.04") {
		t.Errorf("invoice totals:\n%s", sum)
	}

	// A bad line: back to the page, the API's message shown once.
	bad := "smid-1,4915112345678,1,0.02," + from + "\nsmid-2,4915112345679,one,0.02," + from + "\n"
	res, _ = b.postFile("/console/reconciliation/invoice", form, "file", "invoice.csv", []byte(bad))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("bad invoice: %d, want a redirect", res.StatusCode)
	}
	_, page = b.follow(res)
	if m := reportFlash.FindStringSubmatch(page); m == nil || !strings.Contains(m[1], "line 2: parts") {
		t.Errorf("bad invoice: the page shows no error naming line 2:\n%s", page)
	}
	if !strings.Contains(page, `id="invoice-from" value="`+from+`"`) {
		t.Errorf("the period is not kept after a refused invoice")
	}
	// The form's CSRF token is required.
	form.Set("csrf", "forged")
	if res, _ := b.postFile("/console/reconciliation/invoice", form, "file", "invoice.csv", []byte(invoice)); res.StatusCode != http.StatusForbidden {
		t.Errorf("forged CSRF: %d, want 403", res.StatusCode)
	}
}

// The reconciliation page shows margins per destination network (its
// country and operator; the messages of no known network as unknown) and,
// once the platform has an FX table, the period in its base currency: the
// messages converted at the rate of their acceptance, the one accepted
// before any rate of its currency listed as not converted. The CDRs carry
// the network and filter by it.
func TestReconciliationByNetworkAndReportingCurrency(t *testing.T) {
	e := startReports(t)
	b := e.signedIn()
	putCSV := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest("PUT", e.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "text/csv")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("PUT %s: %d %s", path, res.StatusCode, raw)
		}
	}
	putCSV("/v1/numbering", "prefix,mcc,mnc,country,operator\n4915,262,01,Germany,Telekom\n")
	e.call("POST", "/v1/tenants", admin, `{"id":"yank","name":"Y","currency":"USD","billing":"on_submit","tps_limit":0,"credit_limit":"0","tier":"premium"}`, 201)
	e.call("PUT", "/v1/tenants/yank/rates", admin, `[{"prefix":"49","price":"0.05"},{"prefix":"4915","price":"0.07"}]`, 200)
	e.call("POST", "/v1/tenants/yank/topups", admin, `{"amount":"10","reference":"first"}`, 201)
	yank := e.call("POST", "/v1/tenants/yank/api-keys", admin, "", 201)["key"].(string)

	early := e.send(yank, "+4915112345670", "") // before any USD rate
	e.deliver(early, "smid-early")
	e.catchUp()
	from, to := period()
	_, page := b.get("/console/reconciliation?from=" + from + "&to=" + to)
	if strings.Contains(page, `id="reporting-currency"`) {
		t.Fatalf("a reporting currency without an FX table:\n%s", page)
	}

	fxFrom := time.Now().UTC().Format(time.RFC3339Nano)
	e.call("PUT", "/v1/fx", admin, `{"base":"EUR","rates":[{"currency":"USD","rate":"0.9","from":"`+fxFrom+`"}]}`, 200)
	telekom, unknown := e.send(e.acme, "+4915112345678", ""), e.send(e.acme, "+4930123456", "")
	late := e.send(yank, "+4915112345679", "")
	for i, id := range []string{telekom, unknown, late} {
		e.deliver(id, fmt.Sprintf("smid-%d", i))
	}
	e.catchUp()

	// The CDRs carry the network, and filter by it.
	_, page = b.get("/console/cdrs?mccmnc=26201&tenant_id=acme")
	table := reportElement(t, page, "table", "cdrs")
	if !strings.Contains(table, "<th>mccmnc</th>") || !strings.Contains(table, "<td>Telekom</td>") ||
		!strings.Contains(table, telekom) || strings.Contains(table, unknown) || strings.Contains(table, early) {
		t.Errorf("CDRs of 26201:\n%s", table)
	}

	// A tenant's key reads its destinations' networks, and filters by
	// them.
	items, _ := e.call("GET", "/v1/cdrs?mccmnc=26201", e.acme, "", 200)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("acme's CDRs of 26201: %v", items)
	}
	if c := items[0].(map[string]any); c["message_id"] != telekom || c["mccmnc"] != "26201" || c["country"] != "Germany" || c["operator"] != "Telekom" {
		t.Errorf("acme's CDR of 26201: %v", c)
	}

	res, page := b.get("/console/reconciliation?from=" + from + "&to=" + to)
	if res.StatusCode != 200 {
		t.Fatalf("reconciliation: %d\n%s", res.StatusCode, page)
	}
	network := reportElement(t, page, "table", "margin-network")
	for _, want := range []string{
		`<td>26201</td><td>Germany</td><td>Telekom</td><td class="num">1</td><td class="num">0.07 EUR</td><td class="num">0.02 EUR</td><td class="num">0.05</td>`,
		`<td>26201</td><td>Germany</td><td>Telekom</td><td class="num">2</td><td class="num">0.14 USD</td><td class="num">0.04 EUR</td><td class="num"><span class="muted">currencies differ</span></td>`,
		`<td><span class="muted">unknown</span></td><td></td><td></td><td class="num">1</td><td class="num">0.05 EUR</td>`,
	} {
		if !strings.Contains(network, want) {
			t.Errorf("margin by network lacks %s:\n%s", want, network)
		}
	}
	// In EUR: acme's 0.07 + 0.05, yank's late 0.07 USD at 0.9; costs 0.02
	// each; yank's early message not converted.
	totals := reportElement(t, page, "table", "reporting-currency")
	if want := `<td>EUR</td><td class="num">3</td><td class="num">0.183</td><td class="num">0.06</td><td class="num">0.123</td><td class="num"><span class="badge fail">1</span></td>`; !strings.Contains(totals, want) {
		t.Errorf("reporting-currency totals lack %s:\n%s", want, totals)
	}
	if un := reportElement(t, page, "table", "reporting-unconverted"); !strings.Contains(un, early) || !strings.Contains(un, "<td>yank</td>") || !strings.Contains(un, "<td>USD</td>") ||
		strings.Contains(un, late) {
		t.Errorf("not converted:\n%s", un)
	}
	if rn := reportElement(t, page, "table", "reporting-margin-network"); !strings.Contains(rn, `<td>26201</td><td>Germany</td><td>Telekom</td><td class="num">2</td><td class="num">0.133 EUR</td><td class="num">0.04 EUR</td><td class="num">0.093</td>`) {
		t.Errorf("margin by network in EUR:\n%s", rn)
	}
	// The same report through the API.
	rep := e.call("GET", "/v1/reconciliation?from="+from+"&to="+to, admin, "", 200)
	if rc, ok := rep["reporting_currency"].(map[string]any); !ok || rc["currency"] != "EUR" || rc["margin"] != "0.123" || rc["unconverted"] != 1.0 {
		t.Errorf("the API's reporting currency: %v", rep["reporting_currency"])
	}
}
