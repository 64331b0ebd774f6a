package console

import "net/http"

// tenantRoutes registers the pages of tenants: list, detail, create, top-up, adjust, suspend and resume, limits, keys, rate decks.
func (c *Console) tenantRoutes(mux *http.ServeMux) {}
