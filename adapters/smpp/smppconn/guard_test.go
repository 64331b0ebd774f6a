package smppconn

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/internal/testcert"
)

// raw is a PDU as bytes with the given command_length.
func raw(length, id, seq uint32, body ...byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.BigEndian.PutUint32(b[0:], length)
	binary.BigEndian.PutUint32(b[4:], id)
	binary.BigEndian.PutUint32(b[12:], seq)
	return append(b, body...)
}

// whole is a PDU as bytes with its real command_length.
func whole(id, seq uint32, body ...byte) []byte { return raw(uint32(16+len(body)), id, seq, body...) }

func marshal(ps ...pdu.PDU) []byte {
	b := pdu.NewBuffer(nil)
	for _, p := range ps {
		p.Marshal(b)
	}
	return b.Bytes()
}

// queryWithTLV: gosmpp v0.3.1's pdu.Parse panics on it.
var queryWithTLV = whole(0x00000003, 7, append([]byte("abc\x00\x01\x01123\x00"), 0x02, 0x04, 0, 1, 9)...)

func cmdID(id data.CommandIDType) uint32 { return uint32(id) }

// Well-formed PDUs pass unchanged, whole and in order, through reads of
// any size.
func TestGuardPassesWellFormedPDUs(t *testing.T) {
	client, server := tcpPair(t)
	g := newGuardedConn(client)
	resp := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
	resp.MessageID = "abc123"
	dlr := pdu.NewDeliverSM().(*pdu.DeliverSM)
	_ = dlr.Message.SetMessageWithEncoding("id:abc123 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:", data.GSM7BIT)
	dlr.EsmClass = 0x04
	dlr.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: []byte("abc123\x00")})
	in := marshal(resp, dlr, pdu.NewEnquireLink(), pdu.NewUnbind())
	go func() { _, _ = server.Write(in) }()
	_ = g.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	buf := make([]byte, 7)
	for got.Len() < len(in) {
		n, err := g.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got.Write(buf[:n])
	}
	if !bytes.Equal(got.Bytes(), in) {
		t.Fatal("bytes changed on the way")
	}
}

// A PDU gosmpp cannot decode (or panics on) fails the read with
// ErrMalformed and closes the connection; nothing of it reaches the reader.
func TestGuardClosesOnMalformed(t *testing.T) {
	for name, in := range map[string][]byte{
		"query_sm with a TLV":  queryWithTLV,
		"command_length 4":     raw(4, cmdID(data.ENQUIRE_LINK), 1),
		"command_length 1 MiB": raw(1<<20, cmdID(data.DELIVER_SM), 1),
		"deliver_sm truncated": whole(cmdID(data.DELIVER_SM), 1, 0, 1, 1, 0x31),
		"deliver_sm bad TLV":   whole(cmdID(data.DELIVER_SM), 1, append(make([]byte, 17), 0, 0x1e, 0xff, 0xff, 'x')...),
	} {
		t.Run(name, func(t *testing.T) {
			client, server := tcpPair(t)
			g := newGuardedConn(client)
			go func() { _, _ = server.Write(append(marshal(pdu.NewEnquireLink()), in...)) }()
			_ = g.SetReadDeadline(time.Now().Add(10 * time.Second))
			if p, err := pdu.Parse(g); err != nil {
				t.Fatalf("the enquire_link before: %v", err)
			} else if _, ok := p.(*pdu.EnquireLink); !ok {
				t.Fatalf("got %T", p)
			}
			if _, err := pdu.Parse(g); !errors.Is(err, ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
			if _, err := g.Read(make([]byte, 1)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("a read after: %v", err)
			}
			_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := server.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("the peer's connection was not closed: %v", err)
			}
		})
	}
}

// A request with an unknown command id is answered generic_nack and
// dropped; an unknown response is dropped; what follows is read.
func TestGuardNacksUnknownCommands(t *testing.T) {
	client, server := tcpPair(t)
	g := newGuardedConn(client)
	go func() {
		_, _ = server.Write(append(append(whole(0x00000999, 41, 1, 2), whole(0x80000999, 42)...), marshal(pdu.NewEnquireLink())...))
	}()
	_ = g.SetReadDeadline(time.Now().Add(10 * time.Second))
	if p, err := pdu.Parse(g); err != nil {
		t.Fatal(err)
	} else if _, ok := p.(*pdu.EnquireLink); !ok {
		t.Fatalf("got %T", p)
	}
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := pdu.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := p.(*pdu.GenericNack); !ok || n.CommandStatus != data.ESME_RINVCMDID || n.SequenceNumber != 41 {
		t.Fatalf("got %#v", p)
	}
}

