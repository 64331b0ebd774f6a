// Package relay is the SMPP glue around the message lifecycle: it is the
// ingress server's view of the ledger (bind authentication, submit,
// query_sm), it runs the suppliers' egress binds as the lifecycle's
// Suppliers port and feeds their answers and DLRs back to it, and it
// delivers final DLRs to tenants' receiver binds or webhooks as its
// ReceiptSink. The rules of when a message is sent, failed over, forwarded
// or recovered live in domain/lifecycle, not here.
//
//   - ingress.go: server.Ingress over the ledger.
//   - suppliers.go: the egress binds (started, changed and stopped as the
//     ledger's supplier list says), Enqueue, and their reports.
//   - receipts.go: final DLRs to receiver binds or webhooks.
//   - mo.go: suppliers' mobile-originated messages, recorded for the
//     tenant owning their number and forwarded like final DLRs.
package relay

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/smsledger/smsledger/adapters/smpp/egress"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/adapters/webhook"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/lifecycle"
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
	// Workers is the number of goroutines sending dispatches (default 64).
	Workers int
	// SupplierConfig adjusts each supplier's egress settings (a cluster
	// node's share, tests); false: this node runs no egress for the
	// supplier (a cluster's node without a share of its binds).
	SupplierConfig func(*egress.Config) bool
	// Observer receives what metrics count (optional).
	Observer Observer
	// Webhooks pushes final DLRs of tenants with a webhook (optional): for
	// them it replaces the SMPP receiver binds.
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
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
}

// Relay is the SMPP side of one serve process.
type Relay struct {
	svc    *ledger.Service
	driver *lifecycle.Driver
	opts   Options
	log    *slog.Logger

	srvMu sync.RWMutex
	srv   *server.Server // for DLRs to tenants; set by Attach

	// runCtx is Run's context: egresses run under it.
	runCtx context.Context
	// resync asks Run's loop for a sync now (ResyncSuppliers).
	resync chan struct{}
	// syncMu serialises syncs of the egresses with the ledger's suppliers;
	// supMu guards the map alone and is never held while waiting.
	syncMu    sync.Mutex
	supMu     sync.Mutex
	suppliers map[string]*runningSupplier

	mos moCounters // MOs received, unknown, unbilled, forwarded (mo.go)
}

// New makes a relay over the ledger. Attach the ingress server, then Run.
func New(svc *ledger.Service, opts Options) *Relay {
	opts.setDefaults()
	r := &Relay{
		resync: make(chan struct{}, 1),
		svc:    svc, opts: opts, log: opts.Logger.With("component", "relay"),
		suppliers: map[string]*runningSupplier{},
	}
	r.driver = lifecycle.New(svc, supplierPort{r}, receiptSink{r}, lifecycle.Options{
		Logger: opts.Logger, SubmitTimeout: opts.SubmitTimeout, RetryEvery: opts.RetryEvery,
		RecoverMax: opts.RecoverMax, Workers: opts.Workers, Observer: opts.Observer, MOs: moSink{r},
	})
	return r
}

// Attach gives the relay the ingress server it forwards tenants' DLRs on.
func (r *Relay) Attach(srv *server.Server) {
	r.srvMu.Lock()
	r.srv = srv
	r.srvMu.Unlock()
}

func (r *Relay) server() *server.Server {
	r.srvMu.RLock()
	defer r.srvMu.RUnlock()
	return r.srv
}

// Run starts the supplier binds and the lifecycle driver (which resumes
// unfinished messages, then sends accepted messages and retries pending
// DLRs) until ctx ends. It returns after the supplier binds have stopped:
// what they held in flight is answered to the driver as they drain (and
// recorded; a failover is not dispatched any more, the next start does).
func (r *Relay) Run(ctx context.Context) error {
	r.runCtx = ctx
	r.syncSuppliers()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(r.opts.RetryEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				r.closeSuspended() // first: a slow supplier sync must not delay it
				r.syncSuppliers()
			case <-r.resync:
				r.syncSuppliers()
			}
		}
	}()
	err := r.driver.Run(ctx)
	wg.Wait()
	r.stopSuppliers()
	return err
}
