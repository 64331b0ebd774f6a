package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// HTTP load: Senders concurrent clients POST /v1/messages ({from, to,
// text}) with a tenant's API key, the HTTP counterpart of Run. A 202 with a
// message id is an accepted message; any other answer is a refusal counted
// by its HTTP status and error code (HTTPStatusName). HTTP submits ask for
// no DLR (the API asks for one only for a tenant with a DLR webhook), so
// there is no DLR phase.
//
// Before the senders start, one GET /v1/balance checks the key, as a bind
// checks SMPP credentials before a run: the API verifies a key with bcrypt
// on its first use (then caches it), which would otherwise land in the
// latency of the first submits. A refused or failed check is RunHTTP's
// error, like a refused bind.
//
// A sender stops at a transport error (connection refused or reset, no
// answer within RequestTimeout) as an SMPP bind stops when it is lost (a
// request that could not connect is not counted as sent);
// RunHTTP returns once every sender has stopped, the count is reached or
// the duration is over, so that a caller can start again against a
// restarted server with the messages left.

// SendersMax bounds HTTPConfig.Senders.
const SendersMax = 256

// HTTPAccepted is the status name of an accepted HTTP submit.
const HTTPAccepted = "http_202"

// HTTPConfig describes one HTTP load run.
type HTTPConfig struct {
	BaseURL string // serve's HTTP API, http://host:port
	APIKey  string // the tenant's API key (Bearer)
	Senders int    // concurrent requests (default 4)
	// Messages, Duration and Rate as in Config.
	Messages int
	Duration time.Duration
	Rate     float64
	// Destinations, source and text mix as in Config.
	DestPrefix           string
	DestDigits           int
	From                 string
	LongShare, UCS2Share float64
	// Offset, as in Config: message numbers start after it.
	Offset int64
	// Validity, when set, is sent as validity_s (whole seconds, rounded
	// up); SendAfter, when set, as send_at = the time of the request +
	// SendAfter (RFC 3339, UTC, milliseconds).
	Validity, SendAfter time.Duration
	// RequestTimeout bounds one request (default 10s); a request without an
	// answer in time is counted "no_response" and stops its sender.
	RequestTimeout time.Duration
	Logger         *slog.Logger
	// OnAccepted, when set, is called with the message id of every 202.
	OnAccepted func(messageID string)
	// OnStatus, when set, is called with the status name of every answer
	// (HTTPStatusName) and whether it accepted the message.
	OnStatus func(status string, accepted bool)
}

func (c *HTTPConfig) defaults() error {
	if c.BaseURL == "" {
		return errors.New("load: no HTTP base URL")
	}
	if c.APIKey == "" {
		return errors.New("load: no API key")
	}
	if c.Senders == 0 {
		c.Senders = 4
	}
	if c.Senders < 1 || c.Senders > SendersMax {
		return fmt.Errorf("load: senders %d out of 1..%d", c.Senders, SendersMax)
	}
	if err := trafficDefaults(&c.Messages, &c.Duration, c.Rate, c.LongShare, c.UCS2Share, &c.DestPrefix, &c.DestDigits, &c.From); err != nil {
		return err
	}
	if err := timeDefaults(c.Offset, c.Validity, c.SendAfter); err != nil {
		return err
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// HTTPStatusName names an HTTP answer: "http_202" for an acceptance,
// "http_<status>_<error code>" for a refusal with a JSON error body (e.g.
// "http_429_throttled", "http_402_insufficient_funds"), "http_<status>"
// without one.
func HTTPStatusName(status int, code string) string {
	name := "http_" + strconv.Itoa(status)
	if code != "" && status != http.StatusAccepted {
		name += "_" + sanitize(code)
	}
	return name
}

// sanitize keeps a server-sent code usable as a map key and in YAML.
func sanitize(code string) string {
	if len(code) > 64 {
		code = code[:64]
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			return r
		}
		return '_'
	}, code)
}

type httpRunner struct {
	cfg     HTTPConfig
	log     *slog.Logger
	client  *http.Client
	url     string
	limiter *rate.Limiter
	next    atomic.Int64
	sent    atomic.Int64
	start   time.Time

	mu       sync.Mutex
	lastResp time.Time
	statuses map[string]int64
	errs     map[string]int64
	accepted int64
	refused  int64
	hist     Histogram
}

// RunHTTP drives the HTTP load; see above. An error means the run could
// not start (bad config, key refused, server unreachable); what went wrong
// during the run is in Result.Errors.
func RunHTTP(ctx context.Context, cfg HTTPConfig) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:          cfg.Senders,
		MaxIdleConnsPerHost:   cfg.Senders,
		MaxConnsPerHost:       cfg.Senders,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: cfg.RequestTimeout,
	}
	defer tr.CloseIdleConnections()
	r := &httpRunner{cfg: cfg, log: cfg.Logger.With("component", "load-http"),
		client:   &http.Client{Transport: tr, Timeout: cfg.RequestTimeout},
		url:      strings.TrimSuffix(cfg.BaseURL, "/") + "/v1/messages",
		statuses: map[string]int64{}, errs: map[string]int64{}}
	if cfg.Rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/100)))
	}
	if err := r.checkKey(ctx); err != nil {
		return nil, err
	}
	sendCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	r.start = time.Now()
	var wg sync.WaitGroup
	for i := 0; i < cfg.Senders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.sendLoop(sendCtx, ctx)
		}()
	}
	wg.Wait()
	r.log.Info("sending stopped", "sent", r.sent.Load(), "elapsed", time.Since(r.start).Round(time.Millisecond))
	return r.result(), nil
}

