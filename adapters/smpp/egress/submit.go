package egress

// Sending: the per-bind send loop (rate limit, window), waiting for each
// submit_sm_resp and reporting the outcome, and building the submit_sm.

import (
	"context"
	"fmt"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// sendLoop takes messages (premium first) and submits them until the bind
// closes or ctx ends.
func (s *Supplier) sendLoop(ctx context.Context, b *bind, sess *gosmpp.Session) {
	for {
		var m Message
		select {
		case m = <-s.premium:
		default:
			select {
			case m = <-s.premium:
			case m = <-s.normal:
			case <-b.closed:
				return
			case <-ctx.Done():
				return
			}
		}
		if err := s.limiter.Wait(ctx); err != nil {
			s.requeue(m)
			return
		}
		select {
		case s.window <- struct{}{}:
		case <-b.closed:
			s.requeue(m)
			return
		case <-ctx.Done():
			s.requeue(m)
			return
		}
		if !m.ExpiresAt.IsZero() && !time.Now().Before(m.ExpiresAt) {
			<-s.window
			s.rep.Expired(ctx, Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID})
			continue
		}
		p, err := buildSubmit(m)
		if err != nil {
			<-s.window
			s.rep.SupplierRejected(ctx, Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID, CommandStatus: data.ESME_RINVMSGLEN})
			continue
		}
		ch := make(chan pdu.PDU, 1)
		b.mu.Lock()
		b.pending[p.GetSequenceNumber()] = ch
		b.mu.Unlock()
		start := time.Now()
		if err := sess.Transceiver().Submit(p); err != nil {
			b.mu.Lock()
			delete(b.pending, p.GetSequenceNumber())
			b.mu.Unlock()
			<-s.window
			s.requeue(m) // never written: safe to resend
			return
		}
		s.inflight.Add(1)
		go s.await(b, m, p.GetSequenceNumber(), ch, start)
	}
}

// await reports the outcome of one written submit_sm: its answer, no
// answer within SubmitTimeout (its pending entry is then deleted: a late
// answer is dropped), or the bind lost.
func (s *Supplier) await(b *bind, m Message, seq int32, ch chan pdu.PDU, start time.Time) {
	defer s.inflight.Done()
	defer func() { <-s.window }()
	t := time.NewTimer(s.cfg.SubmitTimeout)
	defer t.Stop()
	ctx := context.Background()
	res := Result{MessageID: m.ID, SupplierID: s.cfg.SupplierID}
	select {
	case p := <-ch:
		res.Latency = time.Since(start)
		s.observe(res.Latency)
		res.CommandStatus = p.GetHeader().CommandStatus
		if r, ok := p.(*pdu.SubmitSMResp); ok && res.CommandStatus == data.ESME_ROK {
			res.SupplierMessageID = r.MessageID
			s.rep.SupplierAccepted(ctx, res)
			return
		}
		if res.CommandStatus == data.ESME_ROK {
			res.CommandStatus = data.ESME_RSYSERR
		}
		s.rep.SupplierRejected(ctx, res)
	case <-t.C:
		b.mu.Lock()
		delete(b.pending, seq)
		b.mu.Unlock()
		s.observe(s.cfg.SubmitTimeout)
		res.Latency = time.Since(start)
		s.rep.SupplierTimedOut(ctx, res)
	case <-b.closed:
		res.Latency = time.Since(start)
		s.rep.SupplierTimedOut(ctx, res) // bind lost: outcome unknown
	}
}

func buildSubmit(m Message) (*pdu.SubmitSM, error) {
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	var err error
	if p.SourceAddr, err = pdu.NewAddressWithAddr(m.From); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if p.DestAddr, err = pdu.NewAddressWithAddr(m.To); err != nil {
		return nil, fmt.Errorf("dest: %w", err)
	}
	p.DestAddr.SetTon(data.GSM_TON_INTERNATIONAL)
	p.DestAddr.SetNpi(data.GSM_NPI_E164)
	enc := data.FromDataCoding(m.DataCoding)
	if enc == nil {
		enc = data.GSM7BIT
	}
	raw, err := enc.Encode(m.Text)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	if len(raw) <= 254 {
		err = p.Message.SetMessageDataWithEncoding(raw, enc)
	} else {
		// Long: whole text in message_payload (one submit, one supplier id).
		err = p.Message.SetMessageDataWithEncoding(nil, enc)
		p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: raw})
	}
	if err != nil {
		return nil, err
	}
	if m.RegisteredDelivery {
		p.RegisteredDelivery = 1
	}
	return p, nil
}
