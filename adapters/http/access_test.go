package httpapi_test

import (
	"testing"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

// A tenant's allowed_ips decide where its API key works from (403
// forbidden_address elsewhere); max_binds and allowed_ips are taken and
// shown; supplier TLS settings too.
func TestTenantAccessOverHTTP(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	for _, tc := range []struct {
		id, allowed string
		want        int
	}{
		{"far", `["192.0.2.0/24"]`, 403},
		{"near", `["127.0.0.0/8","::1"]`, 200},
		{"any", `[]`, 200},
	} {
		st, m := c.do("POST", "/v1/tenants", admin, `{"id":"`+tc.id+`","name":"T","currency":"EUR","billing":"on_submit","tier":"standard","max_binds":3,"allowed_ips":`+tc.allowed+`}`)
		if st != 201 || m["max_binds"] != float64(3) {
			t.Fatalf("create %s: %d %v", tc.id, st, m)
		}
		_, k := c.do("POST", "/v1/tenants/"+tc.id+"/api-keys", admin, "")
		key, _ := k["key"].(string)
		if st, m := c.do("GET", "/v1/balance", key, ""); st != tc.want || (tc.want == 403 && errCode(m) != "forbidden_address") {
			t.Errorf("%s (allowed %s): GET /v1/balance from 127.0.0.1: %d %v, want %d", tc.id, tc.allowed, st, m, tc.want)
		}
	}
	if st, m := c.do("POST", "/v1/tenants", admin, `{"id":"bad","name":"T","currency":"EUR","billing":"on_submit","tier":"standard","allowed_ips":["nope"]}`); st != 400 {
		t.Fatalf("allowed_ips that is not a CIDR: %d %v", st, m)
	}
	st, m := c.do("POST", "/v1/suppliers", admin, `{"id":"tls1","name":"S","currency":"EUR","host":"smsc.example","port":3550,"system_id":"s","password":"p","tls":true,"tls_server_name":"smsc.example"}`)
	if st != 201 || m["tls"] != true || m["tls_server_name"] != "smsc.example" {
		t.Fatalf("supplier with tls: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/suppliers", admin, `{"id":"tls2","name":"S","currency":"EUR","host":"h","port":1,"system_id":"s","tls":true,"tls_ca_pem":"junk"}`); st != 400 {
		t.Fatalf("tls_ca_pem without a certificate: %d %v", st, m)
	}
}
