package relay

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/adapters/smpp/server"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/message"
)

// Ingress is the ingress server's view of the ledger.
func (r *Relay) Ingress() server.Ingress { return ingress{r.svc, r.opts.Observer} }

type ingress struct {
	svc *ledger.Service
	obs Observer
}

func (in ingress) AuthenticateSMPP(ctx context.Context, systemID, password string) (server.Principal, error) {
	tenantID, err := in.svc.AuthenticateSMPP(ctx, systemID, password)
	switch {
	case errors.Is(err, ledger.ErrUnknownSystemID):
		return server.Principal{}, fmt.Errorf("%w: %w", server.ErrUnknownSystemID, err)
	case errors.Is(err, ledger.ErrBadCredentials):
		return server.Principal{}, fmt.Errorf("%w: %w", server.ErrInvalidPassword, err)
	case err != nil:
		return server.Principal{}, err
	}
	// The ledger enforces the tenant's TPS limit on Submit; the server's own
	// per-tenant limiter stays off so a message is not counted twice.
	return server.Principal{TenantID: tenantID}, nil
}

func (in ingress) Submit(ctx context.Context, tenantID string, req accept.Request) (server.Accepted, error) {
	start := time.Now()
	acc, err := in.svc.Submit(ctx, tenantID, req)
	code := ""
	if err != nil {
		code = string(ledger.CodeOf(err))
	}
	in.obs.Submitted(code, time.Since(start))
	switch {
	case errors.Is(err, ledger.ErrThrottled):
		return server.Accepted{}, fmt.Errorf("%w: %w", server.ErrThrottled, err)
	case errors.Is(err, ledger.ErrNotDurable):
		return server.Accepted{}, fmt.Errorf("%w: %w", server.ErrNotDurable, err)
	case errors.Is(err, ledger.ErrTenantSuspended):
		return server.Accepted{}, &server.StatusError{Status: server.StatusTenantSuspended, Err: err}
	case err != nil:
		// The accept and controls refusals (a *ledger.RefusedError wraps
		// the controls' error) map by server.StatusOf.
		return server.Accepted{}, err
	}
	return server.Accepted{MessageID: acc.MessageID.String(), Parts: acc.Parts}, nil
}

func (in ingress) QueryMessage(ctx context.Context, tenantID, messageID string) (server.MessageStatus, error) {
	id, err := uuid.Parse(messageID)
	if err != nil {
		return server.MessageStatus{}, server.ErrMessageNotFound
	}
	v, err := in.svc.Message(ctx, tenantID, id)
	if errors.Is(err, ledger.ErrNotFound) {
		return server.MessageStatus{}, server.ErrMessageNotFound
	}
	if err != nil {
		return server.MessageStatus{}, err
	}
	st := server.MessageStatus{State: stateOf(message.State(v.State))}
	if v.FinalAt != nil {
		st.FinalDate = *v.FinalAt
	}
	return st, nil
}

// stateOf maps a message state to the SMPP message_state.
func stateOf(s message.State) receipt.MessageState {
	switch s {
	case message.StateDelivered:
		return receipt.StateDelivered
	case message.StateUndelivered, message.StateFailed:
		return receipt.StateUndeliverable
	case message.StateRejected, message.State(ledger.StateRefused): // refused by a control: never accepted
		return receipt.StateRejected
	case message.StateExpired:
		return receipt.StateExpired
	case message.StateSupplierAccepted:
		return receipt.StateEnroute
	}
	return receipt.StateAccepted
}

var _ server.BindAuthorizer = ingress{}

// AuthorizeBind applies the tenant's status, max_binds and allowed_ips
// (contract: ESME_RBINDFAIL for a suspended tenant's bind, a bind beyond
// max_binds or from elsewhere).
func (in ingress) AuthorizeBind(_ context.Context, p server.Principal, remote netip.Addr, binds int) error {
	a, err := in.svc.TenantAccess(p.TenantID)
	if err != nil {
		return err
	}
	if in.svc.TenantSuspended(p.TenantID) {
		return fmt.Errorf("tenant %s is suspended", p.TenantID)
	}
	if !a.Allows(remote) {
		return fmt.Errorf("tenant %s: bind from %s, outside its allowed_ips", p.TenantID, remote)
	}
	if a.MaxBinds > 0 && binds > a.MaxBinds {
		return fmt.Errorf("tenant %s: bind %d over its max_binds %d", p.TenantID, binds, a.MaxBinds)
	}
	return nil
}
