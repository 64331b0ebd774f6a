package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// messagesAPI is a stand-in for serve's POST /v1/messages (and GET
// /v1/balance, the key check) on a loopback port: it checks the request as
// serve's handler would (Bearer key, strict JSON {from, to, text}), accepts
// odd destinations and refuses even ones 429 throttled with the API's error
// body.
type messagesAPI struct {
	t      *testing.T
	key    string
	seen   atomic.Int64
	checks atomic.Int64

	mu       sync.Mutex
	dests    map[string]bool
	long     int
	validity map[int64]int   // validity_s → requests
	sendAt   map[string]bool // send_at values
}

func (a *messagesAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.key {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/balance" {
		a.checks.Add(1)
		_, _ = w.Write([]byte(`{"available":"1"}`))
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		http.NotFound(w, r)
		return
	}
	var req struct {
		From      string `json:"from"`
		To        string `json:"to"`
		Text      string `json:"text"`
		ValidityS int64  `json:"validity_s"`
		SendAt    string `json:"send_at"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.To == "" || req.Text == "" {
		a.t.Errorf("bad request body: %v %+v", err, req)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a.seen.Add(1)
	a.mu.Lock()
	a.dests[req.To] = true
	if req.ValidityS != 0 {
		a.validity[req.ValidityS]++
	}
	if req.SendAt != "" {
		a.sendAt[req.SendAt] = true
	}
	if len(req.Text) > 160 {
		a.long++
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if (req.To[len(req.To)-1]-'0')%2 == 0 {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"code":"throttled","message":"tenant over its tps"}}`))
		return
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = fmt.Fprintf(w, `{"message_id":"m-%s","parts":1,"price":"0.01"}`, req.To)
}

func startAPI(t *testing.T) (*messagesAPI, string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := &messagesAPI{t: t, key: "k3y", dests: map[string]bool{}, validity: map[int64]int{}, sendAt: map[string]bool{}}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	stop := func() {
		_ = srv.Close()
		<-done
	}
	t.Cleanup(stop)
	return api, "http://" + ln.Addr().String(), stop
}

