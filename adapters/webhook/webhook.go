// Package webhook pushes final delivery reports (DLRs) to tenants' HTTP
// endpoints: a signed JSON POST per message, retried with exponential
// backoff, from bounded queues served by a fixed pool of workers.
//
// One slow tenant must not hold up the others: deliveries wait in a queue
// per tenant (Delivery.Tenant), bounded by Config.TenantQueueSize within
// the sender's Config.QueueSize, and the workers serve the tenants in turn,
// each tenant with at most Config.TenantWorkers requests running (one while
// its last attempt failed). An endpoint that hangs thus holds at most that
// share of the workers, fills only its own queue (further deliveries for it
// are refused with ErrQueueFull), and the other tenants' DLRs keep going
// out. Deliveries given up are logged per tenant, one line with their
// number per Config.FailureLogEvery.
//
// Signature: every request carries
//
//	X-Smsledger-Timestamp: <unix seconds>
//	X-Smsledger-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// A receiver recomputes the HMAC over the raw body bytes with its secret,
// compares in constant time and refuses timestamps far from its clock
// (Verify does exactly this; docs/webhooks.md shows it for customers).
//
// Outcome of one delivery: a 2xx answer is success. A transport error or
// timeout, 408, 429 and 5xx are transient: retried after an exponentially
// growing, jittered delay (Retry-After is honoured, capped) while the
// attempts and the total time stay within their bounds. Any other status
// (3xx — redirects are not followed —, other 4xx) is a permanent failure
// and is not retried. Delivery is at least once: a receiver deduplicates
// by message_id.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/smsledger/smsledger/internal/backoff"
)

// Header names and the signature scheme version.
const (
	HeaderTimestamp  = "X-Smsledger-Timestamp"
	HeaderSignature  = "X-Smsledger-Signature"
	SignatureVersion = "v1"
	// DefaultTolerance is how far a signed timestamp may be from the
	// receiver's clock in Verify.
	DefaultTolerance = 5 * time.Minute
)

// Errors.
var (
	// ErrQueueFull: the tenant's queue, or the sender's, is full; try again
	// later.
	ErrQueueFull = errors.New("webhook: queue full")
	// ErrPending: a delivery for this message is queued, being tried or
	// waiting for its next attempt.
	ErrPending = errors.New("webhook: delivery already pending")
	// ErrRecent: this message was delivered (or given up) moments ago;
	// a new delivery is refused for a short while, so a retry pass that
	// runs before the outcome is visible elsewhere does not send it twice.
	ErrRecent = errors.New("webhook: delivery finished recently")
	// ErrClosed: the sender has stopped.
	ErrClosed = errors.New("webhook: sender stopped")
	// ErrPermanent wraps a failure that retrying cannot fix (e.g. 400,
	// 404, 410): the receiver refused the DLR.
	ErrPermanent = errors.New("webhook: permanent failure")
	// ErrExhausted wraps the last transient failure when the attempts or
	// the total time ran out.
	ErrExhausted = errors.New("webhook: retries exhausted")

	// ErrBadSignature and ErrStaleTimestamp are Verify's refusals.
	ErrBadSignature   = errors.New("webhook: bad signature")
	ErrStaleTimestamp = errors.New("webhook: timestamp outside tolerance")
)

// DLR is the JSON body POSTed for one message.
type DLR struct {
	MessageID string    `json:"message_id"`
	Status    string    `json:"status"` // DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, UNKNOWN
	State     string    `json:"state"`  // the message's final state: delivered, undelivered, rejected, expired, failed
	ClientRef string    `json:"client_ref,omitempty"`
	Error     string    `json:"error"` // the supplier's error code, "" if none
	Parts     int       `json:"parts"`
	Price     string    `json:"price"` // decimal string
	Currency  string    `json:"currency"`
	DoneAt    time.Time `json:"done_at"`
}

// MO is the JSON body POSTed for one mobile-originated message: a
// handset's message to one of the tenant's numbers. Type is always "mo"
// (a DLR's body has no type); a receiver deduplicates by message_id, as
// for DLRs.
type MO struct {
	Type       string    `json:"type"` // "mo"
	MessageID  string    `json:"message_id"`
	From       string    `json:"from"` // the handset
	To         string    `json:"to"`   // the tenant's number
	Text       string    `json:"text"`
	ReceivedAt time.Time `json:"received_at"`
}

