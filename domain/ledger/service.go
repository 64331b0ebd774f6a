// Package ledger holds the use cases of smsledger: the application service
// shared by the HTTP and SMPP adapters. It turns commands (create a tenant,
// top up, set rates and routes, submit a message, record a supplier's
// answer or a delivery report) into events appended to the event store, and
// answers the hot path from in-memory snapshots.
//
// It depends only on ports — an eventstore.Store, a clock, an id source and
// the secret ports Sealer and PasswordHasher — and on the pure domain
// packages. The hot path never queries a database:
// the Service follows the log (eventstore.Store.SubscribeAll from Start) and
// keeps tenants with their *money.Account, credential and API key hashes,
// rate cards, suppliers, cost cards, the route table and supplier health in
// immutable snapshots swapped atomically. Replaying the log on startup
// rebuilds every account exactly, open holds included; then the Service
// follows the log live, so a command's effect is visible in the snapshots
// by the time the command returns.
//
// Money: a submit holds the price on the tenant's in-memory Account before
// its events are appended (so concurrent submits never overspend) and
// releases it if the append fails. Every other money movement (top-ups,
// settlements, releases, credit limit changes) reaches the Account through
// the log follower. An Account is authoritative only in the process that
// owns the tenant: running several nodes for one tenant needs tenant
// ownership (see docs/ARCHITECTURE.md).
package ledger

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/domain/numbering"
	"github.com/smsledger/smsledger/domain/routing"
	"github.com/smsledger/smsledger/eventstore"
	"github.com/smsledger/smsledger/internal/backoff"
)

// Options configure a Service. Zero values are sensible defaults.
type Options struct {
	// Clock is the time source (default time.Now).
	Clock func() time.Time
	// Portability is a remote portability source (a provider's cached
	// lookup, adapters/mnp) the hot path consults after the operator's
	// portability table; nil: none.
	Portability numbering.Remote
	// NewID makes message and event ids (default uuid.NewV7).
	NewID func() (uuid.UUID, error)
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// OutboxSize bounds the channel of accepted messages waiting for
	// dispatch (default 65536). When it is full, Submit drops the
	// notification (counted by OutboxDropped); the message stays durable
	// and in state "routed" in the log, from where egress can recover it.
	OutboxSize int
	// Hasher hashes and checks SMPP passwords and API keys (required; the
	// edge passes adapters/secret's bcrypt hasher).
	Hasher PasswordHasher
	// Sealer seals supplier bind passwords and webhook secrets before they
	// enter the log (required; the edge passes adapters/secret's AES-GCM
	// sealer under a key kept outside the log).
	Sealer Sealer
	// HealthMinScore is the routing health threshold (0..routing.ScoreMax)
	// of the supplier health snapshot (see SetSupplierHealth).
	HealthMinScore uint16
	// AuthCacheSize bounds the cache of verified credentials (default 65536).
	AuthCacheSize int
	// InDoubtRetry is how often submits whose outcome is unknown are
	// looked up in the log again (default 1s; indoubt.go).
	InDoubtRetry time.Duration
	// DefaultValidity is how long a message without a validity of its own
	// may take to end (default DefaultValidityDefault, 48 h): past it the
	// lifecycle expires it and releases its hold.
	DefaultValidity time.Duration
	// DLRGrace is how long after its expires_at a message a supplier
	// accepted may still get its final DLR before it expires (default 1 h;
	// the contract's dlr_grace_s).
	DLRGrace time.Duration
	// UnfinishedMax bounds the unfinished messages the ledger tracks
	// (default UnfinishedMaxDefault); near it, Submit refuses with
	// ErrThrottled.
	UnfinishedMax int
	// BacklogMax bounds the backlog: the messages and DLRs this node has
	// accepted and not yet carried to the supplier or the tenant (default
	// BacklogMaxDefault; backlog.go). From 50 % of it economy tenants are
	// refused (ErrBacklog), standard from 75 %, premium last, each tier's
	// heaviest tenants first; at 100 % every submit is.
	BacklogMax int
	// IdempotencyMax bounds the idempotency keys kept (default
	// IdempotencyMaxDefault; idempotency.go).
	IdempotencyMax int
	// Node names this process as a node of a cluster on one log (empty:
	// not in a cluster). A node holds only on its budget leases
	// (budget.go) and drives only the messages it owns (cluster.go).
	Node string
	// ClusterSize is how many nodes are live (for the size of a lease;
	// nil: 1).
	ClusterSize func() int
	// BudgetIdle is how long a node keeps an unused lease (default
	// BudgetIdleDefault).
	BudgetIdle time.Duration
	// Forwarder names the node that forwards a final DLR a tenant is owed
	// for a message owner owns (cluster.go); nil: the owner.
	Forwarder func(tenantID, owner string) string
	// Dispatcher names the node that sends message id to supplierID: this
	// node when it has a bind of the supplier, else one that has (a
	// supplier with fewer binds than nodes; cluster.go). nil or "": this
	// node.
	Dispatcher func(supplierID string, id uuid.UUID) string
}

