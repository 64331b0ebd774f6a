package ledger

import "github.com/smsledger/smsledger/domain/routing"

// SetRouteHealth is SetSupplierHealth with the suppliers' scores per
// destination network and route prefix besides (routing.NewHealthOn): a
// supplier is then filtered and ordered by its health on the message's
// network, or its route prefix, where that is measured well enough, so a
// supplier failing on one network loses that network's traffic only.
func (s *Service) SetRouteHealth(states map[string]routing.SupplierHealth, dests []routing.DestinationHealth) {
	s.health.Store(routing.NewHealthOn(states, dests, s.opts.HealthMinScore))
}
