// Package receipt parses and formats SMPP delivery receipts (DLRs): the
// de-facto standard short_message text of SMPP v3.4 appendix B
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//
// and the receipted_message_id / message_state / network_error_code TLVs.
//
// Parse is tolerant of the usual vendor variations: keys in any case,
// "submit_date"/"submitdate"/"done_date", "status"/"error", missing fields,
// extra unknown fields, dates with or without seconds or century, and long
// stat words (DELIVERED, UNDELIVERABLE, …) which are folded onto the seven
// standard ones. Everything after "text:" is the text, whatever it holds.
package receipt

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotReceipt is returned when a text has neither an id nor a stat field.
var ErrNotReceipt = errors.New("receipt: not a delivery receipt")

// Standard stat values.
const (
	StatDelivered     = "DELIVRD"
	StatExpired       = "EXPIRED"
	StatDeleted       = "DELETED"
	StatUndeliverable = "UNDELIV"
	StatAccepted      = "ACCEPTD"
	StatUnknown       = "UNKNOWN"
	StatRejected      = "REJECTD"
	StatEnroute       = "ENROUTE"
)

// MessageState is the SMPP v3.4 message_state value (TLV 0x0427, and
// query_sm_resp).
type MessageState uint8

// SMPP v3.4 message states (section 5.2.28).
const (
	StateNone          MessageState = 0
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
)

// StateOf maps a stat word (standard or vendor) to its message_state.
func StateOf(stat string) MessageState {
	switch NormalizeStat(stat) {
	case StatEnroute:
		return StateEnroute
	case StatDelivered:
		return StateDelivered
	case StatExpired:
		return StateExpired
	case StatDeleted:
		return StateDeleted
	case StatUndeliverable:
		return StateUndeliverable
	case StatAccepted:
		return StateAccepted
	case StatRejected:
		return StateRejected
	}
	return StateUnknown
}

// Stat is the standard stat word of a message_state.
func (s MessageState) Stat() string {
	switch s {
	case StateEnroute:
		return StatEnroute
	case StateDelivered:
		return StatDelivered
	case StateExpired:
		return StatExpired
	case StateDeleted:
		return StatDeleted
	case StateUndeliverable:
		return StatUndeliverable
	case StateAccepted:
		return StatAccepted
	case StateRejected:
		return StatRejected
	}
	return StatUnknown
}

// NormalizeStat folds vendor stat words onto the seven standard ones
// (upper case). Unrecognised words give UNKNOWN; an empty word stays empty.
func NormalizeStat(s string) string {
	u := strings.ToUpper(strings.TrimSpace(s))
	switch u {
	case "":
		return ""
	case StatDelivered, "DELIVERED", "DELIVER", "DELIVRED", "DELIVR", "SUCCESS", "DELIVERD":
		return StatDelivered
	case StatExpired, "EXPIRE", "EXPIRD":
		return StatExpired
	case StatDeleted, "DELETE":
		return StatDeleted
	case StatUndeliverable, "UNDELIVERABLE", "UNDELIVERED", "UNDELIVRD", "FAILED", "FAIL", "FAILD":
		return StatUndeliverable
	case StatAccepted, "ACCEPTED", "ACCEPT":
		return StatAccepted
	case StatRejected, "REJECTED", "REJECT", "REJECTED_", "REJECT_":
		return StatRejected
	case StatEnroute, "EN_ROUTE", "ENROUTED", "BUFFERED", "SENT":
		return StatEnroute
	}
	return StatUnknown
}

// Final reports whether a stat word is a final state (anything but ENROUTE
// and ACCEPTD).
func Final(stat string) bool {
	s := NormalizeStat(stat)
	return s != StatEnroute && s != StatAccepted && s != ""
}

// Receipt is one delivery receipt.
type Receipt struct {
	ID         string    // the message id the receipt is about, as written
	Sub        int       // number submitted (-1 when absent)
	Dlvrd      int       // number delivered (-1 when absent)
	SubmitDate time.Time // zero when absent or unparseable
	DoneDate   time.Time // zero when absent or unparseable
	Stat       string    // normalised stat word, "" when absent
	Err        string    // error code as written ("" when absent)
	Text       string    // first characters of the message, as written
	// State is the message_state (from the TLV when present, else from Stat).
	State MessageState
	// NetworkError is the network_error_code TLV (type, code), zero when absent.
	NetworkErrorType uint8
	NetworkErrorCode uint16
}

