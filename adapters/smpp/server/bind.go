package server

// bind_transmitter/receiver/transceiver: authentication (delayed after
// failures) and the bind_resp.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/linxGnu/gosmpp/pdu"
)

// bind answers a bind request; true closes the session (bind refused, or
// Close during the auth-failure delay).
func (s *session) bind(q *pdu.BindRequest) bool {
	resp := pdu.NewBindResp(*q)
	resp.SystemID = s.srv.cfg.SystemID
	if s.kind != unbound {
		resp.CommandStatus = StatusAlreadyBound
		s.send(bindError(resp, q))
		return false
	}
	if d := s.srv.fails.delay(s.ip, time.Now()); d > 0 {
		select {
		case <-time.After(d):
		case <-s.srv.hardCtx.Done():
			return true
		}
	}
	ctx, cancel := context.WithTimeout(s.srv.hardCtx, s.srv.cfg.SubmitTimeout)
	pr, err := s.srv.cfg.Ingress.AuthenticateSMPP(ctx, q.SystemID, q.Password)
	cancel()
	if err != nil {
		switch {
		case errors.Is(err, ErrInvalidPassword):
			resp.CommandStatus = StatusBadPassword
		default:
			resp.CommandStatus = StatusBindFail
		}
		s.srv.fails.fail(s.ip, time.Now())
		s.log.Warn("smpp bind refused", "system_id", q.SystemID, "status", fmt.Sprintf("0x%08X", uint32(resp.CommandStatus)), "err", err)
		s.send(bindError(resp, q))
		return true
	}
	s.srv.fails.ok(s.ip)
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
	if s.kind.canReceive() {
		s.srv.addReceiver(pr.TenantID, s)
	}
	s.log.Info("smpp bound", "bind", map[bindKind]string{boundTX: "transmitter", boundRX: "receiver", boundTRX: "transceiver"}[s.kind])
	return false
}

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