// Delivery is one DLR, or one MO, to push.
type Delivery struct {
	// Tenant names the queue the delivery waits in (default: the URL).
	Tenant string
	URL    string
	Secret string
	DLR    DLR
	// MO, when set, is pushed instead of DLR (signed and retried alike).
	MO *MO
	// Done, if set, is called exactly once with the outcome, from a worker
	// goroutine (so it may block briefly, e.g. to record the outcome),
	// unless the sender stops first: then it gets ErrClosed.
	Done func(Result)
}

// Result is the outcome of a delivery.
type Result struct {
	Attempts   int
	StatusCode int // of the last answer; 0 if none
	// Err is nil when delivered; otherwise it wraps ErrPermanent,
	// ErrExhausted or ErrClosed.
	Err error
}

// Delivered reports success (a 2xx answer).
func (r Result) Delivered() bool { return r.Err == nil }

// Permanent reports a failure that is not worth retrying.
func (r Result) Permanent() bool { return errors.Is(r.Err, ErrPermanent) }

// Config tunes a Sender. Zero values take the defaults.
type Config struct {
	// Client sends the requests (default: a client that does not follow
	// redirects). The per-attempt timeout is applied through the request
	// context.
	Client *http.Client
	// Workers sending concurrently, all tenants together (default 32).
	Workers int
	// TenantWorkers bounds one tenant's requests running at once (default
	// a quarter of Workers, at least 1: an endpoint that hangs holds at
	// most that share); while the tenant's last attempt failed, 1.
	TenantWorkers int
	// QueueSize bounds the deliveries accepted and not finished (queued,
	// in flight or waiting for a retry) (default 10,000).
	QueueSize int
	// TenantQueueSize bounds one tenant's share of QueueSize (default a
	// quarter of it; all of it if QueueSize is under 4), so that an
	// endpoint that hangs fills its own queue, not everyone's.
	TenantQueueSize int
	// AttemptTimeout bounds one request, answer included (default 10s).
	AttemptTimeout time.Duration
	// MaxAttempts bounds the attempts of one delivery (default 8).
	MaxAttempts int
	// InitialBackoff is the delay after the first failure (default 1s);
	// it doubles per failure up to MaxBackoff (default 1m). The delay
	// actually used is drawn from [d/2, d] (jitter), unless NoJitter.
	InitialBackoff, MaxBackoff time.Duration
	NoJitter                   bool
	// MaxElapsed bounds the time from the first attempt to the start of
	// the last (default 5m): no attempt is scheduled beyond it.
	MaxElapsed time.Duration
	// RecentFor is how long a finished delivery's message id is refused
	// (ErrRecent) (default 1m).
	RecentFor time.Duration
	// MaxBodyBytes bounds the answer body read (and discarded) (default 4 KiB).
	MaxBodyBytes int64
	// FailureLogEvery is how often the deliveries given up are logged, one
	// line per tenant with their number (default 10s).
	FailureLogEvery time.Duration
	Logger          *slog.Logger
	// Now is the clock for timestamps and the time bound (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Client == nil {
		c.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.Workers <= 0 {
		c.Workers = 32
	}
	if c.TenantWorkers <= 0 || c.TenantWorkers > c.Workers {
		c.TenantWorkers = max(c.Workers/tenantShare, 1)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 10_000
	}
	if c.TenantQueueSize <= 0 || c.TenantQueueSize > c.QueueSize {
		c.TenantQueueSize = c.QueueSize / tenantShare
		if c.TenantQueueSize < 1 {
			c.TenantQueueSize = c.QueueSize
		}
	}
	if c.FailureLogEvery <= 0 {
		c.FailureLogEvery = 10 * time.Second
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = 10 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Minute
	}
	if c.MaxBackoff < c.InitialBackoff {
		c.MaxBackoff = c.InitialBackoff
	}
	if c.MaxElapsed <= 0 {
		c.MaxElapsed = 5 * time.Minute
	}
	if c.RecentFor <= 0 {
		c.RecentFor = time.Minute
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 4 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// tenantShare: by default one tenant may hold a quarter of the workers and
// of the queue, so that up to three tenants whose endpoints hang leave a
// quarter of each to the others.
const tenantShare = 4

// Sender pushes DLRs. Make it with New, start Run, then Enqueue.
type Sender struct {
	cfg Config
	log *slog.Logger
	// wake tells a waiting worker there may be work (a delivery queued, a
	// tenant's request ended); each worker that finds work passes it on.
	wake chan struct{}

	mu      sync.Mutex
	pending map[string]struct{} // message ids accepted and not finished
	// tenants are the per-tenant queues of the tenants with a delivery
	// pending or a request running; ring holds, in turn, those with a
	// delivery waiting for a worker (each at most once).
	tenants map[string]*tenantQueue
	ring    []string
	// gaveUp counts the deliveries given up per tenant since the last
	// report (reported every FailureLogEvery by Run).
	gaveUp    map[string]int
	gaveUpErr map[string]error
	// recent maps the message ids finished lately to the time until which
	// they are refused; it holds the recentPerQueued×QueueSize ids finished
	// last.
	recent  *simplelru.LRU[string, time.Time]
	stopped bool
	timers  map[*item]*time.Timer // deliveries waiting for their next attempt
	timerWG sync.WaitGroup        // timer callbacks not finished
}

// tenantQueue is one tenant's deliveries.
type tenantQueue struct {
	waiting []*item // for a worker, oldest first
	pending int     // accepted and not finished (at most TenantQueueSize)
	running int     // requests running (at most TenantWorkers)
	inRing  bool
	failing bool // the last attempt failed: one request at a time
}

type item struct {
	tenant   string
	d        Delivery
	body     []byte
	first    time.Time // first attempt
	attempts int
	status   int
}

// New makes a Sender.
func New(cfg Config) *Sender {
	cfg.setDefaults()
	recent, err := simplelru.NewLRU[string, time.Time](recentPerQueued*cfg.QueueSize, nil)
	if err != nil {
		panic(err) // only for a size below 1, which the defaults rule out
	}
	return &Sender{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "webhook"),
		wake:      make(chan struct{}, 1),
		pending:   map[string]struct{}{},
		tenants:   map[string]*tenantQueue{},
		gaveUp:    map[string]int{},
		gaveUpErr: map[string]error{},
		recent:    recent,
		timers:    map[*item]*time.Timer{},
	}
}

// Enqueue accepts a delivery without waiting. It refuses a message whose
// delivery is pending (ErrPending) or finished moments ago (ErrRecent), and
// returns ErrQueueFull (the tenant's queue or the sender's is full) or
// ErrClosed when it cannot take it.
func (s *Sender) Enqueue(d Delivery) error {
	key, body, err := d.payload()
	if err != nil {
		return err
	}
	if key == "" || d.URL == "" {
		return errors.New("webhook: delivery without message id or URL")
	}
	tenant := d.Tenant
	if tenant == "" {
		tenant = d.URL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tq := s.tenants[tenant]
	switch {
	case s.stopped:
		return ErrClosed
	case hasKey(s.pending, key):
		return ErrPending
	case s.refusedUntil(key).After(s.cfg.Now()):
		return ErrRecent
	case len(s.pending) >= s.cfg.QueueSize, tq != nil && tq.pending >= s.cfg.TenantQueueSize:
		return ErrQueueFull
	}
	if tq == nil {
		tq = &tenantQueue{}
		s.tenants[tenant] = tq
	}
	s.recent.Remove(key)
	s.pending[key] = struct{}{}
	tq.pending++
	s.queueLocked(&item{tenant: tenant, d: d, body: body})
	return nil
}

// payload is the delivery's key (the message id its receiver deduplicates
// by) and its JSON body.
func (d *Delivery) payload() (key string, body []byte, err error) {
	if d.MO != nil {
		mo := *d.MO
		mo.Type = "mo"
		body, err = json.Marshal(mo)
		if err != nil {
			return "", nil, fmt.Errorf("webhook: encode MO: %w", err)
		}
		return mo.MessageID, body, nil
	}
	body, err = json.Marshal(d.DLR)
	if err != nil {
		return "", nil, fmt.Errorf("webhook: encode DLR: %w", err)
	}
	return d.DLR.MessageID, body, nil
}

// key is the message id the delivery is known by.
func (d *Delivery) key() string {
	if d.MO != nil {
		return d.MO.MessageID
	}
	return d.DLR.MessageID
}

// queueLocked puts it in its tenant's queue (its place in pending is
// counted already) and wakes a worker. s.mu is held.
func (s *Sender) queueLocked(it *item) {
	tq := s.tenants[it.tenant]
	tq.waiting = append(tq.waiting, it)
	s.turnLocked(it.tenant, tq)
	s.poke()
}

// turnLocked puts a tenant with a delivery waiting in the ring, unless it
// is there. (Whether it has room is decided when its turn comes.) s.mu is
// held.
func (s *Sender) turnLocked(tenant string, tq *tenantQueue) {
	if !tq.inRing && len(tq.waiting) > 0 {
		tq.inRing = true
		s.ring = append(s.ring, tenant)
	}
}

// poke wakes a worker, if one waits and none is woken yet.
func (s *Sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take hands a worker the next delivery, tenants in turn, or nil when no
// tenant with a delivery waiting has room for another request.
func (s *Sender) take() *item {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.ring) > 0 {
		tenant := s.ring[0]
		s.ring[0] = ""
		s.ring = s.ring[1:]
		tq := s.tenants[tenant]
		tq.inRing = false
		limit := s.cfg.TenantWorkers
		if tq.failing {
			limit = 1
		}
		if len(tq.waiting) == 0 || tq.running >= limit {
			continue // back in the ring when one of its requests ends
		}
		it := tq.waiting[0]
		tq.waiting[0] = nil
		tq.waiting = tq.waiting[1:]
		tq.running++
		s.turnLocked(tenant, tq)
		return it
	}
	return nil
}

// release ends a request of it's tenant: failed says whether the attempt
// failed (the tenant then gets one request at a time).
func (s *Sender) release(it *item, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tq := s.tenants[it.tenant]
	tq.running--
	tq.failing = failed
	s.turnLocked(it.tenant, tq)
	s.dropIdleLocked(it.tenant, tq)
	s.poke()
}

// dropIdleLocked forgets a tenant with nothing pending or running. s.mu is
// held.
func (s *Sender) dropIdleLocked(tenant string, tq *tenantQueue) {
	if tq.pending == 0 && tq.running == 0 && len(tq.waiting) == 0 {
		delete(s.tenants, tenant)
	}
}

func hasKey(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

// recentPerQueued is how many finished message ids the sender remembers
// per place in its queue.
const recentPerQueued = 4

// refusedUntil is when a message id finished lately stops being refused
// (the zero time if it was not). s.mu is held.
func (s *Sender) refusedUntil(key string) time.Time {
	until, _ := s.recent.Peek(key)
	return until
}

// Run sends until ctx ends, then lets the attempts in flight finish
// (bounded by AttemptTimeout), finishes everything still queued or waiting
// for a retry with ErrClosed, and returns.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range s.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				it := s.take()
				if it == nil {
					select {
					case <-ctx.Done():
						return
					case <-s.wake:
					}
					continue
				}
				s.poke() // another worker may find work too
				failed := s.attempt(context.WithoutCancel(ctx), it)
				s.release(it, failed)
			}
		}()
	}
	report := time.NewTicker(s.cfg.FailureLogEvery)
	defer report.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-report.C:
			s.reportGaveUp()
		}
	}
	s.mu.Lock()
	s.stopped = true
	var waiting []*item
	for it, t := range s.timers {
		if t.Stop() {
			waiting = append(waiting, it)
			s.timerWG.Done()
		}
		delete(s.timers, it)
	}
	s.mu.Unlock()
	for _, it := range waiting {
		s.finish(it, ErrClosed)
	}
	wg.Wait()
	s.timerWG.Wait() // a timer that fired during the stop finishes its item
	s.mu.Lock()
	waiting = waiting[:0]
	for _, tq := range s.tenants {
		waiting = append(waiting, tq.waiting...)
		tq.waiting, tq.inRing = nil, false
	}
	s.ring = nil
	s.mu.Unlock()
	for _, it := range waiting {
		s.finish(it, ErrClosed)
	}
	s.reportGaveUp()
}

