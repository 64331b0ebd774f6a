package relay

// Suspended tenants lose their SMPP binds: AuthorizeBind refuses their new
// binds (ESME_RBINDFAIL) and, on each relay tick (Options.RetryEvery, 1 s
// by default), closeSuspended ends the binds they still hold (in-flight
// submits answered, unbind, close: server.CloseTenant). Their accepted
// messages still finish: dispatch and DLRs do not look at the status (a
// final DLR for a receiver bind of a suspended tenant waits, as for any
// tenant without one, or goes by webhook).

// closeSuspended ends the binds of every suspended tenant. Cheap: one walk
// over the ledger's tenant snapshot, nothing per message.
func (r *Relay) closeSuspended() {
	srv := r.server()
	if srv == nil {
		return
	}
	for _, id := range r.svc.SuspendedTenants() {
		if n := srv.CloseTenant(id); n > 0 {
			r.log.Info("suspended tenant's binds closed", "tenant", id, "binds", n)
		}
	}
}