// DefaultValidityDefault is the validity of a message that gives none
// (the contract's default_validity_s, 172,800 s).
const DefaultValidityDefault = 48 * time.Hour

// Service is the ledger's application service. Create it with New, start
// Run in a goroutine, then WaitCaughtUp before serving traffic.
type Service struct {
	store  eventstore.Store
	clock  func() time.Time
	newID  func() (uuid.UUID, error)
	log    *slog.Logger
	opts   Options
	sealer Sealer

	state  atomic.Pointer[state]          // configuration snapshot
	health atomic.Pointer[routing.Health] // supplier health snapshot

	// pending holds the ids of messages whose Held was applied to the
	// Account by Submit but not yet seen by the follower.
	pending sync.Map // uuid.UUID -> struct{}

	idem *idempotency // idempotency keys of recent submits

	// follower progress
	applied    atomic.Uint64 // position of the last event applied
	progressMu sync.Mutex
	progress   chan struct{} // closed and replaced after each applied batch
	caughtUp   chan struct{}
	caughtOnce sync.Once
	running    atomic.Bool

	// dlrIndex maps supplier id + supplier message id to our message.
	dlrMu    sync.RWMutex
	dlrIndex map[dlrKey]uuid.UUID
	// dlrFinals remembers the supplier message ids of final DLRs lately
	// recorded (hashed with dlrSeed; at most finalDLRsMax), under dlrMu.
	dlrFinals *simplelru.LRU[uint64, struct{}]
	dlrSeed   maphash.Seed

	topUpMu sync.Mutex
	topUps  map[topUpKey]money.Units

	// doubt holds the submits whose outcome is unknown (indoubt.go).
	doubt inDoubt

	// work tracks unfinished messages from the log (recovery, pending DLRs).
	work *tracker
	// backlog counts the work behind the accepts (backlog.go), kept by
	// the tracker; Submit refuses over its lines.
	backlog *backlog
	// mos tracks the MOs their tenants have not had yet (mo.go).
	mos *moTracker

	outbox        chan uuid.UUID
	outboxDropped atomic.Uint64

	auth authCache

	throttleMu sync.Mutex
	throttles  map[string]*throttle

	// budgets is the cluster's fold: leases and membership (budget.go,
	// cluster.go).
	budgets       *budgets
	takenOverCh   chan struct{}
	takenOverOnce sync.Once
	epoch         atomic.Int64   // the membership epoch this process joined with (0: not yet)
	owed          chan uuid.UUID // final DLRs other nodes recorded and this one forwards
}

// New makes a Service over store. It does not touch the store until Run.
func New(store eventstore.Store, opts Options) (*Service, error) {
	if store == nil {
		return nil, errors.New("ledger: nil store")
	}
	if opts.Sealer == nil || opts.Hasher == nil {
		return nil, errors.New("ledger: Options.Sealer and Options.Hasher are required")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.NewID == nil {
		opts.NewID = uuid.NewV7
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.OutboxSize <= 0 {
		opts.OutboxSize = 1 << 16
	}
	if opts.AuthCacheSize <= 0 {
		opts.AuthCacheSize = 1 << 16
	}
	if opts.DLRGrace <= 0 {
		opts.DLRGrace = time.Hour
	}
	if opts.DefaultValidity <= 0 {
		opts.DefaultValidity = DefaultValidityDefault
	}
	if opts.InDoubtRetry <= 0 {
		opts.InDoubtRetry = time.Second
	}
	if opts.UnfinishedMax <= 0 {
		opts.UnfinishedMax = UnfinishedMaxDefault
	}
	if opts.BacklogMax <= 0 {
		opts.BacklogMax = BacklogMaxDefault
	}
	if opts.BudgetIdle <= 0 {
		opts.BudgetIdle = BudgetIdleDefault
	}
	if opts.IdempotencyMax <= 0 {
		opts.IdempotencyMax = IdempotencyMaxDefault
	}
	if opts.HealthMinScore > routing.ScoreMax {
		return nil, fmt.Errorf("ledger: health threshold %d above %d", opts.HealthMinScore, routing.ScoreMax)
	}
	s := &Service{
		store:     store,
		clock:     opts.Clock,
		newID:     opts.NewID,
		log:       opts.Logger,
		opts:      opts,
		sealer:    opts.Sealer,
		progress:  make(chan struct{}),
		caughtUp:  make(chan struct{}),
		dlrIndex:  make(map[dlrKey]uuid.UUID),
		topUps:    make(map[topUpKey]money.Units),
		outbox:    make(chan uuid.UUID, opts.OutboxSize),
		work:      newTracker(opts.UnfinishedMax),
		backlog:   newBacklog(opts.BacklogMax),
		mos:       newMOTracker(),
		idem:      newIdempotency(opts.IdempotencyMax),
		throttles: make(map[string]*throttle),
		budgets:   newBudgets(),

		takenOverCh: make(chan struct{}),
		owed:        make(chan uuid.UUID, owedMax),
	}
	if opts.Node != "" && !validNodeID(opts.Node) {
		return nil, fmt.Errorf("ledger: node id %q: 1 to 63 of a-z, 0-9, '-' and '_', starting with a letter or digit", opts.Node)
	}
	finals, err := simplelru.NewLRU[uint64, struct{}](finalDLRsMax, nil)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	s.dlrFinals = finals
	s.dlrSeed = maphash.MakeSeed()
	if err := s.auth.init(opts.AuthCacheSize, opts.Hasher); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	st := emptyState()
	if opts.Portability != nil {
		st.numbering = &numbering.Tables{Remote: opts.Portability}
	}
	s.state.Store(st)
	s.health.Store(routing.NewHealth(nil, opts.HealthMinScore))
	return s, nil
}

// Run follows the log from Start until ctx ends: it replays configuration
// and money events (rebuilding accounts, open holds included), signals
// WaitCaughtUp when it has reached the head of the log as of its start,
// then applies live events. Transient store errors are retried with a
// bounded backoff. Run returns ctx's error. It may be called once.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("ledger: Run called twice")
	}
	f := newFollower(s)
	go s.resolveLoop(ctx)
	if s.inCluster() {
		budgetsDone := make(chan struct{})
		go func() {
			defer close(budgetsDone)
			select {
			case <-s.caughtUp:
			case <-ctx.Done():
				return
			}
			s.budgetLoop(ctx)
		}()
		defer func() { <-budgetsDone }()
	}
	b := backoff.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	for {
		from := f.pos
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, eventstore.ErrRewound) {
			return fmt.Errorf("ledger: %w", err) // nothing to retry: an operator must look
		}
		if f.pos > from {
			// It made progress since the last failure: a new outage
			// starts from the shortest wait again.
			b.Reset()
		}
		wait := b.Next()
		s.log.Error("ledger: following the log failed; retrying", "err", err, "after", wait)
		if err := backoff.Wait(ctx, wait); err != nil {
			return err
		}
	}
}

