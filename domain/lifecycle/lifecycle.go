// Package lifecycle drives every accepted message to its end: it sends the
// message to its supplier, records the supplier's answers and DLRs, fails
// over, forwards the final DLR to the tenant, and after a crash or a store
// outage finds what fell between the cracks and finishes it.
//
// It is the application layer beside domain/ledger, and like the ledger it
// decides nothing about a message itself: every step is a ledger command
// (the message's state machine in domain/message decides, the event store
// makes it durable). This package holds the rules of *when* each step is
// taken, and depends only on ports it defines:
//
//   - Ledger: the ledger's commands and its tracker of unfinished messages
//     (*ledger.Service over any eventstore.Store);
//   - Suppliers: hands an Attempt to its supplier (SMPP binds in serve);
//   - ReceiptSink: delivers a final DLR to a tenant (an SMPP receiver bind
//     or a webhook);
//   - a clock (Options.Now) and an Observer for metrics.
//
// One message, after ledger.Submit made it durable and put its id on the
// ledger's outbox:
//
//  1. dispatch (dispatch.go): SubmittedToSupplier (durable) → Suppliers.Enqueue.
//  2. answers (answers.go): SupplierAccepted / SupplierRejected /
//     SupplierTimedOut; a failure fails over (back to 1) or fails the
//     message and releases its hold; SubmitWithdrawn (never sent: the
//     node stopped binding the supplier) routes it again (back to 1).
//     DeliveryReport records the DLR.
//  3. forward (answers.go too): a final message's DLR goes to ReceiptSink,
//     then DeliveryForwarded.
//  4. expiry (expiry.go): a message not final by its expires_at (plus the
//     DLR grace once a supplier accepted it) expires, never sent after.
//
// A scheduled message (send_at) is not on the outbox: the scheduler
// (schedule.go) dispatches it at its time, from the ledger's index of
// scheduled messages, at step 1.
//
// Nothing here is the truth: the log is. recover.go resumes unfinished
// messages after a restart (a submit in flight when the process died is
// timed out and failed over, never silently resent) and dispatches those
// the outbox dropped; sweep.go finishes what a store outage left loose.
// Every queue, map and pass is bounded (the constants below).
package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/ledger"
)

// Ledger is what the lifecycle needs of the ledger: its tracker of
// unfinished messages and the commands that move a message on.
// *ledger.Service implements it.
type Ledger interface {
	Outbox() <-chan uuid.UUID
	OutboxDropped() uint64
	WorkOf(id uuid.UUID) (ledger.Work, bool)
	// Forwards: this node is the one to forward w's final DLR (a cluster's
	// nodes share the work: ledger/cluster.go); Owed: such DLRs another
	// node recorded.
	Forwards(w *ledger.Work) bool
	Owed() <-chan uuid.UUID
	Unfinished(keep func(*ledger.Work) bool, limit int) []ledger.Work

	// HandOver gives a message this node cannot send (no bind of its
	// supplier here) to a cluster node that can; true: it did.
	HandOver(ctx context.Context, w *ledger.Work) (bool, error)
	SubmittedToSupplier(ctx context.Context, id uuid.UUID) (ledger.Transition, error)
	SupplierAccepted(ctx context.Context, id uuid.UUID, supplierID string, attempt int, supplierMsgID string, latency time.Duration) (ledger.Transition, error)
	SupplierRejected(ctx context.Context, id uuid.UUID, supplierID string, attempt int, commandStatus uint32) (ledger.Transition, error)
	SupplierTimedOut(ctx context.Context, id uuid.UUID, supplierID string, attempt int, timeout time.Duration) (ledger.Transition, error)
	SubmitWithdrawn(ctx context.Context, id uuid.UUID, supplierID string, attempt int, reason string) (ledger.Transition, error)
	DeliveryReported(ctx context.Context, supplierID, supplierMsgID, stat, errCode string, doneAt time.Time) (ledger.Transition, error)
	// AppliedMark returns a check that reports whether the ledger has
	// applied everything committed to the log before the call.
	AppliedMark(ctx context.Context) (func() bool, error)
	DeliveryForwarded(ctx context.Context, id uuid.UUID) (ledger.Transition, error)
	Expire(ctx context.Context, id uuid.UUID) (ledger.Transition, error)
	ExpiryDue(now time.Time, max int) []uuid.UUID
	SendDue(now time.Time, max int) []uuid.UUID

	// MOs waiting for their tenants (mo.go).
	MOOf(id uuid.UUID) (ledger.PendingMO, bool)
	PendingMOs(limit int) []ledger.PendingMO
	MOForwarded(ctx context.Context, id uuid.UUID) error

	// The backlog behind the accepts (ledger/backlog.go): which tenants
	// can take their DLRs now, and the supplier DLRs being recorded.
	ReceiverReady(tenantID string, up bool)
	DLRIntakeStarted()
	DLRIntakeEnded()
}

