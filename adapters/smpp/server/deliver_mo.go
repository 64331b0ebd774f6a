package server

import (
	"context"
	"fmt"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// MO is a mobile-originated message for a tenant: a handset's message to
// one of its numbers.
type MO struct {
	// Source is the deliver_sm source_addr: the handset. Dest is the
	// destination_addr: the tenant's number ("+<digits>" or a short code).
	Source, Dest string
	Text         string
	// DataCoding is the text's coding on the wire: 0 GSM 03.38, 3
	// Latin-1, 8 UCS-2 (as the supplier sent it).
	DataCoding byte
}

// DeliverMO sends an MO as a deliver_sm (esm_class 0: a message, not a
// receipt) on a receiver-capable bind of the tenant, with DeliverReceipt's
// bind choice, answers and errors. Text the short_message cannot hold (254
// octets) goes in message_payload.
func (s *Server) DeliverMO(ctx context.Context, tenantID string, m MO) error {
	return s.deliver(ctx, tenantID, func() (*pdu.DeliverSM, error) { return buildMODeliverSM(m) })
}

// buildMODeliverSM makes an MO's deliver_sm. A text its coding cannot
// carry is an error (the ledger recorded what the supplier's coding
// carried, so it does not happen).
func buildMODeliverSM(m MO) (*pdu.DeliverSM, error) {
	p := pdu.NewDeliverSM().(*pdu.DeliverSM)
	p.SourceAddr = address(m.Source)
	p.DestAddr = moAddress(m.Dest)
	p.EsmClass = 0 // a message: no receipt bits
	enc := moEncoding(m.DataCoding)
	raw, err := enc.Encode(m.Text)
	if err != nil {
		return nil, fmt.Errorf("MO text in data_coding %d: %w", m.DataCoding, err)
	}
	if len(raw) <= data.SM_MSG_LEN {
		if err := p.Message.SetMessageDataWithEncoding(raw, enc); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := p.Message.SetMessageDataWithEncoding(nil, enc); err != nil {
		return nil, err
	}
	p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: raw})
	return p, nil
}

func moEncoding(coding byte) data.Encoding {
	switch coding {
	case codingLatin1:
		return data.LATIN1
	case codingUCS2:
		return data.UCS2
	}
	return data.GSM7BIT
}

// moAddress is the tenant's number as an SMPP address: international
// E.164 for "+<digits>", a short code as a network-specific number.
func moAddress(n string) pdu.Address {
	if len(n) > 0 && n[0] == '+' {
		return address(n)
	}
	var a pdu.Address
	a.SetTon(data.GSM_TON_NETWORK)
	a.SetNpi(data.GSM_NPI_UNKNOWN)
	_ = a.SetAddress(n)
	return a
}
