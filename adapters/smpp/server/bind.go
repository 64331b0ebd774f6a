package server

// bind_transmitter/receiver/transceiver: failure budgets, authentication,
// the tenant's say (BindAuthorizer) and the bind_resp.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// bind answers a bind request; true closes the session (bind refused, or
// Close while it waited).
//
// A bind is first admitted by the failure budgets (authGuard: it may wait
// for its address's spacing, never past the bind deadline), then its
// credentials are checked (Ingress.AuthenticateSMPP, within the bind
// deadline), then the tenant may refuse it (BindAuthorizer). A wrong
// password, an unknown system_id and a spent budget are all answered
// ESME_RINVPASWD, so the answer does not tell whether a system_id exists
// (the ledger makes both cost one hash comparison).
func (s *session) bind(q *pdu.BindRequest) bool {
	resp := pdu.NewBindResp(*q)
	resp.SystemID = s.srv.cfg.SystemID
	if s.kind != unbound {
		resp.CommandStatus = StatusAlreadyBound
		s.send(bindError(resp, q))
		return false
	}
	refuse := func(st data.CommandStatusType, err error) bool {
		resp.CommandStatus = st
		s.log.Warn("smpp bind refused", "system_id", q.SystemID, "status", fmt.Sprintf("0x%08X", uint32(st)), "err", err)
		s.send(bindError(resp, q))
		return true
	}
	ctx, cancel := context.WithDeadline(s.srv.hardCtx, s.bindDeadline)
	defer cancel()
	t, ok := s.srv.guard.admit(ctx, s.ip, q.SystemID, q.Password)
	if !ok {
		if s.srv.hardCtx.Err() != nil {
			return true
		}
		return refuse(StatusBadPassword, errBindNotAdmitted)
	}
	actx, acancel := context.WithTimeout(ctx, s.srv.cfg.SubmitTimeout)
	pr, err := s.srv.cfg.Ingress.AuthenticateSMPP(actx, q.SystemID, q.Password)
	acancel()
	if err != nil {
		bad := errors.Is(err, ErrInvalidPassword) || errors.Is(err, ErrUnknownSystemID)
		s.srv.guard.done(t, bad, false)
		if bad {
			return refuse(StatusBadPassword, err)
		}
		return refuse(StatusBindFail, err)
	}
	s.srv.guard.done(t, false, true)
	binds := s.srv.reserveBind(pr.TenantID)
	if az, ok := s.srv.cfg.Ingress.(BindAuthorizer); ok {
		remote, _ := netip.ParseAddr(s.ip)
		if err := az.AuthorizeBind(ctx, pr, remote.WithZone(""), binds); err != nil {
			s.srv.unreserveBind(pr.TenantID)
			st := StatusBindFail
			var se *StatusError
			if errors.As(err, &se) {
				st = se.Status
			}
			return refuse(st, err)
		}
	}
	switch q.BindingType {
	case pdu.Transmitter:
		s.kind = boundTX
	case pdu.Receiver:
		s.kind = boundRX
	default:
		s.kind = boundTRX
	}
	s.tenant, s.systemID = pr.TenantID, q.SystemID
	s.limiter = s.srv.tenantLimiter(pr)
	s.log = s.log.With("system_id", q.SystemID, "tenant", pr.TenantID)
	s.send(resp)
	s.srv.bound(s)
	s.log.Info("smpp bound", "bind", map[bindKind]string{boundTX: "transmitter", boundRX: "receiver", boundTRX: "transceiver"}[s.kind])
	return false
}

// errBindNotAdmitted: a failure budget is spent, or the bind deadline
// passed while the bind waited.
var errBindNotAdmitted = errors.New("bind not admitted: failure budget spent or bind deadline passed")

// bindError drops the body of a refused bind_transmitter/receiver_resp
// (v3.4 sends no body with an error; gosmpp's client cannot parse one) but
// keeps it for bind_transceiver_resp, where gosmpp expects it.
func bindError(resp *pdu.BindResp, q *pdu.BindRequest) pdu.PDU {
	if q.BindingType != pdu.Transceiver {
		return headerOnly{resp}
	}
	return resp
}

// headerOnly marshals just the 16-octet header of its PDU.
type headerOnly struct{ pdu.PDU }

func (h headerOnly) Marshal(b *pdu.ByteBuffer) {
	hd := h.GetHeader()
	var w [16]byte
	binary.BigEndian.PutUint32(w[0:], 16)
	binary.BigEndian.PutUint32(w[4:], uint32(hd.CommandID))
	binary.BigEndian.PutUint32(w[8:], uint32(hd.CommandStatus))
	binary.BigEndian.PutUint32(w[12:], uint32(hd.SequenceNumber))
	_, _ = b.Write(w[:])
}
