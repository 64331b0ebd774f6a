package httpapi

// tenantAdminRoutes are the admin endpoints of tenants: list, get, patch (status, limits, billing, validity, access).
func (h *handler) tenantAdminRoutes() []Route {
	return nil
}