// AttemptKey names one attempt of a message at a supplier.
type AttemptKey struct {
	MessageID uuid.UUID
	Attempt   int
}

// String is "<message id>/<attempt>", the id the supplier side carries.
func (k AttemptKey) String() string { return k.MessageID.String() + "/" + strconv.Itoa(k.Attempt) }

// ParseAttemptKey parses AttemptKey.String's form.
func ParseAttemptKey(s string) (AttemptKey, bool) {
	idPart, attPart, ok := strings.Cut(s, "/")
	if !ok {
		return AttemptKey{}, false
	}
	id, err := uuid.Parse(idPart)
	if err != nil {
		return AttemptKey{}, false
	}
	att, err := strconv.Atoi(attPart)
	if err != nil {
		return AttemptKey{}, false
	}
	return AttemptKey{id, att}, true
}

// Attempt is one message to send to one supplier.
type Attempt struct {
	Key        AttemptKey
	SupplierID string
	From, To   string
	Text       string
	Encoding   string    // "gsm7" | "latin1" | "ucs2"
	ExpiresAt  time.Time // not to be sent from then on (zero: no limit)
}

// Suppliers is the supplier side.
type Suppliers interface {
	// Enqueue hands a to its supplier. On nil the supplier side holds it
	// and reports its outcome once, through the Driver's SupplierAccepted,
	// SupplierRejected or SupplierTimedOut (possibly before Enqueue
	// returns). An error means it does not hold it; the driver fails the
	// attempt over.
	Enqueue(ctx context.Context, a Attempt) error
}

// Receipt is a final DLR for a tenant.
type Receipt struct {
	Work   ledger.Work // the message as the log has it (tenant, state, addresses, text)
	Stat   string      // the receipt's "stat:" (message.Message.ReceiptStatus)
	DoneAt time.Time
}

// Outcome is how a receipt delivery ended.
type Outcome int

const (
	// Delivered: the tenant has it; recorded as forwarded.
	Delivered Outcome = iota + 1
	// Refused: the tenant's channel refused it for good (a webhook's 4xx);
	// recorded as forwarded so it is not retried.
	Refused
	// NotDelivered: stays pending; a later pass tries again.
	NotDelivered
)

// Errors a ReceiptSink's Deliver returns besides nil (delivered).
var (
	// ErrNoReceiver: the tenant has no channel up; the DLR stays pending.
	ErrNoReceiver = errors.New("lifecycle: tenant has no receiver")
	// ErrDeliveryPending: the channel took the receipt and calls done
	// with the outcome later.
	ErrDeliveryPending = errors.New("lifecycle: receipt delivery pending")
)

// ReceiptSink is where final DLRs go to tenants.
type ReceiptSink interface {
	// Ready reports whether the tenant has a channel up now.
	Ready(tenantID string) bool
	// Deliver gives r to the tenant. nil: delivered. ErrDeliveryPending:
	// done is called later (once). Any other error: not delivered, retried
	// by a later pass.
	Deliver(ctx context.Context, r Receipt, done func(Outcome)) error
}

// Observer is told about traffic, for metrics. Calls come from many
// goroutines.
type Observer interface {
	// DLRForwarded: a final DLR reached the tenant, delay after accept.
	DLRForwarded(delay time.Duration)
}

type nopObserver struct{}

func (nopObserver) DLRForwarded(time.Duration) {}

// Options tune the Driver. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SubmitTimeout is how long a supplier may take to answer a submit
	// (default 10s): the sweep waits as long before it calls an attempt
	// nobody holds lost.
	SubmitTimeout time.Duration
	// RetryEvery is how often pending DLRs and kept answers are retried
	// (default 1s); every sweepPasses passes the sweep runs.
	RetryEvery time.Duration
	// RecoverMax bounds the unfinished messages one pass looks at
	// (default 100,000).
	RecoverMax int
	// Workers is the number of goroutines dispatching the outbox (default
	// 64): each waits for a durable SubmittedToSupplier append, so
	// throughput comes from many in flight.
	Workers  int
	Observer Observer
	// MOs forwards mobile-originated messages to their tenants, through
	// the lanes of the final DLRs (mo.go); nil: MOs are not forwarded.
	MOs MOSink
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
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

