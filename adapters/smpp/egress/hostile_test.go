package egress

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// fakeSMSC is a supplier on a raw 127.0.0.1 listener: it binds whoever
// asks, accepts every submit_sm, and lets a test write any bytes on a
// bound connection.
type fakeSMSC struct {
	ln    net.Listener
	bound chan *fakeConn // each connection once its bind_resp is written
	ids   atomic.Int64
	mu    sync.Mutex
	conns []*fakeConn
}

type fakeConn struct {
	c      net.Conn
	wmu    sync.Mutex
	closed chan struct{} // the peer closed it (or it failed)
	got    chan pdu.PDU  // generic_nacks and enquire_link_resps received
}

// startFakeSMSC listens on 127.0.0.1, with TLS if conf is set.
func startFakeSMSC(t testing.TB, conf *tls.Config) *fakeSMSC {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if conf != nil {
		ln = tls.NewListener(ln, conf)
	}
	f := &fakeSMSC{ln: ln, bound: make(chan *fakeConn, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fc := &fakeConn{c: c, closed: make(chan struct{}), got: make(chan pdu.PDU, 64)}
			f.mu.Lock()
			f.conns = append(f.conns, fc)
			f.mu.Unlock()
			go f.serve(fc)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, fc := range f.conns {
			fc.c.Close()
		}
	})
	return f
}

func (f *fakeSMSC) serve(fc *fakeConn) {
	defer close(fc.closed)
	defer fc.c.Close()
	for {
		_ = fc.c.SetReadDeadline(time.Now().Add(time.Minute))
		p, err := pdu.Parse(fc.c)
		if err != nil {
			return
		}
		switch q := p.(type) {
		case *pdu.BindRequest:
			resp := q.GetResponse().(*pdu.BindResp)
			resp.SystemID = "fake"
			fc.send(resp)
			f.bound <- fc
		case *pdu.SubmitSM:
			resp := q.GetResponse().(*pdu.SubmitSMResp)
			resp.MessageID = fmt.Sprintf("%x", f.ids.Add(1))
			fc.send(resp)
		case *pdu.EnquireLink:
			fc.send(q.GetResponse())
		case *pdu.Unbind:
			fc.send(q.GetResponse())
			return
		case *pdu.GenericNack, *pdu.EnquireLinkResp:
			select {
			case fc.got <- p:
			default:
			}
		}
	}
}

func (fc *fakeConn) send(p pdu.PDU) {
	b := pdu.NewBuffer(nil)
	p.Marshal(b)
	fc.write(b.Bytes())
}

func (fc *fakeConn) write(b []byte) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_ = fc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = fc.c.Write(b)
}

func (fc *fakeConn) isClosed() bool {
	select {
	case <-fc.closed:
		return true
	default:
		return false
	}
}

// rawPDU is a PDU as bytes: command_length is the real length.
func rawPDU(id uint32, seq uint32, body ...byte) []byte {
	return rawPDULen(uint32(16+len(body)), id, seq, body...)
}

