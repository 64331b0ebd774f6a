package server

import (
	"fmt"
	"testing"
	"time"
)

func TestParseSMPPTime(t *testing.T) {
	now := time.Date(2030, 1, 31, 10, 0, 0, 0, time.UTC)
	valid := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		// Absolute: nn quarter hours, '+' ahead of UTC, '-' behind.
		{"250615143000108+", time.Date(2025, 6, 15, 12, 30, 0, 100e6, time.UTC)},
		{"250615143000912-", time.Date(2025, 6, 15, 17, 30, 0, 900e6, time.UTC)},
		{"991231235959000+", time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"000101000000000-", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"000101000000048+", time.Date(1999, 12, 31, 12, 0, 0, 0, time.UTC)},
		{"000101000000048-", time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC)},
		{"240229000000000+", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"250601000000001+", time.Date(2025, 5, 31, 23, 45, 0, 0, time.UTC)},
		// Relative: amounts added to now.
		{"000000010000000R", now.Add(time.Hour)},
		{"000001000000000R", now.AddDate(0, 0, 1)},                                                      // DD=01: one day
		{"020610233429000R", now.AddDate(2, 6, 10).Add(23*time.Hour + 34*time.Minute + 29*time.Second)}, // §7.1.1's example
		{"000000000001000R", now.Add(time.Second)},
		{"000002103045000R", now.AddDate(0, 0, 2).Add(10*time.Hour + 30*time.Minute + 45*time.Second)},
		{"010100000000000R", now.AddDate(1, 1, 0)},
		{"000000000000000R", now},
		{"000000999999000R", now.Add(99*time.Hour + 99*time.Minute + 99*time.Second)},
		{"999999999999000R", now.AddDate(99, 99, 99).Add(99*time.Hour + 99*time.Minute + 99*time.Second)},
	}
	for _, tc := range valid {
		got, err := parseSMPPTime(tc.in, now)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
	}
	// The absolute form keeps its offset as the result's zone.
	if got, _ := parseSMPPTime("250615143000108+", now); got.Hour() != 14 {
		t.Errorf("zone not kept: %v", got)
	} else if _, off := got.Zone(); off != 2*3600 {
		t.Errorf("offset %d, want 7200", off)
	}

	malformed := []string{
		"0",
		"25061514300010+",   // 15 characters
		"2506151430001080+", // 17
		" 250615143000108+",
		"250615143000108",
		"250615143000108 ",
		"250615143000108r",
		"250615143000108Z",
		"250615143000108\x00",
		"2506151430001 8+",
		"2506151430001-8+",
		"25061514300010a+",
		"x50615143000108+",
		"2506151430001８",   // a multi-byte rune: 16 bytes, not digits
		"251315143000108+", // month 13
		"250015143000108+", // month 0
		"250632143000108+", // day 32
		"250600143000108+", // day 0
		"250631143000108+", // 31 June
		"250229000000000+", // 29 February 2025
		"250615243000108+", // hour 24
		"250615146000108+", // minute 60
		"250615143060108+", // second 60
		"250615143000049+", // 49 quarter hours
		"250615143000099-", // 99 quarter hours
		"000001000000100R", // relative with tenths
		"000001000000001R", // relative with an offset
		"000001000000010R",
		"00000100000000-R",
		"00000100000000AR",
		"0000010000000000", // no p
		"+000001000000000",
		"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
	}
	for _, in := range malformed {
		if got, err := parseSMPPTime(in, now); err == nil {
			t.Errorf("%q: accepted as %v", in, got)
		}
	}
}

// formatSMPPAbsolute is the absolute SMPP form of t in its own zone (its
// offset a whole number of quarter hours, its year 2000–2099).
func formatSMPPAbsolute(t time.Time) string {
	_, off := t.Zone()
	p := '+'
	if off < 0 {
		p, off = '-', -off
	}
	return fmt.Sprintf("%02d%02d%02d%02d%02d%02d%d%02d%c", t.Year()-2000, int(t.Month()), t.Day(),
		t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/int(100*time.Millisecond), off/900, p)
}

func FuzzParseSMPPTime(f *testing.F) {
	for _, s := range []string{
		"", "250615143000108+", "250615143000912-", "991231235959948-", "000101000000048+",
		"000001000000000R", "999999999999000R", "000000000000000R",
		"251315143000108+", "250632143000108+", "250615143000049+", "000001000000100R",
		"250615143000108", "2506151430001080+", "2506151430001８", "250229000000000+",
	} {
		f.Add(s)
	}
	now := time.Date(2030, 1, 31, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseSMPPTime(s, now)
		if err != nil {
			if !got.IsZero() {
				t.Fatalf("%q: error %v with a time %v", s, err, got)
			}
			return
		}
		if s == "" {
			if !got.IsZero() {
				t.Fatalf("empty: %v", got)
			}
			return
		}
		if len(s) != 16 {
			t.Fatalf("%q: accepted with %d characters", s, len(s))
		}
		switch s[15] {
		case 'R':
			// now plus at most 99 years, 99 months, 99 days and 99 h 99 min 99 s.
			limit := now.AddDate(99, 99, 99).Add(99*time.Hour + 99*time.Minute + 99*time.Second)
			if got.Before(now) || got.After(limit) {
				t.Fatalf("%q: relative %v outside [%v, %v]", s, got, now, limit)
			}
		case '+', '-':
			if y := got.Year(); y < 2000 || y > 2099 {
				t.Fatalf("%q: year %d", s, y)
			}
			back := formatSMPPAbsolute(got)
			if back[:15] != s[:15] || (back[15] != s[15] && s[13:15] != "00") {
				t.Fatalf("%q: formats back as %q", s, back)
			}
			again, err := parseSMPPTime(back, now)
			if err != nil || !again.Equal(got) {
				t.Fatalf("%q → %v → %q → %v, %v", s, got, back, again, err)
			}
		default:
			t.Fatalf("%q: accepted with p %q", s, s[15])
		}
	})
}
