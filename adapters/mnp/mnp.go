// Package mnp looks numbers up at a number-portability (MNP) provider over
// HTTP, without ever putting that round trip on a submit's path.
//
// Design (issue 17): the hot path asks Lookup, which answers from an
// in-memory cache only. A number the cache does not know is queued (non-
// blocking; dropped when the queue is full) and looked up by background
// workers under a per-request deadline and a circuit breaker; the answer
// — ported to a network, or not ported — is cached for a TTL. So the first
// message to a number not in the operator's local portability table is
// priced and routed by the numbering plan ("look up after"), and every
// message to it from then on by its real network. A provider that is slow
// or down costs nothing but cache misses: the breaker stops asking it for
// a while, and the plan decides meanwhile.
//
// Protocol: GET <url>?msisdn=<E.164 digits> → 200 {"mccmnc":"26202"} when
// the number is ported (its current network), 404 when it is not; anything
// else is a failure (counted by the breaker, nothing cached).
package mnp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/sony/gobreaker/v2"

	"github.com/smsledger/smsledger/domain/numbering"
)

// Defaults.
const (
	DefaultTimeout   = 2 * time.Second
	DefaultCacheSize = 1_000_000
	DefaultCacheTTL  = 24 * time.Hour
	DefaultQueueMax  = 10_000
	DefaultWorkers   = 4
	// breakerFailures consecutive failures open the breaker for
	// breakerOpen; then one request tries again.
	breakerFailures = 5
	breakerOpen     = 30 * time.Second
	maxAnswerBytes  = 4 << 10
)

// Config configures a Client.
type Config struct {
	URL       string        // the provider's lookup URL
	Timeout   time.Duration // per request; 0: DefaultTimeout
	CacheSize int           // numbers kept; 0: DefaultCacheSize
	CacheTTL  time.Duration // how long an answer holds; 0: DefaultCacheTTL
	QueueMax  int           // numbers waiting for a lookup; 0: DefaultQueueMax
	Workers   int           // lookups at once; 0: DefaultWorkers
	Logger    *slog.Logger
	// HTTPClient is used for the lookups (tests); nil: a client of its own.
	HTTPClient *http.Client
}

// Stats counts what the client did.
type Stats struct {
	Hits, Misses, Dropped, Lookups, Failures, BreakerOpen uint64
	Cached                                                int
}

// Client is the provider's client: a numbering.Remote.
type Client struct {
	cfg     Config
	u       *url.URL
	log     *slog.Logger
	cache   *expirable.LRU[string, numbering.Code] // zero Code: not ported
	queue   chan string
	queued  sync.Map // numbers in the queue or being looked up
	breaker *gobreaker.CircuitBreaker[numbering.Code]
	http    *http.Client

	hits, misses, dropped, lookups, failures, rejected atomic.Uint64
}

var _ numbering.Remote = (*Client)(nil)

// errNotPorted is a lookup's "not ported" (404): an answer, not a failure.
var errNotPorted = errors.New("not ported")

// New checks cfg and returns a client; Run starts its workers.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mnp: URL %q: want http(s)://host/path", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.QueueMax <= 0 {
		cfg.QueueMax = DefaultQueueMax
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, u: u, log: cfg.Logger,
		cache: expirable.NewLRU[string, numbering.Code](cfg.CacheSize, nil, cfg.CacheTTL),
		queue: make(chan string, cfg.QueueMax),
		http:  cfg.HTTPClient,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: cfg.Timeout}
	}
	c.breaker = gobreaker.NewCircuitBreaker[numbering.Code](gobreaker.Settings{
		Name:        "mnp",
		Timeout:     breakerOpen,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= breakerFailures },
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, errNotPorted)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			c.log.Warn("mnp: provider circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	return c, nil
}

// Lookup answers from the cache only: the network a number was ported to
// (ok), or not ported / not known yet (!ok). A number not in the cache is
// queued for a lookup in the background; it never waits.
func (c *Client) Lookup(digits string) (numbering.Code, bool) {
	if code, found := c.cache.Get(digits); found {
		c.hits.Add(1)
		return code, code.Known()
	}
	c.misses.Add(1)
	if _, already := c.queued.LoadOrStore(digits, struct{}{}); already {
		return 0, false
	}
	select {
	case c.queue <- digits:
	default:
		c.queued.Delete(digits)
		c.dropped.Add(1)
	}
	return 0, false
}

// Run looks queued numbers up until ctx ends.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := 0; i < c.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case digits := <-c.queue:
					c.resolve(ctx, digits)
					c.queued.Delete(digits)
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

// resolve asks the provider once (through the breaker) and caches an
// answer; a failure caches nothing, so a later message asks again.
func (c *Client) resolve(ctx context.Context, digits string) {
	code, err := c.breaker.Execute(func() (numbering.Code, error) { return c.ask(ctx, digits) })
	switch {
	case err == nil:
		c.cache.Add(digits, code)
	case errors.Is(err, errNotPorted):
		c.cache.Add(digits, 0)
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		c.rejected.Add(1)
	default:
		c.failures.Add(1)
		c.log.Debug("mnp: lookup failed", "err", err)
	}
}

func (c *Client) ask(ctx context.Context, digits string) (numbering.Code, error) {
	c.lookups.Add(1)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u := *c.u
	q := u.Query()
	q.Set("msisdn", digits)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("mnp: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxAnswerBytes))
	if err != nil {
		return 0, fmt.Errorf("mnp: %w", err)
	}
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return 0, errNotPorted
	default:
		return 0, fmt.Errorf("mnp: provider answered %d", res.StatusCode)
	}
	var a struct {
		MCCMNC string `json:"mccmnc"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, fmt.Errorf("mnp: answer %q: %w", body, err)
	}
	code, err := numbering.ParseCode(a.MCCMNC)
	if err != nil {
		return 0, fmt.Errorf("mnp: answer: %w", err)
	}
	return code, nil
}

// Stats reports the client's counts.
func (c *Client) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Dropped: c.dropped.Load(), Lookups: c.lookups.Load(),
		Failures: c.failures.Load(), BreakerOpen: c.rejected.Load(), Cached: c.cache.Len()}
}
