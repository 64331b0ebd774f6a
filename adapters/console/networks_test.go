package console_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

// networksAPI reads GET /v1/numbering over the API at e.url (not through
// the console).
func networksAPI(t *testing.T, e *env) map[string]any {
	t.Helper()
	st, raw := supplierAPI(t, e, "GET", "/v1/numbering", "", "", "")
	var m map[string]any
	if st != http.StatusOK || json.Unmarshal(raw, &m) != nil {
		t.Fatalf("GET /v1/numbering: %d %s", st, raw)
	}
	return m
}

// networksCell is the text of the element with id in a page ("" when
// absent), tags stripped.
func networksCell(body, id string) string {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>([\s\S]*?)</(?:td|table|p)>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " "))), " ")
}

// TestNetworksPage: the networks page shows the numbering tables the API
// has; the plan and the portability table are uploaded as CSV and the API
// then has them; a bad line is the API's message, naming it, and changes
// nothing; a lookup shows a plan number's and a ported number's network,
// and a number the API refuses shows its message.
func TestNetworksPage(t *testing.T) {
	e := start(t, httpapi.Options{})
	b := e.signedIn()

	res, body := b.get("/console/networks")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="nav-networks"`) ||
		networksCell(body, "numbering-plan-rows") != "0" || networksCell(body, "numbering-ported") != "0" {
		t.Fatalf("networks page before any load: %d %s", res.StatusCode, body)
	}
	for _, id := range []string{`id="numbering"`, `id="plan-upload"`, `id="plan-upload-submit"`, `id="ported-upload"`,
		`id="ported-upload-submit"`, `id="lookup"`, `id="lookup-number"`, `id="lookup-submit"`} {
		if !strings.Contains(body, id) {
			t.Errorf("networks page lacks %s", id)
		}
	}
	if strings.Contains(body, `id="lookup-result"`) {
		t.Error("a lookup result before any lookup")
	}

	// Upload the plan, then the portability table.
	plan := "prefix,mcc,mnc,country,operator\n4915,262,01,DE,Telekom\n4917,262,02,DE,Vodafone\n"
	res, _ = b.postFile("/console/networks/plan", nil, "file", "plan.csv", []byte(plan))
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/networks" {
		t.Fatalf("plan upload: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, body = b.follow(res)
	if n := networksCell(body, "notice"); !strings.Contains(n, "2 prefixes, 2 networks") {
		t.Errorf("notice after the plan upload: %q", n)
	}
	if networksCell(body, "numbering-plan-rows") != "2" || networksCell(body, "numbering-networks") != "2" {
		t.Errorf("page after the plan upload: rows %q, networks %q", networksCell(body, "numbering-plan-rows"), networksCell(body, "numbering-networks"))
	}
	if m := networksAPI(t, e); m["plan_rows"] != 2.0 || m["networks"] != 2.0 || m["plan_loaded_at"] == nil {
		t.Fatalf("the API after the plan upload: %v", m)
	}
	res, _ = b.postFile("/console/networks/portability", nil, "file", "ported.csv", []byte("msisdn,mccmnc\n+4917012345678,26201\n"))
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("portability upload: %d", res.StatusCode)
	}
	_, body = b.follow(res)
	if n := networksCell(body, "notice"); !strings.Contains(n, "1 ported numbers") || networksCell(body, "numbering-ported") != "1" {
		t.Errorf("page after the portability upload: notice %q, ported %q", n, networksCell(body, "numbering-ported"))
	}
	if m := networksAPI(t, e); m["ported_numbers"] != 1.0 || m["plan_rows"] != 2.0 {
		t.Fatalf("the API after the portability upload: %v", m)
	}

	// A bad line: the API's message, naming it; nothing changes.
	bad := "prefix,mcc,mnc,country,operator\n4915,262,01,DE,Telekom\n4x,262,02,DE,Vodafone\n"
	st, raw := supplierAPI(t, e, "PUT", "/v1/numbering", "text/csv", "", bad)
	apiMsg := supplierAPIMessage(t, st, raw)
	res, _ = b.postFile("/console/networks/plan", nil, "file", "plan.csv", []byte(bad))
	_, body = b.follow(res)
	if got := networksCell(body, "error"); got != apiMsg || !strings.Contains(got, "line 3") {
		t.Errorf("a bad plan shows %q, want the API's %q naming line 3", got, apiMsg)
	}
	res, _ = b.postFile("/console/networks/portability", nil, "file", "ported.csv", []byte("msisdn,mccmnc\n4917012345678,2620\n"))
	if _, body := b.follow(res); !strings.Contains(networksCell(body, "error"), "line 2") {
		t.Errorf("a bad portability table shows %q, want line 2 named", networksCell(body, "error"))
	}
	if m := networksAPI(t, e); m["plan_rows"] != 2.0 || m["ported_numbers"] != 1.0 {
		t.Fatalf("refused uploads changed the tables: %v", m)
	}
	if res, _ := b.postFile("/console/networks/plan", url.Values{"csrf": {"forged"}}, "file", "plan.csv", []byte(plan)); res.StatusCode != http.StatusForbidden {
		t.Errorf("plan upload with a forged CSRF token: %d, want 403", res.StatusCode)
	}

	// Lookups: a plan number, a ported number, an unknown one, a bad one.
	for _, tc := range []struct{ number, mccmnc, country, operator, source string }{
		{"+4915112345678", "26201", "DE", "Telekom", "plan"},
		{"+4917012345678", "26201", "DE", "Telekom", "ported"},
		{"004917112345678", "26202", "DE", "Vodafone", "plan"},
	} {
		res, body := b.get("/console/networks?number=" + url.QueryEscape(tc.number))
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="lookup-result"`) {
			t.Fatalf("lookup of %s: %d", tc.number, res.StatusCode)
		}
		if networksCell(body, "lookup-mccmnc") != tc.mccmnc || networksCell(body, "lookup-country") != tc.country ||
			networksCell(body, "lookup-operator") != tc.operator || !strings.HasPrefix(networksCell(body, "lookup-source"), tc.source+":") {
			t.Errorf("lookup of %s: %q %q %q %q, want %s %s %s %s", tc.number, networksCell(body, "lookup-mccmnc"),
				networksCell(body, "lookup-country"), networksCell(body, "lookup-operator"), networksCell(body, "lookup-source"),
				tc.mccmnc, tc.country, tc.operator, tc.source)
		}
		if m := regexp.MustCompile(`id="lookup-number" value="([^"]*)"`).FindStringSubmatch(body); m == nil || html.UnescapeString(m[1]) != tc.number {
			t.Errorf("lookup of %s: the form does not keep the number", tc.number)
		}
	}
	res, body = b.get("/console/networks?number=33612345678")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(networksCell(body, "lookup-source"), "unknown") || strings.Contains(body, `id="lookup-mccmnc"`) {
		t.Errorf("lookup of an unknown network: %d %q", res.StatusCode, networksCell(body, "lookup-source"))
	}
	st, raw = supplierAPI(t, e, "GET", "/v1/numbering/lookup?number=abc", "", "", "")
	apiMsg = supplierAPIMessage(t, st, raw)
	res, body = b.get("/console/networks?number=abc")
	if res.StatusCode != http.StatusOK || strings.Contains(body, `id="lookup-result"`) || !strings.Contains(networksCell(body, "error"), apiMsg) {
		t.Errorf("lookup of a bad number: %d, error %q, want the API's %q", res.StatusCode, networksCell(body, "error"), apiMsg)
	}
	// The error was shown once: the next page has none.
	if _, body := b.get("/console/networks"); strings.Contains(body, `id="error"`) {
		t.Error("the lookup's error shown again")
	}
}
