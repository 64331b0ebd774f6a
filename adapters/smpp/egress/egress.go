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

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
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

// Reporter receives outcomes; calls may come from many goroutines. A
// DeliveryReport error makes the deliver_sm be answered ESME_RSYSERR (the
// supplier will redeliver).
type Reporter interface {
	SupplierAccepted(ctx context.Context, r Result)
	SupplierRejected(ctx context.Context, r Result)
	SupplierTimedOut(ctx context.Context, r Result) // no answer in time, or the bind was lost
	DeliveryReport(ctx context.Context, d DLR) error
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
}

// bindDialTimeout and bindWriteTimeout bound connecting to a supplier and
// one write to its connection.
const (
	bindDialTimeout  = 10 * time.Second
	bindWriteTimeout = 10 * time.Second
)

// dlrConcurrencyMax bounds the supplier DLRs being recorded at once.
const dlrConcurrencyMax = 512

// ErrQueueFull is returned by Enqueue when the priority's queue is full.
var ErrQueueFull = errors.New("egress: queue full")

// Supplier is a running supplier connection set.
type Supplier struct {
	cfg       Config
	rep       Reporter
	log       *slog.Logger
	premium   chan Message
	normal    chan Message
	window    chan struct{}
	dlrSlots  chan struct{} // DLRs being recorded (bounded)
	limiter   *rate.Limiter
	ewmaNs    atomic.Int64
	up        atomic.Int32 // binds up
	everUp    atomic.Bool  // a bind has been up
	bindFails atomic.Int64 // bind attempts that failed
	inflight  sync.WaitGroup
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
	return &Supplier{cfg: cfg, rep: rep, log: cfg.Logger.With("component", "smpp-egress", "supplier", cfg.SupplierID),
		premium: make(chan Message, cfg.QueueSize), normal: make(chan Message, cfg.QueueSize),
		window:   make(chan struct{}, cfg.Window),
		dlrSlots: make(chan struct{}, dlrConcurrencyMax),
		limiter:  rate.NewLimiter(rate.Limit(cfg.TPS), max(1, int(cfg.TPS/10)))}
}

// Enqueue queues m (premium or normal queue) without blocking.
func (s *Supplier) Enqueue(m Message) error {
	m.queuedAt = time.Now()
	q := s.normal
	if m.Premium {
		q = s.premium
	}
	select {
	case q <- m:
		return nil
	default:
		return ErrQueueFull
	}
}

// Down reports a supplier known to be unreachable: no bind up, and either a
// bind attempt failed or it had been up before (an outage). A supplier whose
// first binds are still connecting is not down.
func (s *Supplier) Down() bool {
	return s.up.Load() == 0 && (s.bindFails.Load() > 0 || s.everUp.Load())
}

// sweep fails the queued messages of a down supplier once they have waited
// QueueTimeout, reporting each as timed out so the caller fails over; with
// a bind up, queued messages are only waiting for the rate limit or the
// window, and stay.
func (s *Supplier) sweep(ctx context.Context) {
	tick := time.NewTicker(s.cfg.QueueTimeout / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !s.Down() {
			continue
		}
		for _, q := range []chan Message{s.premium, s.normal} {
			for n := len(q); n > 0; n-- { // each queued message looked at once
				var m Message
				select {
				case m = <-q:
				default:
					n = 0
					continue
				}
				if time.Since(m.queuedAt) < s.cfg.QueueTimeout {
					select {
					case q <- m:
					default:
						s.rep.SupplierTimedOut(ctx, Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID})
					}
					continue
				}
				s.rep.SupplierTimedOut(ctx, Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID})
			}
		}
	}
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

func (s *Supplier) adapt(ctx context.Context) {
	t := time.NewTicker(s.cfg.AdaptEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e := time.Duration(s.ewmaNs.Load())
		cur := float64(s.limiter.Limit())
		next := cur
		if e > s.cfg.LatencyTarget {
			next = max(cur*0.75, s.cfg.TPS/10)
		} else {
			next = min(cur*1.10, s.cfg.TPS)
		}
		if next != cur {
			s.limiter.SetLimit(rate.Limit(next))
			s.log.Debug("egress tps adapted", "tps", next, "latency_ewma", e)
		}
	}
}

