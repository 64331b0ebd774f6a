package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/domain/accept"
	"golang.org/x/time/rate"
)

// maxPDULen bounds command_length (gosmpp's limit, 64 KiB).
const maxPDULen = data.MAX_PDU_LEN

// Why a session stops reading.
const (
	stopNone int32 = iota
	stopShutdown
	stopUnbind
)

type bindKind uint8

const (
	unbound bindKind = iota
	boundTX
	boundRX
	boundTRX
)

func (b bindKind) canSubmit() bool  { return b == boundTX || b == boundTRX }
func (b bindKind) canReceive() bool { return b == boundRX || b == boundTRX }

type session struct {
	srv    *Server
	conn   net.Conn
	log    *slog.Logger
	ip     string
	window chan struct{} // one token per outstanding request

	out        chan pdu.PDU  // to the writer (bounded)
	quit       chan struct{} // tells the writer to flush and stop
	writerDone chan struct{}
	done       chan struct{} // closed when the session is over

	stop     atomic.Int32 // stopNone / stopShutdown / stopUnbind
	inflight sync.WaitGroup

	// Set once at bind, read after.
	kind     bindKind
	tenant   string
	systemID string
	limiter  *rate.Limiter

	outSem  chan struct{}
	pmu     sync.Mutex
	pending map[int32]chan pdu.PDU // our requests awaiting a response

	cmu    sync.Mutex
	concat map[concatKey]*concatEntry
}

func newSession(srv *Server, c net.Conn) *session {
	ip := c.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(ip); err == nil {
		ip = h
	}
	return &session{
		srv: srv, conn: c, ip: ip,
		log:        srv.log.With("remote", c.RemoteAddr().String()),
		window:     make(chan struct{}, srv.cfg.WindowMax),
		out:        make(chan pdu.PDU, 2*srv.cfg.WindowMax+srv.cfg.OutboundWindow+8),
		quit:       make(chan struct{}),
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
		outSem:     make(chan struct{}, srv.cfg.OutboundWindow),
		pending:    map[int32]chan pdu.PDU{},
		concat:     map[concatKey]*concatEntry{},
	}
}

// stopReading makes the reader return at its next read (now).
func (s *session) stopReading(why int32) {
	if s.stop.CompareAndSwap(stopNone, why) {
		_ = s.conn.SetReadDeadline(time.Now())
	}
}

// run is the session's life: read loop, then drain and close.
func (s *session) run() {
	go s.writer()
	unbindSeq, err := s.readLoop()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && s.stop.Load() == stopNone {
		s.log.Debug("smpp session read ended", "err", err)
	}
	// Drain: in-flight Submits finish and are answered (their context is
	// canceled only by Server.Close).
	s.inflight.Wait()
	s.failAllConcat(StatusSystemError)
	switch {
	case unbindSeq != 0:
		r := pdu.NewUnbindResp()
		r.SetSequenceNumber(unbindSeq)
		s.send(r)
	case s.stop.Load() == stopShutdown && s.kind != unbound:
		s.send(pdu.NewUnbind()) // best effort; we do not wait for the resp
	}
	close(s.quit)
	select {
	case <-s.writerDone:
	case <-time.After(s.srv.cfg.WriteTimeout):
	}
	_ = s.conn.Close()
	<-s.writerDone
	close(s.done)
	s.srv.removeSession(s)
	if s.kind != unbound {
		s.log.Info("smpp unbound", "system_id", s.systemID, "tenant", s.tenant)
	}
}

// writer serialises outgoing PDUs, flushing when its queue is empty.
func (s *session) writer() {
	defer close(s.writerDone)
	w := bufio.NewWriterSize(s.conn, 32<<10)
	buf := pdu.NewBuffer(make([]byte, 0, 512))
	write := func(p pdu.PDU) error {
		buf.Reset()
		p.Marshal(buf)
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
		_, err := w.Write(buf.Bytes())
		return err
	}
	flush := func() error {
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
		return w.Flush()
	}
	for {
		select {
		case p := <-s.out:
			if err := write(p); err != nil {
				_ = s.conn.Close()
				return
			}
			if len(s.out) == 0 {
				// Let the goroutines a group commit just released queue
				// their responses first: one write then carries many.
				runtime.Gosched()
			}
			if len(s.out) == 0 {
				if err := flush(); err != nil {
					_ = s.conn.Close()
					return
				}
			}
		case <-s.quit:
			for {
				select {
				case p := <-s.out:
					if write(p) != nil {
						return
					}
				default:
					_ = flush()
					return
				}
			}
		}
	}
}

