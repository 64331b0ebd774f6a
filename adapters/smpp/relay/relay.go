// Package relay connects the ledger to SMPP: it is the ingress server's
// view of the ledger (bind authentication, submit, query_sm), it sends each
// accepted message to its supplier through the egress binds and feeds every
// supplier answer and DLR back to the ledger as events, and it forwards the
// final DLR to the tenant's receiver bind.
//
// One message, from submit_sm to its DLR:
//
//  1. server → Ingress.Submit → ledger.Submit: accept events durable, then
//     submit_sm_resp with our id; the ledger puts the id on its outbox.
//  2. Run takes it: ledger.SubmittedToSupplier (durable) → egress.Enqueue
//     to the message's current supplier.
//  3. egress reports: accepted → ledger.SupplierAccepted (on_submit
//     billing settles); rejected or timed out → ledger.SupplierRejected /
//     SupplierTimedOut, which fail over to the next candidate (then back to
//     step 2) or fail the message and release its hold.
//  4. supplier DLR → ledger.DeliveryReported (on_delivery billing settles
//     or releases) → server.DeliverReceipt to the tenant →
//     ledger.DeliveryForwarded. A tenant without a receiver bind keeps its
//     DLR pending; the log says so, and a ticker retries.
//
// Nothing here is the truth: after a crash, Run asks the ledger (which
// rebuilt its view from the log) for unfinished messages and resumes them.
// A message whose submit_sm was in flight when the process died is failed
// over (its answer is lost), never silently resent to the same supplier.
package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/linxGnu/gosmpp/data"

	"github.com/smsledger/smsledger/adapters/smpp/egress"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/routing"
)

// Options tune the relay. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// SubmitTimeout bounds a supplier's submit_sm_resp (default 10s).
	SubmitTimeout time.Duration
	// RetryEvery is how often pending tenant DLRs and supplier changes are
	// looked at (default 1s).
	RetryEvery time.Duration
	// RecoverMax bounds the unfinished messages resumed per pass (default
	// 100,000).
	RecoverMax int
	// Workers is the number of goroutines sending dispatches (default 64):
	// each dispatch waits for a durable SubmittedToSupplier append, so
	// throughput comes from many in flight.
	Workers int
	// SupplierConfig adjusts each supplier's egress settings (tests).
	SupplierConfig func(*egress.Config)
	// Observer receives what metrics count (optional).
	Observer Observer
	// Webhooks pushes final DLRs of tenants with a webhook (optional; see
	// webhook.go): for them it replaces the SMPP receiver binds.
	Webhooks *webhook.Sender
}

// Observer is told about the relay's traffic, for metrics. Calls come from
// many goroutines.
type Observer interface {
	// Submitted: one submit_sm decided by the ledger; code is
	// ledger.CodeOf(err) ("" on success), took the time to durability.
	Submitted(code string, took time.Duration)
	// DLRReceived: a supplier's DLR with its normalised stat.
	DLRReceived(supplierID, stat string)
	// DLRForwarded: a final DLR reached the tenant, delay after accept.
	DLRForwarded(delay time.Duration)
}

type nopObserver struct{}

func (nopObserver) Submitted(string, time.Duration) {}
func (nopObserver) DLRReceived(string, string)      {}
func (nopObserver) DLRForwarded(time.Duration)      {}

