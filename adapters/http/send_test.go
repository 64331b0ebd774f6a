package httpapi_test

import (
	"testing"
	"time"

	httpapi "github.com/smsledger/smsledger/adapters/http"
)

// Idempotency-Key: a repeat with the same key and body gets the same 202
// body and holds nothing more; the key with another body is 409
// idempotency_conflict; client_ref is echoed in the answer and the view.
func TestSendIdempotencyKeyAndClientRef(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c)
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1","reference":"r"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	body := `{"to":"+4915112345678","text":"hi","client_ref":"order-1"}`
	st, first := c.do("POST", "/v1/messages", acme, body, "Idempotency-Key", "key-1")
	if st != 202 || first["client_ref"] != "order-1" {
		t.Fatalf("first send: %d %v", st, first)
	}
	st, again := c.do("POST", "/v1/messages", acme, body, "Idempotency-Key", "key-1")
	if st != 202 || again["message_id"] != first["message_id"] || again["price"] != first["price"] {
		t.Fatalf("repeat: %d %v, first %v", st, again, first)
	}
	if st, b := c.do("GET", "/v1/balance", acme, ""); st != 200 || b["held"] != "0.07" {
		t.Fatalf("balance after a repeat: %d %v", st, b)
	}
	st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"other"}`, "Idempotency-Key", "key-1")
	if st != 409 || errCode(m) != "idempotency_conflict" {
		t.Fatalf("key with another body: %d %v", st, m)
	}
	// Without the key the same body is a new message.
	if st, m := c.do("POST", "/v1/messages", acme, body); st != 202 || m["message_id"] == first["message_id"] {
		t.Fatalf("unkeyed: %d %v", st, m)
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'k'
	}
	if st, m := c.do("POST", "/v1/messages", acme, body, "Idempotency-Key", string(long)); st != 400 {
		t.Fatalf("a 129-byte key: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"hi","client_ref":"`+string(long[:65])+`"}`); st != 400 {
		t.Fatalf("a 65-byte client_ref: %d %v", st, m)
	}
	st, v := c.do("GET", "/v1/messages/"+first["message_id"].(string), acme, "")
	if st != 200 || v["client_ref"] != "order-1" {
		t.Fatalf("view: %d %v", st, v)
	}
}

// send_at schedules the message: 202, state scheduled, validity counted
// from send_at; malformed or too far ahead is 400.
func TestSendAt(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	acme, _ := setup(t, c)
	if st, m := c.do("POST", "/v1/tenants/acme/topups", admin, `{"amount":"1","reference":"r"}`); st != 201 {
		t.Fatalf("top-up: %d %v", st, m)
	}
	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"later","send_at":"`+at.Format(time.RFC3339)+`","validity_s":600}`)
	if st != 202 {
		t.Fatalf("send_at: %d %v", st, m)
	}
	st, v := c.do("GET", "/v1/messages/"+m["message_id"].(string), acme, "")
	if st != 200 || v["state"] != "scheduled" || v["money"] != "held" {
		t.Fatalf("view of a scheduled message: %d %v", st, v)
	}
	sendAt, err1 := time.Parse(time.RFC3339, v["send_at"].(string))
	exp, err2 := time.Parse(time.RFC3339, v["expires_at"].(string))
	if err1 != nil || err2 != nil || !sendAt.Equal(at) || !exp.Equal(at.Add(10*time.Minute)) {
		t.Fatalf("send_at %v expires_at %v, want %s and 10 min later (%v %v)", v["send_at"], v["expires_at"], at, err1, err2)
	}
	for _, bad := range []string{`"tomorrow"`, `"2026-12-24 18:00"`, `"` + time.Now().Add(8*24*time.Hour).UTC().Format(time.RFC3339) + `"`} {
		if st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"x","send_at":`+bad+`}`); st != 400 {
			t.Errorf("send_at %s: %d %v, want 400", bad, st, m)
		}
	}
	if st, m := c.do("POST", "/v1/messages", acme, `{"to":"+4915112345678","text":"x","send_at":"`+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)+`"}`); st != 202 {
		t.Fatalf("send_at in the past goes at once: %d %v", st, m)
	} else if _, v := c.do("GET", "/v1/messages/"+m["message_id"].(string), acme, ""); v["state"] == "scheduled" || v["send_at"] != nil {
		t.Fatalf("a past send_at scheduled the message: %v", v)
	}
}

// Tenant default_validity_s and supplier billing / dlr_grace_s are taken
// and shown; out of range is 400.
func TestValiditySettings(t *testing.T) {
	c, _ := start(t, httpapi.Options{})
	st, m := c.do("POST", "/v1/tenants", admin, `{"id":"v1","name":"V","currency":"EUR","billing":"on_submit","tier":"standard","default_validity_s":600}`)
	if st != 201 || m["default_validity_s"] != float64(600) {
		t.Fatalf("tenant with default_validity_s: %d %v", st, m)
	}
	st, m = c.do("POST", "/v1/tenants", admin, `{"id":"v2","name":"V","currency":"EUR","billing":"on_submit","tier":"standard"}`)
	if st != 201 || m["default_validity_s"] != float64(172800) {
		t.Fatalf("tenant with the default validity: %d %v", st, m)
	}
	if st, m := c.do("POST", "/v1/tenants", admin, `{"id":"v3","name":"V","currency":"EUR","billing":"on_submit","tier":"standard","default_validity_s":604801}`); st != 400 {
		t.Fatalf("default_validity_s over a week: %d %v", st, m)
	}
	st, m = c.do("POST", "/v1/suppliers", admin, `{"id":"s1","name":"S","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s","password":"p","billing":"on_delivery","dlr_grace_s":120}`)
	if st != 201 || m["billing"] != "on_delivery" || m["dlr_grace_s"] != float64(120) {
		t.Fatalf("supplier with billing and dlr_grace_s: %d %v", st, m)
	}
	st, m = c.do("POST", "/v1/suppliers", admin, `{"id":"s2","name":"S","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s"}`)
	if st != 201 || m["billing"] != "on_submit" || m["dlr_grace_s"] != float64(3600) {
		t.Fatalf("supplier defaults: %d %v", st, m)
	}
	for _, bad := range []string{`"billing":"monthly"`, `"dlr_grace_s":-1`} {
		if st, m := c.do("POST", "/v1/suppliers", admin, `{"id":"s3","name":"S","currency":"EUR","host":"127.0.0.1","port":2775,"system_id":"s",`+bad+`}`); st != 400 {
			t.Errorf("supplier with %s: %d %v", bad, st, m)
		}
	}
}
