// Package load is a reusable SMPP load generator for end-to-end benchmarks
// and scenarios: it binds N transceivers with gosmpp (one or more customer
// credentials, binds spread round-robin over them), keeps a window of
// outstanding submit_sm per bind, stops at a message count or a duration
// (whichever comes first), optionally under a rate limit, and measures
// submit_sm → submit_sm_resp latency per message. With registered delivery
// it then collects the DLR deliver_sm that come back on the same binds,
// matches them to the message ids of the submit_sm_resp and measures the
// round trip from submit to receipt.
//
// Every loop is bounded: the send phase by Messages and Duration, the wait
// for missing responses by ResponseTimeout, the wait for DLRs by DLRWait.
// Run returns when all of them are over (or ctx ends) and its sessions are
// closed.
package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"golang.org/x/time/rate"

	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/smpp/smppconn"
)

// Hard caps: a run never goes beyond them, whatever it is asked.
const (
	MessagesMax = 10_000_000
	DurationMax = time.Hour
	BindsMax    = 256
	WindowMax   = 10_000
	// TimeMax bounds Validity and SendAfter (the API's 7 days).
	TimeMax = 7 * 24 * time.Hour
)

// Credential is one customer's SMPP bind credentials.
type Credential struct {
	SystemID, Password string
}

// Config describes one load run.
type Config struct {
	Addr        string       // SMPP server, host:port
	Credentials []Credential // binds are spread round-robin over them (at least one)
	Binds       int          // transceiver binds (default 8)
	Window      int          // outstanding submit_sm per bind (default 64)
	Messages    int          // stop after this many submit_sm (default 20,000; ≤ MessagesMax)
	Duration    time.Duration
	// Rate limits submit_sm per second over all binds (0 = as fast as the
	// windows allow).
	Rate float64
	// Destinations are DestPrefix followed by a zero-padded counter
	// (DestDigits digits in total, default 12), so every message has its
	// own number; From is the source address (default "Bench").
	DestPrefix string
	DestDigits int
	From       string
	// Offset shifts the message numbers (destinations and texts) of the
	// run: they are Offset+1, Offset+2, …, so that runs that go on with
	// what an earlier one left (a lost bind) send to numbers of their own.
	Offset int64
	// Validity, when set, is sent as a relative validity_period (whole
	// seconds, rounded up); SendAfter, when set, as a relative
	// schedule_delivery_time (scheduled delivery that long after the
	// submit). Both are SMPP v3.4 §7.1.1 "YYMMDDhhmmss000R".
	Validity, SendAfter time.Duration
	// LongShare and UCS2Share are the fractions (0..1) of messages sent as
	// long GSM texts (3 parts, in message_payload) and as short UCS-2 texts;
	// the rest are short GSM texts.
	LongShare, UCS2Share float64
	// RegisteredDelivery asks for DLRs and waits up to DLRWait after the
	// last submit_sm_resp for them.
	RegisteredDelivery bool
	DLRWait            time.Duration
	// DLRMark, when set, takes Result.AtMark: the DLRs matched by DLRMark
	// after the submit phase ended, while the wait goes on (up to DLRWait)
	// for the rest — a verdict at a deadline, a drain after it.
	DLRMark time.Duration
	// ResponseTimeout bounds the wait for outstanding submit_sm_resp once
	// sending stopped (default 30s); unanswered submits are errors.
	ResponseTimeout time.Duration
	BindTimeout     time.Duration // default 10s
	Logger          *slog.Logger
	// OnAccepted, when set, is called with the message id of every
	// submit_sm_resp ESME_ROK (on a session's reader goroutine: keep it
	// short). Scenarios use it to check what was acknowledged.
	OnAccepted func(messageID string)
	// OnStatus, when set, is called with the status of every
	// submit_sm_resp (on a session's reader goroutine: keep it short).
	OnStatus func(status data.CommandStatusType)
	// OnReceipt, when set, is called for every DLR received (duplicates
	// and DLRs of other runs too), with its message id and stat.
	OnReceipt func(messageID, stat string)
	// OnMO, when set, is called for every deliver_sm that is not a
	// receipt — a mobile-originated message for one of the tenant's
	// numbers — on a session's reader goroutine (keep it short).
	OnMO func(MO)
}

