// Package egress sends messages to one supplier SMSC over several gosmpp
// transceiver binds: a per-supplier TPS limit (token bucket) and window of
// outstanding submit_sm, bounded reconnect backoff, a per-submit timeout,
// two bounded queues (premium first when the supplier is saturated) and
// adaptive throttling when submit_sm_resp latency grows. Outcomes and the
// supplier's DLRs are reported through Reporter; failover along the route's
// candidates is the caller's job (it gets Rejected/TimedOut and picks the
// next supplier).
//
// Adaptive rule: an EWMA (α = 0.2) of submit_sm_resp latency is kept; once
// per AdaptEvery, if it exceeds LatencyTarget the effective TPS is cut by
// 25% (floor: 10% of TPS), else it grows by 10% back up to TPS.
package egress

// This file holds the public types, Config and its defaults, and the
// Supplier with its entry points (New, Run) and gauges.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/smppconn"
	"golang.org/x/time/rate"
)

// Message is one message to send.
type Message struct {
	ID                 string // ours, echoed in results
	From, To, Text     string
	DataCoding         byte // 0 GSM 03.38, 3 Latin-1, 8 UCS-2
	RegisteredDelivery bool
	Premium            bool
	// ExpiresAt: a message still queued at this time is never written;
	// it is reported Expired (zero: no limit).
	ExpiresAt time.Time

	queuedAt time.Time // set by Enqueue
}

// Result is the outcome of one submit.
type Result struct {
	MessageID         string
	SupplierID        string
	SupplierMessageID string                 // on accept
	CommandStatus     data.CommandStatusType // on reject
	Latency           time.Duration
}

// DLR is a supplier's delivery receipt.
type DLR struct {
	SupplierID        string
	SupplierMessageID string // converted to the submit_sm_resp id format
	Receipt           receipt.Receipt
}

// MO is a mobile-originated message a supplier delivered: a deliver_sm
// that is not a receipt.
type MO struct {
	From, To string // the handset; the number it was sent to, as written
	Text     string
	// DataCoding is the text's coding to send it on in: 0 GSM 03.38, 3
	// Latin-1 (also for the supplier's IA5), 8 UCS-2.
	DataCoding byte
}

// Reporter receives outcomes; calls may come from many goroutines. A
// DeliveryReport or MOReceived error makes the deliver_sm be answered
// ESME_RSYSERR (the supplier will redeliver); nil answers ESME_ROK, so the
// reporter returns only once what it was given is durable (or is not to
// be kept: an MO for a number nobody owns).
type Reporter interface {
	SupplierAccepted(ctx context.Context, r Result)
	SupplierRejected(ctx context.Context, r Result)
	SupplierTimedOut(ctx context.Context, r Result) // no answer in time, or the bind was lost
	// Expired: never written, its ExpiresAt passed while it was queued.
	Expired(ctx context.Context, r Result)
	DeliveryReport(ctx context.Context, d DLR) error
	MOReceived(ctx context.Context, supplierID string, mo MO) error
}

// Config is one supplier.
type Config struct {
	SupplierID         string
	Addr               string
	SystemID, Password string
	Binds              int           // default 1
	TPS                float64       // default 100
	Window             int           // outstanding submit_sm over all binds (default 64)
	QueueSize          int           // per priority queue (default 10000)
	SubmitTimeout      time.Duration // default 10s
	BackoffMin         time.Duration // default 100ms
	BackoffMax         time.Duration // default 10s
	LatencyTarget      time.Duration // default 500ms
	// QueueTimeout: a queued message of a down supplier is reported timed
	// out after waiting this long (default 1s), so it fails over.
	QueueTimeout time.Duration
	AdaptEvery   time.Duration // default 1s
	// IDs: the format of submit_sm_resp ids and of DLR ids (when they
	// differ, DLR ids are converted; the receipted_message_id TLV is taken
	// as written in the resp format).
	RespIDFormat, DLRIDFormat receipt.IDFormat
	Logger                    *slog.Logger
	// TLS: the binds speak TLS, verifying the supplier's certificate for
	// TLSServerName (empty: the host of Addr) against the certificates of
	// TLSCAPEM (PEM; empty: the system pool).
	TLS           bool
	TLSServerName string
	TLSCAPEM      []byte
}