func (s *Supplier) observe(d time.Duration) {
	for {
		old := s.ewmaNs.Load()
		nv := int64(d)
		if old != 0 {
			nv = old + (int64(d)-old)/5
		}
		if s.ewmaNs.CompareAndSwap(old, nv) {
			return
		}
	}
}

// bind is one gosmpp session and its outstanding submits.
type bind struct {
	s       *Supplier
	mu      sync.Mutex
	pending map[int32]chan pdu.PDU
	closed  chan struct{}
	once    sync.Once
	// sess is set once the bind is up; DLR answers are written through it
	// after they are recorded.
	sess   atomic.Pointer[gosmpp.Session]
	sessUp chan struct{}
}

func (s *Supplier) bindLoop(ctx context.Context, i int) {
	backoff := s.cfg.BackoffMin
	for ctx.Err() == nil {
		b := &bind{s: s, pending: map[int32]chan pdu.PDU{}, closed: make(chan struct{}), sessUp: make(chan struct{})}
		auth := gosmpp.Auth{SMSC: s.cfg.Addr, SystemID: s.cfg.SystemID, Password: s.cfg.Password}
		sess, err := gosmpp.NewSession(gosmpp.TRXConnector(smppconn.Dialer(bindDialTimeout, bindWriteTimeout), auth), gosmpp.Settings{
			ReadTimeout: 2 * time.Minute, EnquireLink: time.Minute, WriteTimeout: bindWriteTimeout,
			OnAllPDU: b.onPDU,
			OnClosed: func(gosmpp.State) { b.once.Do(func() { close(b.closed) }) },
		}, 0)
		if err != nil {
			s.bindFails.Add(1)
			s.log.Warn("egress bind failed", "bind", i, "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(2*backoff, s.cfg.BackoffMax)
			continue
		}
		backoff = s.cfg.BackoffMin
		b.sess.Store(sess)
		close(b.sessUp)
		s.up.Add(1)
		s.everUp.Store(true)
		s.log.Info("egress bound", "bind", i)
		s.sendLoop(ctx, b, sess)
		s.up.Add(-1)
		_ = sess.Close()
		b.once.Do(func() { close(b.closed) })
	}
}

func (b *bind) onPDU(p pdu.PDU) (pdu.PDU, bool) {
	switch q := p.(type) {
	case *pdu.SubmitSMResp, *pdu.GenericNack:
		b.mu.Lock()
		ch := b.pending[p.GetSequenceNumber()]
		delete(b.pending, p.GetSequenceNumber())
		b.mu.Unlock()
		if ch != nil {
			ch <- p
		}
		return nil, false
	case *pdu.DeliverSM:
		resp := q.GetResponse()
		if !receipt.IsReceipt(q) {
			return resp, false // MO: not ours to handle; acknowledged
		}
		r, err := receipt.FromDeliverSM(q)
		if err != nil {
			b.s.log.Warn("egress unparseable receipt", "err", err)
			return resp, false
		}
		id := r.ID
		if _, tlv := q.OptionalParameters[pdu.TagReceiptedMessageID]; !tlv {
			id = receipt.ConvertID(id, b.s.cfg.DLRIDFormat, b.s.cfg.RespIDFormat)
		}
		// The receipt is recorded before it is acknowledged (a supplier
		// redelivers an unacknowledged DLR), but not on gosmpp's read loop:
		// that would make a bind's DLRs, and the submit_sm_resps behind
		// them, wait one durable append each. A bounded pool records them
		// concurrently (their appends share group commits) and writes each
		// deliver_sm_resp when its DLR is durable.
		b.s.dlrSlots <- struct{}{} // backpressure: the read loop waits when all are busy
		go func() {
			defer func() { <-b.s.dlrSlots }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := b.s.rep.DeliveryReport(ctx, DLR{SupplierID: b.s.cfg.SupplierID, SupplierMessageID: id, Receipt: r})
			cancel()
			if err != nil {
				resp.(*pdu.DeliverSMResp).CommandStatus = data.ESME_RSYSERR
			}
			select {
			case <-b.sessUp:
				_ = b.sess.Load().Transceiver().Submit(resp)
			case <-b.closed:
				// The bind is gone; the supplier redelivers the DLR.
			}
		}()
		return nil, false
	case *pdu.EnquireLink:
		return q.GetResponse(), false
	case *pdu.Unbind:
		return q.GetResponse(), true
	}
	return nil, false
}

// sendLoop takes messages (premium first) and submits them until the bind
// closes or ctx ends.
func (s *Supplier) sendLoop(ctx context.Context, b *bind, sess *gosmpp.Session) {
	for {
		var m Message
		select {
		case m = <-s.premium:
		default:
			select {
			case m = <-s.premium:
			case m = <-s.normal:
			case <-b.closed:
				return
			case <-ctx.Done():
				return
			}
		}
		if err := s.limiter.Wait(ctx); err != nil {
			s.requeue(m)
			return
		}
		select {
		case s.window <- struct{}{}:
		case <-b.closed:
			s.requeue(m)
			return
		case <-ctx.Done():
			s.requeue(m)
			return
		}
		p, err := buildSubmit(m)
		if err != nil {
			<-s.window
			s.rep.SupplierRejected(ctx, Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID, CommandStatus: data.ESME_RINVMSGLEN})
			continue
		}
		ch := make(chan pdu.PDU, 1)
		b.mu.Lock()
		b.pending[p.GetSequenceNumber()] = ch
		b.mu.Unlock()
		start := time.Now()
		if err := sess.Transceiver().Submit(p); err != nil {
			b.mu.Lock()
			delete(b.pending, p.GetSequenceNumber())
			b.mu.Unlock()
			<-s.window
			s.requeue(m) // never written: safe to resend
			return
		}
		s.inflight.Add(1)
		go s.await(b, m, ch, start)
	}
}

