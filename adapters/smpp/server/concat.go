package server

// Concatenation (UDH 8/16-bit, SAR): parts are kept per bind until the last
// arrives; earlier parts hold their window slot and get their submit_sm_resp
// (all with the same message id) only once the whole message is durable.
// The bytes held, each part counted at its command_length (an upper bound
// of what it keeps alive), are bounded per bind, per tenant and in all
// (Config.MaxConcat*Bytes); a part beyond a bound is refused ESME_RMSGQFUL.

import (
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

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
	bytes  int // reserved for its parts (session and server counts)
	timer  *time.Timer
}

// addPart keeps one part (size: its command_length); the last one
// dispatches the reassembled message.
func (s *session) addPart(q *pdu.SubmitSM, coding byte, raw []byte, c concat, seq int32, size int) {
	k := concatKey{src: q.SourceAddr.Address(), dst: q.DestAddr.Address(), ref: c.ref, total: c.total}
	s.cmu.Lock()
	e := s.concat[k]
	refuse := func(st data.CommandStatusType) {
		s.cmu.Unlock()
		s.release()
		s.respondSubmit(seq, st, "")
	}
	switch {
	case e == nil && len(s.concat) >= s.srv.cfg.MaxConcat:
		refuse(StatusQueueFull)
		return
	case e != nil && (e.parts[c.seq-1] != nil || coding != e.coding):
		refuse(StatusSubmitFail)
		return
	case s.concatBytes+size > s.srv.cfg.MaxConcatPerBindBytes || !s.srv.reserveConcat(s.tenant, size):
		refuse(StatusQueueFull)
		return
	}
	if e == nil {
		e = &concatEntry{first: q, coding: coding, parts: make([][]byte, c.total)}
		s.concat[k] = e
		e.timer = time.AfterFunc(s.srv.cfg.ConcatTimeout, func() { s.expireConcat(k, e) })
	}
	s.concatBytes += size
	e.bytes += size
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
	s.dropLocked(k, e)
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

// expireConcat refuses the parts of a message still incomplete after
// ConcatTimeout.
func (s *session) expireConcat(k concatKey, e *concatEntry) {
	s.cmu.Lock()
	if s.concat[k] != e {
		s.cmu.Unlock()
		return
	}
	s.dropLocked(k, e)
	s.cmu.Unlock()
	s.log.Debug("smpp concatenated message incomplete; refused", "ref", k.ref, "have", e.have, "total", k.total)
	for _, sq := range e.seqs {
		s.release()
		s.respondSubmit(sq, StatusSubmitFail, "")
	}
}

// failAllConcat answers every held part with st (the session is ending).
func (s *session) failAllConcat(st data.CommandStatusType) {
	s.cmu.Lock()
	m := s.concat
	s.concat = map[concatKey]*concatEntry{}
	for _, e := range m {
		s.concatBytes -= e.bytes
		s.srv.releaseConcat(s.tenant, e.bytes)
	}
	s.cmu.Unlock()
	for _, e := range m {
		e.timer.Stop()
		for _, sq := range e.seqs {
			s.release()
			s.respondSubmit(sq, st, "")
		}
	}
}

// dropLocked takes e (at k) out of the reassembly buffers and gives back
// its bytes; s.cmu held.
func (s *session) dropLocked(k concatKey, e *concatEntry) {
	delete(s.concat, k)
	s.concatBytes -= e.bytes
	s.srv.releaseConcat(s.tenant, e.bytes)
}
