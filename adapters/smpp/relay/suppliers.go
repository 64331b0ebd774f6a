package relay

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/linxGnu/gosmpp/data"

	"github.com/smsledger/smsledger/adapters/smpp/egress"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/domain/lifecycle"
	"github.com/smsledger/smsledger/domain/routing"
)

// The suppliers' egress binds: the lifecycle's Suppliers port, and the
// reports of their answers and DLRs back to it.

// SupplierStats is one running supplier's egress state.
type SupplierStats struct {
	ID         string
	BindsUp    int
	QueueDepth int
	TPS        float64 // the adaptive limit in force
}

type runningSupplier struct {
	started time.Time
	cfg     egress.Config
	eg      *egress.Supplier
	cancel  context.CancelFunc
	done    chan struct{}
}

// startupGrace is how long a supplier that has not bound yet counts as up.
const startupGrace = 10 * time.Second

// syncSuppliers starts egress binds for suppliers the ledger knows and the
// relay does not run yet (or whose settings changed), and stops removed or
// disabled ones. One sync runs at a time (syncMu); supMu guards only the
// map and is never held while waiting, because a stopping egress reports
// its in-flight attempts, whose failover looks suppliers up.
//
// A supplier whose settings changed gets its new egress first, then the
// old one stops (its binds close, its in-flight submits are reported timed
// out) and what was still queued there moves to the new one: messages keep
// flowing, at the price of both egresses' binds for a moment. A removed or
// disabled supplier's queued messages are reported refused (never sent):
// they fail over.
func (r *Relay) syncSuppliers() {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.syncLocked()
}

// ResyncSuppliers applies the suppliers' settings now rather than at the
// next pass: a cluster node calls it when the live nodes change, so that
// its share of each supplier's TPS and binds (Options.SupplierConfig)
// moves at once. It skips when a sync is running.
func (r *Relay) ResyncSuppliers() {
	select {
	case r.resync <- struct{}{}:
	default: // one is asked for already
	}
}

// trySync syncs unless a sync is running (the caller may be one of the
// callbacks that sync waits for).
func (r *Relay) trySync() {
	if r.syncMu.TryLock() {
		defer r.syncMu.Unlock()
		r.syncLocked()
	}
}

func (r *Relay) syncLocked() {
	want, elsewhere := r.wantedSuppliers()
	var stopping []*runningSupplier
	r.supMu.Lock()
	for id, rs := range r.suppliers {
		if cfg, ok := want[id]; !ok || !sameSupplier(cfg, rs.cfg) {
			rs.cancel()
			stopping = append(stopping, rs)
			delete(r.suppliers, id)
		}
	}
	for id, cfg := range want {
		if _, ok := r.suppliers[id]; !ok {
			r.suppliers[id] = r.startSupplier(cfg)
		}
	}
	r.supMu.Unlock()
	for _, rs := range stopping {
		<-rs.done
		r.rehome(rs, elsewhere[rs.cfg.SupplierID])
	}
}

// wantedSuppliers is the egress configuration of every enabled supplier
// this node binds, and the enabled suppliers only other nodes bind (a
// cluster's bind shares: Options.SupplierConfig).
func (r *Relay) wantedSuppliers() (want map[string]egress.Config, elsewhere map[string]bool) {
	want, elsewhere = map[string]egress.Config{}, map[string]bool{}
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
			TLS: sp.TLS, TLSServerName: sp.TLSServerName, TLSCAPEM: []byte(sp.TLSCAPEM),
		}
		if r.opts.SupplierConfig != nil && !r.opts.SupplierConfig(&cfg) {
			elsewhere[sp.ID] = true // its binds are other nodes' (its messages are handed to them)
			continue
		}
		want[sp.ID] = cfg
	}
	return want, elsewhere
}

// startSupplier starts an egress under the relay's run context (never a
// caller's: a supplier started from a callback must outlive it).
func (r *Relay) startSupplier(cfg egress.Config) *runningSupplier {
	sctx, cancel := context.WithCancel(r.runCtx)
	rs := &runningSupplier{started: time.Now(), cfg: cfg, eg: egress.New(cfg, reporter{r}), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(rs.done)
		if err := rs.eg.Run(sctx); err != nil && sctx.Err() == nil {
			r.log.Error("supplier egress stopped", "supplier", cfg.SupplierID, "err", err)
		}
	}()
	r.log.Info("supplier egress started", "supplier", cfg.SupplierID, "addr", cfg.Addr, "binds", cfg.Binds, "tps", cfg.TPS)
	return rs
}

