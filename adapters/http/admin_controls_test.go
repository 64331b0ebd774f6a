package httpapi_test

import (
	"strings"
	"testing"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

const acmeControls = `{"sender_allow":["ACME"],"sender_rewrites":[{"mccmnc":"26201","from":"*","to":"4915100000"}],
	"keywords":["casino"],"patterns":["(?i)win\\s+\\d+"],"url_domains":[],
	"dest_rate_limit":{"count":2,"window_s":60},"duplicate_window_s":300}`

// The controls documents: set, read back, bad input named.
func TestControlsEndpoints(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c)
	st, m := c.do("PUT", "/v1/tenants/acme/controls", admin, acmeControls)
	if st != 200 || m["duplicate_window_s"] != float64(300) || m["dest_rate_limit"].(map[string]any)["count"] != float64(2) ||
		len(m["keywords"].([]any)) != 1 || m["sender_rewrites"].([]any)[0].(map[string]any)["to"] != "4915100000" {
		t.Fatalf("PUT controls: %d %v", st, m)
	}
	if st, got := c.do("GET", "/v1/tenants/acme/controls", admin, ""); st != 200 || got["patterns"].([]any)[0] != `(?i)win\s+\d+` {
		t.Fatalf("GET controls: %d %v", st, got)
	}
	if st, got := c.do("GET", "/v1/tenants/beta/controls", admin, ""); st != 200 || len(got["keywords"].([]any)) != 0 ||
		got["duplicate_window_s"] != float64(0) {
		t.Fatalf("GET controls of a tenant without: %d %v", st, got)
	}
	if st, got := c.do("PUT", "/v1/controls", admin, `{"keywords":["payday loan"],"url_domains":["bit.ly"]}`); st != 200 ||
		got["url_domains"].([]any)[0] != "bit.ly" || got["sender_allow"] == nil {
		t.Fatalf("PUT global: %d %v", st, got)
	}
	if st, got := c.do("GET", "/v1/controls", admin, ""); st != 200 || got["keywords"].([]any)[0] != "payday loan" {
		t.Fatalf("GET global: %d %v", st, got)
	}
	for _, tc := range []struct{ method, path, token, body, code, field string }{
		{"PUT", "/v1/tenants/acme/controls", admin, `{"patterns":["ok","(unclosed"]}`, "invalid_request", "patterns[1]"},
		{"PUT", "/v1/tenants/acme/controls", admin, `{"url_domains":["https://bit.ly/x"]}`, "invalid_request", "url_domains[0]"},
		{"PUT", "/v1/tenants/acme/controls", admin, `{"sender_rewrites":[{"mccmnc":"2620","from":"*","to":"x"}]}`, "invalid_request", "sender_rewrites[0].mccmnc"},
		{"PUT", "/v1/tenants/acme/controls", admin, `{"dest_rate_limit":{"count":5}}`, "invalid_request", "dest_rate_limit.window_s"},
		{"PUT", "/v1/tenants/acme/controls", admin, `{"duplicate_window_s":-1}`, "invalid_request", "duplicate_window_s"},
		{"PUT", "/v1/tenants/acme/controls", admin, `{"keywords":"casino"}`, "invalid_request", "keywords"},
		{"PUT", "/v1/controls", admin, `{"keywords":["a"],"duplicate_window_s":5}`, "invalid_request", "duplicate_window_s"},
		{"PUT", "/v1/controls", admin, `{"patterns":["a)"]}`, "invalid_request", "patterns[0]"},
		{"PUT", "/v1/tenants/ghost/controls", admin, `{}`, "not_found", "ghost"},
		{"GET", "/v1/tenants/ghost/controls", admin, ``, "not_found", "ghost"},
		{"GET", "/v1/controls", acme, ``, "unauthorized", ""},
		{"PUT", "/v1/tenants/acme/controls", acme, `{}`, "unauthorized", ""},
	} {
		st, m := c.do(tc.method, tc.path, tc.token, tc.body)
		msg, _ := m["error"].(map[string]any)["message"].(string)
		if errCode(m) != tc.code || st < 400 || !strings.Contains(msg, tc.field) {
			t.Errorf("%s %s %s: %d %v, want %s naming %q", tc.method, tc.path, tc.body, st, m, tc.code, tc.field)
		}
	}
	// The bad documents changed nothing.
	if _, got := c.do("GET", "/v1/tenants/acme/controls", admin, ""); got["duplicate_window_s"] != float64(300) {
		t.Errorf("after refused changes: %v", got)
	}
}