// Format returns the standard receipt text for r. Absent Sub/Dlvrd (<0)
// are written as 001/000-or-001 depending on the stat; the text is cut at
// 20 characters.
func (r Receipt) Format() string {
	stat := NormalizeStat(r.Stat)
	if stat == "" {
		stat = r.State.Stat()
	}
	sub, dlvrd := r.Sub, r.Dlvrd
	if sub < 0 {
		sub = 1
	}
	if dlvrd < 0 {
		dlvrd = 0
		if stat == StatDelivered {
			dlvrd = sub
		}
	}
	errc := r.Err
	if errc == "" {
		errc = "000"
	}
	text := r.Text
	if rs := []rune(text); len(rs) > 20 {
		text = string(rs[:20])
	}
	var b strings.Builder
	b.Grow(128 + len(r.ID) + len(text))
	fmt.Fprintf(&b, "id:%s sub:%03d dlvrd:%03d submit date:%s done date:%s stat:%s err:%s text:%s",
		r.ID, sub, dlvrd, FormatDate(r.SubmitDate), FormatDate(r.DoneDate), stat, errc, text)
	return b.String()
}

// FormatDate writes t (UTC) as YYMMDDhhmm, the receipt date format; a zero
// time is written as the zero time's digits would be meaningless, so it
// gives "0000000000".
func FormatDate(t time.Time) string {
	if t.IsZero() {
		return "0000000000"
	}
	return t.UTC().Format("0601021504")
}