// rawPDULen writes the given command_length whatever the real length.
func rawPDULen(length uint32, id uint32, seq uint32, body ...byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.BigEndian.PutUint32(b[0:], length)
	binary.BigEndian.PutUint32(b[4:], id)
	binary.BigEndian.PutUint32(b[12:], seq)
	return append(b, body...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// hostilePDUs are what a supplier might send on a bound transceiver:
// closes says whether the bind must be closed over it (else it must stay
// up and answer an enquire_link behind it); nack, whether a generic_nack
// must come back.
var hostilePDUs = []struct {
	name         string
	bytes        []byte
	closes, nack bool
}{
	// gosmpp v0.3.1 panics on it: NewQuerySM leaves the TLV map nil.
	{"query_sm with one TLV", rawPDU(cmd(data.QUERY_SM), 7, cat([]byte("abc\x00"), []byte{1, 1}, []byte("123\x00"), []byte{0x02, 0x04, 0, 1, 9})...), true, false},
	{"command_length below the header", rawPDULen(8, cmd(data.ENQUIRE_LINK), 8), true, false},
	{"command_length 0", rawPDULen(0, cmd(data.ENQUIRE_LINK), 9), true, false},
	{"command_length beyond 64 KiB", rawPDULen(1<<20, cmd(data.DELIVER_SM), 10), true, false},
	{"command_length 0xffffffff", rawPDULen(0xffffffff, cmd(data.DELIVER_SM), 11), true, false},
	{"deliver_sm body cut short", rawPDU(cmd(data.DELIVER_SM), 12, []byte("\x00\x01\x01123")...), true, false},
	{"submit_sm_resp with no NUL (tolerated; no submit waits for it)", rawPDU(cmd(data.SUBMIT_SM_RESP), 13, []byte("abc")...), false, false},
	{"deliver_sm with garbage TLVs", rawPDU(cmd(data.DELIVER_SM), 14, cat(
		[]byte("\x00\x01\x0112345\x00\x01\x01ACME\x00"), // service_type, source, dest
		[]byte{0x04, 0, 0, 0, 0, 0, 0, 0},               // esm_class .. data_coding
		[]byte{0, 3}, []byte("abc"),                     // sm_default_msg_id, sm_length, short_message
		[]byte{0x00, 0x1e, 0xff, 0xff, 'x'}, // receipted_message_id claiming 65535 bytes
	)...), true, false},
	{"unknown request command id", rawPDU(0x00000999, 15, 1, 2, 3), false, true},
	{"unknown response command id", rawPDU(0x80000999, 16, 1, 2, 3), false, false},
	{"query_sm with no TLVs (known, not ours: ignored)", rawPDU(cmd(data.QUERY_SM), 17, cat([]byte("abc\x00"), []byte{1, 1}, []byte("123\x00"))...), false, false},
}

// TestHostileSupplierClosesOnlyItsBind: whatever a supplier sends on its
// bind, the process goes on; a PDU that cannot be decoded (gosmpp panics on
// some) closes only that bind, which binds again; an unknown command is
// answered generic_nack and the bind stays; messages still flow.
func TestHostileSupplierClosesOnlyItsBind(t *testing.T) {
	f := startFakeSMSC(t, nil)
	s, r := startSupplierAt(t, f.ln.Addr().String(), func(c *Config) { c.Binds = 2 })
	next := func() *fakeConn {
		t.Helper()
		select {
		case fc := <-f.bound:
			return fc
		case <-time.After(10 * time.Second):
			t.Fatal("no bind within 10s")
			return nil
		}
	}
	bystander, victim := next(), next()
	var enquireSeq uint32 = 1000
	for _, h := range hostilePDUs {
		victim.write(h.bytes)
		if h.closes {
			select {
			case <-victim.closed:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: the bind was not closed within 10s", h.name)
			}
			victim = next()
			waitFor(t, func() bool { return s.BindsUp() == 2 })
		} else {
			// The bind still answers what follows.
			enquireSeq++
			victim.write(rawPDU(cmd(data.ENQUIRE_LINK), enquireSeq))
			var sawNack bool
		wait:
			for {
				select {
				case p := <-victim.got:
					if n, ok := p.(*pdu.GenericNack); ok && uint32(n.SequenceNumber) == uint32(binary.BigEndian.Uint32(h.bytes[12:])) {
						if n.CommandStatus != data.ESME_RINVCMDID {
							t.Fatalf("%s: generic_nack status %v", h.name, n.CommandStatus)
						}
						sawNack = true
					}
					if e, ok := p.(*pdu.EnquireLinkResp); ok && uint32(e.SequenceNumber) == enquireSeq {
						break wait
					}
				case <-victim.closed:
					t.Fatalf("%s: the bind was closed", h.name)
				case <-time.After(10 * time.Second):
					t.Fatalf("%s: no enquire_link_resp within 10s", h.name)
				}
			}
			if sawNack != h.nack {
				t.Fatalf("%s: generic_nack received %v, want %v", h.name, sawNack, h.nack)
			}
		}
		if bystander.isClosed() {
			t.Fatalf("%s: the other bind was closed too", h.name)
		}
	}
	for i := 0; i < 10; i++ {
		if err := s.Enqueue(msg(fmt.Sprint("after-", i), false)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { a, _, _, _ := r.counts(); return a == 10 })
	if bystander.isClosed() || s.BindsUp() != 2 {
		t.Fatalf("bystander closed %v, binds up %d", bystander.isClosed(), s.BindsUp())
	}
}

// cmd is a command id as its bits.
func cmd(id data.CommandIDType) uint32 { return uint32(id) }

// A supplier answering the bind with a PDU gosmpp panics on (gosmpp's
// connect decodes it, outside its read loop) fails that bind attempt only:
// the egress tries again.
func TestHostileBindResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var attempts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := pdu.Parse(c); err != nil {
					return
				}
				attempts.Add(1)
				_, _ = c.Write(hostilePDUs[0].bytes)
				_, _ = c.Read(make([]byte, 1)) // until the egress closes it
			}()
		}
	}()
	s := New(Config{SupplierID: "s1", Addr: ln.Addr().String(), SystemID: "sup", Password: "pw", Logger: quiet(),
		BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond}, &rec{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	waitFor(t, func() bool { return attempts.Load() >= 3 && s.bindFails.Load() >= 2 })
	cancel()
	<-done
	if s.BindsUp() != 0 {
		t.Fatalf("binds up %d", s.BindsUp())
	}
}