// sendLoop posts until the count is reached, sendCtx ends or a transport
// error stops it. A request under way when sendCtx ends is still awaited
// (≤ RequestTimeout; bounded by ctx), as an SMPP run awaits its responses.
func (r *httpRunner) sendLoop(sendCtx, ctx context.Context) {
	for sendCtx.Err() == nil {
		n := r.next.Add(1)
		if n > int64(r.cfg.Messages) {
			return
		}
		if r.limiter != nil {
			if err := r.limiter.Wait(sendCtx); err != nil {
				return
			}
		}
		if !r.post(ctx, n) {
			return
		}
	}
}

// checkKey authenticates once with GET /v1/balance (see above).
func (r *httpRunner) checkKey(ctx context.Context) error {
	url := strings.TrimSuffix(r.cfg.BaseURL, "/") + "/v1/balance"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("load: key check: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("load: key check at %s: %w", url, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("load: key check at %s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

type sendBody struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Text      string `json:"text"`
	ValidityS int64  `json:"validity_s,omitempty"`
	SendAt    string `json:"send_at,omitempty"`
}

// SendAtFormat is how send_at is written: RFC 3339 in UTC with
// milliseconds.
const SendAtFormat = "2006-01-02T15:04:05.000Z07:00"

// post sends message n; false when a transport error should stop the
// sender.
func (r *httpRunner) post(ctx context.Context, n int64) bool {
	n += r.cfg.Offset
	b := sendBody{From: r.cfg.From, To: destination(r.cfg.DestPrefix, r.cfg.DestDigits, n),
		Text: text(mixKind(n, r.cfg.LongShare, r.cfg.UCS2Share), n)}
	if r.cfg.Validity > 0 {
		b.ValidityS = int64((r.cfg.Validity + time.Second - 1) / time.Second)
	}
	if r.cfg.SendAfter > 0 {
		b.SendAt = time.Now().Add(r.cfg.SendAfter).UTC().Format(SendAtFormat)
	}
	body, err := json.Marshal(b)
	if err != nil { // a bug in the generator, not the server's fault
		r.addErr("build_request", 1)
		r.log.Error("build request", "err", err)
		return false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(body))
	if err != nil {
		r.addErr("build_request", 1)
		r.log.Error("build request", "err", err)
		return false
	}
	req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		var (
			oe *net.OpError
			ne net.Error
		)
		switch {
		case errors.As(err, &oe) && oe.Op == "dial":
			r.addErr("http_connect", 1) // never reached the server: not sent
		case errors.As(err, &ne) && ne.Timeout():
			r.sent.Add(1)
			r.addErr("no_response", 1)
		default:
			r.sent.Add(1)
			r.addErr("http_transport", 1)
		}
		r.log.Debug("http submit failed", "err", err)
		return false
	}
	r.sent.Add(1)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	now := time.Now()
	if err != nil {
		r.addErr("no_response", 1)
		return false
	}
	var answer struct {
		MessageID string `json:"message_id"`
		Error     struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	decodeErr := json.Unmarshal(raw, &answer)
	name := HTTPStatusName(resp.StatusCode, answer.Error.Code)
	ok := resp.StatusCode == http.StatusAccepted && decodeErr == nil && answer.MessageID != ""
	r.mu.Lock()
	r.hist.Record(now.Sub(t0))
	if now.After(r.lastResp) {
		r.lastResp = now
	}
	switch {
	case ok:
		r.statuses[name]++
		r.accepted++
	case resp.StatusCode == http.StatusAccepted:
		// Accepted, but which message? Not trackable: an error, not a refusal.
		r.errs["http_202_no_message_id"]++
	default:
		r.statuses[name]++
		r.refused++
		r.errs[name]++
	}
	r.mu.Unlock()
	if resp.StatusCode != http.StatusAccepted || ok {
		if r.cfg.OnStatus != nil {
			r.cfg.OnStatus(name, ok)
		}
		if ok && r.cfg.OnAccepted != nil {
			r.cfg.OnAccepted(answer.MessageID)
		}
	}
	return true
}

func (r *httpRunner) addErr(kind string, n int64) {
	r.mu.Lock()
	r.errs[kind] += n
	r.mu.Unlock()
}

func (r *httpRunner) result() *Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := &Result{Sent: r.sent.Load(), Accepted: r.accepted, Refused: r.refused, Statuses: maps(r.statuses),
		Errors: maps(r.errs), Submit: r.hist.Summary(), SubmitHist: r.hist, DLRByStat: map[string]int64{}}
	if !r.lastResp.IsZero() {
		res.SubmitPhase = r.lastResp.Sub(r.start)
	}
	if res.SubmitPhase > 0 {
		res.MsgPerS = float64(res.Accepted) / res.SubmitPhase.Seconds()
	}
	return res
}