// WaitCaughtUp blocks until Run has applied the log up to its head as of
// Run's start, or ctx ends.
func (s *Service) WaitCaughtUp(ctx context.Context) error {
	select {
	case <-s.caughtUp:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ledger: waiting to catch up with the log: %w", ctx.Err())
	}
}

// Ready reports whether the service has caught up with the log (for
// readiness probes).
func (s *Service) Ready() bool {
	select {
	case <-s.caughtUp:
		return true
	default:
		return false
	}
}

// Position is the global position of the last event the service applied.
func (s *Service) Position() eventstore.Position { return eventstore.Position(s.applied.Load()) }

// AppliedMark returns a check that reports whether the follower has applied
// everything committed to the log before the call (one read of its head).
func (s *Service) AppliedMark(ctx context.Context) (func() bool, error) {
	head, err := s.store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: read the log's head: %w", err)
	}
	return func() bool { return eventstore.Position(s.applied.Load()) >= head }, nil
}

// waitApplied blocks until the follower has applied pos.
func (s *Service) waitApplied(ctx context.Context, pos eventstore.Position) error {
	for {
		s.progressMu.Lock()
		ch := s.progress
		s.progressMu.Unlock()
		if eventstore.Position(s.applied.Load()) >= pos {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("ledger: waiting for position %d to be applied: %w", pos, ctx.Err())
		}
	}
}

// advanced publishes the follower's progress.
func (s *Service) advanced(pos eventstore.Position) {
	s.applied.Store(uint64(pos))
	s.progressMu.Lock()
	close(s.progress)
	s.progress = make(chan struct{})
	s.progressMu.Unlock()
}

func (s *Service) markCaughtUp() {
	s.caughtOnce.Do(func() {
		close(s.caughtUp)
		s.log.Info("ledger: caught up with the log", "position", s.applied.Load())
	})
}

// SetSupplierHealth replaces the supplier health snapshot used by routing
// (the SMPP egress or the route health projection calls it). Suppliers not
// in states count as up with full score.
func (s *Service) SetSupplierHealth(states map[string]routing.SupplierHealth) {
	s.health.Store(routing.NewHealth(states, s.opts.HealthMinScore))
}

// Outbox delivers accepted messages to dispatch, in acceptance order per
// caller. It is bounded (Options.OutboxSize); see OutboxDropped.
func (s *Service) Outbox() <-chan uuid.UUID { return s.outbox }

// OutboxDropped counts accepted messages whose dispatch notification was
// dropped because the outbox was full.
func (s *Service) OutboxDropped() uint64 { return s.outboxDropped.Load() }

func (s *Service) id() (uuid.UUID, error) {
	id, err := s.newID()
	if err != nil {
		return uuid.Nil, fmt.Errorf("ledger: new id: %w", err)
	}
	return id, nil
}
