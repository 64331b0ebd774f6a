package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// testPlan is a small numbering plan: two German networks and a British
// one.
const testPlan = "prefix,mcc,mnc,country,operator\n" +
	"4915,262,01,DE,Telekom\n" +
	"4917,262,02,DE,Vodafone\n" +
	"+447,234,15,GB,Vodafone UK\n"

// errMessage is the message of an API error answer ("" when none).
func errMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// TestNumberingPlanAndPortability: the numbering plan and the portability
// table are loaded as CSV and replace what was in force; GET /v1/numbering
// says what is; a lookup finds a plan number by its range and a ported
// number by the table; bad tables are 400s naming the line and change
// nothing; other content types are 415s; all of it is the admin's.
func TestNumberingPlanAndPortability(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	csvHdr := []string{"Content-Type", "text/csv"}

	st, m := c.do("GET", "/v1/numbering", admin, "")
	if st != 200 || m["plan_rows"] != 0.0 || m["networks"] != 0.0 || m["ported_numbers"] != 0.0 || m["plan_loaded_at"] != nil {
		t.Fatalf("numbering before any load: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/numbering/lookup?number=%2B4915112345678", admin, ""); st != 200 || m["source"] != "" || m["mccmnc"] != nil {
		t.Fatalf("lookup without tables: %d %v", st, m)
	}

	st, m = c.do("PUT", "/v1/numbering", admin, testPlan, csvHdr...)
	if st != 200 || m["plan_rows"] != 3.0 || m["networks"] != 3.0 || m["ported_numbers"] != 0.0 || m["plan_loaded_at"] == nil {
		t.Fatalf("PUT plan: %d %v", st, m)
	}
	// A number of 4917 (Vodafone) ported to Telekom; a British number
	// ported to a network the plan does not name.
	ported := "msisdn,mccmnc\n+4917012345678,26201\n447700900123,23430\n"
	st, m = c.do("PUT", "/v1/portability", admin, ported, "Content-Type", "text/csv; charset=utf-8")
	if st != 200 || m["ported_numbers"] != 2.0 || m["plan_rows"] != 3.0 || m["portability_loaded_at"] == nil {
		t.Fatalf("PUT portability: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/numbering", admin, ""); st != 200 || m["plan_rows"] != 3.0 || m["ported_numbers"] != 2.0 {
		t.Fatalf("GET numbering: %d %v", st, m)
	}

	for _, tc := range []struct{ number, digits, mccmnc, country, operator, source string }{
		{"%2B4915112345678", "4915112345678", "26201", "DE", "Telekom", "plan"},
		{"004917112345678", "4917112345678", "26202", "DE", "Vodafone", "plan"},
		// An unescaped '+' is a space, which Normalize skips.
		{"+4917012345678", "4917012345678", "26201", "DE", "Telekom", "ported"},
		{"447700900123", "447700900123", "23430", "", "", "ported"},
		{"447700900124", "447700900124", "23415", "GB", "Vodafone UK", "plan"},
		{"33612345678", "33612345678", "", "", "", ""},
	} {
		st, m := c.do("GET", "/v1/numbering/lookup?number="+tc.number, admin, "")
		if st != 200 || m["number"] != tc.digits || m["source"] != tc.source || str(m["mccmnc"]) != tc.mccmnc ||
			str(m["country"]) != tc.country || str(m["operator"]) != tc.operator {
			t.Errorf("lookup %s: %d %v, want %s %s/%s from %q", tc.number, st, m, tc.mccmnc, tc.country, tc.operator, tc.source)
		}
	}
	for _, bad := range []string{"", "abc", "%2B0049", "123"} {
		if st, m := c.do("GET", "/v1/numbering/lookup?number="+bad, admin, ""); st != 400 || errCode(m) != "invalid_request" || errMessage(m) == "" {
			t.Errorf("lookup of %q: %d %v, want 400", bad, st, m)
		}
	}

	for _, tc := range []struct{ path, body, want string }{
		{"/v1/numbering", "", "line 1"},
		{"/v1/numbering", "prefix,mcc,mnc\n4915,262,01\n", "line 1"},
		{"/v1/numbering", "prefix,mcc,mnc,country,operator\n4915,262,01,DE,Telekom\n4916,262,1,DE,X\n", "line 3"},
		{"/v1/numbering", "prefix,mcc,mnc,country,operator\n4x,262,01,DE,Telekom\n", "line 2"},
		{"/v1/numbering", "prefix,mcc,mnc,country,operator\n4915,262,01,DE\n", "line 2"},
		{"/v1/numbering", "prefix,mcc,mnc,country,operator\n4915,262,01,DE,\"Telekom\n", "line 2"},
		{"/v1/numbering", "prefix,mcc,mnc,country,operator\n4915,262,01,DE,Telekom\n4915,262,01,DE,Telekom\n", "numbering"}, // the ledger's check
		{"/v1/portability", "", "line 1"},
		{"/v1/portability", "msisdn,mccmnc\n4917012345678,26201\n04917012345678,26201\n", "line 3"},
		{"/v1/portability", "msisdn,mccmnc\n4917012345678,2620\n", "line 2"},
		{"/v1/portability", "msisdn,mccmnc\n4917012345678\n", "line 2"},
		{"/v1/portability", "prefix,mcc,mnc,country,operator\n4915,262,01,DE,Telekom\n", "line 1"},
	} {
		st, m := c.do("PUT", tc.path, admin, tc.body, csvHdr...)
		if st != 400 || errCode(m) != "invalid_request" || !strings.Contains(errMessage(m), tc.want) {
			t.Errorf("PUT %s %q: %d %v, want 400 naming %s", tc.path, tc.body, st, m, tc.want)
		}
	}
	if st, m := c.do("GET", "/v1/numbering", admin, ""); st != 200 || m["plan_rows"] != 3.0 || m["ported_numbers"] != 2.0 {
		t.Fatalf("refused loads changed the tables: %d %v", st, m)
	}
	for _, path := range []string{"/v1/numbering", "/v1/portability"} {
		if st, m := c.do("PUT", path, admin, `[{"prefix":"4915"}]`); st != 415 || errCode(m) != "unsupported_media_type" {
			t.Errorf("PUT %s as JSON: %d %v, want 415", path, st, m)
		}
		if st, m := c.do("PUT", path, admin, testPlan, "Content-Type", "text/plain"); st != 415 {
			t.Errorf("PUT %s as text/plain: %d %v, want 415", path, st, m)
		}
		if st, m := c.do("PUT", path, admin+"x", testPlan, csvHdr...); st != 401 {
			t.Errorf("PUT %s with a wrong token: %d %v, want 401", path, st, m)
		}
	}
	acme, _ := setup(t, c)
	for _, p := range []string{"/v1/numbering", "/v1/numbering/lookup?number=4915112345678"} {
		if st, m := c.do("GET", p, acme, ""); st != 401 {
			t.Errorf("GET %s with a tenant key: %d %v, want 401", p, st, m)
		}
	}

	// A new plan replaces the old one whole and keeps the portability
	// table; the plan's networks name the ported number's new network.
	st, m = c.do("PUT", "/v1/numbering", admin, "prefix,mcc,mnc,country,operator\n49,262,03,DE,O2\n", csvHdr...)
	if st != 200 || m["plan_rows"] != 1.0 || m["ported_numbers"] != 2.0 {
		t.Fatalf("second plan: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/numbering/lookup?number=4915112345678", admin, ""); st != 200 || m["mccmnc"] != "26203" || m["operator"] != "O2" {
		t.Errorf("lookup after the second plan: %d %v", st, m)
	}
	if st, m := c.do("GET", "/v1/numbering/lookup?number=4917012345678", admin, ""); st != 200 || m["mccmnc"] != "26201" || m["source"] != "ported" {
		t.Errorf("ported number after the second plan: %d %v", st, m)
	}
}

// TestNumberingBodyLimits: a table over MaxNumberingBodyBytes is a 413 (and
// not a 400 at the line the limit cut); one of more rows than a load takes
// is a 400 naming the line.
func TestNumberingBodyLimits(t *testing.T) {
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{})
	h := httpapi.NewHandler(svc, httpapi.Options{AdminToken: admin})
	put := func(path, body string) (int, string) {
		req := httptest.NewRequest("PUT", path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "text/csv")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		return w.Code, e.Error.Code + ": " + e.Error.Message
	}
	// One quoted field longer than the bound: the reader hits it mid-line.
	huge := "\"" + strings.Repeat("x", httpapi.MaxNumberingBodyBytes) + "\"\n"
	for path, head := range map[string]string{
		"/v1/numbering":   "prefix,mcc,mnc,country,operator\n4915,262,01,DE,",
		"/v1/portability": "msisdn,mccmnc\n4917012345678,",
	} {
		if st, msg := put(path, head+huge); st != http.StatusRequestEntityTooLarge {
			t.Errorf("PUT %s over the bound: %d %s, want 413", path, st, msg)
		}
	}
	var b strings.Builder
	b.WriteString("msisdn,mccmnc\n")
	for i := range ledger.MaxPortedPerLoad + 1 {
		fmt.Fprintf(&b, "49170%08d,26201\n", i)
	}
	want := fmt.Sprintf("line %d", ledger.MaxPortedPerLoad+2)
	if st, msg := put("/v1/portability", b.String()); st != 400 || !strings.Contains(msg, want) {
		t.Errorf("a portability load of %d numbers: %d %s, want 400 naming %s", ledger.MaxPortedPerLoad+1, st, msg, want)
	}
}

// str is v as a string ("" when it is not one).
func str(v any) string {
	s, _ := v.(string)
	return s
}