// send queues a PDU for the writer; it is dropped if the writer is gone.
func (s *session) send(p pdu.PDU) {
	select {
	case s.out <- p:
	case <-s.writerDone:
	}
}

func (s *session) nack(seq int32, status data.CommandStatusType) {
	n := pdu.NewGenericNack()
	h := n.(*pdu.GenericNack)
	h.CommandStatus = status
	h.SetSequenceNumber(seq)
	s.send(n)
}

// readLoop reads and dispatches PDUs until EOF, an error, an unbind (its
// sequence number is returned), a malformed command_length or a stop.
func (s *session) readLoop() (unbindSeq int32, err error) {
	r := bufio.NewReaderSize(s.conn, 32<<10)
	var hdr [16]byte
	for {
		if s.stop.Load() != stopNone {
			return 0, nil
		}
		timeout := s.srv.cfg.IdleTimeout
		if s.kind == unbound {
			timeout = s.srv.cfg.BindTimeout
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(timeout))
		if s.stop.Load() != stopNone { // raced with stopReading
			return 0, nil
		}
		if _, err = io.ReadFull(r, hdr[:]); err != nil {
			return 0, err
		}
		length := binary.BigEndian.Uint32(hdr[0:4])
		id := data.CommandIDType(binary.BigEndian.Uint32(hdr[4:8]))
		seq := int32(binary.BigEndian.Uint32(hdr[12:16]))
		if length < 16 || length > maxPDULen {
			s.log.Warn("smpp malformed command_length; closing", "length", length)
			s.nack(seq, data.ESME_RINVCMDLEN)
			return 0, fmt.Errorf("command_length %d", length)
		}
		full := make([]byte, length)
		copy(full, hdr[:])
		if _, err = io.ReadFull(r, full[16:]); err != nil {
			return 0, err
		}
		p, perr := pdu.CreatePDUFromCmdID(id)
		if perr != nil {
			if uint32(id)&0x80000000 == 0 {
				s.nack(seq, data.ESME_RINVCMDID)
			}
			continue
		}
		if perr = unmarshal(p, full); perr != nil {
			if uint32(id)&0x80000000 == 0 {
				s.nack(seq, data.ESME_RINVCMDLEN)
			}
			continue
		}
		if u, ok := p.(*pdu.Unbind); ok {
			return u.GetSequenceNumber(), nil
		}
		if closeNow := s.handle(p, full); closeNow {
			return 0, nil
		}
	}
}

// unmarshal decodes full into p. gosmpp v0.3.1 panics on some inputs (e.g.
// a query_sm with TLVs: its constructor leaves the TLV map nil); a panic is
// a malformed PDU here.
func unmarshal(p pdu.PDU, full []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed PDU: %v", r)
		}
	}()
	return p.Unmarshal(pdu.NewBuffer(full))
}

// handle dispatches one decoded PDU; true closes the session.
func (s *session) handle(p pdu.PDU, full []byte) bool {
	seq := p.GetSequenceNumber()
	switch q := p.(type) {
	case *pdu.EnquireLink:
		s.send(q.GetResponse())
	case *pdu.BindRequest:
		return s.bind(q)
	case *pdu.SubmitSM:
		s.submit(q, submitDataCoding(q, full))
	case *pdu.QuerySM:
		s.query(q)
	case *pdu.DeliverSMResp, *pdu.GenericNack, *pdu.EnquireLinkResp, *pdu.UnbindResp, *pdu.DataSMResp:
		s.pmu.Lock()
		ch := s.pending[seq]
		delete(s.pending, seq)
		s.pmu.Unlock()
		if ch != nil {
			ch <- p // buffered 1
		}
	default:
		if uint32(p.GetHeader().CommandID)&0x80000000 == 0 {
			s.nack(seq, data.ESME_RINVCMDID)
		}
	}
	return false
}

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

