// Package smppconn holds what SMPP clients built on gosmpp put under their
// sessions: a connection (plain TCP or TLS) that batches PDU writes into
// fewer system calls and hands gosmpp only PDUs it can decode safely.
package smppconn

import (
	"net"
	"sync"
	"time"
)

// coalesceBytesMax bounds the bytes a bind's connection holds for writing:
// a writer beyond it waits for the flush.
const coalesceBytesMax = 1 << 20

// coalescingConn batches the writes of an SMPP session into fewer system
// calls. gosmpp writes every PDU with its own write(2); at thousands of
// submits a second per bind that was a tenth of serve's CPU. Write copies
// the PDU into a buffer and returns; one flusher writes whatever has
// gathered, so while a write is on its way the next PDUs pile up and go
// out together, and a lone PDU goes out at once (no timer, no added delay
// beyond a goroutine hand-over).
//
// Each Write is appended whole, so PDUs written from several goroutines
// never interleave. A failed flush closes the connection (the reader then
// fails and gosmpp closes the session) and every later Write returns the
// error. Close flushes what is pending first, within the write timeout.
type coalescingConn struct {
	net.Conn
	writeTimeout time.Duration

	mu      sync.Mutex
	room    *sync.Cond // signalled when the buffer was taken or writing failed
	buf     []byte
	err     error // sticky: the flush error, or net.ErrClosed after Close
	closing bool

	kick    chan struct{} // capacity 1: there is something to flush
	flushed chan struct{} // closed when the flusher has stopped
	once    sync.Once
}

func newCoalescingConn(c net.Conn, writeTimeout time.Duration) *coalescingConn {
	cc := &coalescingConn{Conn: c, writeTimeout: writeTimeout, kick: make(chan struct{}, 1), flushed: make(chan struct{})}
	cc.room = sync.NewCond(&cc.mu)
	go cc.flushLoop()
	return cc
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	for c.err == nil && !c.closing && len(c.buf) >= coalesceBytesMax {
		c.room.Wait()
	}
	if c.err != nil || c.closing {
		err := c.err
		if err == nil {
			err = net.ErrClosed
		}
		c.mu.Unlock()
		return 0, err
	}
	c.buf = append(c.buf, p...)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default: // a flush is already due; it will take these bytes too
	}
	return len(p), nil
}

func (c *coalescingConn) flushLoop() {
	defer close(c.flushed)
	var spare []byte
	for range c.kick {
		c.mu.Lock()
		out, closing := c.buf, c.closing
		c.buf = spare[:0]
		c.room.Broadcast()
		c.mu.Unlock()
		if len(out) > 0 {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
			if _, err := c.Conn.Write(out); err != nil {
				c.mu.Lock()
				c.err = err
				c.room.Broadcast()
				c.mu.Unlock()
				_ = c.Conn.Close()
				return
			}
		}
		if closing {
			return
		}
		spare = out
	}
}

// Close writes what is pending (bounded by the write timeout), then closes.
func (c *coalescingConn) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closing = true
		c.room.Broadcast()
		c.mu.Unlock()
		select {
		case c.kick <- struct{}{}:
		default:
		}
		select {
		case <-c.flushed:
		case <-time.After(c.writeTimeout):
		}
	})
	return c.Conn.Close()
}

// SetWriteDeadline is ignored: writes return at once and the flusher puts
// its own deadline (the write timeout) on each flush.
func (c *coalescingConn) SetWriteDeadline(time.Time) error { return nil }

// SetDeadline applies to reads only (see SetWriteDeadline).
func (c *coalescingConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }
