package egress

// Mobile-originated (MO) messages: a supplier's deliver_sm that is not a
// receipt is a handset's message to one of our tenants' numbers. It is
// decoded here and handed to Reporter.MOReceived, and answered as a DLR is:
// ESME_ROK once recorded, ESME_RSYSERR when it could not be (the supplier
// delivers it again).
//
// A text in a coding we cannot carry as text (binary, or undecodable) is
// acknowledged and dropped, logged and counted (MOsDropped): delivering it
// again would not change it. A concatenated MO's parts are each an MO of
// their own (not reassembled).

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

var errMOCoding = errors.New("MO in a data_coding not carried as text")

// onMO records an MO and answers it when it is durable.
func (b *bind) onMO(q *pdu.DeliverSM, resp pdu.PDU) (pdu.PDU, bool) {
	mo, err := moOf(q)
	if err != nil {
		b.s.moDropped.Add(1)
		b.s.log.Warn("egress MO not decodable; acknowledged and dropped", "from", q.SourceAddr.Address(), "to", q.DestAddr.Address(), "err", err)
		return resp, false
	}
	b.answerWhenRecorded(resp, func(ctx context.Context) error { return b.s.rep.MOReceived(ctx, b.s.cfg.SupplierID, mo) })
	return nil, false
}

// moOf decodes an MO's deliver_sm: its text from short_message (its UDH
// removed) or else message_payload, by its data_coding.
func moOf(q *pdu.DeliverSM) (MO, error) {
	raw, _ := q.Message.GetMessageData()
	if len(raw) == 0 {
		if f, ok := q.OptionalParameters[pdu.TagMessagePayload]; ok {
			raw = f.Data
		}
	}
	coding := byte(data.GSM7BITCoding)
	if enc := q.Message.Encoding(); enc != nil {
		coding = enc.DataCoding()
	}
	mo := MO{From: q.SourceAddr.Address(), To: q.DestAddr.Address(), DataCoding: coding}
	var err error
	switch coding {
	case data.GSM7BITCoding:
		mo.Text, err = data.GSM7BIT.Decode(raw)
	case data.ASCIICoding:
		for _, c := range raw {
			if c >= 0x80 {
				return MO{}, fmt.Errorf("IA5 octet 0x%02x: %w", c, errMOCoding)
			}
		}
		mo.Text, mo.DataCoding = string(raw), data.LATIN1Coding // IA5 is within Latin-1
	case data.LATIN1Coding:
		mo.Text, err = data.LATIN1.Decode(raw)
	case data.UCS2Coding:
		if len(raw)%2 != 0 {
			return MO{}, fmt.Errorf("odd UCS-2 length %d: %w", len(raw), errMOCoding)
		}
		mo.Text, err = data.UCS2.Decode(raw)
	default:
		return MO{}, fmt.Errorf("data_coding 0x%02x: %w", coding, errMOCoding)
	}
	if err != nil || !utf8.ValidString(mo.Text) {
		return MO{}, fmt.Errorf("text not decodable in data_coding 0x%02x (%v): %w", coding, err, errMOCoding)
	}
	return mo, nil
}

// MOsDropped counts the MOs acknowledged but dropped as not decodable.
func (s *Supplier) MOsDropped() int64 { return s.moDropped.Load() }
