package egress

import (
	"net"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// FuzzSupplierBytes: whatever bytes a supplier sends on a bound
// transceiver (then closing its side), the process goes on, the bind is
// closed within bounds, and the supplier binds again. One fake supplier and
// one egress serve every input, over 127.0.0.1. Each input costs a rebind
// (milliseconds): when fuzzing, -fuzzminimizetime=5s keeps the minimizing
// of new inputs short. FuzzGuard and FuzzCheck in smppconn go faster.
func FuzzSupplierBytes(f *testing.F) {
	seed := func(ps ...pdu.PDU) []byte {
		b := pdu.NewBuffer(nil)
		for _, p := range ps {
			p.Marshal(b)
		}
		return b.Bytes()
	}
	dlr := pdu.NewDeliverSM().(*pdu.DeliverSM)
	_ = dlr.Message.SetMessageWithEncoding("id:0a1b2c sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:", data.GSM7BIT)
	dlr.EsmClass = 0x04
	tlvDLR := pdu.NewDeliverSM().(*pdu.DeliverSM)
	tlvDLR.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: []byte("0a1b2c\x00")})
	tlvDLR.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{}})
	tlvDLR.RegisterOptionalParam(pdu.Field{Tag: pdu.TagNetworkErrorCode, Data: []byte{1}})
	resp := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
	resp.MessageID = "0a1b2c"
	f.Add(seed(resp, dlr, tlvDLR, pdu.NewEnquireLink(), pdu.NewGenericNack()))
	f.Add(seed(pdu.NewUnbind()))
	f.Add(seed(pdu.NewDataSM(), pdu.NewAlertNotification(), pdu.NewSubmitSM(), pdu.NewCancelSM(), pdu.NewReplaceSM()))
	for _, h := range hostilePDUs {
		f.Add(h.bytes)
	}
	f.Add(hostilePDUs[0].bytes[:10])

	fake := startFakeSMSC(f, nil)
	s, _ := startSupplierAt(f, fake.ln.Addr().String(), func(c *Config) { c.Binds = 1 })
	var cur *fakeConn
	next := func(t *testing.T) {
		t.Helper()
		select {
		case cur = <-fake.bound:
		case <-time.After(10 * time.Second):
			t.Fatal("no bind within 10s")
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if cur == nil {
			next(t)
		}
		cur.write(in)
		_ = cur.c.(*net.TCPConn).CloseWrite() // the egress reads to the end, then EOF
		select {
		case <-cur.closed:
		case <-time.After(10 * time.Second):
			t.Fatal("the bind was not closed within 10s")
		}
		next(t)
		waitFor(t, func() bool { return s.BindsUp() == 1 })
	})
}