func (s *session) respondSubmit(seq int32, status data.CommandStatusType, id string) {
	r := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
	r.SetSequenceNumber(seq)
	r.CommandStatus = status
	if status == StatusOK {
		r.MessageID = id
	}
	s.send(r)
}

// acquire takes a window slot without blocking.
func (s *session) acquire() bool {
	select {
	case s.window <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *session) release() { <-s.window }

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

func (s *session) submit(q *pdu.SubmitSM, coding byte) {
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
	if !multi {
		s.dispatch(q, coding, raw, []int32{seq})
		return
	}
	s.addPart(q, coding, raw, c, seq)
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
	req := accept.Request{
		MessageID:          uuid.Must(uuid.NewV7()),
		Channel:            "smpp",
		From:               q.SourceAddr.Address(),
		To:                 q.DestAddr.Address(),
		Text:               text,
		DataCoding:         coding,
		HasDataCoding:      true,
		RegisteredDelivery: q.RegisteredDelivery&0x03 != 0,
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

// ---------------------------------------------------------------------------
// Concatenation (UDH 8/16-bit, SAR): parts are kept per bind until the last
// arrives; earlier parts hold their window slot and get their submit_sm_resp
// (all with the same message id) only once the whole message is durable.

type concatKey struct {
	src, dst string
	ref      uint16
	total    uint8
}

type concatEntry struct {
	first  *pdu.SubmitSM
	coding byte
	parts  [][]byte
	seqs   []int32
	have   int
	timer  *time.Timer
}

func (s *session) addPart(q *pdu.SubmitSM, coding byte, raw []byte, c concat, seq int32) {
	k := concatKey{src: q.SourceAddr.Address(), dst: q.DestAddr.Address(), ref: c.ref, total: c.total}
	s.cmu.Lock()
	e := s.concat[k]
	if e == nil {
		if len(s.concat) >= s.srv.cfg.MaxConcat {
			s.cmu.Unlock()
			s.release()
			s.respondSubmit(seq, StatusQueueFull, "")
			return
		}
		e = &concatEntry{first: q, coding: coding, parts: make([][]byte, c.total)}
		s.concat[k] = e
		e.timer = time.AfterFunc(s.srv.cfg.ConcatTimeout, func() { s.expireConcat(k, e) })
	}
	if e.parts[c.seq-1] != nil || coding != e.coding {
		s.cmu.Unlock()
		s.release()
		s.respondSubmit(seq, StatusSubmitFail, "")
		return
	}
	if len(raw) == 0 {
		raw = []byte{}
	}
	e.parts[c.seq-1] = raw
	e.seqs = append(e.seqs, seq)
	e.have++
	if e.have < int(c.total) {
		s.cmu.Unlock()
		return
	}
	delete(s.concat, k)
	e.timer.Stop()
	s.cmu.Unlock()
	n := 0
	for _, p := range e.parts {
		n += len(p)
	}
	all := make([]byte, 0, n)
	for _, p := range e.parts {
		all = append(all, p...)
	}
	s.dispatch(e.first, e.coding, all, e.seqs)
}

func (s *session) expireConcat(k concatKey, e *concatEntry) {
	s.cmu.Lock()
	if s.concat[k] != e {
		s.cmu.Unlock()
		return
	}
	delete(s.concat, k)
	s.cmu.Unlock()
	s.log.Debug("smpp concatenated message incomplete; refused", "ref", k.ref, "have", e.have, "total", k.total)
	for _, sq := range e.seqs {
		s.release()
		s.respondSubmit(sq, StatusSubmitFail, "")
	}
}

func (s *session) failAllConcat(st data.CommandStatusType) {
	s.cmu.Lock()
	m := s.concat
	s.concat = map[concatKey]*concatEntry{}
	s.cmu.Unlock()
	for _, e := range m {
		e.timer.Stop()
		for _, sq := range e.seqs {
			s.release()
			s.respondSubmit(sq, st, "")
		}
	}
}

// ---------------------------------------------------------------------------
// Outbound requests (deliver_sm).

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
		p, err := buildDeliverSM(d)
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
