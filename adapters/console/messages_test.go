package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
)

func uuidOf(t *testing.T, id string) uuid.UUID {
	t.Helper()
	u, err := uuid.Parse(id)
	if err != nil {
		t.Fatalf("message id %q: %v", id, err)
	}
	return u
}

// A message id opens the message at once (read from the log, before the
// projections have it); a destination, with or without its +, or a
// client_ref finds it among the CDRs, of every tenant or of one.
func TestMessageFindByIDDestinationAndClientRef(t *testing.T) {
	e := startReports(t)
	a1 := e.send(e.acme, "+4915112345678", "order-1")
	a2 := e.send(e.acme, "+4930123456", "12345")
	b1 := e.send(e.beta, "+4915112345678", "order-1")
	b := e.signedIn()

	res, _ := b.get("/console/messages?q=" + url.QueryEscape(" "+a1+" "))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/messages/"+a1 {
		t.Fatalf("find by id: %d %q, want a redirect to its page", res.StatusCode, res.Header.Get("Location"))
	}
	if res, page := b.follow(res); res.StatusCode != 200 || !strings.Contains(reportElement(t, page, "table", "message-summary"), "acme") {
		t.Fatalf("the message's page before the projections: %d\n%s", res.StatusCode, page)
	}

	e.catchUp()
	for _, tc := range []struct {
		query   string
		by      string
		in, out []string
	}{
		{"q=%2B4915112345678", "destination", []string{a1, b1}, []string{a2}},
		{"q=4915112345678&tenant_id=beta", "destination", []string{b1}, []string{a1, a2}},
		{"q=order-1", "client_ref", []string{a1, b1}, []string{a2}},
		{"q=order-1&tenant_id=acme", "client_ref", []string{a1}, []string{a2, b1}},
		{"q=12345", "client_ref", []string{a2}, []string{a1, b1}}, // digits that are no destination
		{"q=nothing-like-it", "client_ref", nil, []string{a1, a2, b1}},
	} {
		res, page := b.get("/console/messages?" + tc.query)
		results := reportElement(t, page, "table", "results")
		if res.StatusCode != 200 || !strings.Contains(page, "found by "+tc.by) {
			t.Errorf("%s: %d, want a find by %s:\n%s", tc.query, res.StatusCode, tc.by, page)
		}
		for _, id := range tc.in {
			if !strings.Contains(results, `href="/console/messages/`+id+`"`) {
				t.Errorf("%s: %s is not found", tc.query, id)
			}
		}
		for _, id := range tc.out {
			if strings.Contains(results, id) {
				t.Errorf("%s: %s is found", tc.query, id)
			}
		}
	}
	res, page := b.get("/console/messages?q=order-1&tenant_id=acme")
	row := reportElement(t, page, "table", "results")
	for _, want := range []string{"<td>4915112345678</td>", "<td>order-1</td>", `<span class="badge routed">routed</span>`, `<td class="num">0.07 EUR</td>`, "<td>sup1</td>"} {
		if !strings.Contains(row, want) {
			t.Errorf("the result lacks %s:\n%s", want, row)
		}
	}
	for _, id := range []string{"find", "find-q", "find-submit"} {
		if !strings.Contains(page, `id="`+id+`"`) {
			t.Errorf("the find form lacks #%s", id)
		}
	}
	if !strings.Contains(page, "once the projections have caught up") {
		t.Errorf("the page does not say the CDRs lag the log")
	}
	// A find the API refuses shows its message, the form kept.
	res, page = b.get("/console/messages?q=order-1&cursor=not-a-cursor")
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(reportElement(t, page, "p", "find-error"), "invalid cursor") ||
		!strings.Contains(page, `id="find-q" value="order-1"`) {
		t.Errorf("a refused find: %d\n%s", res.StatusCode, page)
	}
}