// reportGaveUp logs the deliveries given up since the last report, one
// line per tenant with their number and the last error.
func (s *Sender) reportGaveUp() {
	s.mu.Lock()
	counts, errs := s.gaveUp, s.gaveUpErr
	if len(counts) > 0 {
		s.gaveUp, s.gaveUpErr = map[string]int{}, map[string]error{}
	}
	s.mu.Unlock()
	for tenant, n := range counts {
		s.log.Warn("webhook: DLRs given up for now", "tenant", tenant, "deliveries", n, "within", s.cfg.FailureLogEvery, "last_err", errs[tenant])
	}
}

// gaveUpOn counts a delivery given up, for reportGaveUp.
func (s *Sender) gaveUpOn(it *item, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, counted := s.gaveUp[it.tenant]; !counted && len(s.gaveUp) >= gaveUpTenantsMax {
		return // counted per tenant for so many only; the rest are Debug lines
	}
	s.gaveUp[it.tenant]++
	s.gaveUpErr[it.tenant] = err
}

// gaveUpTenantsMax bounds the tenants whose given-up deliveries are
// counted between two reports.
const gaveUpTenantsMax = 10_000

// attempt makes one request for it and decides what follows; it reports
// whether the request failed for a reason that may pass (the endpoint's
// trouble: its tenant then gets one request at a time).
func (s *Sender) attempt(ctx context.Context, it *item) (failed bool) {
	if it.attempts == 0 {
		it.first = s.cfg.Now()
	}
	it.attempts++
	status, retryAfter, err := s.post(ctx, it)
	it.status = status
	if err == nil {
		s.finish(it, nil)
		return false
	}
	if errors.Is(err, ErrPermanent) {
		s.finish(it, err)
		return false
	}
	delay := s.backoff(it.attempts, retryAfter)
	if it.attempts >= s.cfg.MaxAttempts || s.cfg.Now().Add(delay).Sub(it.first) > s.cfg.MaxElapsed {
		// Counted per tenant and logged with their number (reportGaveUp).
		s.log.Debug("webhook: giving up on a DLR for now", "tenant", it.tenant, "message", it.d.key(), "attempts", it.attempts, "err", err)
		s.gaveUpOn(it, err)
		s.finish(it, fmt.Errorf("%w after %d attempts: %w", ErrExhausted, it.attempts, err))
		return true
	}
	s.log.Debug("webhook: attempt failed; retrying", "tenant", it.tenant, "message", it.d.key(), "attempt", it.attempts, "in", delay, "err", err)
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.finish(it, ErrClosed)
		return true
	}
	s.timerWG.Add(1)
	s.timers[it] = time.AfterFunc(delay, func() {
		defer s.timerWG.Done()
		s.mu.Lock()
		delete(s.timers, it)
		stopped := s.stopped
		if !stopped {
			s.queueLocked(it) // its place is still counted in pending
		}
		s.mu.Unlock()
		if stopped {
			s.finish(it, ErrClosed)
		}
	})
	s.mu.Unlock()
	return true
}

