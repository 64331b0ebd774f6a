package server

// One ESME connection: its state, its life (run: read, drain, unbind,
// close) and the writer that serialises every outgoing PDU.

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"golang.org/x/time/rate"
)

// Why a session stops reading.
const (
	stopNone int32 = iota
	stopShutdown
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

	bindDeadline   time.Time // connected + BindTimeout
	countedUnbound bool      // in Server.unbound (under Server.mu)

	out        chan pdu.PDU  // to the writer (bounded)
	quit       chan struct{} // tells the writer to flush and stop
	writerDone chan struct{}
	done       chan struct{} // closed when the session is over

	stop     atomic.Int32 // stopNone / stopShutdown
	inflight sync.WaitGroup

	// Set once at bind, read after.
	kind     bindKind
	tenant   string
	systemID string
	limiter  *rate.Limiter
	boundAt  time.Time // set by Server.bound under Server.mu (TenantBinds)

	outSem  chan struct{}
	pmu     sync.Mutex
	pending map[int32]chan pdu.PDU // our requests awaiting a response

	cmu         sync.Mutex
	concat      map[concatKey]*concatEntry
	concatBytes int // reassembly bytes held (under cmu)
}

func newSession(srv *Server, c net.Conn) *session {
	ip := c.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(ip); err == nil {
		ip = h
	}
	return &session{
		srv: srv, conn: c, ip: ip,
		bindDeadline: time.Now().Add(srv.cfg.BindTimeout),
		log:          srv.log.With("remote", c.RemoteAddr().String()),
		window:       make(chan struct{}, srv.cfg.WindowMax),
		out:          make(chan pdu.PDU, 2*srv.cfg.WindowMax+srv.cfg.OutboundWindow+8),
		quit:         make(chan struct{}),
		writerDone:   make(chan struct{}),
		done:         make(chan struct{}),
		outSem:       make(chan struct{}, srv.cfg.OutboundWindow),
		pending:      map[int32]chan pdu.PDU{},
		concat:       map[concatKey]*concatEntry{},
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