// MO is a mobile-originated message a bind received: a deliver_sm that is
// not a receipt.
type MO struct {
	From, To string // the handset, the tenant's number (as the deliver_sm has them)
	Text     string
	EsmClass byte
}

// MOOf reads an MO from a deliver_sm that is not a receipt: its short
// message in its data coding (a text past 254 octets, in
// message_payload, reads as empty: scenarios send short ones).
func MOOf(q *pdu.DeliverSM) MO {
	text, _ := q.Message.GetMessage()
	return MO{From: q.SourceAddr.Address(), To: q.DestAddr.Address(), Text: text, EsmClass: q.EsmClass}
}

// trafficDefaults fills in and checks what the SMPP and HTTP generators
// share: the count and duration bounds, the rate, the text mix and the
// destinations.
func trafficDefaults(messages *int, duration *time.Duration, rate, longShare, ucs2Share float64, destPrefix *string, destDigits *int, from *string) error {
	if *messages == 0 && *duration == 0 {
		*messages = 20_000
	}
	if *messages <= 0 || *messages > MessagesMax {
		*messages = MessagesMax
	}
	if *duration <= 0 || *duration > DurationMax {
		*duration = DurationMax
	}
	switch {
	case rate < 0:
		return errors.New("load: negative rate")
	case longShare < 0 || ucs2Share < 0 || longShare+ucs2Share > 1:
		return fmt.Errorf("load: long share %v + UCS-2 share %v must be within 0..1", longShare, ucs2Share)
	}
	if *destPrefix == "" {
		*destPrefix = "999"
	}
	if *destDigits == 0 {
		*destDigits = 12
	}
	if n := *destDigits - len(*destPrefix); n < 4 || *destDigits > 15 {
		return fmt.Errorf("load: destination prefix %q leaves %d digits of %d (need ≥ 4, total ≤ 15)", *destPrefix, n, *destDigits)
	}
	if *from == "" {
		*from = "Bench"
	}
	return nil
}

// timeDefaults checks the offset, validity and schedule of a run.
func timeDefaults(offset int64, validity, sendAfter time.Duration) error {
	switch {
	case offset < 0:
		return errors.New("load: negative offset")
	case validity < 0 || validity > TimeMax:
		return fmt.Errorf("load: validity %v out of 0..%v", validity, TimeMax)
	case sendAfter < 0 || sendAfter > TimeMax:
		return fmt.Errorf("load: send after %v out of 0..%v", sendAfter, TimeMax)
	}
	return nil
}

