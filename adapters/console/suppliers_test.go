package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/projections"
)

// supplierStates is a fixed live state of the suppliers, as serve's relay
// would report it.
type supplierStates map[string]ledger.SupplierLive

func (f supplierStates) SupplierState(id string) (ledger.SupplierLive, bool) {
	l, ok := f[id]
	return l, ok
}

// supplierAPI calls the HTTP API at e.url directly (not through the
// console) with the admin token, as a client of the platform would.
func supplierAPI(t *testing.T, e *env, method, path, contentType, accept, body string) (int, []byte) {
	t.Helper()
	return apiRaw(t, e, method, path, admin, contentType, accept, body)
}

// supplierAPIJSON is supplierAPI with a JSON body and answer.
func supplierAPIJSON(t *testing.T, e *env, method, path, body string) (int, map[string]any) {
	t.Helper()
	st, b := supplierAPI(t, e, method, path, "application/json", "", body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return st, m
}

// supplierAPIMessage is the message of an error answer of the API.
func supplierAPIMessage(t *testing.T, st int, raw []byte) string {
	t.Helper()
	var e struct{ Error struct{ Message string } }
	if st < 400 || json.Unmarshal(raw, &e) != nil || e.Error.Message == "" {
		t.Fatalf("the API answered %d %s, not an error to compare with", st, raw)
	}
	return e.Error.Message
}

// supplierCreate creates supplier id over the API (binds 2, TPS limit
// 100), with the cost deck 49 → 0.02 so that routes may name it.
func supplierCreate(t *testing.T, e *env, id string) {
	t.Helper()
	body := `{"id":"` + id + `","name":"Supplier ` + id + `","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s","password":"p","binds":2,"tps_limit":100,"window":10}`
	if st, m := supplierAPIJSON(t, e, "POST", "/v1/suppliers", body); st != http.StatusCreated {
		t.Fatalf("create supplier %s: %d %v", id, st, m)
	}
	if st, raw := supplierAPI(t, e, "PUT", "/v1/suppliers/"+id+"/costs", "text/csv", "", "prefix,cost\n49,0.02\n"); st != http.StatusOK {
		t.Fatalf("costs of %s: %d %s", id, st, raw)
	}
}

// supplierField reads one field of GET /v1/suppliers/{id}.
func supplierField(t *testing.T, e *env, id, field string) any {
	t.Helper()
	st, m := supplierAPIJSON(t, e, "GET", "/v1/suppliers/"+id, "")
	if st != http.StatusOK {
		t.Fatalf("GET supplier %s: %d %v", id, st, m)
	}
	return m[field]
}

// supplierPost posts a console form (or, with file, a multipart upload),
// expects the redirect to want, and returns the page it leads to.
func supplierPost(t *testing.T, b *browser, path string, form url.Values, file []byte, want string) string {
	t.Helper()
	var res *http.Response
	if file != nil {
		res, _ = b.postFile(path, form, "file", "deck.csv", file)
	} else {
		res, _ = b.post(path, form)
	}
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
		t.Fatalf("POST %s: %d to %q, want a redirect to %s", path, res.StatusCode, res.Header.Get("Location"), want)
	}
	_, body := b.follow(res)
	return body
}

var (
	supplierTags  = regexp.MustCompile(`<[^>]*>`)
	supplierSpace = regexp.MustCompile(`\s+`)
)

// supplierText is the text of an HTML fragment, tags dropped and white
// space collapsed.
func supplierText(fragment string) string {
	s := html.UnescapeString(supplierTags.ReplaceAllString(fragment, " "))
	return strings.TrimSpace(supplierSpace.ReplaceAllString(s, " "))
}

// supplierRow is the text of the row of table tableID (on page) that
// links to href.
func supplierRow(t *testing.T, page, tableID, href string) string {
	t.Helper()
	i := strings.Index(page, `id="`+tableID+`"`)
	if i < 0 {
		t.Fatalf("no table #%s on the page", tableID)
	}
	table := page[i:]
	table = table[:strings.Index(table, "</table>")]
	for _, row := range strings.Split(table, "<tr>")[1:] {
		if strings.Contains(row, `href="`+href+`"`) {
			return supplierText(row)
		}
	}
	t.Fatalf("no row of #%s links to %s", tableID, href)
	return ""
}

// supplierShows checks that page shows msg as its one-time notice or
// error (kind "notice" or "error").
func supplierShows(t *testing.T, page, kind, msg string) {
	t.Helper()
	m := regexp.MustCompile(`<p class="` + kind + `" id="` + kind + `">([^<]*)</p>`).FindStringSubmatch(page)
	if m == nil || !strings.Contains(html.UnescapeString(m[1]), msg) {
		t.Errorf("the page's %s is %q, want %q", kind, m, msg)
	}
}

