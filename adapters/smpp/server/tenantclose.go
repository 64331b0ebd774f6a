package server

// CloseTenant ends a tenant's binds (a suspended tenant's, from the relay).

// CloseTenant ends every bind of tenant: each session stops reading, lets
// its in-flight requests finish and be answered, sends unbind (not waiting
// for the unbind_resp) and closes, as Shutdown does for all. It returns how
// many binds it ended; connections not yet bound are left to the bind
// check (BindAuthorizer), which refuses the tenant's new binds.
func (s *Server) CloseTenant(tenant string) int {
	if tenant == "" {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for sess := range s.sessions {
		// A session no longer counted unbound has been through bound()
		// under s.mu, so its tenant (set before) is safe to read here.
		if sess.countedUnbound || sess.tenant != tenant {
			continue
		}
		if sess.stop.Load() == stopNone {
			n++
		}
		sess.stopReading(stopShutdown)
	}
	return n
}