func (c *Config) defaults() error {
	if c.Addr == "" {
		return errors.New("load: no SMPP address")
	}
	if len(c.Credentials) == 0 {
		return errors.New("load: no credentials")
	}
	if c.Binds == 0 {
		c.Binds = 8
	}
	if c.Window == 0 {
		c.Window = 64
	}
	switch {
	case c.Binds < 1 || c.Binds > BindsMax:
		return fmt.Errorf("load: binds %d out of 1..%d", c.Binds, BindsMax)
	case c.Window < 1 || c.Window > WindowMax:
		return fmt.Errorf("load: window %d out of 1..%d", c.Window, WindowMax)
	}
	if err := trafficDefaults(&c.Messages, &c.Duration, c.Rate, c.LongShare, c.UCS2Share, &c.DestPrefix, &c.DestDigits, &c.From); err != nil {
		return err
	}
	if err := timeDefaults(c.Offset, c.Validity, c.SendAfter); err != nil {
		return err
	}
	if c.ResponseTimeout <= 0 {
		c.ResponseTimeout = 30 * time.Second
	}
	if c.BindTimeout <= 0 {
		c.BindTimeout = 10 * time.Second
	}
	if c.DLRWait < 0 {
		c.DLRWait = 0
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	Sent     int64 `json:"sent"`     // submit_sm written
	Accepted int64 `json:"accepted"` // submit_sm_resp ESME_ROK
	Refused  int64 `json:"refused"`  // submit_sm_resp with another status (or generic_nack)
	// Statuses counts submit_sm_resp by command_status name (ESME_ROK too).
	Statuses map[string]int64 `json:"statuses"`
	// Errors counts everything that went wrong, by kind: refusals by
	// status name, "no_response" (no submit_sm_resp within
	// ResponseTimeout), "bind_lost", "submit_write", "dlr_missing" (accepted
	// with registered delivery, no DLR within DLRWait), "dlr_unmatched"
	// (a DLR for no message of this run), "dlr_unparseable".
	Errors map[string]int64 `json:"errors"`
	// SubmitPhase runs from the first submit_sm to the last submit_sm_resp.
	SubmitPhase time.Duration    `json:"submit_phase_ns"`
	MsgPerS     float64          `json:"msg_per_s"` // Accepted / SubmitPhase
	Submit      Summary          `json:"submit_latency"`
	DLRs        int64            `json:"dlrs"` // matched DLRs (first one per message)
	DLRByStat   map[string]int64 `json:"dlr_by_stat"`
	// DLRDuplicates counts repeated DLRs of a message (SMPP delivery is
	// at least once: a peer that missed a deliver_sm_resp sends again); not
	// an error, but worth seeing.
	DLRDuplicates int64   `json:"dlr_duplicates"`
	DLR           Summary `json:"dlr_latency"` // from submit_sm to its DLR
	// DLRWaited is how long the run waited for DLRs after the submit phase.
	DLRWaited time.Duration `json:"dlr_waited_ns"`
	// DLRsInSubmitPhase counts the DLRs matched by the end of the submit
	// phase: what came back while traffic was offered.
	DLRsInSubmitPhase int64 `json:"dlrs_in_submit_phase"`
	// AtMark is the DLR side DLRMark after the submit phase (zero without
	// DLRMark; the final figures if every DLR came back before the mark).
	AtMark DLRMark `json:"dlr_at_mark"`
	// SubmitHist and DLRHist are the histograms behind Submit and DLR, for
	// merging the results of several runs.
	SubmitHist Histogram `json:"-"`
	DLRHist    Histogram `json:"-"`
}

// DLRMark is the DLR side at a moment of the wait: the DLRs matched by
// then and their round trips.
type DLRMark struct {
	After time.Duration `json:"after_submit_phase_ns"` // when, after the submit phase
	DLRs  int64         `json:"dlrs"`
	DLR   Summary       `json:"dlr_latency"`
	Hist  Histogram     `json:"-"`
}

// HasErrors reports whether anything in Errors is non-zero.
func (r *Result) HasErrors() bool {
	for _, n := range r.Errors {
		if n > 0 {
			return true
		}
	}
	return false
}

// Run binds, drives the load and collects DLRs; see the package doc. An
// error means the run could not start (bind refused, bad config); what went
// wrong during the run is in Result.Errors.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, log: cfg.Logger.With("component", "load"), sentAt: map[string]time.Time{},
		early: map[string]earlyDLR{}, dlrSeen: map[string]bool{}, errs: map[string]int64{}, dlrByStat: map[string]int64{}}
	if cfg.Rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate/100)))
	}
	defer r.closeAll()
	for i := 0; i < cfg.Binds; i++ {
		if err := r.bind(i); err != nil {
			return nil, err
		}
	}
	r.log.Info("bound", "binds", cfg.Binds, "window", cfg.Window, "addr", cfg.Addr)

	sendCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	r.start = time.Now()
	var wg sync.WaitGroup
	for _, b := range r.binds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.sendLoop(sendCtx)
		}()
	}
	wg.Wait()
	cancel()
	r.log.Info("sending stopped", "sent", r.sent.Load(), "elapsed", time.Since(r.start).Round(time.Millisecond))
	r.awaitResponses(ctx)
	res := r.result()
	r.mu.Lock()
	res.DLRsInSubmitPhase = r.dlrs
	r.mu.Unlock()
	if cfg.RegisteredDelivery && res.Accepted > 0 {
		r.awaitDLRs(ctx, res)
	}
	r.closeAll()
	r.finishDLRs(res)
	return res, nil
}

