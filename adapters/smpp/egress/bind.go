package egress

// One transceiver bind: the reconnect loop with its backoff, and the
// handler of the PDUs the supplier sends (submit answers, DLRs, enquire_link,
// unbind).

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/internal/backoff"
)

// bindDialTimeout and bindWriteTimeout bound connecting to a supplier and
// one write to its connection.
const (
	bindDialTimeout  = 10 * time.Second
	bindWriteTimeout = 10 * time.Second
)

// dlrConcurrencyMax bounds the supplier DLRs being recorded at once.
const dlrConcurrencyMax = 512

// bind is one gosmpp session and its outstanding submits.
type bind struct {
	s       *Supplier
	mu      sync.Mutex
	pending map[int32]chan pdu.PDU
	closed  chan struct{}
	once    sync.Once
	// sess is set once the bind is up; DLR answers are written through it
	// after they are recorded.
	sess   atomic.Pointer[gosmpp.Session]
	sessUp chan struct{}
}

// bindLoop keeps bind i up until ctx ends: it binds, sends until the bind
// is lost, and rebinds; failed attempts back off from BackoffMin, doubling
// up to BackoffMax (reset once bound).
func (s *Supplier) bindLoop(ctx context.Context, i int) {
	retry := backoff.Backoff{Min: s.cfg.BackoffMin, Max: s.cfg.BackoffMax}
	for ctx.Err() == nil {
		b := &bind{s: s, pending: map[int32]chan pdu.PDU{}, closed: make(chan struct{}), sessUp: make(chan struct{})}
		auth := gosmpp.Auth{SMSC: s.cfg.Addr, SystemID: s.cfg.SystemID, Password: s.cfg.Password}
		var sess *gosmpp.Session
		err := s.dialErr
		if err == nil {
			// Every PDU the supplier sends is decoded under the guard of
			// smppconn before gosmpp's read loop, which recovers no panic,
			// decodes it: one gosmpp cannot decode closes this bind only
			// (OnReceivingError says why), and it binds again.
			sess, err = gosmpp.NewSession(gosmpp.TRXConnector(s.dial, auth), gosmpp.Settings{
				ReadTimeout: 2 * time.Minute, EnquireLink: time.Minute, WriteTimeout: bindWriteTimeout,
				OnAllPDU: b.onPDU,
				OnReceivingError: func(err error) {
					s.log.Warn("egress bind lost: read failed", "bind", i, "err", err)
				},
				OnClosed: func(gosmpp.State) { b.once.Do(func() { close(b.closed) }) },
			}, 0)
		}
		if err != nil {
			s.bindFails.Add(1)
			wait := retry.Next()
			s.log.Warn("egress bind failed", "bind", i, "err", err, "retry_in", wait)
			if backoff.Wait(ctx, wait) != nil {
				return
			}
			continue
		}
		retry.Reset()
		b.sess.Store(sess)
		close(b.sessUp)
		s.up.Add(1)
		s.everUp.Store(true)
		s.log.Info("egress bound", "bind", i)
		s.sendLoop(ctx, b, sess)
		s.up.Add(-1)
		_ = sess.Close()
		b.once.Do(func() { close(b.closed) })
	}
}

// onPDU handles every PDU the supplier sends on this bind. It runs on
// gosmpp's read loop, where a panic would end the process: one is
// contained, logged, and closes this bind.
func (b *bind) onPDU(p pdu.PDU) (resp pdu.PDU, closeBind bool) {
	defer func() {
		if r := recover(); r != nil {
			b.s.log.Error("egress PDU handling panicked; closing the bind", "command_id", p.GetHeader().CommandID, "panic", r)
			resp, closeBind = nil, true
		}
	}()
	switch q := p.(type) {
	case *pdu.SubmitSMResp, *pdu.GenericNack:
		b.mu.Lock()
		ch := b.pending[p.GetSequenceNumber()]
		delete(b.pending, p.GetSequenceNumber())
		b.mu.Unlock()
		if ch != nil {
			ch <- p
		}
		return nil, false
	case *pdu.DeliverSM:
		resp := q.GetResponse()
		if !receipt.IsReceipt(q) {
			return b.onMO(q, resp)
		}
		r, err := receipt.FromDeliverSM(q)
		if err != nil {
			b.s.log.Warn("egress unparseable receipt", "err", err)
			return resp, false
		}
		id := r.ID
		if _, tlv := q.OptionalParameters[pdu.TagReceiptedMessageID]; !tlv {
			id = receipt.ConvertID(id, b.s.cfg.DLRIDFormat, b.s.cfg.RespIDFormat)
		}
		b.answerWhenRecorded(resp, func(ctx context.Context) error {
			return b.s.rep.DeliveryReport(ctx, DLR{SupplierID: b.s.cfg.SupplierID, SupplierMessageID: id, Receipt: r})
		})
		return nil, false
	case *pdu.EnquireLink:
		return q.GetResponse(), false
	case *pdu.Unbind:
		return q.GetResponse(), true
	}
	return nil, false
}

// answerWhenRecorded writes resp (a deliver_sm_resp) once record has made
// what the supplier delivered durable, or with ESME_RSYSERR if it could
// not (the supplier delivers it again). What a supplier delivers is
// recorded before it is acknowledged, but not on gosmpp's read loop: that
// would make a bind's DLRs and MOs, and the submit_sm_resps behind them,
// wait one durable append each. A bounded pool records them concurrently
// (their appends share group commits).
func (b *bind) answerWhenRecorded(resp pdu.PDU, record func(ctx context.Context) error) {
	b.s.dlrSlots <- struct{}{} // backpressure: the read loop waits when all are busy
	go func() {
		defer func() { <-b.s.dlrSlots }()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := record(ctx)
		cancel()
		if err != nil {
			resp.(*pdu.DeliverSMResp).CommandStatus = data.ESME_RSYSERR
		}
		select {
		case <-b.sessUp:
			_ = b.sess.Load().Transceiver().Submit(resp)
		case <-b.closed:
			// The bind is gone; the supplier delivers it again.
		}
	}()
}
