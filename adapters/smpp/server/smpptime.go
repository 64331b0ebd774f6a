package server

// SMPP time fields (schedule_delivery_time, validity_period), SMPP v3.4
// §7.1.1: "YYMMDDhhmmsstnnp", 16 characters, absolute or relative.

import (
	"errors"
	"fmt"
	"time"
)

var errSMPPTime = errors.New("malformed SMPP time")

// parseSMPPTime parses an SMPP v3.4 time field. "" (the field is absent)
// gives the zero time. Otherwise s is "YYMMDDhhmmsstnnp":
//   - p '+' or '-': absolute; YY is 2000+YY, t tenths of a second, nn the
//     offset from UTC in quarter hours (0–48), '+' ahead of UTC, '-' behind;
//     the result is in that fixed zone;
//   - p 'R': relative to now; YY years, MM months, DD days, hh hours,
//     mm minutes, ss seconds are added to now (each 00–99: they are
//     amounts, not calendar fields), and "tnn" must be "000".
//
// Anything else is an error; it never panics.
func parseSMPPTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) != 16 {
		return time.Time{}, fmt.Errorf("%w: %d characters, want 16", errSMPPTime, len(s))
	}
	for i := 0; i < 15; i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, fmt.Errorf("%w: %q: non-digit at %d", errSMPPTime, s, i)
		}
	}
	var f [6]int // YY MM DD hh mm ss
	for i := range f {
		f[i] = int(s[2*i]-'0')*10 + int(s[2*i+1]-'0')
	}
	tenths := int(s[12] - '0')
	nn := int(s[13]-'0')*10 + int(s[14]-'0')
	yy, mo, dd, hh, mi, ss := f[0], f[1], f[2], f[3], f[4], f[5]
	switch p := s[15]; p {
	case 'R':
		if tenths != 0 || nn != 0 {
			return time.Time{}, fmt.Errorf("%w: %q: relative time with tnn %q, want \"000\"", errSMPPTime, s, s[12:15])
		}
		d := time.Duration(hh)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(ss)*time.Second
		return now.AddDate(yy, mo, dd).Add(d), nil
	case '+', '-':
		year := 2000 + yy
		switch {
		case mo < 1 || mo > 12:
			return time.Time{}, fmt.Errorf("%w: %q: month %d", errSMPPTime, s, mo)
		case dd < 1 || dd > daysIn(year, time.Month(mo)):
			return time.Time{}, fmt.Errorf("%w: %q: day %d", errSMPPTime, s, dd)
		case hh > 23 || mi > 59 || ss > 59:
			return time.Time{}, fmt.Errorf("%w: %q: time of day %02d:%02d:%02d", errSMPPTime, s, hh, mi, ss)
		case nn > 48:
			return time.Time{}, fmt.Errorf("%w: %q: UTC offset of %d quarter hours", errSMPPTime, s, nn)
		}
		off := nn * 15 * 60
		if p == '-' {
			off = -off
		}
		zone := time.FixedZone("", off)
		return time.Date(year, time.Month(mo), dd, hh, mi, ss, tenths*int(100*time.Millisecond), zone), nil
	default:
		return time.Time{}, fmt.Errorf("%w: %q: last character %q, want '+', '-' or 'R'", errSMPPTime, s, p)
	}
}

// daysIn is the number of days of month m in year y.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
