package ledger

import "github.com/smsledger/smsledger/domain/money"

// MyLeaseHeld is what this node holds on its lease of the tenant's money
// as its hot path sees it (the log's holds and its submits' not yet in the
// log); false without a lease.
func (s *Service) MyLeaseHeld(tenantID string) (money.Units, bool) {
	s.budgets.mu.Lock()
	defer s.budgets.mu.Unlock()
	tl := s.budgets.tenants[tenantID]
	if tl == nil || tl.mine == nil {
		return 0, false
	}
	return tl.mine.State().Held, true
}