// SupplierStats is one running supplier's egress state.
type SupplierStats struct {
	ID         string
	BindsUp    int
	QueueDepth int
	TPS        float64 // the adaptive limit in force
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SubmitTimeout <= 0 {
		o.SubmitTimeout = 10 * time.Second
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = time.Second
	}
	if o.RecoverMax <= 0 {
		o.RecoverMax = 100_000
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
}

// Relay is the SMPP side of one serve process.
type Relay struct {
	svc  *ledger.Service
	opts Options
	log  *slog.Logger

	srvMu sync.RWMutex
	srv   *server.Server // for DLRs to tenants; set by Attach

	supMu     sync.Mutex
	suppliers map[string]*runningSupplier

	// forwarding guards against two goroutines forwarding one DLR;
	// forwarded remembers DLRs sent in the last minute, until the tracker
	// has applied their DeliveryForwarded (the retry pass would otherwise
	// send one twice).
	forwarding sync.Map // uuid.UUID -> struct{}
	forwarded  sync.Map // uuid.UUID -> time.Time
	// gaveUp holds the routed messages a dispatch worker had to give up on
	// (the store refused the submit mark, or the ledger's follower lagged
	// too long), for the resumer's next pass whatever their age (under
	// looseMu; at most answersMax).
	gaveUp map[uuid.UUID]struct{}

	// redo queues routed messages found stuck (their dispatch was dropped,
	// given up, or lost) for the dispatch workers, oldest first; resumeNow
	// wakes the resumer that fills it (resume.go).
	redo      chan uuid.UUID
	resumeNow chan struct{}
	resumeAge atomic.Int64 // the smallest age asked for since the last pass

	// toForward queues final DLRs for the forwarding workers, so that a
	// supplier's deliver_sm_resp does not wait for the tenant's ack. When it
	// is full the DLR stays pending in the log and the retry pass sends it.
	toForward chan uuid.UUID

	// Loose ends (sweep.go): attempts egress holds, supplier answers kept
	// for another try (both under looseMu), and when the sweep first saw
	// each attempt in flight (the Run loop's only).
	looseMu      sync.Mutex
	handed       map[attemptKey]struct{}
	answers      map[uuid.UUID]keptAnswer
	unsent       map[attemptKey]unsentAttempt
	inFlightSeen map[attemptKey]time.Time
}

type runningSupplier struct {
	started time.Time
	cfg     egress.Config
	eg      *egress.Supplier
	cancel  context.CancelFunc
	done    chan struct{}
}

// New makes a relay over the ledger. Attach the ingress server, then Run.
func New(svc *ledger.Service, opts Options) *Relay {
	opts.setDefaults()
	r := &Relay{
		svc: svc, opts: opts, log: opts.Logger.With("component", "relay"),
		suppliers: map[string]*runningSupplier{}, toForward: make(chan uuid.UUID, forwardQueueMax),
		redo: make(chan uuid.UUID, redoQueueMax), resumeNow: make(chan struct{}, 1),
		handed: map[attemptKey]struct{}{}, answers: map[uuid.UUID]keptAnswer{}, unsent: map[attemptKey]unsentAttempt{},
		gaveUp:       map[uuid.UUID]struct{}{},
		inFlightSeen: map[attemptKey]time.Time{},
	}
	r.resumeAge.Store(math.MaxInt64)
	return r
}

// Attach gives the relay the ingress server it forwards tenants' DLRs on.
func (r *Relay) Attach(srv *server.Server) {
	r.srvMu.Lock()
	r.srv = srv
	r.srvMu.Unlock()
}

// Run starts the supplier binds, resumes unfinished messages, then sends
// accepted messages and retries pending DLRs until ctx ends. It returns
// after the supplier binds have stopped.
func (r *Relay) Run(ctx context.Context) error {
	r.syncSuppliers(ctx)

	var wg sync.WaitGroup
	startWorkers(ctx, &wg, forwardWorkers, r.toForward, func(id uuid.UUID) { r.forward(ctx, id) })
	startWorkers(ctx, &wg, r.opts.Workers, r.svc.Outbox(), func(id uuid.UUID) { r.dispatch(ctx, id) })
	startWorkers(ctx, &wg, redoWorkers, r.redo, func(id uuid.UUID) { r.redispatch(ctx, id) })
	r.recover(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.resumeLoop(ctx)
	}()
	tick := time.NewTicker(r.opts.RetryEvery)
	defer tick.Stop()
	lastDropped := r.svc.OutboxDropped()
	for pass := 1; ; pass++ {
		select {
		case <-ctx.Done():
			wg.Wait()
			r.stopSuppliers()
			return nil
		case <-tick.C:
			r.syncSuppliers(ctx)
			r.forwardPending(ctx)
			r.retryAnswers(ctx)
			if pass%sweepPasses == 0 {
				r.sweep(ctx, time.Now())
			}
			// Messages whose dispatch was dropped (the ledger's outbox was
			// full) or given up (see dispatch) are in its unfinished set:
			// the resumer picks them up. Otherwise every routed message is
			// in the outbox or a worker's hands, and resuming would only
			// race them.
			if dropped := r.svc.OutboxDropped(); dropped != lastDropped || r.gaveUpAny() {
				lastDropped = dropped
				r.wakeResumer(droppedAfter)
			}
		}
	}
}

// startWorkers runs n goroutines that hand what arrives on ch to work until
// ctx ends.
func startWorkers[T any](ctx context.Context, wg *sync.WaitGroup, n int, ch <-chan T, work func(T)) {
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case v := <-ch:
					work(v)
				}
			}
		}()
	}
}