// A message's page: its summary and its events as sentences, in order,
// each with its data.
func TestMessageTimeline(t *testing.T) {
	e := startReports(t)
	id := e.send(e.acme, "+4915112345678", "order-7")
	e.deliver(id, "smid-7")
	b := e.signedIn()
	res, page := b.get("/console/messages/" + id)
	if res.StatusCode != 200 {
		t.Fatalf("message page: %d\n%s", res.StatusCode, page)
	}
	summary := reportElement(t, page, "table", "message-summary")
	for _, want := range []string{`<span class="badge delivered">delivered</span>`, "acme", "4915112345678", "0.07 EUR", "sup1", "smid-7", "0.02 EUR", "0.05 EUR", "order-7"} {
		if !strings.Contains(summary, want) {
			t.Errorf("the summary lacks %q:\n%s", want, summary)
		}
	}
	timeline := reportElement(t, page, "ol", "timeline")
	if !strings.Contains(page, `<ol class="timeline" id="timeline">`) {
		t.Errorf("the timeline is not ol.timeline")
	}
	at := 0
	for _, want := range []string{
		"Accepted from acme over HTTP, 1 part, price 0.07 EUR, to 4915112345678, client_ref order-7",
		"Routed to sup1 over route 49 (cost 0.02 EUR per part)",
		"Hold placed: 0.07 EUR",
		"Submitted to sup1 (attempt 1)",
		"Supplier sup1 accepted it as message id smid-7",
		"Settled: charged 0.07 EUR; cost 0.02 EUR to sup1",
		"DLR DELIVRD from sup1",
		"DLR DELIVRD forwarded to acme",
	} {
		i := strings.Index(timeline[at:], want)
		if i < 0 {
			t.Errorf("the timeline lacks %q after position %d:\n%s", want, at, timeline)
			continue
		}
		at += i
	}
	if n, d := strings.Count(timeline, "<li "), strings.Count(timeline, "<details><summary>"); n < 8 || n != d {
		t.Errorf("%d events, %d with their data", n, d)
	}
	if !strings.Contains(timeline, "&#34;supplier_message_id&#34;: &#34;smid-7&#34;") {
		t.Errorf("the events' data is not shown:\n%s", timeline)
	}
	unknown := uuid.NewString()
	for p, says := range map[string]string{"/console/messages/" + unknown: unknown + ": not found", "/console/messages/not-an-id": "no such message"} {
		if res, page := b.get(p); res.StatusCode != http.StatusNotFound || !strings.Contains(page, says) {
			t.Errorf("GET %s: %d, want 404 with the API's message:\n%s", p, res.StatusCode, reportElement(t, page, "p", "page-error"))
		}
	}
}

// The timeline tells failures too: a timeout and the failover, a
// rejection, the failure and the released hold; an expiry.
func TestMessageTimelineOfFailures(t *testing.T) {
	e := startReports(t)
	e.call("POST", "/v1/suppliers", admin, `{"id":"sup2","name":"S2","currency":"EUR","host":"127.0.0.1","port":2776,"system_id":"s","password":"p","binds":1,"tps_limit":100,"window":10}`, 201)
	e.call("PUT", "/v1/suppliers/sup2/costs", admin, `[{"prefix":"49","cost":"0.03"}]`, 200)
	e.call("PUT", "/v1/routes", admin, `[{"prefix":"49","suppliers":["sup1","sup2"]}]`, 200)
	ctx := context.Background()
	failed := e.send(e.acme, "+4915112345678", "")
	id := uuidOf(t, failed)
	steps := []func() (ledger.Transition, error){
		func() (ledger.Transition, error) { return e.svc.SubmittedToSupplier(ctx, id) },
		func() (ledger.Transition, error) { return e.svc.SupplierTimedOut(ctx, id, "sup1", 1, 30*time.Second) },
		func() (ledger.Transition, error) { return e.svc.SubmittedToSupplier(ctx, id) },
		func() (ledger.Transition, error) { return e.svc.SupplierRejected(ctx, id, "sup2", 2, 0x58) },
	}
	for i, step := range steps {
		if _, err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	expired := e.send(e.acme, "+4915112345678", "")
	if _, err := e.svc.Expire(ctx, uuidOf(t, expired)); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn()
	for id, wants := range map[string][]string{
		failed: {"Submitted to sup1 (attempt 1)", "Supplier sup1 did not answer within 30000 ms (attempt 1)", "Failed over from sup1 to sup2 (attempt 2)",
			"Submitted to sup2 (attempt 2)", "Supplier sup2 rejected it with command_status 0x00000058 (attempt 2)", "Failed: ", "Hold released: 0.07 EUR, not charged"},
		expired: {"Accepted from acme", "Expired", "Hold released: 0.07 EUR, not charged"},
	} {
		_, page := b.get("/console/messages/" + id)
		timeline := reportElement(t, page, "ol", "timeline")
		at := 0
		for _, want := range wants {
			i := strings.Index(timeline[at:], want)
			if i < 0 {
				t.Errorf("%s: the timeline lacks %q after position %d:\n%s", id, want, at, timeline)
				continue
			}
			at += i
		}
	}
}
