package load

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// Message kinds of the text mix.
const (
	kindShortGSM = iota
	kindLongGSM
	kindShortUCS2
)

// longGSM is a 3-part GSM 03.38 text (420 septets, 153 per part).
var longGSM = strings.Repeat("smsledger bench long message, concatenated in three parts. ", 8)[:420]

// kindOf spreads the long and UCS-2 shares evenly over message numbers
// (deterministic, so two runs send the same mix).
func (r *runner) kindOf(n int64) int { return mixKind(n, r.cfg.LongShare, r.cfg.UCS2Share) }

func mixKind(n int64, longShare, ucs2Share float64) int {
	x := float64(uint32(uint64(n)*2654435761)%10000) / 10000 // Knuth's multiplicative hash
	switch {
	case x < longShare:
		return kindLongGSM
	case x < longShare+ucs2Share:
		return kindShortUCS2
	}
	return kindShortGSM
}

// dest is message n's destination: the prefix and n, zero-padded.
func (r *runner) dest(n int64) string { return destination(r.cfg.DestPrefix, r.cfg.DestDigits, n) }

func destination(prefix string, digits int, n int64) string {
	w := digits - len(prefix)
	s := strconv.FormatInt(n, 10)
	if len(s) > w {
		s = s[len(s)-w:]
	}
	return prefix + strings.Repeat("0", w-len(s)) + s
}

// text is the text of message n of the given kind (the HTTP API chooses
// the encoding and the parts from it: GSM 03.38, else UCS-2).
func text(kind int, n int64) string {
	switch kind {
	case kindLongGSM:
		return longGSM
	case kindShortUCS2:
		return fmt.Sprintf("Привет, 世界 — bench %d", n)
	}
	return fmt.Sprintf("smsledger bench message %d: hello from the load generator", n)
}

// buildSubmit makes submit_sm number n (with a fresh sequence number).
func (r *runner) buildSubmit(n int64) (*pdu.SubmitSM, error) {
	p := pdu.NewSubmitSM().(*pdu.SubmitSM)
	var err error
	if p.SourceAddr, err = pdu.NewAddressWithAddr(r.cfg.From); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	p.SourceAddr.SetTon(data.GSM_TON_ALPHANUMERIC)
	p.SourceAddr.SetNpi(data.GSM_NPI_UNKNOWN)
	if p.DestAddr, err = pdu.NewAddressWithAddr(r.dest(n)); err != nil {
		return nil, fmt.Errorf("dest: %w", err)
	}
	p.DestAddr.SetTon(data.GSM_TON_INTERNATIONAL)
	p.DestAddr.SetNpi(data.GSM_NPI_E164)
	switch r.kindOf(n) {
	case kindLongGSM:
		raw, err := data.GSM7BIT.Encode(longGSM)
		if err != nil {
			return nil, err
		}
		if err := p.Message.SetMessageDataWithEncoding(nil, data.GSM7BIT); err != nil {
			return nil, err
		}
		p.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessagePayload, Data: raw})
	case kindShortUCS2:
		if err := p.Message.SetMessageWithEncoding(text(kindShortUCS2, n), data.UCS2); err != nil {
			return nil, err
		}
	default:
		if err := p.Message.SetMessageWithEncoding(text(kindShortGSM, n), data.GSM7BIT); err != nil {
			return nil, err
		}
	}
	if r.cfg.RegisteredDelivery {
		p.RegisteredDelivery = 1
	}
	if r.cfg.Validity > 0 {
		p.ValidityPeriod = RelativeTime(r.cfg.Validity)
	}
	if r.cfg.SendAfter > 0 {
		p.ScheduleDeliveryTime = RelativeTime(r.cfg.SendAfter)
	}
	return p, nil
}

// RelativeTime is d as an SMPP v3.4 relative time (§7.1.1.2),
// "YYMMDDhhmmss000R" with YY and MM zero: days, hours, minutes and seconds
// (rounded up to a whole second; at most 99 days).
func RelativeTime(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	s = min(max(s, 0), 99*86400+86399)
	return fmt.Sprintf("0000%02d%02d%02d%02d000R", s/86400, s%86400/3600, s%3600/60, s%60)
}