type earlyDLR struct {
	at   time.Time
	stat string
}

type runner struct {
	cfg     Config
	log     *slog.Logger
	limiter *rate.Limiter
	binds   []*bind
	next    atomic.Int64 // message numbers handed out
	sent    atomic.Int64
	start   time.Time
	closing atomic.Bool

	mu       sync.Mutex
	lastResp time.Time
	errs     map[string]int64
	// DLR matching, across binds (a DLR may come on any bind of the tenant).
	sentAt    map[string]time.Time // accepted message id → submit time, until its DLR
	early     map[string]earlyDLR  // DLRs that came before their submit_sm_resp was read
	dlrSeen   map[string]bool
	dlrs      int64
	dlrDups   int64
	dlrByStat map[string]int64
	dlrHist   Histogram
}

func (r *runner) addErr(kind string, n int64) {
	r.mu.Lock()
	r.errs[kind] += n
	r.mu.Unlock()
}

// bind is one gosmpp transceiver session and its outstanding submits.
type bind struct {
	r      *runner
	idx    int
	sess   *gosmpp.Session
	slots  chan struct{}
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	pending  map[int32]time.Time
	lat      Histogram
	statuses map[data.CommandStatusType]int64
}

func (r *runner) bind(i int) error {
	cred := r.cfg.Credentials[i%len(r.cfg.Credentials)]
	b := &bind{r: r, idx: i, slots: make(chan struct{}, r.cfg.Window), closed: make(chan struct{}),
		pending: make(map[int32]time.Time, r.cfg.Window), statuses: map[data.CommandStatusType]int64{}}
	// Writes coalesced like serve's own supplier binds: the generator
	// shares the machine with what it measures.
	dialer := smppconn.Dialer(r.cfg.BindTimeout, 10*time.Second)
	auth := gosmpp.Auth{SMSC: r.cfg.Addr, SystemID: cred.SystemID, Password: cred.Password}
	sess, err := gosmpp.NewSession(gosmpp.TRXConnector(dialer, auth), gosmpp.Settings{
		ReadTimeout: time.Minute, EnquireLink: 10 * time.Second, WriteTimeout: 10 * time.Second,
		OnAllPDU: b.onPDU,
		OnClosed: func(gosmpp.State) {
			if !r.closing.Load() {
				r.addErr("bind_lost", 1)
				r.log.Warn("bind lost", "bind", i)
			}
			b.once.Do(func() { close(b.closed) })
		},
	}, 0)
	if err != nil {
		return fmt.Errorf("load: bind %d as %q to %s: %w", i, cred.SystemID, r.cfg.Addr, err)
	}
	b.sess = sess
	r.binds = append(r.binds, b)
	return nil
}

// closeAll unbinds every session (idempotent).
func (r *runner) closeAll() {
	r.closing.Store(true)
	for _, b := range r.binds {
		if b.sess != nil {
			_ = b.sess.Close()
			b.sess = nil
		}
		b.once.Do(func() { close(b.closed) })
	}
}

// sendLoop submits until the count is reached, ctx ends or the bind is lost.
func (b *bind) sendLoop(ctx context.Context) {
	r := b.r
	tr := b.sess.Transceiver()
	for {
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			return
		case <-b.closed:
			return
		}
		n := r.next.Add(1)
		if n > int64(r.cfg.Messages) {
			<-b.slots
			return
		}
		if r.limiter != nil {
			if err := r.limiter.Wait(ctx); err != nil {
				<-b.slots
				return
			}
		}
		p, err := r.buildSubmit(r.cfg.Offset + n)
		if err != nil { // a bug in the generator, not the server's fault
			<-b.slots
			r.addErr("build_submit", 1)
			r.log.Error("build submit_sm", "err", err)
			return
		}
		seq := p.GetSequenceNumber()
		b.mu.Lock()
		b.pending[seq] = time.Now()
		b.mu.Unlock()
		if err := tr.Submit(p); err != nil {
			b.mu.Lock()
			delete(b.pending, seq)
			b.mu.Unlock()
			<-b.slots
			r.addErr("submit_write", 1)
			return
		}
		r.sent.Add(1)
	}
}

