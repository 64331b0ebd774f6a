package server

// Outbound deliver_sm: DeliverReceipt sends a tenant's DLR on one of its
// receiver binds and waits for the deliver_sm_resp; DeliverMO
// (deliver_mo.go) does the same for a mobile-originated message.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
)

// request sends p and waits for its response.
func (s *session) request(ctx context.Context, p pdu.PDU) (pdu.PDU, error) {
	select {
	case s.outSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, errSessionClosed
	}
	defer func() { <-s.outSem }()
	if s.stop.Load() != stopNone {
		return nil, errSessionClosed
	}
	ch := make(chan pdu.PDU, 1)
	seq := p.GetSequenceNumber()
	s.pmu.Lock()
	s.pending[seq] = ch
	s.pmu.Unlock()
	defer func() {
		s.pmu.Lock()
		delete(s.pending, seq)
		s.pmu.Unlock()
	}()
	select {
	case s.out <- p:
	case <-s.writerDone:
		return nil, errSessionClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t := time.NewTimer(s.srv.cfg.DeliverTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r, nil
	case <-t.C:
		return nil, errNoResponse
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, errSessionClosed
	}
}

var (
	errSessionClosed = errors.New("smpp: session closed")
	errNoResponse    = errors.New("smpp: no response in time")
)

// DLR is a delivery receipt for a tenant.
type DLR struct {
	// Receipt's ID is our message id (as given in submit_sm_resp).
	Receipt receipt.Receipt
	// Source is the deliver_sm source_addr: the original destination
	// (the handset). Dest is the deliver_sm destination_addr: the original
	// sender.
	Source, Dest string
}

// DeliverReceipt sends a DLR deliver_sm (esm_class 0x04, standard receipt
// text, receipted_message_id and message_state TLVs) on a receiver-capable
// bind of the tenant (round robin; on a failed bind the next is tried). It
// returns ErrNoReceiverBind when the tenant has none, a *StatusError when
// the ESME answers with an error status, or the failure (no response in
// Config.DeliverTimeout, session closed, ctx).
func (s *Server) DeliverReceipt(ctx context.Context, tenantID string, d DLR) error {
	return s.deliver(ctx, tenantID, func() (*pdu.DeliverSM, error) { return buildDeliverSM(d) })
}

// deliver sends the deliver_sm build makes (anew for each bind tried) on
// a receiver-capable bind of the tenant, as DeliverReceipt says.
func (s *Server) deliver(ctx context.Context, tenantID string, build func() (*pdu.DeliverSM, error)) error {
	s.mu.Lock()
	binds := append([]*session(nil), s.receivers[tenantID]...)
	s.mu.Unlock()
	if len(binds) == 0 {
		return fmt.Errorf("tenant %s: %w", tenantID, ErrNoReceiverBind)
	}
	start := int(s.rr.Add(1) % uint64(len(binds)))
	var lastErr error
	for i := range binds {
		sess := binds[(start+i)%len(binds)]
		p, err := build()
		if err != nil {
			return err
		}
		resp, err := sess.request(ctx, p)
		if err == nil {
			if st := resp.GetHeader().CommandStatus; st != data.ESME_ROK {
				return fmt.Errorf("tenant %s: deliver_sm refused: %w", tenantID, &StatusError{Status: st})
			}
			return nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("tenant %s: deliver_sm: %w", tenantID, lastErr)
}

// buildDeliverSM makes the receipt deliver_sm; a receipt text GSM 03.38
// cannot carry has its other characters replaced by '?'.
func buildDeliverSM(d DLR) (*pdu.DeliverSM, error) {
	p := pdu.NewDeliverSM().(*pdu.DeliverSM)
	p.SourceAddr = address(d.Source)
	p.DestAddr = address(d.Dest)
	p.EsmClass = data.SM_SMSC_DLV_RCPT_TYPE
	text := d.Receipt.Format()
	if err := p.Message.SetMessageWithEncoding(text, data.GSM7BIT); err != nil {
		rs := []rune(text)
		for i, r := range rs {
			if r > 0x7e || r < 0x20 {
				rs[i] = '?'
			}
		}
		if err := p.Message.SetMessageWithEncoding(string(rs), data.GSM7BIT); err != nil {
			return nil, fmt.Errorf("receipt text: %w", err)
		}
	}
	for _, f := range d.Receipt.TLVs() {
		p.RegisterOptionalParam(f)
	}
	return p, nil
}

// address makes an SMPP address: international E.164 for digits (with an
// optional '+'), alphanumeric otherwise. Over-long values are cut to 20.
func address(a string) pdu.Address {
	digits := a != ""
	for i, c := range a {
		if !(c >= '0' && c <= '9') && !(i == 0 && c == '+') {
			digits = false
			break
		}
	}
	if len(a) > 20 {
		a = a[:20]
	}
	var ad pdu.Address
	if digits {
		ad.SetTon(data.GSM_TON_INTERNATIONAL)
		ad.SetNpi(data.GSM_NPI_E164)
		if a[0] == '+' {
			a = a[1:]
		}
	} else if a != "" {
		ad.SetTon(data.GSM_TON_ALPHANUMERIC)
		ad.SetNpi(data.GSM_NPI_UNKNOWN)
	}
	_ = ad.SetAddress(a)
	return ad
}
