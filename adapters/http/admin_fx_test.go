package httpapi_test

import (
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

func TestFXTable(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	setup(t, c)
	if st, m := c.do("GET", "/v1/fx", admin, ""); st != 200 || m["base"] != "" {
		t.Fatalf("no table yet: %d %v", st, m)
	}
	st, m := c.do("PUT", "/v1/fx", admin, `{"base":"EUR","rates":[{"currency":"USD","rate":"0.92","from":"2026-12-01T00:00:00Z"},{"currency":"USD","rate":"0.95","from":"2026-12-08T00:00:00+01:00"}]}`)
	if st != 200 || m["base"] != "EUR" || len(m["rates"].([]any)) != 2 {
		t.Fatalf("put: %d %v", st, m)
	}
	second := m["rates"].([]any)[1].(map[string]any)
	if second["rate"] != "0.95" || second["from"] != "2026-12-07T23:00:00Z" {
		t.Errorf("the second rate: %v", second)
	}
	if st, m := c.do("GET", "/v1/fx", admin, ""); st != 200 || m["base"] != "EUR" || m["loaded_at"] == nil {
		t.Errorf("get: %d %v", st, m)
	}
	for _, body := range []string{
		`{"rates":[]}`,
		`{"base":"EUR","rates":[{"currency":"USD","rate":"0.92"}]}`,
		`{"base":"EUR","rates":[{"currency":"USD","rate":"-1","from":"2026-12-01T00:00:00Z"}]}`,
		`{"base":"EUR","rates":[{"currency":"EUR","rate":"1","from":"2026-12-01T00:00:00Z"}]}`,
		`{"base":"EUR","rates":[{"currency":"USD","rate":"0.9","from":"2026-12-01T00:00:00Z","x":1}]}`,
	} {
		if st, m := c.do("PUT", "/v1/fx", admin, body); st != 400 || errCode(m) != "invalid_request" {
			t.Errorf("%s: %d %v, want 400 invalid_request", body, st, m)
		}
	}
	if st, _ := c.do("PUT", "/v1/fx", "", `{"base":"EUR","rates":[]}`); st != 401 {
		t.Errorf("without the admin token: %d", st)
	}
}
