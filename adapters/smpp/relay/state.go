package relay

import "github.com/smsledger/smsledger/domain/ledger"

// SupplierState is a supplier's live state for its administration (the
// HTTP API's SupplierStates): its egress binds up of those configured,
// what waits in its queues, the adaptive TPS in force, and routing's view
// of its health. A supplier the ledger does not know is not ok; a known
// one whose egress does not run here (disabled, or not started yet) is
// not Running and not Up.
func (r *Relay) SupplierState(id string) (ledger.SupplierLive, bool) {
	sp, err := r.svc.Supplier(id)
	if err != nil {
		return ledger.SupplierLive{}, false
	}
	live := ledger.SupplierLive{Binds: sp.Binds}
	r.supMu.Lock()
	if rs, ok := r.suppliers[id]; ok {
		live.Running = true
		live.Binds = rs.cfg.Binds
		live.BindsUp, live.QueueDepth, live.TPS = rs.eg.BindsUp(), rs.eg.QueueDepth(), rs.eg.EffectiveTPS()
	}
	r.supMu.Unlock()
	up, score := r.svc.SupplierHealth(id)
	live.Up, live.HealthScore = live.Running && up, score
	return live, true
}
