package httpapi

// supplierAdminRoutes are the admin endpoints of suppliers (list, get with live state, patch, disable), routes, rates and costs (get; PUT as CSV too).
func (h *handler) supplierAdminRoutes() []Route {
	return nil
}

// SupplierStates is the live side of suppliers: binds up, queue depth,
// adaptive TPS, health (implemented by the relay in serve).
type SupplierStates interface{}