// onPDU runs on the session's reader goroutine.
func (b *bind) onPDU(p pdu.PDU) (pdu.PDU, bool) {
	switch q := p.(type) {
	case *pdu.SubmitSMResp:
		b.onResp(q.GetSequenceNumber(), q.CommandStatus, q.MessageID)
	case *pdu.GenericNack:
		b.onResp(q.GetSequenceNumber(), q.CommandStatus, "")
	case *pdu.DeliverSM:
		b.r.onDeliver(q)
		return q.GetResponse(), false
	case *pdu.EnquireLink:
		return q.GetResponse(), false
	case *pdu.Unbind:
		return q.GetResponse(), true
	}
	return nil, false
}

func (b *bind) onResp(seq int32, st data.CommandStatusType, id string) {
	now := time.Now()
	b.mu.Lock()
	t0, ok := b.pending[seq]
	delete(b.pending, seq)
	if ok {
		b.lat.Record(now.Sub(t0))
		b.statuses[st]++
	}
	b.mu.Unlock()
	if !ok {
		return // a late answer, already counted as no_response, or not ours
	}
	<-b.slots
	r := b.r
	if r.cfg.OnStatus != nil {
		r.cfg.OnStatus(st)
	}
	if st == data.ESME_ROK && id != "" && r.cfg.OnAccepted != nil {
		r.cfg.OnAccepted(id)
	}
	r.mu.Lock()
	if now.After(r.lastResp) {
		r.lastResp = now
	}
	if st == data.ESME_ROK && r.cfg.RegisteredDelivery && id != "" {
		if e, ok := r.early[id]; ok {
			delete(r.early, id)
			r.matchDLR(id, t0, e.at, e.stat)
		} else {
			r.sentAt[id] = t0
		}
	}
	r.mu.Unlock()
}

// onDeliver matches a DLR to its message.
func (r *runner) onDeliver(q *pdu.DeliverSM) {
	now := time.Now()
	if !receipt.IsReceipt(q) {
		if r.cfg.OnMO != nil { // a mobile-originated message: not measured, handed on
			r.cfg.OnMO(MOOf(q))
		}
		return
	}
	rc, err := receipt.FromDeliverSM(q)
	if err != nil {
		r.addErr("dlr_unparseable", 1)
		return
	}
	if r.cfg.OnReceipt != nil {
		r.cfg.OnReceipt(rc.ID, receipt.NormalizeStat(rc.Stat))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t0, ok := r.sentAt[rc.ID]; ok {
		delete(r.sentAt, rc.ID)
		r.matchDLR(rc.ID, t0, now, rc.Stat)
		return
	}
	if r.dlrSeen[rc.ID] {
		r.dlrDups++
		return
	}
	if _, ok := r.early[rc.ID]; ok {
		r.dlrDups++
		return
	}
	r.early[rc.ID] = earlyDLR{at: now, stat: rc.Stat}
}

// matchDLR records one matched DLR; r.mu is held.
func (r *runner) matchDLR(id string, sent, got time.Time, stat string) {
	r.dlrSeen[id] = true
	r.dlrs++
	r.dlrByStat[receipt.NormalizeStat(stat)]++
	r.dlrHist.Record(got.Sub(sent))
}

// outstanding counts the submits still waiting for their response on the
// binds that are open (a lost bind's never will be answered).
func (r *runner) outstanding() int {
	n := 0
	for _, b := range r.binds {
		select {
		case <-b.closed:
			continue
		default:
		}
		b.mu.Lock()
		n += len(b.pending)
		b.mu.Unlock()
	}
	return n
}

// awaitResponses waits (≤ ResponseTimeout) for the submit_sm_resp of every
// written submit_sm; the rest are counted as no_response.
func (r *runner) awaitResponses(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.ResponseTimeout)
	for r.outstanding() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	var lost int64
	for _, b := range r.binds {
		b.mu.Lock()
		lost += int64(len(b.pending))
		clear(b.pending)
		b.mu.Unlock()
	}
	if lost > 0 {
		r.addErr("no_response", lost)
	}
}