// Bounds and waits.
const (
	// forwardQueueMax bounds the final DLRs queued for their tenants' lanes,
	// and again all the lanes together; when full, the DLR stays pending in
	// the log and a pass hands it over.
	forwardQueueMax = 65536
	// forwardLaneMax bounds one tenant's lane, so that a tenant that does not
	// answer cannot fill forwardQueueMax: its other DLRs wait in the log.
	forwardLaneMax = 4096
	// forwardWorkers bounds the DLR deliveries running at once, all tenants
	// together. forwardPerTenant bounds one tenant's (as many as the whole
	// pool used to have: one busy tenant forwards as fast as before), so a
	// receiver that never answers holds at most a quarter of them, and only
	// until its first deliveries end; from then on, while its last delivery
	// failed or one has been running for forwardSlowAfter, it gets
	// forwardPerSlowTenant.
	forwardWorkers       = 128
	forwardPerTenant     = 32
	forwardPerSlowTenant = 2
	forwardSlowAfter     = 2 * time.Second
	// forwardPassWait bounds how long a pass waits for the DLRs it handed
	// to the lanes: a tenant that does not answer delays the pass's other
	// work by at most that.
	forwardPassWait = 500 * time.Millisecond
	// forwardFailLogEvery: a tenant's failed DLR deliveries are logged as
	// one line with their number at most this often, not one per DLR per
	// pass; forwardFailTenantsMax bounds the tenants counted apart.
	forwardFailLogEvery   = 10 * time.Second
	forwardFailTenantsMax = 10_000
	// redoQueueMax bounds the stuck messages queued for redoWorkers; the
	// resumer waits while it is full.
	redoQueueMax = 4096
	redoWorkers  = 16
	// droppedAfter is how old a routed message must be before the resumer
	// takes it as stuck once the outbox dropped some: a younger one is most
	// likely still in the outbox. Taking one that is not stuck is harmless
	// (the ledger refuses its second submit mark) but wasted work.
	droppedAfter = 2 * time.Second
	// answersMax bounds the supplier answers kept for another try, the
	// failed submit marks and the given-up dispatches remembered.
	answersMax = 100_000
	// answerRetryFor is how long an unrecorded answer is retried; after
	// that it is dropped and the sweep treats its message as timed out.
	answerRetryFor = 10 * time.Minute
	// sweepPasses is how many passes go by between two sweeps.
	sweepPasses = 2
	// sweepTimeoutsMax bounds the attempts one sweep records as timed out.
	sweepTimeoutsMax = 512
	// forwardedFor is how long a forwarded DLR is remembered, so that a
	// pass does not send it again before the tracker has applied its
	// DeliveryForwarded.
	forwardedFor = time.Minute
	// A DLR whose supplier message id is not indexed yet (it overtook the
	// recording of its own submit_sm_resp) is looked up again every
	// dlrIndexWait, dlrIndexWaits times (2 s in all) — but no longer than
	// dlrOvertakeGrace once the ledger has applied the log as it was when
	// the DLR came: then only an answer still being recorded can index it.
	// A DLR that stays unknown (its attempt's answer was never recorded: a
	// node died or was cut off in between) holds one of the supplier's
	// outstanding deliver_sm for that long at each redelivery: 2 s each
	// stalled the supplier's DLRs behind a few hundred of them
	// (scenarios/cluster.yaml at scale 10).
	dlrIndexWait     = 20 * time.Millisecond
	dlrIndexWaits    = 100
	dlrOvertakeGrace = 200 * time.Millisecond
	// callbackTimeout bounds the recording of one supplier answer or DLR
	// once detached from its caller's context.
	callbackTimeout = 30 * time.Second
	// statusQueueFull is SMPP's ESME_RMSGQFUL, the command status recorded
	// when a supplier cannot take a message.
	statusQueueFull uint32 = 0x14
)

// Driver drives messages from accept to their end.
type Driver struct {
	ledger    Ledger
	suppliers Suppliers
	receipts  ReceiptSink
	opts      Options
	log       *slog.Logger
	now       func() time.Time

	loose loose // every piece of bookkeeping, under one lock (loose.go)

	// redo queues routed messages found stuck for the redo workers, oldest
	// first; resumeNow wakes the resumer that fills it (recover.go).
	redo      chan uuid.UUID
	resumeNow chan struct{}
	resumeAge atomic.Int64 // the smallest age asked for since the last pass
	// scheduleNow wakes the scheduler, which hands scheduled messages
	// whose time has come to the redo workers (schedule.go).
	scheduleNow chan struct{}

	// toForward queues final DLRs for their tenants' lanes, so that a
	// supplier's deliver_sm_resp does not wait for the tenant's ack; lanes
	// runs their deliveries, fairly across tenants (answers.go, loose.go).
	toForward chan uuid.UUID
	lanes     *forwardLanes

	// stopping is set once Run's context has ended: the supplier side
	// drains, its answers are still recorded, but a failed-over message is
	// left routed for the next start to dispatch (its suppliers are
	// stopping too).
	stopping atomic.Bool
}

