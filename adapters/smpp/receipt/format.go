package receipt

import (
	"fmt"
	"strings"
	"time"

	"github.com/smsledger/smsledger/domain/message"
)

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
		if stat == message.DLRDelivered {
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
