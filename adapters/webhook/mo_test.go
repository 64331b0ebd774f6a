package webhook

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// An MO is POSTed as {"type":"mo", message_id, from, to, text,
// received_at}, signed like a DLR, retried on a transient answer, and
// deduplicated by its message id while pending.
func TestMOPayloadSignedAndRetried(t *testing.T) {
	bodies := make(chan []byte, 8)
	calls := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now(), 0); err != nil {
			t.Errorf("signature: %v", err)
		}
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		bodies <- body
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	s := start(t, Config{})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	done := make(chan Result, 1)
	mo := &MO{MessageID: "mo-1", From: "4917600000001", To: "+4915112345678", Text: "STOP €", ReceivedAt: at}
	if err := s.Enqueue(Delivery{Tenant: "acme", URL: srv.URL, Secret: secret, MO: mo, Done: func(r Result) { done <- r }}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(Delivery{Tenant: "acme", URL: srv.URL, Secret: secret, MO: mo}); !refused(err) {
		t.Fatalf("the same MO again while pending: %v", err)
	}
	select {
	case r := <-done:
		if !r.Delivered() || r.Attempts != 2 {
			t.Fatalf("result %+v", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no result")
	}
	var got map[string]any
	if err := json.Unmarshal(<-bodies, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "mo", "message_id": "mo-1", "from": "4917600000001", "to": "+4915112345678",
		"text": "STOP €", "received_at": "2026-01-02T03:04:05Z"}
	if len(got) != len(want) {
		t.Fatalf("body %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