// rehome hands on what a stopped egress still had queued (recorded as
// submitted, never sent): to the supplier's new egress when it has one;
// when only other nodes bind the supplier now (elsewhere), back to the
// lifecycle as withdrawn, which routes it again to the same supplier for
// one of them; else as refused, which fails it over.
func (r *Relay) rehome(rs *runningSupplier, elsewhere bool) {
	queued := rs.eg.Drain()
	if len(queued) == 0 {
		return
	}
	next := r.supplier(rs.cfg.SupplierID)
	moved, withdrawn := 0, 0
	for _, m := range queued {
		if next != nil && next.Enqueue(m) == nil {
			moved++
			continue
		}
		k, ok := lifecycle.ParseAttemptKey(m.ID)
		switch {
		case !ok:
		case elsewhere:
			r.driver.Withdrawn(r.runCtx, k, rs.cfg.SupplierID, "bind share moved to other nodes")
			withdrawn++
		default:
			r.driver.SupplierRejected(r.runCtx, k, rs.cfg.SupplierID, uint32(data.ESME_RMSGQFUL))
		}
	}
	r.log.Info("queued messages of a stopped supplier egress handed on", "supplier", rs.cfg.SupplierID,
		"moved", moved, "withdrawn", withdrawn, "failed_over", len(queued)-moved-withdrawn)
}

func sameSupplier(a, b egress.Config) bool {
	return a.Addr == b.Addr && a.SystemID == b.SystemID && a.Password == b.Password &&
		a.Binds == b.Binds && a.TPS == b.TPS && a.Window == b.Window &&
		a.TLS == b.TLS && a.TLSServerName == b.TLSServerName && bytes.Equal(a.TLSCAPEM, b.TLSCAPEM)
}

// stopSuppliers stops every egress (serve's shutdown). What they held is
// resolved from the log at the next start; the lifecycle does not fail
// over once it is stopping.
func (r *Relay) stopSuppliers() {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.supMu.Lock()
	stopping := make([]*runningSupplier, 0, len(r.suppliers))
	for id, rs := range r.suppliers {
		rs.cancel()
		stopping = append(stopping, rs)
		delete(r.suppliers, id)
	}
	r.supMu.Unlock()
	for _, rs := range stopping {
		<-rs.done
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

// SuppliersUp lists the suppliers with a bind up here (what a cluster node
// publishes for the nodes that bind none of a supplier's binds).
func (r *Relay) SuppliersUp() []string {
	r.supMu.Lock()
	defer r.supMu.Unlock()
	var out []string
	for id, rs := range r.suppliers {
		if rs.eg.BindsUp() > 0 {
			out = append(out, id)
		}
	}
	return out
}

// supplierPort is the lifecycle's Suppliers port over the egress binds.
type supplierPort struct{ r *Relay }

// Enqueue hands the attempt to its supplier's egress queue. A supplier
// configured a moment ago gets its binds started now rather than at the
// next sync (unless a sync is running); the message waits in its queue for
// the first bind.
func (p supplierPort) Enqueue(_ context.Context, a lifecycle.Attempt) error {
	eg := p.r.supplier(a.SupplierID)
	if eg == nil {
		p.r.trySync()
		eg = p.r.supplier(a.SupplierID)
	}
	if eg == nil {
		return fmt.Errorf("supplier %s has no running binds", a.SupplierID)
	}
	return eg.Enqueue(egress.Message{
		ID: a.Key.String(), From: a.From, To: a.To, Text: a.Text,
		DataCoding: dataCoding(a.Encoding), RegisteredDelivery: true, ExpiresAt: a.ExpiresAt,
	})
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

// reporter passes the egress's reports to the lifecycle driver.
type reporter struct{ r *Relay }

func (rp reporter) SupplierAccepted(ctx context.Context, res egress.Result) {
	if k, ok := lifecycle.ParseAttemptKey(res.MessageID); ok {
		rp.r.driver.SupplierAccepted(ctx, k, res.SupplierID, res.SupplierMessageID, res.Latency)
	}
}

func (rp reporter) SupplierRejected(ctx context.Context, res egress.Result) {
	if k, ok := lifecycle.ParseAttemptKey(res.MessageID); ok {
		rp.r.driver.SupplierRejected(ctx, k, res.SupplierID, uint32(res.CommandStatus))
	}
}

func (rp reporter) SupplierTimedOut(ctx context.Context, res egress.Result) {
	if k, ok := lifecycle.ParseAttemptKey(res.MessageID); ok {
		rp.r.driver.SupplierTimedOut(ctx, k, res.SupplierID)
	}
}

func (rp reporter) Expired(ctx context.Context, res egress.Result) {
	if k, ok := lifecycle.ParseAttemptKey(res.MessageID); ok {
		rp.r.driver.Expired(ctx, k)
	}
}

// DeliveryReport records a supplier DLR; an error makes the egress answer
// ESME_RSYSERR, so the supplier redelivers it.
func (rp reporter) DeliveryReport(ctx context.Context, d egress.DLR) error {
	rp.r.opts.Observer.DLRReceived(d.SupplierID, receipt.NormalizeStat(d.Receipt.Stat))
	return rp.r.driver.DeliveryReport(ctx, lifecycle.SupplierDLR{
		SupplierID: d.SupplierID, SupplierMessageID: d.SupplierMessageID,
		Stat: d.Receipt.Stat, Err: d.Receipt.Err, DoneAt: d.Receipt.DoneDate,
	})
}