func TestSupplierListShowsLiveState(t *testing.T) {
	states := supplierStates{"sup1": {Running: true, BindsUp: 1, Binds: 2, QueueDepth: 7, TPS: 42.5, Up: true, HealthScore: 870}}
	e := start(t, httpapi.Options{SupplierStates: states})
	supplierCreate(t, e, "sup1")
	b := e.signedIn()

	// One more through the create form; it opens the new supplier's page.
	form := url.Values{"id": {"sup2"}, "name": {"Second"}, "currency": {"EUR"}, "host": {"smsc.example"}, "port": {"2776"},
		"system_id": {"me"}, "password": {"pw"}, "binds": {"1"}, "tps_limit": {"50"}, "window": {"5"}, "billing": {"on_delivery"}}
	page := supplierPost(t, b, "/console/suppliers", form, nil, "/console/suppliers/sup2")
	supplierShows(t, page, "notice", "Supplier sup2 created")
	for field, want := range map[string]any{"name": "Second", "host": "smsc.example", "port": 2776.0, "tps_limit": 50.0, "window": 5.0, "billing": "on_delivery", "status": "active"} {
		if got := supplierField(t, e, "sup2", field); got != want {
			t.Errorf("created sup2: %s = %v, want %v", field, got, want)
		}
	}
	if st, m := supplierAPIJSON(t, e, "PATCH", "/v1/suppliers/sup2", `{"status":"disabled"}`); st != http.StatusOK {
		t.Fatalf("disable sup2: %d %v", st, m)
	}

	res, page := b.get("/console/suppliers")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /console/suppliers: %d", res.StatusCode)
	}
	if got, want := supplierRow(t, page, "suppliers", "/console/suppliers/sup1"), "sup1 Supplier sup1 active 1 / 2 7 42.5 / 100 870 on_submit"; got != want {
		t.Errorf("row of sup1: %q, want %q", got, want)
	}
	if got, want := supplierRow(t, page, "suppliers", "/console/suppliers/sup2"), "sup2 Second disabled – / 1 – – / 50 – on_delivery"; got != want {
		t.Errorf("row of sup2 (no live state): %q, want %q", got, want)
	}
	for _, want := range []string{`<span class="badge disabled">disabled</span>`, `id="health-chart" src="/console/charts/health.svg" data-refresh="10000"`, `id="create-supplier"`, `id="create-supplier-submit"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the suppliers page lacks %s", want)
		}
	}

	// Bad input: a port that is no number is caught by the console; an
	// id taken is the API's to refuse, and its message is shown.
	form.Set("port", "x")
	page = supplierPost(t, b, "/console/suppliers", form, nil, "/console/suppliers")
	supplierShows(t, page, "error", `port must be a whole number, not "x"`)
	body := `{"id":"sup1","name":"Again","currency":"EUR","host":"h","port":1,"system_id":"s","password":"p"}`
	st, raw := supplierAPI(t, e, "POST", "/v1/suppliers", "application/json", "", body)
	want := supplierAPIMessage(t, st, raw)
	form = url.Values{"id": {"sup1"}, "name": {"Again"}, "currency": {"EUR"}, "host": {"h"}, "port": {"1"}, "system_id": {"s"}, "password": {"p"}}
	page = supplierPost(t, b, "/console/suppliers", form, nil, "/console/suppliers")
	supplierShows(t, page, "error", want)
	if got := supplierField(t, e, "sup1", "name"); got != "Supplier sup1" {
		t.Errorf("a refused create changed sup1: name %v", got)
	}
}

func TestSupplierDisableEnableAndSettings(t *testing.T) {
	e := start(t, httpapi.Options{})
	supplierCreate(t, e, "sup1")
	b := e.signedIn()
	res, page := b.get("/console/suppliers/sup1")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `id="supplier-state"`) {
		t.Fatalf("supplier page: %d", res.StatusCode)
	}
	if !regexp.MustCompile(`<form [^>]*id="disable" data-confirm="[^"]+"`).MatchString(page) || !strings.Contains(page, `id="disable-submit"`) {
		t.Error("the disable form is missing or asks no confirmation")
	}

	page = supplierPost(t, b, "/console/suppliers/sup1/disable", nil, nil, "/console/suppliers/sup1")
	supplierShows(t, page, "notice", "Supplier sup1 disabled")
	if got := supplierField(t, e, "sup1", "status"); got != "disabled" {
		t.Fatalf("after disable the API says status %v", got)
	}
	if !strings.Contains(page, `id="enable-submit"`) || strings.Contains(page, `id="disable"`) {
		t.Error("a disabled supplier's page should offer enable, not disable")
	}
	page = supplierPost(t, b, "/console/suppliers/sup1/enable", nil, nil, "/console/suppliers/sup1")
	supplierShows(t, page, "notice", "Supplier sup1 enabled")
	if got := supplierField(t, e, "sup1", "status"); got != "active" {
		t.Fatalf("after enable the API says status %v", got)
	}

	// Settings: only what changed is sent.
	settings := url.Values{"tps_limit": {"250"}, "was_tps_limit": {"100"}, "binds": {"2"}, "was_binds": {"2"},
		"window": {"10"}, "was_window": {"10"}, "dlr_grace_s": {"600"}, "was_dlr_grace_s": {"3600"},
		"billing": {"on_submit"}, "was_billing": {"on_submit"}}
	page = supplierPost(t, b, "/console/suppliers/sup1/settings", settings, nil, "/console/suppliers/sup1")
	supplierShows(t, page, "notice", "settings saved")
	for field, want := range map[string]any{"tps_limit": 250.0, "dlr_grace_s": 600.0, "binds": 2.0, "window": 10.0} {
		if got := supplierField(t, e, "sup1", field); got != want {
			t.Errorf("after the settings form: %s = %v, want %v", field, got, want)
		}
	}
	settings.Set("window", "ten")
	page = supplierPost(t, b, "/console/suppliers/sup1/settings", settings, nil, "/console/suppliers/sup1")
	supplierShows(t, page, "error", `window must be a whole number, not "ten"`)
	st, raw := supplierAPI(t, e, "PATCH", "/v1/suppliers/sup1", "application/json", "", `{"window":-1}`)
	want := supplierAPIMessage(t, st, raw)
	settings.Set("window", "-1")
	page = supplierPost(t, b, "/console/suppliers/sup1/settings", settings, nil, "/console/suppliers/sup1")
	supplierShows(t, page, "error", want)
	if got := supplierField(t, e, "sup1", "window"); got != 10.0 {
		t.Errorf("a refused patch changed the window: %v", got)
	}

	if res, _ := b.get("/console/suppliers/ghost"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown supplier's page: %d, want 404", res.StatusCode)
	}
}