// A read deadline in the middle of a PDU keeps what was read: the next
// read goes on with it.
func TestGuardResumesAfterTimeout(t *testing.T) {
	client, server := tcpPair(t)
	g := newGuardedConn(client)
	in := marshal(pdu.NewEnquireLink())
	if _, err := server.Write(in[:10]); err != nil {
		t.Fatal(err)
	}
	_ = g.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if _, err := g.Read(make([]byte, 64)); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("want a timeout, got %v", err)
	}
	if _, err := server.Write(in[10:]); err != nil {
		t.Fatal(err)
	}
	_ = g.SetReadDeadline(time.Now().Add(10 * time.Second))
	if p, err := pdu.Parse(g); err != nil {
		t.Fatal(err)
	} else if _, ok := p.(*pdu.EnquireLink); !ok {
		t.Fatalf("got %T", p)
	}
}

// byteConn is a connection reading from fixed bytes (then EOF), its writes
// discarded.
type byteConn struct {
	net.Conn
	r io.Reader
}

func (c *byteConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *byteConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *byteConn) Close() error                { return nil }

// FuzzGuard: whatever a supplier sends, gosmpp's own parser, reading
// through the guard as its client read loop does, never panics; and every
// PDU Check passes, pdu.Parse decodes.
func FuzzGuard(f *testing.F) {
	resp := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
	resp.MessageID = "0a1b2c"
	dlr := pdu.NewDeliverSM().(*pdu.DeliverSM)
	_ = dlr.Message.SetMessageWithEncoding("id:0a1b2c sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:", data.GSM7BIT)
	dlr.EsmClass = 0x04
	dlr.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: []byte("0a1b2c\x00")})
	dlr.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{2}})
	bindResp := pdu.NewBindTransceiverResp().(*pdu.BindResp)
	bindResp.SystemID = "smsc"
	f.Add(marshal(bindResp, resp, dlr, pdu.NewEnquireLink(), pdu.NewGenericNack(), pdu.NewUnbind()))
	f.Add(queryWithTLV)
	f.Add(marshal(pdu.NewQuerySM(), pdu.NewDataSM(), pdu.NewAlertNotification(), pdu.NewSubmitMultiResp()))
	f.Add(raw(4, cmdID(data.ENQUIRE_LINK), 1))
	f.Add(raw(0xffffffff, cmdID(data.DELIVER_SM), 1))
	f.Add(whole(cmdID(data.DELIVER_SM), 1, append(make([]byte, 17), 0, 0x1e, 0xff, 0xff, 'x')...))
	f.Add(whole(0x00000999, 1, 1, 2, 3))
	f.Add(append(whole(0x80000999, 1), marshal(resp)...))
	f.Add(marshal(resp)[:20])
	f.Fuzz(func(t *testing.T, in []byte) {
		g := newGuardedConn(&byteConn{r: bytes.NewReader(in)})
		for i := 0; i <= len(in)/16; i++ { // each PDU takes 16 bytes at least
			if _, err := pdu.Parse(g); err != nil {
				return
			}
		}
		t.Fatal("more PDUs read than the input holds")
	})
}

// The property the guard rests on, PDU by PDU: what Check passes,
// pdu.Parse decodes.
func FuzzCheck(f *testing.F) {
	f.Add(queryWithTLV)
	f.Add(marshal(pdu.NewSubmitSMResp()))
	f.Add(marshal(pdu.NewDeliverSM()))
	f.Add(whole(0x00000999, 1))
	f.Fuzz(func(t *testing.T, in []byte) {
		if Check(in) != nil {
			return
		}
		if _, err := pdu.Parse(bytes.NewReader(in)); err != nil {
			t.Fatalf("Check passed what pdu.Parse fails: %v", err)
		}
	})
}

// DialerWith a TLS configuration speaks TLS, verifying the server name
// against the given pool; a wrong name or an untrusted certificate fails.
func TestDialerTLS(t *testing.T) {
	c := testcert.New(t)
	cert, pool := c.TLS, c.Pool
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { // echo one enquire_link_resp per enquire_link
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				for {
					p, err := pdu.Parse(c)
					if err != nil {
						return
					}
					_, _ = c.Write(marshal(p.GetResponse()))
				}
			}()
		}
	}()
	dial := func(name string, roots *x509.CertPool) (net.Conn, error) {
		return DialerWith(Options{DialTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
			TLS: &tls.Config{ServerName: name, RootCAs: roots, MinVersion: tls.VersionTLS12}})(ln.Addr().String())
	}
	for _, name := range []string{"127.0.0.1", "smsc.test"} {
		c, err := dial(name, pool)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := c.Write(marshal(pdu.NewEnquireLink())); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if p, err := pdu.Parse(c); err != nil {
			t.Fatal(err)
		} else if _, ok := p.(*pdu.EnquireLinkResp); !ok {
			t.Fatalf("got %T", p)
		}
		c.Close()
	}
	if _, err := dial("other.test", pool); err == nil {
		t.Fatal("a certificate for another name was accepted")
	}
	if _, err := dial("127.0.0.1", x509.NewCertPool()); err == nil {
		t.Fatal("an untrusted certificate was accepted")
	}
}
