package httpapi

// keyAdminRoutes are the admin endpoints of API keys (list, revoke) and adjustments.
func (h *handler) keyAdminRoutes() []Route {
	return nil
}