// TLSConfig is the TLS configuration the binds dial with: nil without
// TLS; an error if TLSCAPEM holds no certificate or Addr no host.
func (c Config) TLSConfig() (*tls.Config, error) {
	if !c.TLS {
		return nil, nil
	}
	conf := &tls.Config{ServerName: c.TLSServerName, MinVersion: tls.VersionTLS12}
	if conf.ServerName == "" {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("egress: no TLS server name, and none in address %q", c.Addr)
		}
		conf.ServerName = host
	}
	if len(c.TLSCAPEM) > 0 {
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(c.TLSCAPEM) {
			return nil, errors.New("egress: no certificate in the TLS CA PEM")
		}
	}
	return conf, nil
}

// ErrQueueFull is returned by Enqueue when the priority's queue is full.
var ErrQueueFull = errors.New("egress: queue full")

// ErrStopped is returned by Enqueue once the supplier was drained (Drain).
var ErrStopped = errors.New("egress: stopped")

// Supplier is a running supplier connection set.
type Supplier struct {
	cfg       Config
	rep       Reporter
	log       *slog.Logger
	dial      gosmpp.Dialer // nil when dialErr says why
	dialErr   error         // a TLS configuration that cannot work
	premium   chan Message
	normal    chan Message
	window    chan struct{}
	dlrSlots  chan struct{} // DLRs and MOs being recorded (bounded)
	moDropped atomic.Int64  // MOs acknowledged but not decodable
	limiter   *rate.Limiter
	ewmaNs    atomic.Int64
	up        atomic.Int32 // binds up
	everUp    atomic.Bool  // a bind has been up
	bindFails atomic.Int64 // bind attempts that failed
	inflight  sync.WaitGroup

	// queueMu orders Enqueue (read side) against Drain (write side), so
	// that nothing is queued after the drain and lost.
	queueMu sync.RWMutex
	drained bool
}

// New makes a supplier; Run connects it.
func New(cfg Config, rep Reporter) *Supplier {
	if cfg.Binds <= 0 {
		cfg.Binds = 1
	}
	if cfg.TPS <= 0 {
		cfg.TPS = 100
	}
	if cfg.Window <= 0 {
		cfg.Window = 64
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	d := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	d(&cfg.SubmitTimeout, 10*time.Second)
	d(&cfg.BackoffMin, 100*time.Millisecond)
	d(&cfg.BackoffMax, 10*time.Second)
	d(&cfg.LatencyTarget, 500*time.Millisecond)
	d(&cfg.AdaptEvery, time.Second)
	d(&cfg.QueueTimeout, time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Supplier{cfg: cfg, rep: rep, log: cfg.Logger.With("component", "smpp-egress", "supplier", cfg.SupplierID),
		premium: make(chan Message, cfg.QueueSize), normal: make(chan Message, cfg.QueueSize),
		window:   make(chan struct{}, cfg.Window),
		dlrSlots: make(chan struct{}, dlrConcurrencyMax),
		limiter:  rate.NewLimiter(rate.Limit(cfg.TPS), max(1, int(cfg.TPS/10)))}
	// A bad TLS configuration fails every bind attempt (logged, counted):
	// the supplier is down and its messages fail over.
	var tlsConf *tls.Config
	if tlsConf, s.dialErr = cfg.TLSConfig(); s.dialErr == nil {
		s.dial = smppconn.DialerWith(smppconn.Options{DialTimeout: bindDialTimeout, WriteTimeout: bindWriteTimeout, TLS: tlsConf})
	}
	return s
}

// BindsUp is the number of binds currently bound.
func (s *Supplier) BindsUp() int { return int(s.up.Load()) }

// QueueDepth is the number of messages waiting for a bind (both priorities).
func (s *Supplier) QueueDepth() int { return len(s.premium) + len(s.normal) }

// EffectiveTPS is the current (adapted) rate limit.
func (s *Supplier) EffectiveTPS() float64 { return float64(s.limiter.Limit()) }

// Run keeps cfg.Binds binds up and sends queued messages until ctx ends;
// then it waits for in-flight submits (bounded by SubmitTimeout).
func (s *Supplier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := 0; i < s.cfg.Binds; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); s.bindLoop(ctx, i) }(i)
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.adapt(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); s.sweep(ctx) }()
	wg.Wait()
	s.inflight.Wait()
	return nil
}
