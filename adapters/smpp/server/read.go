package server

// The read loop: framing and decoding of incoming PDUs and their dispatch.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// maxPDULen bounds command_length (gosmpp's limit, 64 KiB).
const maxPDULen = data.MAX_PDU_LEN

// readLoop reads and dispatches PDUs until EOF, an error, an unbind (its
// sequence number is returned), a malformed command_length or a stop.
//
// Before the bind the read deadline is the session's bind deadline
// (connected + Config.BindTimeout), fixed: no PDU extends it. Every request
// but a bind is then answered generic_nack ESME_RINVBNDSTS without being
// decoded. command_length is checked as soon as its 4 octets are read.
func (s *session) readLoop() (unbindSeq int32, err error) {
	r := bufio.NewReaderSize(s.conn, 32<<10)
	var hdr [16]byte
	for {
		if s.stop.Load() != stopNone {
			return 0, nil
		}
		deadline := s.bindDeadline
		if s.kind != unbound {
			deadline = time.Now().Add(s.srv.cfg.IdleTimeout)
		}
		_ = s.conn.SetReadDeadline(deadline)
		if s.stop.Load() != stopNone { // raced with stopReading
			return 0, nil
		}
		if _, err = io.ReadFull(r, hdr[:4]); err != nil {
			return 0, err
		}
		length := binary.BigEndian.Uint32(hdr[0:4])
		if !validLength(length) {
			s.log.Warn("smpp malformed command_length; closing", "length", length)
			s.nack(0, data.ESME_RINVCMDLEN)
			return 0, fmt.Errorf("command_length %d", length)
		}
		if _, err = io.ReadFull(r, hdr[4:]); err != nil {
			return 0, err
		}
		id := data.CommandIDType(binary.BigEndian.Uint32(hdr[4:8]))
		seq := int32(binary.BigEndian.Uint32(hdr[12:16]))
		if s.kind == unbound && !isBind(id) {
			// Not decoded: only a bind is of use before the bind.
			if _, err = io.CopyN(io.Discard, r, int64(length)-16); err != nil {
				return 0, err
			}
			if uint32(id)&0x80000000 == 0 {
				s.nack(seq, StatusBadBindState)
			}
			continue
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

// validLength reports whether a command_length frames a PDU: at least its
// 16-octet header, at most maxPDULen.
func validLength(n uint32) bool { return n >= 16 && n <= maxPDULen }

// isBind reports whether id is one of the three bind requests.
func isBind(id data.CommandIDType) bool {
	return id == data.BIND_TRANSMITTER || id == data.BIND_RECEIVER || id == data.BIND_TRANSCEIVER
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
		s.submit(q, submitDataCoding(q, full), len(full))
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