func TestSupplierCostDeckRoundTrip(t *testing.T) {
	e := start(t, httpapi.Options{})
	supplierCreate(t, e, "sup1")
	b := e.signedIn()
	deck := "prefix,cost\n49,0.02\n4915,0.025\n4917,0.0199\n"
	page := supplierPost(t, b, "/console/suppliers/sup1/costs", nil, []byte(deck), "/console/suppliers/sup1")
	supplierShows(t, page, "notice", "Cost deck of sup1 replaced: 3 lines.")
	if !strings.Contains(page, `<span id="costs-count">3</span>`) {
		t.Error("the page does not count the cost deck's 3 prefixes")
	}
	if !strings.Contains(supplierText(page), "4915 0.025") {
		t.Error("the cost table does not show 4915 at 0.025")
	}

	res, body := b.get("/console/suppliers/sup1/costs.csv")
	if res.StatusCode != http.StatusOK || body != deck ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %q %q %q, want the deck uploaded as an attachment", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"), body)
	}
	if st, raw := supplierAPI(t, e, "GET", "/v1/suppliers/sup1/costs", "", "text/csv", ""); st != http.StatusOK || string(raw) != deck {
		t.Fatalf("the API's deck: %d %q", st, raw)
	}
	// What was downloaded uploads again unchanged.
	supplierPost(t, b, "/console/suppliers/sup1/costs", nil, []byte(body), "/console/suppliers/sup1")
	if _, again := b.get("/console/suppliers/sup1/costs.csv"); again != deck {
		t.Fatalf("after uploading the download: %q", again)
	}

	// A bad deck: the API's message names the line; the deck stays.
	bad := "prefix,cost\n49,0.02\n4915,abc\n"
	st, raw := supplierAPI(t, e, "PUT", "/v1/suppliers/sup1/costs", "text/csv", "", bad)
	want := supplierAPIMessage(t, st, raw)
	if !strings.Contains(want, "line 3") {
		t.Fatalf("the API's message %q does not name line 3", want)
	}
	page = supplierPost(t, b, "/console/suppliers/sup1/costs", nil, []byte(bad), "/console/suppliers/sup1")
	supplierShows(t, page, "error", want)
	if _, after := b.get("/console/suppliers/sup1/costs.csv"); after != deck {
		t.Fatalf("a refused deck changed the costs: %q", after)
	}

	// A long deck: the page shows its first 200 lines and counts them all;
	// the download has them all.
	var long strings.Builder
	long.WriteString("prefix,cost\n")
	for i := range 250 {
		fmt.Fprintf(&long, "49%03d,0.01\n", i)
	}
	page = supplierPost(t, b, "/console/suppliers/sup1/costs", nil, []byte(long.String()), "/console/suppliers/sup1")
	if !strings.Contains(page, `<span id="costs-count">250</span>, the first 200 shown`) || strings.Count(page, `<td class="num">0.01</td>`) != 200 {
		t.Error("the page of a 250-line deck should show 200 lines and count 250")
	}
	if _, all := b.get("/console/suppliers/sup1/costs.csv"); all != long.String() {
		t.Error("the download of the long deck is not the deck uploaded")
	}
}

