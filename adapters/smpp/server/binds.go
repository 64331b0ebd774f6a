package server

// TenantBinds: a tenant's binds now, for the operators (the admin API and
// the console's tenant page).

import (
	"cmp"
	"slices"
	"time"
)

// Bind modes, as BindInfo.Mode names them.
const (
	ModeTransmitter = "transmitter"
	ModeReceiver    = "receiver"
	ModeTransceiver = "transceiver"
)

// BindInfo is one bound session of a tenant.
type BindInfo struct {
	SystemID   string    // the system_id it bound with
	Mode       string    // ModeTransmitter, ModeReceiver or ModeTransceiver
	RemoteAddr string    // the ESME's address and port
	BoundAt    time.Time // when the bind succeeded
}

// mode names a bind kind as BindInfo.Mode does ("" before the bind).
func (b bindKind) mode() string {
	switch b {
	case boundTX:
		return ModeTransmitter
	case boundRX:
		return ModeReceiver
	case boundTRX:
		return ModeTransceiver
	}
	return ""
}

// TenantBinds lists the tenant's bound sessions now, oldest bind first.
// Connections not bound yet, and binds being closed (CloseTenant,
// Shutdown), are left out: a suspended tenant shows no binds at once.
//
// Bounded: the sessions are at most Config.MaxConns (the walk is under
// s.mu, as CloseTenant's), and one tenant's binds are further capped by
// its own limit (BindAuthorizer), so the list is small.
func (s *Server) TenantBinds(tenantID string) []BindInfo {
	if tenantID == "" {
		return nil
	}
	s.mu.Lock()
	var out []BindInfo
	for sess := range s.sessions {
		// Not counted unbound: it has been through bound() under s.mu, so
		// its kind, tenant, system_id and bind time (set before or there)
		// are safe to read here.
		if sess.countedUnbound || sess.tenant != tenantID || sess.stop.Load() != stopNone {
			continue
		}
		out = append(out, BindInfo{SystemID: sess.systemID, Mode: sess.kind.mode(),
			RemoteAddr: sess.conn.RemoteAddr().String(), BoundAt: sess.boundAt})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b BindInfo) int {
		return cmp.Or(a.BoundAt.Compare(b.BoundAt), cmp.Compare(a.RemoteAddr, b.RemoteAddr))
	})
	return out
}
