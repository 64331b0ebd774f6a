package server

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// Data codings the server decodes.
const (
	codingDefault = 0x00 // SMSC default alphabet: GSM 03.38, unpacked (one septet per octet)
	codingIA5     = 0x01 // IA5 / ASCII
	codingLatin1  = 0x03 // ISO-8859-1
	codingUCS2    = 0x08 // UCS-2 big endian
)

var (
	errUnsupportedCoding = errors.New("unsupported data_coding")
	errBadText           = errors.New("text not decodable")
)

// decodeText decodes raw short_message octets by data_coding.
func decodeText(raw []byte, coding byte) (string, error) {
	var enc data.Encoding
	switch coding {
	case codingDefault:
		enc = data.GSM7BIT
	case codingIA5:
		for _, b := range raw {
			if b >= 0x80 {
				return "", fmt.Errorf("IA5 octet 0x%02x: %w", b, errBadText)
			}
		}
		return string(raw), nil
	case codingLatin1:
		enc = data.LATIN1
	case codingUCS2:
		if len(raw)%2 != 0 {
			return "", fmt.Errorf("odd UCS-2 length %d: %w", len(raw), errBadText)
		}
		enc = data.UCS2
	default:
		return "", fmt.Errorf("data_coding 0x%02x: %w", coding, errUnsupportedCoding)
	}
	s, err := enc.Decode(raw)
	if err != nil {
		return "", fmt.Errorf("%v: %w", err, errBadText)
	}
	if !utf8.ValidString(s) {
		return "", errBadText
	}
	return s, nil
}

// concat identifies one part of a concatenated message.
type concat struct {
	ref   uint16
	total uint8
	seq   uint8
}

var errBadConcat = errors.New("inconsistent concatenation info")
var errBadUDH = errors.New("malformed UDH")

// payloadOf returns the message octets (UDH removed) and the concatenation
// info of a submit_sm: from a UDH in short_message or message_payload
// (esm_class UDHI), else from the SAR TLVs. ok is false for a single-part
// message.
func payloadOf(p *pdu.SubmitSM) (raw []byte, c concat, ok bool, err error) {
	raw, _ = p.Message.GetMessageData()
	udhi := p.EsmClass&data.SM_UDH_GSM != 0
	if len(raw) == 0 {
		if f, has := p.OptionalParameters[pdu.TagMessagePayload]; has {
			raw = f.Data
			if udhi {
				// gosmpp parses a UDH only in short_message; here it is at
				// the head of message_payload.
				var u pdu.UDH
				n, e := u.UnmarshalBinary(raw)
				if e != nil {
					return nil, c, false, fmt.Errorf("%v: %w", e, errBadUDH)
				}
				raw = raw[n:]
				if c, ok, err = concatFromUDH(u); err != nil || ok {
					return raw, c, ok, err
				}
			}
		}
	} else if udhi {
		if c, ok, err = concatFromUDH(p.Message.UDH()); err != nil || ok {
			return raw, c, ok, err
		}
	}
	ref, hasRef := p.OptionalParameters[pdu.TagSarMsgRefNum]
	tot, hasTot := p.OptionalParameters[pdu.TagSarTotalSegments]
	seq, hasSeq := p.OptionalParameters[pdu.TagSarSegmentSeqnum]
	if !hasRef && !hasTot && !hasSeq {
		return raw, c, false, nil
	}
	if !hasRef || !hasTot || !hasSeq || len(ref.Data) != 2 || len(tot.Data) != 1 || len(seq.Data) != 1 {
		return nil, c, false, fmt.Errorf("SAR TLVs: %w", errBadConcat)
	}
	c = concat{ref: uint16(ref.Data[0])<<8 | uint16(ref.Data[1]), total: tot.Data[0], seq: seq.Data[0]}
	return raw, c, c.total > 1, c.check()
}

func concatFromUDH(u pdu.UDH) (c concat, ok bool, err error) {
	for _, ie := range u {
		switch {
		case ie.ID == data.UDH_CONCAT_MSG_8_BIT_REF && len(ie.Data) == 3:
			c = concat{ref: uint16(ie.Data[0]), total: ie.Data[1], seq: ie.Data[2]}
		case ie.ID == data.UDH_CONCAT_MSG_16_BIT_REF && len(ie.Data) == 4:
			c = concat{ref: uint16(ie.Data[0])<<8 | uint16(ie.Data[1]), total: ie.Data[2], seq: ie.Data[3]}
		case ie.ID == data.UDH_CONCAT_MSG_8_BIT_REF || ie.ID == data.UDH_CONCAT_MSG_16_BIT_REF:
			return c, false, fmt.Errorf("concat IE length %d: %w", len(ie.Data), errBadUDH)
		default:
			continue
		}
		return c, c.total > 1, c.check()
	}
	return c, false, nil
}

func (c concat) check() error {
	if c.total == 0 || c.seq == 0 || c.seq > c.total {
		return fmt.Errorf("part %d of %d: %w", c.seq, c.total, errBadConcat)
	}
	return nil
}