func TestSupplierHealthChart(t *testing.T) {
	e := start(t, httpapi.Options{})
	supplierCreate(t, e, "sup1")
	b := e.signedIn()
	_, page := b.get("/console/suppliers/sup1")
	if !strings.Contains(page, `id="supplier-health-chart" src="/console/charts/health.svg?supplier=sup1" data-refresh="10000"`) {
		t.Fatal("the supplier page has no health chart of sup1")
	}
	for _, p := range []string{"/console/charts/health.svg?supplier=sup1", "/console/charts/health.svg"} {
		res, body := b.get(p)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, "<svg") {
			t.Errorf("GET %s: %d %q, want an SVG", p, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	// Every link and image of the page (below the menu) stays in the
	// console and answers.
	content := page[strings.Index(page, "<main"):]
	for _, m := range regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(content, -1) {
		p := html.UnescapeString(m[1])
		if !strings.HasPrefix(p, "/console/") {
			t.Errorf("the supplier page refers to %q, outside the console", p)
			continue
		}
		if res, _ := b.get(p); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, res.StatusCode)
		}
	}
}

func TestRouteTableUploadAndDownload(t *testing.T) {
	e := start(t, httpapi.Options{})
	supplierCreate(t, e, "sup1")
	supplierCreate(t, e, "sup2")
	b := e.signedIn()
	if res, page := b.get("/console/routes"); res.StatusCode != http.StatusOK || !strings.Contains(page, "No routes yet") {
		t.Fatalf("empty route table: %d", res.StatusCode)
	}

	table := "prefix,suppliers\n49,sup2 sup1\n4915,sup1\n"
	page := supplierPost(t, b, "/console/routes", nil, []byte(table), "/console/routes")
	supplierShows(t, page, "notice", "Route table replaced: 2 routes.")
	st, m := supplierAPIJSON(t, e, "GET", "/v1/routes", "")
	got, _ := json.Marshal(m["routes"])
	if want := `[{"prefix":"49","suppliers":["sup2","sup1"]},{"prefix":"4915","suppliers":["sup1"]}]`; st != http.StatusOK || string(got) != want {
		t.Fatalf("GET /v1/routes after the upload: %d %s, want %s", st, got, want)
	}
	if got, want := supplierRow(t, page, "routes", "/console/suppliers/sup2"), "49 sup2 → sup1 – all day"; got != want {
		t.Errorf("route 49: %q, want %q", got, want)
	}
	res, body := b.get("/console/routes.csv")
	if res.StatusCode != http.StatusOK || body != table || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %q, want %q as an attachment", res.StatusCode, body, table)
	}
	for _, id := range []string{`id="routes-download"`, `id="routes-upload"`, `id="routes-upload-submit"`} {
		if !strings.Contains(page, id) {
			t.Errorf("the routes page lacks %s", id)
		}
	}

	// Bad tables: the API's message (a line, an unknown supplier) is shown
	// and the table stays.
	for _, bad := range []string{"prefix,suppliers\n49,sup1\n4915\n", "prefix,suppliers\n49,sup1 ghost\n"} {
		st, raw := supplierAPI(t, e, "PUT", "/v1/routes", "text/csv", "", bad)
		want := supplierAPIMessage(t, st, raw)
		page = supplierPost(t, b, "/console/routes", nil, []byte(bad), "/console/routes")
		supplierShows(t, page, "error", want)
	}
	if _, after := b.get("/console/routes.csv"); after != table {
		t.Fatalf("a refused table changed the routes: %q", after)
	}
	page = supplierPost(t, b, "/console/routes", url.Values{}, []byte{}, "/console/routes")
	supplierShows(t, page, "error", "line 1")
}