func (s *Supplier) requeue(m Message) {
	if err := s.Enqueue(m); err != nil {
		s.rep.SupplierTimedOut(context.Background(), Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID})
	}
}

func (s *Supplier) await(b *bind, m Message, ch chan pdu.PDU, start time.Time) {
	defer s.inflight.Done()
	defer func() { <-s.window }()
	t := time.NewTimer(s.cfg.SubmitTimeout)
	defer t.Stop()
	ctx := context.Background()
	res := Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID}
	select {
	case p := <-ch:
		res.Latency = time.Since(start)
		s.observe(res.Latency)
		res.CommandStatus = p.GetHeader().CommandStatus
		if r, ok := p.(*pdu.SubmitSMResp); ok && res.CommandStatus == data.ESME_ROK {
			res.SupplierMessageID = r.MessageID
			s.rep.SupplierAccepted(ctx, res)
			return
		}
		if res.CommandStatus == data.ESME_ROK {
			res.CommandStatus = data.ESME_RSYSERR
		}
		s.rep.SupplierRejected(ctx, res)
	case <-t.C:
		s.observe(s.cfg.SubmitTimeout)
		res.Latency = time.Since(start)
		s.rep.SupplierTimedOut(ctx, res)
	case <-b.closed:
		res.Latency = time.Since(start)
		s.rep.SupplierTimedOut(ctx, res) // bind lost: outcome unknown
	}
}

func buildSubmit(m Message) (*pdu.SubmitSM, error) {
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	var err error
	if p.SourceAddr, err = pdu.NewAddressWithAddr(m.From); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if p.DestAddr, err = pdu.NewAddressWithAddr(m.To); err != nil {
		return nil, fmt.Errorf("dest: %w", err)
	}
	p.DestAddr.SetTon(data.GSM_TON_INTERNATIONAL)
	p.DestAddr.SetNpi(data.GSM_NPI_E164)
	enc := data.FromDataCoding(m.DataCoding)
	if enc == nil {
		enc = data.GSM7BIT
	}
	raw, err := enc.Encode(m.Text)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if len(raw) <= 254 {
		err = p.Message.SetMessageDataWithEncoding(raw, enc)
	} else {
		// Long: whole text in message_payload (one submit, one supplier id).
		err = p.Message.SetMessageDataWithEncoding(nil, enc)
		p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: raw})
	}
	if err != nil {
		return nil, err
	}
	if m.RegisteredDelivery {
		p.RegisteredDelivery = 1
	}
	return p, nil
}