// result gathers the submit side.
func (r *runner) result() *Result {
	res := &Result{Sent: r.sent.Load(), Statuses: map[string]int64{}}
	var h Histogram
	for _, b := range r.binds {
		b.mu.Lock()
		h.Merge(&b.lat)
		for st, n := range b.statuses {
			res.Statuses[StatusName(st)] += n
			if st == data.ESME_ROK {
				res.Accepted += n
			} else {
				res.Refused += n
				r.addErr(StatusName(st), n)
			}
		}
		b.mu.Unlock()
	}
	res.Submit = h.Summary()
	res.SubmitHist = h
	r.mu.Lock()
	if !r.lastResp.IsZero() {
		res.SubmitPhase = r.lastResp.Sub(r.start)
	}
	r.mu.Unlock()
	if res.SubmitPhase > 0 {
		res.MsgPerS = float64(res.Accepted) / res.SubmitPhase.Seconds()
	}
	return res
}

// allClosed reports whether every bind is lost (no DLR can come any more).
func (r *runner) allClosed() bool {
	for _, b := range r.binds {
		select {
		case <-b.closed:
		default:
			return false
		}
	}
	return true
}

// awaitDLRs waits (≤ DLRWait) until every accepted message has its DLR,
// taking the DLRMark snapshot on the way (or at the end, if sooner).
func (r *runner) awaitDLRs(ctx context.Context, res *Result) {
	start := time.Now()
	deadline := start.Add(r.cfg.DLRWait)
	marked := r.cfg.DLRMark <= 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !marked && time.Since(start) >= r.cfg.DLRMark {
			r.mark(res, time.Since(start))
			marked = true
		}
		r.mu.Lock()
		n := r.dlrs
		r.mu.Unlock()
		if n >= res.Accepted || r.allClosed() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !marked {
		r.mark(res, time.Since(start))
	}
	res.DLRWaited = time.Since(start)
}

// mark copies the DLR side into res.AtMark.
func (r *runner) mark(res *Result, after time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.AtMark = DLRMark{After: after, DLRs: r.dlrs, DLR: r.dlrHist.Summary(), Hist: r.dlrHist}
}

// finishDLRs fills the DLR side once the sessions are closed.
func (r *runner) finishDLRs(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.DLRs, res.DLRDuplicates = r.dlrs, r.dlrDups
	res.DLR = r.dlrHist.Summary()
	res.DLRHist = r.dlrHist
	res.DLRByStat = maps(r.dlrByStat)
	if r.cfg.RegisteredDelivery {
		if missing := res.Accepted - r.dlrs; missing > 0 {
			r.errs["dlr_missing"] += missing
		}
		if n := int64(len(r.early)); n > 0 {
			r.errs["dlr_unmatched"] += n
		}
	}
	res.Errors = maps(r.errs)
}

func maps(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// StatusName names a command_status: the SMPP v3.4 name (ESME_…), or
// smsledger's vendor-specific refusals, else hex.
func StatusName(st data.CommandStatusType) string {
	switch st {
	case server.StatusNoRoute:
		return "no_route(0x400)"
	case server.StatusNoRate:
		return "no_rate(0x401)"
	case server.StatusInsufficientFunds:
		return "insufficient_funds(0x402)"
	case server.StatusInvalidText:
		return "invalid_text(0x403)"
	case server.StatusUnsupportedEncoding:
		return "unsupported_encoding(0x404)"
	case server.StatusTenantMisconfigured:
		return "tenant_misconfigured(0x405)"
	}
	if s := st.String(); strings.HasPrefix(s, "ESME_") {
		return s
	}
	return fmt.Sprintf("0x%08X", uint32(st))
}
