package runner

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dlrProxy sits between serve and a simulated supplier (smscsim) and makes
// the supplier misbehave with its DLRs (Supplier.DLRStorm): every deliver_sm
// from the simulator is forwarded as it is, and
//   - a share is sent again (Copies extra copies, DuplicateAfter later),
//     some of the copies with the other outcome (DELIVRD ↔ UNDELIV);
//   - a share is held back: the proxy answers the simulator itself and sends
//     the DLR to serve LateBy later.
//
// Injected PDUs carry the proxy's own sequence numbers; serve's answers to
// them are swallowed. Everything else passes through untouched.
type dlrProxy struct {
	cfg    DLRStorm
	target string // the simulator
	ln     net.Listener
	log    *slog.Logger

	seq atomic.Uint32
	// Counters for the report.
	DLRs, Duplicates, Conflicting, Late, Dropped atomic.Int64

	mu    sync.Mutex
	rng   *rand.Rand
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

const (
	cmdDeliverSM     = 0x00000005
	cmdDeliverSMResp = 0x80000005
	injectedSeqBase  = 0x7F000000 // proxy's sequence numbers; SMPP allows up to 0x7FFFFFFF
	pduMax           = 64 << 10
)

func newDLRProxy(cfg DLRStorm, target string, log *slog.Logger) (*dlrProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &dlrProxy{cfg: cfg, target: target, ln: ln, log: log, rng: rand.New(rand.NewPCG(rand.Uint64(), 1)),
		conns: map[net.Conn]bool{}}, nil
}

// Addr is where serve binds instead of the simulator.
func (p *dlrProxy) Addr() string { return p.ln.Addr().String() }

func (p *dlrProxy) roll(share float64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < share
}

func (p *dlrProxy) track(c net.Conn, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.conns[c] = true
	} else {
		delete(p.conns, c)
	}
}

// Run accepts serve's binds until ctx ends, then closes every connection.
func (p *dlrProxy) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		_ = p.ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	}()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			break
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(ctx, c)
		}()
	}
	p.wg.Wait()
}

// lockedConn serialises writes of whole PDUs.
type lockedConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (l *lockedConn) write(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := l.c.Write(b)
	return err
}

func readPDU(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 16 || n > pduMax {
		return nil, errors.New("dlr proxy: bad PDU length")
	}
	b := make([]byte, n)
	copy(b, hdr[:])
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		return nil, err
	}
	return b, nil
}

func (p *dlrProxy) pipe(ctx context.Context, serveSide net.Conn) {
	simSide, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = serveSide.Close()
		return
	}
	p.track(serveSide, true)
	p.track(simSide, true)
	cctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		_ = serveSide.Close()
		_ = simSide.Close()
		p.track(serveSide, false)
		p.track(simSide, false)
	}()
	toServe, toSim := &lockedConn{c: serveSide}, &lockedConn{c: simSide}
	done := make(chan struct{}, 2)
	// serve → simulator: drop the answers to injected PDUs.
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			b, err := readPDU(serveSide)
			if err != nil {
				return
			}
			cmd, seq := binary.BigEndian.Uint32(b[4:8]), binary.BigEndian.Uint32(b[12:16])
			if cmd == cmdDeliverSMResp && seq >= injectedSeqBase {
				continue
			}
			if toSim.write(b) != nil {
				return
			}
		}
	}()
	// simulator → serve: the storm.
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			b, err := readPDU(simSide)
			if err != nil {
				return
			}
			if binary.BigEndian.Uint32(b[4:8]) != cmdDeliverSM {
				if toServe.write(b) != nil {
					return
				}
				continue
			}
			p.DLRs.Add(1)
			if p.roll(p.cfg.LateShare) {
				p.Late.Add(1)
				if toSim.write(deliverSMResp(b)) != nil {
					return
				}
				p.later(cctx, toServe, p.cfg.LateBy.D(), p.injected(b, false))
				continue
			}
			if toServe.write(b) != nil {
				return
			}
			if p.roll(p.cfg.DuplicateShare) {
				conflict := p.roll(p.cfg.ConflictShare)
				for range p.cfg.Copies {
					p.Duplicates.Add(1)
					if conflict {
						p.Conflicting.Add(1)
					}
					p.later(cctx, toServe, p.cfg.DuplicateAfter.D(), p.injected(b, conflict))
				}
			}
		}
	}()
	<-done
}

// later sends b to serve after d (bounded by ctx: dropped when the bind or
// the run ends first).
func (p *dlrProxy) later(ctx context.Context, to *lockedConn, d time.Duration, b []byte) {
	if d <= 0 {
		if to.write(b) != nil {
			p.Dropped.Add(1)
		}
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-time.After(d):
			if to.write(b) != nil {
				p.Dropped.Add(1)
			}
		case <-ctx.Done():
			p.Dropped.Add(1)
		}
	}()
}

// injected is a copy of the deliver_sm b with the proxy's own sequence
// number, its outcome flipped when conflict.
func (p *dlrProxy) injected(b []byte, conflict bool) []byte {
	c := bytes.Clone(b)
	binary.BigEndian.PutUint32(c[12:16], injectedSeqBase+p.seq.Add(1)%0x00FFFFFF)
	if conflict {
		flipOutcome(c)
	}
	return c
}

// flipOutcome turns a DELIVRD receipt into UNDELIV and any other into
// DELIVRD: the stat in the text and the message_state TLV (0x0427).
func flipOutcome(c []byte) {
	to, state := []byte("stat:DELIVRD"), byte(2) // DELIVERED
	if bytes.Contains(c, to) {
		to, state = []byte("stat:UNDELIV"), 5 // UNDELIVERABLE
	}
	if i := bytes.Index(c, []byte("stat:")); i >= 0 && i+len(to) <= len(c) {
		copy(c[i:], to)
	}
	if i := bytes.LastIndex(c, []byte{0x04, 0x27, 0x00, 0x01}); i >= 0 && i+4 < len(c) {
		c[i+4] = state
	}
}

// deliverSMResp is the ESME_ROK answer to the deliver_sm b.
func deliverSMResp(b []byte) []byte {
	r := make([]byte, 17)
	binary.BigEndian.PutUint32(r[0:4], 17)
	binary.BigEndian.PutUint32(r[4:8], cmdDeliverSMResp)
	copy(r[12:16], b[12:16])
	return r
}