func TestRunHTTPCountsAcceptedAndRefused(t *testing.T) {
	api, url, _ := startAPI(t)
	var mu sync.Mutex
	ids := map[string]bool{}
	statuses := map[string]int{}
	res, err := RunHTTP(context.Background(), HTTPConfig{BaseURL: url, APIKey: api.key, Senders: 4, Messages: 200,
		DestPrefix: "4917", LongShare: 0.2, UCS2Share: 0.2,
		OnAccepted: func(id string) { mu.Lock(); ids[id] = true; mu.Unlock() },
		OnStatus:   func(s string, ok bool) { mu.Lock(); statuses[fmt.Sprintf("%s %v", s, ok)]++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sent %d accepted %d refused %d statuses %v errors %v submit %+v", res.Sent, res.Accepted, res.Refused, res.Statuses, res.Errors, res.Submit)
	if res.Sent != 200 || res.Accepted != 100 || res.Refused != 100 {
		t.Fatalf("sent %d accepted %d refused %d", res.Sent, res.Accepted, res.Refused)
	}
	if res.Statuses[HTTPAccepted] != 100 || res.Statuses["http_429_throttled"] != 100 || res.Errors["http_429_throttled"] != 100 || len(res.Errors) != 1 {
		t.Fatalf("statuses %v errors %v", res.Statuses, res.Errors)
	}
	if len(ids) != 100 || statuses["http_202 true"] != 100 || statuses["http_429_throttled false"] != 100 {
		t.Fatalf("%d ids, statuses seen %v", len(ids), statuses)
	}
	if n := api.checks.Load(); n != 1 {
		t.Fatalf("%d key checks, want 1 before the senders", n)
	}
	if res.Submit.Count != 200 || res.MsgPerS <= 0 || res.DLRs != 0 {
		t.Fatalf("latency %+v, %v msg/s, %d DLRs", res.Submit, res.MsgPerS, res.DLRs)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.dests) != 200 || api.long < 20 || api.long > 60 {
		t.Fatalf("%d destinations, %d long texts", len(api.dests), api.long)
	}
	for d := range api.dests {
		if len(d) != 12 || !strings.HasPrefix(d, "4917") {
			t.Fatalf("destination %q", d)
		}
	}
}

func TestRunHTTPStopsAtDurationAndRate(t *testing.T) {
	api, url, _ := startAPI(t)
	start := time.Now()
	res, err := RunHTTP(context.Background(), HTTPConfig{BaseURL: url, APIKey: api.key, Senders: 2,
		Messages: MessagesMax, Duration: 500 * time.Millisecond, Rate: 200})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	// ~100 requests in 0.5 s at 200/s (plus the limiter's small burst).
	if res.Sent < 50 || res.Sent > 150 || el > 10*time.Second {
		t.Fatalf("sent %d in %v", res.Sent, el)
	}
}

// A server that goes away stops every sender (as lost binds stop an SMPP
// run); requests that could not connect are not counted as sent.
func TestRunHTTPStopsWhenTheServerIsGone(t *testing.T) {
	api, url, stop := startAPI(t)
	var once sync.Once
	start := time.Now()
	res, err := RunHTTP(context.Background(), HTTPConfig{BaseURL: url, APIKey: api.key, Senders: 3, Messages: 100_000,
		OnAccepted: func(string) { once.Do(func() { go stop() }) }})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("sent %d accepted %d errors %v after %v", res.Sent, res.Accepted, res.Errors, el)
	if res.Sent == 0 || res.Sent >= 100_000 || res.Accepted+res.Refused+res.Errors["http_transport"]+res.Errors["no_response"] != res.Sent || el > 20*time.Second {
		t.Fatalf("sent %d accepted %d refused %d errors %v after %v", res.Sent, res.Accepted, res.Refused, res.Errors, el)
	}
	// Every sender stopped at its first failed request.
	if failed := res.Errors["http_connect"] + res.Errors["http_transport"] + res.Errors["no_response"]; failed != 3 {
		t.Fatalf("%d failed requests, want one per sender: %v", failed, res.Errors)
	}

	// No server at all: the key check fails, as a refused bind.
	if _, err := RunHTTP(context.Background(), HTTPConfig{BaseURL: url, APIKey: api.key, Messages: 10}); err == nil {
		t.Fatal("a run against no server started")
	}
}

func TestRunHTTPRefusedKey(t *testing.T) {
	api, url, _ := startAPI(t)
	_, err := RunHTTP(context.Background(), HTTPConfig{BaseURL: url, APIKey: "wrong", Messages: 10})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want the key check's 401", err)
	}
	if api.seen.Load() != 0 {
		t.Fatalf("%d submits with a refused key", api.seen.Load())
	}
}

// Offset shifts the destinations; Validity and SendAfter become
// validity_s (rounded up to a second) and send_at (the request's time +
// SendAfter, RFC 3339 UTC).
func TestRunHTTPOffsetValiditySendAt(t *testing.T) {
	api, url, _ := startAPI(t)
	before := time.Now()
	res, err := RunHTTP(context.Background(), HTTPConfig{BaseURL: url, APIKey: api.key, Senders: 2, Messages: 10,
		DestPrefix: "4917", Offset: 1000, Validity: 5500 * time.Millisecond, SendAfter: 10 * time.Second})
	if err != nil || res.Sent != 10 {
		t.Fatalf("%+v %v", res, err)
	}
	after := time.Now()
	api.mu.Lock()
	defer api.mu.Unlock()
	for n := 1001; n <= 1010; n++ {
		if d := fmt.Sprintf("4917%08d", n); !api.dests[d] {
			t.Fatalf("no message to %s: %v", d, api.dests)
		}
	}
	if api.validity[6] != 10 || len(api.validity) != 1 {
		t.Fatalf("validity_s %v, want 6 ten times", api.validity)
	}
	if len(api.sendAt) == 0 {
		t.Fatal("no send_at")
	}
	for s := range api.sendAt {
		at, err := time.Parse(time.RFC3339, s)
		if err != nil || !strings.HasSuffix(s, "Z") || at.Before(before.Add(10*time.Second).Truncate(time.Millisecond)) || at.After(after.Add(10*time.Second)) {
			t.Fatalf("send_at %q (%v) not 10 s after the request", s, err)
		}
	}
}

func TestRunHTTPConfig(t *testing.T) {
	for _, c := range []HTTPConfig{
		{APIKey: "k"},
		{BaseURL: "http://127.0.0.1:1"},
		{BaseURL: "http://127.0.0.1:1", APIKey: "k", Senders: SendersMax + 1},
		{BaseURL: "http://127.0.0.1:1", APIKey: "k", LongShare: 0.8, UCS2Share: 0.5},
		{BaseURL: "http://127.0.0.1:1", APIKey: "k", DestPrefix: "123456789"},
		{BaseURL: "http://127.0.0.1:1", APIKey: "k", Offset: -1},
		{BaseURL: "http://127.0.0.1:1", APIKey: "k", Validity: -time.Second},
		{BaseURL: "http://127.0.0.1:1", APIKey: "k", SendAfter: TimeMax + time.Second},
	} {
		if _, err := RunHTTP(context.Background(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if got := HTTPStatusName(402, "insufficient_funds"); got != "http_402_insufficient_funds" {
		t.Errorf("name %q", got)
	}
	if got := HTTPStatusName(503, "a b/c"); got != "http_503_a_b_c" {
		t.Errorf("name %q", got)
	}
	if got := HTTPStatusName(502, ""); got != "http_502" {
		t.Errorf("name %q", got)
	}
}
