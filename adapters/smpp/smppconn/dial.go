package smppconn

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"github.com/linxGnu/gosmpp"
)

// Options of a dialer.
type Options struct {
	// DialTimeout bounds connecting, the TLS handshake, and then the wait
	// for the bind response (gosmpp sets no read deadline of its own until
	// it is bound).
	DialTimeout time.Duration
	// WriteTimeout bounds each flush of coalesced writes.
	WriteTimeout time.Duration
	// TLS, when set, makes the connection TLS with this configuration
	// (ServerName and RootCAs verify the peer; nil RootCAs: the system
	// pool). Nil: plain TCP.
	TLS *tls.Config
}

// Dialer dials plain TCP; see DialerWith.
func Dialer(dialTimeout, writeTimeout time.Duration) gosmpp.Dialer {
	return DialerWith(Options{DialTimeout: dialTimeout, WriteTimeout: writeTimeout})
}

// DialerWith dials for gosmpp: TCP, TLS if o.TLS is set, writes coalesced
// (coalescingConn) and reads guarded (guardedConn: a PDU gosmpp would fail
// or panic on closes the connection before gosmpp reads it).
func DialerWith(o Options) gosmpp.Dialer {
	return func(addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), o.DialTimeout)
		defer cancel()
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if o.TLS != nil {
			tc := tls.Client(c, o.TLS)
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = c.Close()
				return nil, err
			}
			c = tc
		}
		_ = c.SetReadDeadline(time.Now().Add(o.DialTimeout))
		return newGuardedConn(newCoalescingConn(c, o.WriteTimeout)), nil
	}
}