// parseDate accepts YYMMDDhhmm, YYMMDDhhmmss, YYYYMMDDhhmm and
// YYYYMMDDhhmmss (UTC). Anything else gives the zero time.
func parseDate(s string) time.Time {
	var layout string
	switch len(s) {
	case 10:
		layout = "0601021504"
	case 12:
		if strings.HasPrefix(s, "19") || strings.HasPrefix(s, "20") {
			// Ambiguous; YYYYMMDDhhmm is rare, YYMMDDhhmmss common. Try
			// the common one first.
			if t, err := time.Parse("060102150405", s); err == nil {
				return t
			}
			layout = "200601021504"
		} else {
			layout = "060102150405"
		}
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// field keys, canonical name first. Multi-word keys are matched with any
// run of spaces/underscores between words, or none.
var keys = []struct {
	canon string
	words []string
}{
	{"id", []string{"id"}},
	{"id", []string{"msgid"}},
	{"id", []string{"message", "id"}},
	{"sub", []string{"sub"}},
	{"dlvrd", []string{"dlvrd"}},
	{"dlvrd", []string{"dlvd"}},
	{"submit date", []string{"submit", "date"}},
	{"done date", []string{"done", "date"}},
	{"stat", []string{"stat"}},
	{"stat", []string{"status"}},
	{"stat", []string{"state"}},
	{"err", []string{"err"}},
	{"err", []string{"error"}},
	{"text", []string{"text"}},
	{"text", []string{"txt"}},
}

// matchKey tries to match a known key (case-insensitively) at s[i:],
// followed by optional spaces and ':'. It returns the canonical key and the
// index just after ':' or -1.
func matchKey(s string, i int) (string, int) {
	for _, k := range keys {
		j := i
		ok := true
		for w, word := range k.words {
			if w > 0 {
				for j < len(s) && (s[j] == ' ' || s[j] == '_') {
					j++
				}
			}
			if len(s)-j < len(word) || !strings.EqualFold(s[j:j+len(word)], word) {
				ok = false
				break
			}
			j += len(word)
		}
		if !ok {
			continue
		}
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j < len(s) && s[j] == ':' {
			return k.canon, j + 1
		}
	}
	return "", -1
}

// matchOther matches an unknown "word:" field at s[i:] (letters, digits,
// '_' and '-', starting with a letter); it returns the index after ':' or -1.
func matchOther(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || (j > i && c >= '0' && c <= '9') {
			j++
			continue
		}
		break
	}
	if j == i || j >= len(s) || s[j] != ':' {
		return -1
	}
	return j + 1
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Parse reads a receipt text. It never fails on a missing or malformed
// field (the field stays zero/-1/""); it fails only when the text has
// neither an id nor a stat field.
func Parse(text string) (Receipt, error) {
	r := Receipt{Sub: -1, Dlvrd: -1}
	type span struct {
		key        string
		start, end int // value
	}
	var spans [16]span
	n := 0
	prevEnd := -1 // index of the previous field's value start
	for i := 0; i < len(text); i++ {
		if i > 0 && !isSpace(text[i-1]) && text[i-1] != ';' && text[i-1] != ',' {
			continue
		}
		if isSpace(text[i]) {
			continue
		}
		key, after := matchKey(text, i)
		if after < 0 {
			if o := matchOther(text, i); o >= 0 && prevEnd >= 0 {
				key, after = "", o
			} else {
				continue
			}
		}
		if n > 0 {
			spans[n-1].end = i
		}
		if n == len(spans) {
			break
		}
		spans[n] = span{key: key, start: after, end: len(text)}
		n++
		prevEnd = after
		if key == "text" {
			break // the text runs to the end, whatever it contains
		}
		i = after - 1
	}
	var haveID, haveStat bool
	for _, sp := range spans[:n] {
		v := text[sp.start:sp.end]
		if sp.key != "text" {
			v = strings.Trim(v, " \t\r\n;,")
		}
		switch sp.key {
		case "id":
			if !haveID {
				r.ID, haveID = v, v != ""
			}
		case "sub":
			if x, err := strconv.Atoi(v); err == nil {
				r.Sub = x
			}
		case "dlvrd":
			if x, err := strconv.Atoi(v); err == nil {
				r.Dlvrd = x
			}
		case "submit date":
			r.SubmitDate = parseDate(v)
		case "done date":
			r.DoneDate = parseDate(v)
		case "stat":
			if !haveStat {
				r.Stat, haveStat = NormalizeStat(v), v != ""
			}
		case "err":
			r.Err = v
		case "text":
			r.Text = v
		}
	}
	if !haveID && !haveStat {
		return r, ErrNotReceipt
	}
	r.State = StateOf(r.Stat)
	if r.Stat == "" {
		r.State = StateNone
	}
	return r, nil
}

// IDFormat says how a supplier writes message ids.
type IDFormat uint8

// ID formats.
const (
	IDAsIs IDFormat = iota // compare as strings (after trimming)
	IDDec                  // decimal digits
	IDHex                  // hexadecimal digits
)

// ConvertID converts an id written in format from into format to (hex is
// written in lower case without leading zeros). An id that does not parse
// in from, or does not fit 64 bits, is returned trimmed and unchanged.
func ConvertID(id string, from, to IDFormat) string {
	id = strings.TrimSpace(id)
	if from == to || from == IDAsIs || to == IDAsIs {
		return id
	}
	base := 10
	if from == IDHex {
		base = 16
	}
	v, err := strconv.ParseUint(id, base, 64)
	if err != nil {
		return id
	}
	if to == IDHex {
		return strconv.FormatUint(v, 16)
	}
	return strconv.FormatUint(v, 10)
}

// SameID reports whether two ids name the same message: equal as strings
// (case-insensitively), or equal as numbers when both are decimal, or equal
// as numbers when both are hexadecimal (leading zeros ignored).
func SameID(a, b string) bool {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if strings.EqualFold(a, b) {
		return true
	}
	if x, err := strconv.ParseUint(a, 10, 64); err == nil {
		if y, err := strconv.ParseUint(b, 10, 64); err == nil {
			return x == y
		}
	}
	if x, err := strconv.ParseUint(a, 16, 64); err == nil {
		if y, err := strconv.ParseUint(b, 16, 64); err == nil {
			return x == y
		}
	}
	return false
}