// New makes a Driver over its ports (all required). Run it; the supplier
// side calls its answer methods.
func New(l Ledger, suppliers Suppliers, receipts ReceiptSink, opts Options) *Driver {
	if l == nil || suppliers == nil || receipts == nil {
		panic("lifecycle: New needs a ledger, suppliers and a receipt sink")
	}
	opts.setDefaults()
	d := &Driver{
		ledger: l, suppliers: suppliers, receipts: receipts, opts: opts,
		log: opts.Logger.With("component", "lifecycle"), now: opts.Now,
		loose:       newLoose(),
		redo:        make(chan uuid.UUID, redoQueueMax),
		resumeNow:   make(chan struct{}, 1),
		scheduleNow: make(chan struct{}, 1),
		toForward:   make(chan uuid.UUID, forwardQueueMax),
	}
	d.lanes = newForwardLanes(d.forward, d.now)
	d.resumeAge.Store(math.MaxInt64)
	return d
}

// Run resumes what the log says is unfinished, then dispatches accepted
// messages, forwards final DLRs and makes its periodic passes until ctx
// ends. Answers to attempts in flight may still arrive after Run returns
// (the supplier side drains); they are recorded with contexts of their own.
func (d *Driver) Run(ctx context.Context) error {
	// What is in flight before this driver sends anything was sent by a
	// process before it: taken now, before the dispatch workers start, so
	// that an attempt this driver sends in the meantime is never taken
	// for one (it would be timed out and sent again elsewhere).
	inFlight := d.inFlightAtStart()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.routeForwards(ctx)
	}()
	startWorkers(ctx, &wg, d.opts.Workers, d.ledger.Outbox(), func(id uuid.UUID) { d.dispatch(ctx, id) })
	startWorkers(ctx, &wg, redoWorkers, d.redo, func(id uuid.UUID) { d.redispatch(ctx, id) })
	d.recover(ctx, inFlight)
	wg.Add(2)
	go func() {
		defer wg.Done()
		d.resumeLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		d.scheduleLoop(ctx)
	}()
	tick := time.NewTicker(d.opts.RetryEvery)
	defer tick.Stop()
	lastDropped := d.ledger.OutboxDropped()
	for pass := 1; ; pass++ {
		select {
		case <-ctx.Done():
			d.stopping.Store(true)
			wg.Wait()
			d.lanes.wait() // deliveries end with ctx; their outcomes are recorded
			return nil
		case <-tick.C:
			lastDropped = d.pass(ctx, pass, lastDropped)
		}
	}
}

// pass is one periodic pass: pending DLRs, kept answers, every
// sweepPasses-th pass the sweep, and the resumer when the outbox dropped
// dispatches or a worker gave one up. It returns the outbox's drop count.
func (d *Driver) pass(ctx context.Context, pass int, lastDropped uint64) uint64 {
	d.forwardPending(ctx)
	d.retryAnswers(ctx)
	d.expireDue(ctx, d.now())
	d.wakeScheduler()
	if pass%sweepPasses == 0 {
		d.sweep(ctx, d.now())
	}
	// Messages whose dispatch was dropped (the outbox was full) or given
	// up are in the ledger's unfinished set: the resumer picks them up.
	// Otherwise every routed message is in the outbox or a worker's hands,
	// and resuming would only race them.
	if dropped := d.ledger.OutboxDropped(); dropped != lastDropped || d.loose.gaveUpAny() {
		lastDropped = dropped
		d.wakeResumer(droppedAfter)
	}
	return lastDropped
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

// detach keeps a recording alive when its caller's context ends (a
// graceful stop drains in-flight submits, and their answers must still
// become events), bounded in time.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), callbackTimeout)
}

// awaitWork polls the ledger's tracker, which follows the log a moment
// behind the appends, until done holds for id's work (or polls run out,
// 5 ms apart); it returns the last look and whether done held.
func (d *Driver) awaitWork(ctx context.Context, id uuid.UUID, polls int, done func(w ledger.Work, ok bool) bool) (ledger.Work, bool, bool) {
	for i := 0; ; i++ {
		w, ok := d.ledger.WorkOf(id)
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