// networkReports answers GET /v1/suppliers/{id}/health with a fixed report
// (the projections' type, as serve's reports give it); the API's other
// reports are not used by the supplier page.
type networkReports struct {
	httpapi.Reports
}

func (networkReports) SupplierHealth(_ context.Context, id string, window time.Duration, _ int) (any, error) {
	return projections.SupplierHealthReport{
		SupplierID: id, At: time.Now().UTC(), WindowSeconds: int64(window / time.Second),
		Supplier: projections.SupplierHealth{SupplierID: id, Enabled: true, HealthFigures: projections.HealthFigures{Accepted: 45, Rejected: 30, Score: 820}},
		Networks: []projections.DestinationHealth{
			{SupplierID: id, MCCMNC: "26201", HealthFigures: projections.HealthFigures{Accepted: 0, Rejected: 30, SubmitSuccess: 0, DeliveryRate: 1000, Score: 500}},
			{SupplierID: id, MCCMNC: "26202", HealthFigures: projections.HealthFigures{Accepted: 40, TimedOut: 2, SubmitSuccess: 952, DeliveryRate: 875, Score: 905}},
			{SupplierID: id, MCCMNC: "262001", HealthFigures: projections.HealthFigures{Accepted: 5, SubmitSuccess: 1000, DeliveryRate: 1000, Score: 1000}},
		},
		Prefixes: []projections.DestinationHealth{},
	}, nil
}

// tableRows is the text of each body row of table tableID on page.
func tableRows(t *testing.T, page, tableID string) []string {
	t.Helper()
	i := strings.Index(page, `id="`+tableID+`"`)
	if i < 0 {
		t.Fatalf("no table #%s on the page", tableID)
	}
	table := page[i:]
	table = table[strings.Index(table, "<tbody>"):strings.Index(table, "</table>")]
	var rows []string
	for _, row := range strings.Split(table, "<tr>")[1:] {
		rows = append(rows, supplierText(row))
	}
	return rows
}

// The supplier page shows its health per network under the chart as the
// API has it (worst first); without the health reports, the API's word
// for it in place of the table, and the rest of the page still there.
func TestSupplierNetworkHealth(t *testing.T) {
	e := start(t, httpapi.Options{Reports: networkReports{}})
	supplierCreate(t, e, "sup1")
	b := e.signedIn()
	res, page := b.get("/console/suppliers/sup1")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET the supplier page: %d", res.StatusCode)
	}
	if strings.Index(page, `id="network-health"`) < strings.Index(page, `id="supplier-health-chart"`) {
		t.Error("the network table is not under the health chart")
	}
	// What the API answers, row by row.
	st, raw := supplierAPI(t, e, "GET", "/v1/suppliers/sup1/health", "", "", "")
	var api struct {
		Networks []struct {
			MCCMNC   string `json:"mccmnc"`
			Accepted int    `json:"accepted"`
			Rejected int    `json:"rejected"`
			TimedOut int    `json:"timed_out"`
		} `json:"networks"`
	}
	if st != http.StatusOK || json.Unmarshal(raw, &api) != nil || len(api.Networks) != 3 {
		t.Fatalf("the API's health of sup1: %d %s", st, raw)
	}
	rows := tableRows(t, page, "network-health")
	want := []string{"26201 30 0.0 % 100.0 % 500", "26202 42 95.2 % 87.5 % 905", "262001 5 100.0 % 100.0 % 1000"}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("network rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	for i, n := range api.Networks {
		if i < len(rows) && !strings.HasPrefix(rows[i], fmt.Sprintf("%s %d ", n.MCCMNC, n.Accepted+n.Rejected+n.TimedOut)) {
			t.Errorf("row %d %q is not the API's %+v", i, rows[i], n)
		}
	}

	// A server without the health reports: the API's message instead.
	e = start(t, httpapi.Options{})
	supplierCreate(t, e, "sup1")
	b = e.signedIn()
	st, raw = supplierAPI(t, e, "GET", "/v1/suppliers/sup1/health", "", "", "")
	msg := supplierAPIMessage(t, st, raw)
	res, page = b.get("/console/suppliers/sup1")
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `id="costs"`) {
		t.Fatalf("the supplier page without health reports: %d", res.StatusCode)
	}
	note := regexp.MustCompile(`<p class="muted" id="network-health-note">([^<]*)</p>`).FindStringSubmatch(page)
	if note == nil || !strings.Contains(html.UnescapeString(note[1]), msg) || strings.Contains(page, `id="network-health"`) {
		t.Errorf("the note in place of the table: %q, want the API's %q", note, msg)
	}
}
