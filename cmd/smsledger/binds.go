package main

import (
	httpapi "github.com/smsledger/smsledger/adapters/http"
)

// smppBinds is the API's view of tenants' SMPP binds (httpapi.TenantBinds)
// over the daemon's SMPP server. It reads d.smpp at each call rather than
// at wiring, so the API does not depend on the order in which the
// components make the server; before there is one, a tenant has no binds.
type smppBinds struct{ d *daemon }

func (b smppBinds) TenantBinds(tenantID string) []httpapi.Bind {
	srv := b.d.smpp
	if srv == nil {
		return nil
	}
	list := srv.TenantBinds(tenantID)
	out := make([]httpapi.Bind, len(list))
	for i, l := range list {
		out[i] = httpapi.Bind{SystemID: l.SystemID, Mode: l.Mode, RemoteAddr: l.RemoteAddr, BoundAt: l.BoundAt}
	}
	return out
}