// Ingress is the ingress server's view of the ledger.
func (r *Relay) Ingress() server.Ingress { return ingress{r.svc, r.opts.Observer} }

type ingress struct {
	svc *ledger.Service
	obs Observer
}

func (in ingress) AuthenticateSMPP(ctx context.Context, systemID, password string) (server.Principal, error) {
	tenantID, err := in.svc.AuthenticateSMPP(ctx, systemID, password)
	switch {
	case errors.Is(err, ledger.ErrUnknownSystemID):
		return server.Principal{}, fmt.Errorf("%w: %w", server.ErrUnknownSystemID, err)
	case errors.Is(err, ledger.ErrBadCredentials):
		return server.Principal{}, fmt.Errorf("%w: %w", server.ErrInvalidPassword, err)
	case err != nil:
		return server.Principal{}, err
	}
	// The ledger enforces the tenant's TPS limit on Submit; the server's own
	// per-tenant limiter stays off so a message is not counted twice.
	return server.Principal{TenantID: tenantID}, nil
}

func (in ingress) Submit(ctx context.Context, tenantID string, req accept.Request) (server.Accepted, error) {
	start := time.Now()
	acc, err := in.svc.Submit(ctx, tenantID, req)
	code := ""
	if err != nil {
		code = string(ledger.CodeOf(err))
	}
	in.obs.Submitted(code, time.Since(start))
	switch {
	case errors.Is(err, ledger.ErrThrottled):
		return server.Accepted{}, fmt.Errorf("%w: %w", server.ErrThrottled, err)
	case errors.Is(err, ledger.ErrNotDurable):
		return server.Accepted{}, fmt.Errorf("%w: %w", server.ErrNotDurable, err)
	case err != nil:
		return server.Accepted{}, err
	}
	return server.Accepted{MessageID: acc.MessageID.String(), Parts: acc.Parts}, nil
}

func (in ingress) QueryMessage(ctx context.Context, tenantID, messageID string) (server.MessageStatus, error) {
	id, err := uuid.Parse(messageID)
	if err != nil {
		return server.MessageStatus{}, server.ErrMessageNotFound
	}
	v, err := in.svc.Message(ctx, tenantID, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return server.MessageStatus{}, server.ErrMessageNotFound
	}
	if err != nil {
		return server.MessageStatus{}, err
	}
	st := server.MessageStatus{State: stateOf(message.State(v.State))}
	if v.FinalAt != nil {
		st.FinalDate = *v.FinalAt
	}
	return st, nil
}

// stateOf maps a message state to the SMPP message_state.
func stateOf(s message.State) receipt.MessageState {
	switch s {
	case message.StateDelivered:
		return receipt.StateDelivered
	case message.StateUndelivered, message.StateFailed:
		return receipt.StateUndeliverable
	case message.StateRejected:
		return receipt.StateRejected
	case message.StateExpired:
		return receipt.StateExpired
	case message.StateSupplierAccepted:
		return receipt.StateEnroute
	}
	return receipt.StateAccepted
}

// ---- suppliers --------------------------------------------------------------

// syncSuppliers starts egress binds for suppliers the ledger knows and the
// relay does not run yet (or whose settings changed), and stops removed or
// disabled ones.
func (r *Relay) syncSuppliers(ctx context.Context) {
	want := map[string]egress.Config{}
	for _, sp := range r.svc.Suppliers() {
		if !sp.Enabled {
			continue
		}
		pw, err := r.svc.SupplierPassword(sp.ID)
		if err != nil {
			r.log.Error("supplier password cannot be opened; check --seal-key-file", "supplier", sp.ID, "err", err)
			continue
		}
		cfg := egress.Config{
			SupplierID: sp.ID, Addr: net.JoinHostPort(sp.Host, strconv.Itoa(sp.Port)),
			SystemID: sp.SystemID, Password: pw, Binds: sp.Binds, TPS: float64(sp.TPSLimit), Window: sp.Window,
			SubmitTimeout: r.opts.SubmitTimeout, Logger: r.opts.Logger,
		}
		if r.opts.SupplierConfig != nil {
			r.opts.SupplierConfig(&cfg)
		}
		want[sp.ID] = cfg
	}
	r.supMu.Lock()
	defer r.supMu.Unlock()
	for id, rs := range r.suppliers {
		if cfg, ok := want[id]; !ok || !sameSupplier(cfg, rs.cfg) {
			rs.cancel()
			<-rs.done
			delete(r.suppliers, id)
		}
	}
	for id, cfg := range want {
		if _, ok := r.suppliers[id]; ok {
			continue
		}
		sctx, cancel := context.WithCancel(ctx)
		rs := &runningSupplier{started: time.Now(), cfg: cfg, eg: egress.New(cfg, reporter{r}), cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(rs.done)
			if err := rs.eg.Run(sctx); err != nil && sctx.Err() == nil {
				r.log.Error("supplier egress stopped", "supplier", id, "err", err)
			}
		}()
		r.suppliers[id] = rs
		r.log.Info("supplier egress started", "supplier", id, "addr", cfg.Addr, "binds", cfg.Binds, "tps", cfg.TPS)
	}
}

