package server

// submit_sm and query_sm: checks (bind state, window, rate limits,
// payload), the durable Ingress call in its own goroutine, and the answer.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/domain/accept"
)

// Refusals of submit_sm's time fields (SMPP v3.4 §7.1.1).
const (
	StatusBadSchedule = data.ESME_RINVSCHED  // 0x61: malformed schedule_delivery_time
	StatusBadExpiry   = data.ESME_RINVEXPIRY // 0x62: malformed or past validity_period
)

// submitTimes checks the time fields of a submit_sm at now and gives its
// scheduled delivery time and its expiry (zero: none given; the ledger
// sends at once, and applies the tenant's default validity from the
// scheduled time). Relative forms count from now (SMPP v3.4 §7.1.1.2). A
// malformed schedule_delivery_time is StatusBadSchedule; a malformed
// validity_period, or one not after now, is StatusBadExpiry. The ledger
// refuses the rest (a schedule over a week ahead: StatusBadSchedule; an
// expiry not after the schedule: StatusBadExpiry).
func submitTimes(q *pdu.SubmitSM, now time.Time) (sendAt, expires time.Time, st data.CommandStatusType) {
	sendAt, err := parseSMPPTime(q.ScheduleDeliveryTime, now)
	if err != nil {
		return time.Time{}, time.Time{}, StatusBadSchedule
	}
	expires, err = parseSMPPTime(q.ValidityPeriod, now)
	if err != nil || (!expires.IsZero() && !expires.After(now)) {
		return time.Time{}, time.Time{}, StatusBadExpiry
	}
	if !sendAt.IsZero() {
		sendAt = sendAt.UTC()
	}
	if !expires.IsZero() {
		expires = expires.UTC()
	}
	return sendAt, expires, StatusOK
}

// respondSubmit queues a submit_sm_resp; id is sent only with StatusOK.
func (s *session) respondSubmit(seq int32, status data.CommandStatusType, id string) {
	r := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
	r.SetSequenceNumber(seq)
	r.CommandStatus = status
	if status == StatusOK {
		r.MessageID = id
	}
	s.send(r)
}

// submitDataCoding finds the raw data_coding octet of a decoded submit_sm
// (gosmpp keeps only a decoder for it, nil for codings it does not know):
// its offset follows from the decoded variable-length fields.
func submitDataCoding(q *pdu.SubmitSM, full []byte) byte {
	off := 16 + len(q.ServiceType) + 1 +
		2 + len(q.SourceAddr.Address()) + 1 +
		2 + len(q.DestAddr.Address()) + 1 +
		3 + len(q.ScheduleDeliveryTime) + 1 + len(q.ValidityPeriod) + 1 + 2
	if off < len(full) {
		return full[off]
	}
	return 0xFF
}

// submit checks a submit_sm (bind state, window, rate limits, payload) and
// dispatches it, or adds it to its concatenated message; size is its
// command_length.
func (s *session) submit(q *pdu.SubmitSM, coding byte, size int) {
	seq := q.GetSequenceNumber()
	if !s.kind.canSubmit() {
		s.respondSubmit(seq, StatusBadBindState, "")
		return
	}
	if !s.acquire() {
		s.respondSubmit(seq, StatusThrottled, "")
		return
	}
	if (s.srv.global != nil && !s.srv.global.Allow()) || (s.limiter != nil && !s.limiter.Allow()) {
		s.release()
		s.respondSubmit(seq, StatusThrottled, "")
		return
	}
	raw, c, multi, err := payloadOf(q)
	if err != nil {
		s.release()
		st := StatusBadEsmClass
		if q.EsmClass&data.SM_UDH_GSM == 0 {
			st = StatusBadOptParam
		}
		s.respondSubmit(seq, st, "")
		return
	}
	// Every part is checked, so a bad one is refused before it is held.
	if _, _, st := submitTimes(q, time.Now()); st != StatusOK {
		s.release()
		s.respondSubmit(seq, st, "")
		return
	}
	if !multi {
		s.dispatch(q, coding, raw, []int32{seq})
		return
	}
	s.addPart(q, coding, raw, c, seq, size)
}

// dispatch decodes the (complete) message and submits it in its own
// goroutine; every part's sequence number is answered with the outcome and
// its window slot released.
func (s *session) dispatch(q *pdu.SubmitSM, coding byte, raw []byte, seqs []int32) {
	answer := func(st data.CommandStatusType, id string) {
		for _, sq := range seqs {
			s.release() // before the answer: the ESME may reuse the slot at once
			s.respondSubmit(sq, st, id)
		}
	}
	text, err := decodeText(raw, coding)
	if err != nil {
		st := StatusInvalidText
		if errors.Is(err, errUnsupportedCoding) {
			st = StatusUnsupportedEncoding
		}
		answer(st, "")
		return
	}
	// Again at dispatch, from the first part's fields: a relative validity
	// counts from the arrival of the message's last part, and an absolute
	// one may have passed while the parts were gathered.
	sendAt, expires, st := submitTimes(q, time.Now())
	if st != StatusOK {
		answer(st, "")
		return
	}
	req := accept.Request{
		MessageID:          uuid.Must(uuid.NewV7()),
		Channel:            "smpp",
		From:               q.SourceAddr.Address(),
		To:                 q.DestAddr.Address(),
		Text:               text,
		DataCoding:         coding,
		HasDataCoding:      true,
		RegisteredDelivery: q.RegisteredDelivery&0x03 != 0,
		// 2: a receipt on failure only (SMPP v3.4 §5.2.17).
		ReceiptOnFailureOnly: q.RegisteredDelivery&0x03 == 2,
		ExpiresAt:            expires,
		SendAt:               sendAt,
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		ctx, cancel := context.WithTimeout(s.srv.hardCtx, s.srv.cfg.SubmitTimeout)
		acc, err := s.srv.cfg.Ingress.Submit(ctx, s.tenant, req)
		cancel()
		st := StatusOf(err)
		if err != nil {
			s.log.Debug("smpp submit refused", "status", fmt.Sprintf("0x%08X", uint32(st)), "err", err)
		}
		answer(st, acc.MessageID)
	}()
}

// query answers a query_sm from Ingress.QueryMessage, in its own goroutine.
func (s *session) query(q *pdu.QuerySM) {
	resp := pdu.NewQuerySMRespFromReq(q).(*pdu.QuerySMResp)
	resp.MessageID = q.MessageID
	if !s.kind.canSubmit() {
		resp.CommandStatus = StatusBadBindState
		s.send(resp)
		return
	}
	if !s.acquire() {
		resp.CommandStatus = StatusThrottled
		s.send(resp)
		return
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		ctx, cancel := context.WithTimeout(s.srv.hardCtx, s.srv.cfg.SubmitTimeout)
		st, err := s.srv.cfg.Ingress.QueryMessage(ctx, s.tenant, q.MessageID)
		cancel()
		switch {
		case errors.Is(err, ErrMessageNotFound):
			resp.CommandStatus = StatusQueryFail
		case err != nil:
			resp.CommandStatus = StatusSystemError
		default:
			resp.MessageState = byte(st.State)
			resp.ErrorCode = st.ErrorCode
			if !st.FinalDate.IsZero() {
				resp.FinalDate = st.FinalDate.UTC().Format("060102150405") + "000+"
			}
		}
		s.release()
		s.send(resp)
	}()
}
