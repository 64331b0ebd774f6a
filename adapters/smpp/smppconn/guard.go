package smppconn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// ErrMalformed is (wrapped in) the read error of a connection whose peer
// sent a PDU that cannot be decoded: command_length out of bounds, a body
// gosmpp fails on, or one it panics on. The connection is closed.
var ErrMalformed = errors.New("smppconn: malformed PDU")

// errUnknownCommand: a well-framed PDU whose command id gosmpp does not
// know (its own reader would end the session over it).
var errUnknownCommand = errors.New("smppconn: unknown command id")

// Check decodes one whole PDU, header included, as gosmpp's pdu.Parse
// would, with any panic contained. nil means pdu.Parse reads these bytes
// without panicking or failing; an error wrapping ErrMalformed, that it
// would fail or panic; errUnknownCommand (unexported), that the command id
// is not one gosmpp knows.
//
// gosmpp v0.3.1 decodes in its client's read loop, where nothing recovers
// a panic: a query_sm carrying a TLV (its constructor leaves the TLV map
// nil) took the whole process down.
func Check(frame []byte) (err error) {
	if len(frame) < data.PDU_HEADER_SIZE {
		return fmt.Errorf("%w: %d bytes", ErrMalformed, len(frame))
	}
	length := binary.BigEndian.Uint32(frame[0:4])
	if length < data.PDU_HEADER_SIZE || length > data.MAX_PDU_LEN || int(length) != len(frame) {
		return fmt.Errorf("%w: command_length %d", ErrMalformed, length)
	}
	id := data.CommandIDType(binary.BigEndian.Uint32(frame[4:8]))
	p, err := pdu.CreatePDUFromCmdID(id)
	if err != nil {
		return errUnknownCommand
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: command id %#08x: decoding panicked: %v", ErrMalformed, uint32(id), r)
		}
	}()
	if err := p.Unmarshal(pdu.NewBuffer(frame)); err != nil {
		return fmt.Errorf("%w: command id %#08x: %v", ErrMalformed, uint32(id), err)
	}
	return nil
}

// guardedConn hands its reader (gosmpp) only PDUs that Check passed: it
// frames what the peer sends, checks each PDU, and passes its bytes on
// unchanged. A malformed PDU closes the connection and fails the read (so
// gosmpp closes the session: only this bind is lost); a request with an
// unknown command id is answered generic_nack (ESME_RINVCMDID) and an
// unknown response dropped, as the server does. Reads are made by one
// goroutine at a time (gosmpp's connect, then its read loop).
type guardedConn struct {
	net.Conn // writes, deadlines and Close go to the connection below
	r        *bufio.Reader
	frame    []byte // the PDU being read; frame[:have] read so far
	have     int
	out      []byte // checked bytes not yet read
	err      error  // sticky, once the stream is unusable
}

func newGuardedConn(c net.Conn) *guardedConn {
	return &guardedConn{Conn: c, r: bufio.NewReaderSize(c, 32<<10), frame: make([]byte, 256)}
}

func (g *guardedConn) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		if err := g.next(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, err // a read deadline: resumable, the partial PDU is kept
			}
			g.err = err
			if errors.Is(err, ErrMalformed) {
				_ = g.Conn.Close()
			}
			return 0, err
		}
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

// next reads the next PDU and, checked, makes it g.out; an unknown command
// is answered or dropped and leaves g.out empty.
func (g *guardedConn) next() error {
	if err := g.fill(data.PDU_HEADER_SIZE); err != nil {
		return err
	}
	length := binary.BigEndian.Uint32(g.frame[0:4])
	if length < data.PDU_HEADER_SIZE || length > data.MAX_PDU_LEN {
		return fmt.Errorf("%w: command_length %d", ErrMalformed, length)
	}
	if int(length) > len(g.frame) {
		grown := make([]byte, max(int(length), 2*len(g.frame)))
		copy(grown, g.frame[:g.have])
		g.frame = grown
	}
	if err := g.fill(int(length)); err != nil {
		return err
	}
	frame := g.frame[:length]
	g.have = 0
	switch err := Check(frame); {
	case err == nil:
		g.out = frame
		return nil
	case errors.Is(err, errUnknownCommand):
		if id := binary.BigEndian.Uint32(frame[4:8]); id&0x80000000 == 0 {
			var nack [data.PDU_HEADER_SIZE]byte
			binary.BigEndian.PutUint32(nack[0:], data.PDU_HEADER_SIZE)
			binary.BigEndian.PutUint32(nack[4:], 0x80000000) // generic_nack
			binary.BigEndian.PutUint32(nack[8:], uint32(data.ESME_RINVCMDID))
			copy(nack[12:], frame[12:16]) // the sequence number
			if _, werr := g.Conn.Write(nack[:]); werr != nil {
				return werr
			}
		}
		return nil
	default:
		return err
	}
}

// fill reads until frame[:n] is whole; a timeout keeps what was read.
func (g *guardedConn) fill(n int) error {
	for g.have < n {
		m, err := g.r.Read(g.frame[g.have:n])
		g.have += m
		if err != nil && g.have < n {
			return err
		}
	}
	return nil
}