func sameSupplier(a, b egress.Config) bool {
	return a.Addr == b.Addr && a.SystemID == b.SystemID && a.Password == b.Password &&
		a.Binds == b.Binds && a.TPS == b.TPS && a.Window == b.Window
}

func (r *Relay) stopSuppliers() {
	r.supMu.Lock()
	defer r.supMu.Unlock()
	for id, rs := range r.suppliers {
		rs.cancel()
		<-rs.done
		delete(r.suppliers, id)
	}
}

func (r *Relay) supplier(id string) *egress.Supplier {
	r.supMu.Lock()
	defer r.supMu.Unlock()
	if rs, ok := r.suppliers[id]; ok {
		return rs.eg
	}
	return nil
}

// Stats reports each running supplier's binds, queue and rate.
func (r *Relay) Stats() []SupplierStats {
	r.supMu.Lock()
	defer r.supMu.Unlock()
	out := make([]SupplierStats, 0, len(r.suppliers))
	for id, rs := range r.suppliers {
		out = append(out, SupplierStats{ID: id, BindsUp: rs.eg.BindsUp(), QueueDepth: rs.eg.QueueDepth(), TPS: rs.eg.EffectiveTPS()})
	}
	return out
}

// Health reports each running supplier as up (at least one bind) or down,
// for the routing snapshot.
//
// A supplier whose first binds are still connecting (just configured, or
// just after a restart) counts as up for startupGrace: its messages wait in
// its queue for the bind instead of being refused "no route". A failed bind
// attempt, or losing every bind after being up, makes it down at once (and
// the egress fails over what waits in its queue).
func (r *Relay) Health() map[string]routing.SupplierHealth {
	r.supMu.Lock()
	defer r.supMu.Unlock()
	out := make(map[string]routing.SupplierHealth, len(r.suppliers))
	for id, rs := range r.suppliers {
		up := rs.eg.BindsUp() > 0 || (!rs.eg.Down() && time.Since(rs.started) < startupGrace)
		out[id] = routing.SupplierHealth{Up: up, Score: routing.ScoreMax}
	}
	return out
}

// startupGrace is how long a supplier that has not bound yet counts as up.
const startupGrace = 10 * time.Second

// ---- sending ----------------------------------------------------------------

// dispatch sends a routed message to its current supplier: the submit is
// recorded durably first, so after a crash the log shows it in flight.
//
// The ledger's tracker supplies the payload (it has the message from its
// accept event on); whether the message is really ready to send is decided
// by the domain on the message's stream, not by the tracker, which may lag
// the log by a moment.
func (r *Relay) dispatch(ctx context.Context, id uuid.UUID) {
	// The follower may not have applied the accept yet (the outbox fires
	// right after the append): wait for it, up to a second.
	w, ok, _ := r.awaitWork(ctx, id, 200, func(_ ledger.Work, ok bool) bool { return ok })
	if !ok {
		r.log.Warn("accepted message not seen in the log yet; the retry pass will send it", "message", id)
		r.giveUp(id)
		return
	}
	r.submit(ctx, id, w)
}

// redispatch sends a message the resumer found stuck. It was in the
// ledger's unfinished set a moment ago; if it is not any more, it has
// finished meanwhile (another dispatch sent it) and there is nothing to do.
func (r *Relay) redispatch(ctx context.Context, id uuid.UUID) {
	if w, ok := r.svc.WorkOf(id); ok {
		r.submit(ctx, id, w)
	}
}

