package receipt

import (
	"fmt"
	"strings"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// IsReceipt reports whether a deliver_sm carries a delivery receipt
// (esm_class message type bits 0x04 or 0x08 — SMSC receipt or SME
// acknowledgement — or a receipted_message_id TLV).
func IsReceipt(p *pdu.DeliverSM) bool {
	if p.EsmClass&0x3C == data.SM_SMSC_DLV_RCPT_TYPE || p.EsmClass&0x3C == 0x08 {
		return true
	}
	_, ok := p.OptionalParameters[pdu.TagReceiptedMessageID]
	return ok
}

// FromDeliverSM reads the receipt of a deliver_sm: the text (short_message,
// else message_payload) parsed by Parse, then the TLVs, which win over the
// text: receipted_message_id (ID), message_state (State, and Stat when the
// text had none) and network_error_code. A receipt with only TLVs and no
// parseable text is accepted.
func FromDeliverSM(p *pdu.DeliverSM) (Receipt, error) {
	raw, _ := p.Message.GetMessageData()
	if len(raw) == 0 {
		if f, ok := p.OptionalParameters[pdu.TagMessagePayload]; ok {
			raw = f.Data
		}
	}
	r, perr := Parse(string(raw))
	tlv := false
	if f, ok := p.OptionalParameters[pdu.TagReceiptedMessageID]; ok {
		if id := strings.TrimRight(string(f.Data), "\x00"); id != "" {
			r.ID = strings.TrimSpace(id)
			tlv = true
		}
	}
	if f, ok := p.OptionalParameters[pdu.TagMessageStateOption]; ok && len(f.Data) == 1 {
		r.State = MessageState(f.Data[0])
		if r.Stat == "" {
			r.Stat = r.State.Stat()
		}
		tlv = true
	}
	if f, ok := p.OptionalParameters[pdu.TagNetworkErrorCode]; ok && len(f.Data) == 3 {
		r.NetworkErrorType = f.Data[0]
		r.NetworkErrorCode = uint16(f.Data[1])<<8 | uint16(f.Data[2])
		if r.Err == "" {
			r.Err = fmt.Sprintf("%03d", r.NetworkErrorCode)
		}
	}
	if perr != nil && !tlv {
		return r, perr
	}
	if r.ID == "" {
		return r, fmt.Errorf("%w: no message id", ErrNotReceipt)
	}
	return r, nil
}

// TLVs returns the receipted_message_id and message_state TLVs for r.
func (r Receipt) TLVs() []pdu.Field {
	state := r.State
	if state == StateNone {
		state = StateOf(r.Stat)
	}
	id := make([]byte, 0, len(r.ID)+1)
	id = append(id, r.ID...)
	id = append(id, 0)
	return []pdu.Field{
		{Tag: pdu.TagReceiptedMessageID, Data: id},
		{Tag: pdu.TagMessageStateOption, Data: []byte{byte(state)}},
	}
}