// backoff is the delay after the n-th failed attempt.
func (s *Sender) backoff(n int, retryAfter time.Duration) time.Duration {
	d := backoff.Delay(s.cfg.InitialBackoff, s.cfg.MaxBackoff, n)
	if !s.cfg.NoJitter {
		d = backoff.Jittered(d, 0.5)
	}
	if retryAfter > d {
		d = min(retryAfter, s.cfg.MaxBackoff)
	}
	return d
}

// post makes one signed request. err wraps ErrPermanent when retrying is
// pointless; retryAfter is the answer's Retry-After, if any.
func (s *Sender) post(ctx context.Context, it *item) (status int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, it.d.URL, bytes.NewReader(it.body))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	ts := strconv.FormatInt(s.cfg.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "smsledger-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(it.d.Secret, ts, it.body))
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return 0, 0, err // transport error or timeout: transient
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, s.cfg.MaxBodyBytes))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return c, 0, nil
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		return c, parseRetryAfter(resp.Header.Get("Retry-After"), s.cfg.Now()), fmt.Errorf("answered %d", c)
	default:
		return c, 0, fmt.Errorf("%w: answered %d", ErrPermanent, c)
	}
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// finish ends a delivery: it leaves pending, is refused for RecentFor
// (unless the sender stopped), and Done is told.
func (s *Sender) finish(it *item, err error) {
	key := it.d.key()
	res := Result{Attempts: it.attempts, StatusCode: it.status, Err: err}
	if it.d.Done != nil {
		it.d.Done(res) // before the id leaves pending: the outcome is recorded first
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.pending, key)
	if tq := s.tenants[it.tenant]; tq != nil {
		tq.pending--
		s.dropIdleLocked(it.tenant, tq)
	}
	if errors.Is(err, ErrClosed) {
		return
	}
	s.recent.Add(key, s.cfg.Now().Add(s.cfg.RecentFor))
}

// Sign returns the X-Smsledger-Signature value for a body sent at
// timestamp (unix seconds, as sent in X-Smsledger-Timestamp):
// "v1=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return SignatureVersion + "=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a received webhook: signature is the X-Smsledger-Signature
// header (one or more comma-separated "v1=<hex>"; any match passes, which
// allows a secret rotation), timestamp the X-Smsledger-Timestamp header,
// body the raw request body. The timestamp must be within tolerance of now
// (0: DefaultTolerance). Comparison is constant-time.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrStaleTimestamp, timestamp)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > tolerance || d < -tolerance {
		return ErrStaleTimestamp
	}
	want := []byte(Sign(secret, timestamp, body))
	for _, part := range strings.Split(signature, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(part)), want) {
			return nil
		}
	}
	return ErrBadSignature
}