// submit records the submit to the message's current supplier and sends it.
func (r *Relay) submit(ctx context.Context, id uuid.UUID, w ledger.Work) {
	if w.Message.State.Terminal() {
		return
	}
	tr, err := r.svc.SubmittedToSupplier(ctx, id)
	if errors.Is(err, message.ErrIllegalTransition) {
		return // not routed: already sent (a duplicate dispatch or a recovery pass)
	}
	if err != nil {
		// The mark may have committed all the same (the connection was
		// lost at COMMIT); then the log shows the attempt in flight and
		// nothing was sent: the sweep sends it (sweep.go).
		r.noteUnsent(attemptKey{id, w.Message.Attempt})
		r.log.Warn("submit not recorded; the message stays routed and is retried", "message", id, "err", err)
		r.giveUp(id)
		return
	}
	if len(tr.Events) == 0 {
		return // someone else submitted it
	}
	if !r.markedToSend(attemptKey{id, tr.Message.Attempt}) {
		return // the sweep sent it already
	}
	r.send(ctx, id, w, tr.Message)
}

// awaitWork polls the ledger's tracker, which follows the log a moment
// behind the appends, until done holds for id's work (or polls run out,
// 5 ms apart); it returns the last look and whether done held.
func (r *Relay) awaitWork(ctx context.Context, id uuid.UUID, polls int, done func(w ledger.Work, ok bool) bool) (ledger.Work, bool, bool) {
	for i := 0; ; i++ {
		w, ok := r.svc.WorkOf(id)
		if done(w, ok) {
			return w, ok, true
		}
		if i == polls {
			return w, ok, false
		}
		select {
		case <-ctx.Done():
			return w, ok, false
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// send hands the message to its current supplier's egress. A supplier that
// is not running or whose queue is full counts as a rejection: the ledger
// fails over.
func (r *Relay) send(ctx context.Context, id uuid.UUID, w ledger.Work, m *message.Message) {
	sup := m.Supplier()
	eg := r.supplier(sup.SupplierID)
	if eg == nil {
		// Configured a moment ago: start its binds now rather than at the
		// next pass; the message waits in its queue for the first bind.
		r.syncSuppliers(ctx)
		eg = r.supplier(sup.SupplierID)
	}
	msg := egress.Message{
		ID: id.String() + "/" + strconv.Itoa(m.Attempt), From: w.From, To: w.To, Text: w.Text,
		DataCoding: dataCoding(w.Encoding), RegisteredDelivery: true,
	}
	var err error
	k := attemptKey{id, m.Attempt}
	if eg == nil {
		err = fmt.Errorf("supplier %s has no running binds", sup.SupplierID)
	} else {
		r.hand(k)
		err = eg.Enqueue(msg)
	}
	if err != nil {
		r.handedBack(k)
		r.log.Warn("supplier cannot take the message; failing over", "message", id, "supplier", sup.SupplierID, "err", err)
		tr, rerr := r.svc.SupplierRejected(ctx, id, sup.SupplierID, m.Attempt, uint32(data.ESME_RMSGQFUL))
		r.after(ctx, id, tr, rerr)
	}
}

func dataCoding(encoding string) byte {
	switch encoding {
	case "latin1":
		return 3
	case "ucs2":
		return 8
	}
	return 0
}

// after continues a message after a supplier failure: failed over → send to
// the next candidate; failed → tell the tenant.
func (r *Relay) after(ctx context.Context, id uuid.UUID, tr ledger.Transition, err error) {
	if err != nil {
		r.log.Warn("supplier outcome not recorded", "message", id, "err", err)
		return
	}
	if tr.Message == nil {
		return
	}
	switch {
	case tr.Message.State == message.StateRouted:
		r.dispatch(ctx, id)
	case tr.Message.State.Terminal():
		r.queueForward(id)
	}
}

// ---- supplier answers -------------------------------------------------------

type reporter struct{ r *Relay }

// A DLR whose supplier message id is not indexed yet is looked up again
// every dlrIndexWait, dlrIndexWaits times (2 s in all).
const (
	dlrIndexWait  = 20 * time.Millisecond
	dlrIndexWaits = 100
)

// parseID splits the egress message id "<uuid>/<attempt>".
func parseID(s string) (uuid.UUID, int, bool) {
	idPart, attPart, ok := strings.Cut(s, "/")
	if !ok {
		return uuid.UUID{}, 0, false
	}
	id, err := uuid.Parse(idPart)
	if err != nil {
		return uuid.UUID{}, 0, false
	}
	att, err := strconv.Atoi(attPart)
	if err != nil {
		return uuid.UUID{}, 0, false
	}
	return id, att, true
}

func (rp reporter) SupplierAccepted(ctx context.Context, res egress.Result) {
	rp.answer(ctx, res, false, func(ctx context.Context, id uuid.UUID, att int) (ledger.Transition, error) {
		return rp.r.svc.SupplierAccepted(ctx, id, res.SupplierID, att, res.SupplierMessageID, res.Latency)
	})
}

func (rp reporter) SupplierRejected(ctx context.Context, res egress.Result) {
	rp.answer(ctx, res, true, func(ctx context.Context, id uuid.UUID, att int) (ledger.Transition, error) {
		return rp.r.svc.SupplierRejected(ctx, id, res.SupplierID, att, uint32(res.CommandStatus))
	})
}

func (rp reporter) SupplierTimedOut(ctx context.Context, res egress.Result) {
	rp.answer(ctx, res, true, func(ctx context.Context, id uuid.UUID, att int) (ledger.Transition, error) {
		return rp.r.svc.SupplierTimedOut(ctx, id, res.SupplierID, att, rp.r.opts.SubmitTimeout)
	})
}

// answer takes one supplier outcome of an attempt egress held: the attempt
// is handed back, and record makes it an event (kept for retry when the
// store cannot take it; then continues the message, see recordAnswer).
func (rp reporter) answer(ctx context.Context, res egress.Result, then bool, record func(ctx context.Context, id uuid.UUID, att int) (ledger.Transition, error)) {
	id, att, ok := parseID(res.MessageID)
	if !ok {
		return
	}
	rp.r.handedBack(attemptKey{id, att})
	ctx, cancel := detach(ctx)
	defer cancel()
	rp.r.recordAnswer(ctx, id, then, func(ctx context.Context) (ledger.Transition, error) { return record(ctx, id, att) })
}

func (rp reporter) DeliveryReport(ctx context.Context, d egress.DLR) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	rp.r.opts.Observer.DLRReceived(d.SupplierID, receipt.NormalizeStat(d.Receipt.Stat))
	// A fast supplier's DLR can overtake the recording of its own
	// submit_sm_resp (which indexes the supplier message id): wait for it,
	// briefly and bounded, before calling the id unknown.
	var (
		tr  ledger.Transition
		err error
	)
	for wait := 0; ; wait++ {
		tr, err = rp.r.svc.DeliveryReported(ctx, d.SupplierID, d.SupplierMessageID, d.Receipt.Stat, d.Receipt.Err, d.Receipt.DoneDate)
		if !errors.Is(err, ledger.ErrNotFound) || wait >= dlrIndexWaits {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(dlrIndexWait):
		}
	}
	if errors.Is(err, ledger.ErrNotFound) {
		// Still unknown: answer ESME_RSYSERR so the supplier redelivers it
		// later rather than have it acknowledged and lost.
		rp.r.log.Warn("DLR for an unknown supplier message id; refused for redelivery", "supplier", d.SupplierID, "supplier_message_id", d.SupplierMessageID)
		return err
	}
	if err != nil {
		return err // answered ESME_RSYSERR: the supplier redelivers
	}
	if tr.Message != nil && tr.Message.State.Terminal() {
		rp.r.queueForward(tr.Message.ID)
	}
	return nil
}

// detach keeps a supplier callback's recording alive when the egress's
// context ends (a graceful stop drains in-flight submits, and their answers
// must still become events), bounded in time. serve closes the store only
// after the relay has stopped.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), callbackTimeout)
}

// callbackTimeout bounds the recording of one supplier answer or DLR.
const callbackTimeout = 30 * time.Second

// ---- DLRs to tenants --------------------------------------------------------

// Forwarding of final DLRs to tenants: a bounded queue and workers.
const (
	forwardQueueMax = 65536
	forwardWorkers  = 32
)

// queueForward asks a forwarding worker to send id's final DLR; if the
// queue is full the retry pass finds it in the log.
func (r *Relay) queueForward(id uuid.UUID) {
	select {
	case r.toForward <- id:
	default:
	}
}

// forward sends the final DLR of a message to its tenant, once.
func (r *Relay) forward(ctx context.Context, id uuid.UUID) {
	if _, busy := r.forwarding.LoadOrStore(id, struct{}{}); busy {
		return
	}
	defer r.forwarding.Delete(id)
	if _, done := r.forwarded.Load(id); done {
		return // sent; the log just has not shown DeliveryForwarded yet
	}
	// The DLR's events were just appended; give the follower a moment to
	// apply them (bounded) rather than leave it to the retry pass.
	w, ok, _ := r.awaitWork(ctx, id, 40, func(w ledger.Work, ok bool) bool { return !ok || w.Message.State.Terminal() })
	if !ok || !w.NeedsForward() {
		// Finished, or still not applied (the retry pass picks it up).
		return
	}
	if r.forwardWebhook(ctx, id, w) {
		return // the tenant's webhook is its DLR channel (webhook.go)
	}
	r.srvMu.RLock()
	srv := r.srv
	r.srvMu.RUnlock()
	if srv == nil {
		return
	}
	m := &w.Message
	stat := m.ReceiptStatus()
	done := time.Now().UTC()
	rc := receipt.Receipt{
		ID: id.String(), Sub: 1, Dlvrd: boolInt(stat == message.DLRDelivered),
		SubmitDate: w.AcceptedAt, DoneDate: done, Stat: stat, Err: "000",
		Text: firstRunes(w.Text, 20), State: receipt.StateOf(stat),
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err := srv.DeliverReceipt(dctx, m.TenantID, server.DLR{Receipt: rc, Source: w.To, Dest: w.From})
	if errors.Is(err, server.ErrNoReceiverBind) {
		return // pending: the log keeps it; retried when a receiver binds
	}
	if err != nil {
		r.log.Warn("DLR to tenant not delivered; will retry", "message", id, "tenant", m.TenantID, "err", err)
		return
	}
	r.forwarded.Store(id, time.Now())
	r.opts.Observer.DLRForwarded(time.Since(w.AcceptedAt))
	// The tenant has the DLR: record it even if the relay is stopping
	// (bounded), or a restart would send it again.
	rctx, rcancel := detach(ctx)
	defer rcancel()
	if _, err := r.svc.DeliveryForwarded(rctx, id); err != nil {
		// The tenant has it; if this is lost, a restart sends it again
		// (at least once, never silently dropped).
		r.log.Warn("DLR forwarded but not recorded", "message", id, "err", err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// forwardPending retries DLRs whose tenant had no receiver bind.
func (r *Relay) forwardPending(ctx context.Context) {
	cutoff := time.Now().Add(-time.Minute)
	r.forwarded.Range(func(k, v any) bool {
		if v.(time.Time).Before(cutoff) {
			r.forwarded.Delete(k)
		}
		return true
	})
	for _, w := range r.svc.Unfinished((*ledger.Work).NeedsForward, r.opts.RecoverMax) {
		if ctx.Err() != nil {
			return
		}
		r.srvMu.RLock()
		srv := r.srv
		r.srvMu.RUnlock()
		if (srv == nil || srv.ReceiverBinds(w.Message.TenantID) == 0) && !r.hasWebhook(w.Message.TenantID) {
			continue
		}
		r.forward(ctx, w.Message.ID)
	}
}

// ---- recovery ---------------------------------------------------------------

// recover resumes what the log says is unfinished after a restart: routed
// messages are sent; a submit whose answer was lost with the process is
// treated as timed out (the domain fails over or fails it and releases the
// hold, so nothing is charged twice); a failure whose consequence was not
// recorded is completed; pending DLRs are forwarded.
func (r *Relay) recover(ctx context.Context) {
	inFlight := r.svc.Unfinished((*ledger.Work).InFlight, r.opts.RecoverMax)
	for _, w := range inFlight {
		m := &w.Message
		tr, err := r.svc.SupplierTimedOut(ctx, m.ID, m.Supplier().SupplierID, m.Attempt, 0)
		r.after(ctx, m.ID, tr, err)
	}
	// At start nothing is in the outbox yet: every routed message is
	// stuck, however recent.
	stuck := r.resumeStuck(ctx, time.Now(), r.opts.RecoverMax)
	if len(inFlight)+stuck > 0 {
		r.log.Info("resumed unfinished messages from the log", "in_flight_failed_over", len(inFlight), "resumed", stuck)
	}
	r.forwardPending(ctx)
}