// A refused submit: its status and code, the message id in the answer,
// the message readable by its tenant as refused with code and rule, its
// SubmitRefused in the events, and the refusal counted by code.
func TestControlsRefuseSubmits(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, beta := setup(t, c)
	for _, id := range []string{"acme", "beta"} {
		if st, m := c.do("POST", "/v1/tenants/"+id+"/topups", admin, `{"amount":"10","reference":"r1"}`); st != 201 && st != 200 {
			t.Fatalf("top-up: %d %v", st, m)
		}
	}
	if st, m := c.do("PUT", "/v1/tenants/acme/controls", admin, acmeControls); st != 200 {
		t.Fatalf("controls: %d %v", st, m)
	}
	if st, m := c.do("PUT", "/v1/controls", admin, `{"url_domains":["bit.ly"]}`); st != 200 {
		t.Fatalf("global controls: %d %v", st, m)
	}
	send := func(key, body string) (int, map[string]any) {
		t.Helper()
		return c.do("POST", "/v1/messages", key, body)
	}
	for _, tc := range []struct {
		body   string
		status int
		code   string
		rule   string
	}{
		{`{"from":"Other","to":"+4930111","text":"hi"}`, 400, "sender_not_allowed", "tenant sender_allow"},
		{`{"from":"ACME","to":"+4930112","text":"our Casino"}`, 422, "content_blocked", "tenant keyword: casino"},
		{`{"from":"ACME","to":"+4930113","text":"WIN 500 now"}`, 422, "content_blocked", `tenant pattern: (?i)win\s+\d+`},
		{`{"from":"ACME","to":"+4930114","text":"see bit.ly/x"}`, 422, "content_blocked", "global url_domain: bit.ly"},
	} {
		st, m := send(acme, tc.body)
		e, _ := m["error"].(map[string]any)
		id, _ := e["message_id"].(string)
		if st != tc.status || errCode(m) != tc.code || id == "" || !strings.Contains(e["message"].(string), tc.rule) {
			t.Errorf("%s: %d %v, want %d %s with a message id", tc.body, st, m, tc.status, tc.code)
			continue
		}
		// The refusal's trail is appended behind the answer.
		var v map[string]any
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var st int
			if st, v = c.do("GET", "/v1/messages/"+id, acme, ""); st == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("refused message %s: %d %v", id, st, v)
			}
		}
		ref, _ := v["refusal"].(map[string]any)
		if v["state"] != "refused" || ref["code"] != tc.code || ref["rule"] != tc.rule {
			t.Errorf("refused message as its tenant reads it: %v", v)
		}
		st, evs := c.do("GET", "/v1/messages/"+id+"/events", acme, "")
		list, _ := evs["events"].([]any)
		if st != 200 || len(list) != 1 {
			t.Fatalf("events: %d %v", st, evs)
		}
		ev := list[0].(map[string]any)
		data := ev["data"].(map[string]any)
		if ev["type"] != "SubmitRefused" || data["code"] != tc.code || data["rule"] != tc.rule {
			t.Errorf("SubmitRefused as the tenant sees it: %v", ev)
		}
		if st, m := c.do("GET", "/v1/messages/"+id, beta, ""); st != 404 {
			t.Errorf("another tenant reads a refused message: %d %v", st, m)
		}
	}

	// The stateful controls.
	ok := `{"from":"ACME","to":"+4930200","text":"code 1"}`
	if st, m := send(acme, ok); st != 202 {
		t.Fatalf("passing message: %d %v", st, m)
	}
	if st, m := send(acme, ok); st != 409 || errCode(m) != "duplicate_message" {
		t.Errorf("duplicate: %d %v", st, m)
	}
	if st, m := send(acme, `{"from":"ACME","to":"+4930200","text":"code 2"}`); st != 202 {
		t.Fatalf("second message to the number: %d %v", st, m)
	}
	if st, m := send(acme, `{"from":"ACME","to":"+4930200","text":"code 3"}`); st != 429 || errCode(m) != "destination_rate_limited" {
		t.Errorf("over the rate limit: %d %v", st, m)
	}
	// Beta has no tenant controls: only the global ones.
	if st, m := send(beta, `{"from":"Other","to":"+4930200","text":"our casino"}`); st != 202 {
		t.Errorf("beta: %d %v", st, m)
	}

	// Counted by code.
	_, metrics := c.raw("GET", "/metrics", admin, "")
	for _, code := range []string{"sender_not_allowed", "content_blocked", "duplicate_message", "destination_rate_limited"} {
		if !strings.Contains(string(metrics), `result="`+code+`"`) {
			t.Errorf("/metrics has no submits with result %s", code)
		}
	}
}
