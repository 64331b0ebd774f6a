package routing

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct {
		in, want string
		bad      bool
	}{
		{"447700900123", "447700900123", false},
		{"+447700900123", "447700900123", false},
		{"00447700900123", "447700900123", false},
		{"+44 7700 900-123", "447700900123", false},
		{"  +1 (212) 555.0100 ", "12125550100", false},
		{"1234567", "1234567", false},                  // MinDigits
		{"123456789012345", "123456789012345", false},  // MaxDigits
		{"123456", "", true},                           // too short
		{"1234567890123456", "", true},                 // too long
		{"07700900123", "", true},                      // national format
		{"+0447700900123", "", true},                   // leading 0 after +
		{"", "", true},                                 // empty
		{"+", "", true},                                // no digits
		{"44770090012a", "", true},                     // letter
		{"++447700900123", "", true},                   // two pluses
		{"+44/7700900123", "", true},                   // slash
		{"44 7700 ٩00123", "", true},                   // non-ASCII digit
		{strings.Repeat("1", 100), "", true},           // huge input
		{"0044 (0) 770", "", true},                     // too short after cleaning
		{"00 44 7700 900 123", "447700900123", false},  // spaced after 00
		{"+44-7700-900-123", "447700900123", false},    // dashes
		{"\t447700900123", "", true},                   // tab is not allowed
		{"   ", "", true},                              // only spaces
		{"0", "", true},                                // single zero
		{"+1", "", true},                               // too short
		{"+999999999999999", "999999999999999", false}, // 15 digits
	}
	for _, c := range cases {
		got, err := Normalize(c.in)
		if c.bad {
			var de *DestinationError
			if !errors.Is(err, ErrInvalidDestination) || !errors.As(err, &de) {
				t.Errorf("Normalize(%q) = %q, %v; want invalid destination", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNormalizeDigitsDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = Normalize("+447700900123") }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// FuzzNormalize checks the output contract on any input: either an error
// wrapping ErrInvalidDestination, or MinDigits..MaxDigits ASCII digits not
// starting with 0, and normalising the output again is the identity.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"447700900123", "+44 7700 900123", "0044-7700-900123", "07700900123", "+", "", "abc", "+1 (212) 555-0100", "\xff\xfe", strings.Repeat("9", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidDestination) {
				t.Fatalf("error %v does not wrap ErrInvalidDestination", err)
			}
			return
		}
		if len(out) < MinDigits || len(out) > MaxDigits || out[0] == '0' {
			t.Fatalf("Normalize(%q) = %q out of contract", in, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] < '0' || out[i] > '9' {
				t.Fatalf("Normalize(%q) = %q has non-digit", in, out)
			}
		}
		if again, err := Normalize(out); err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q, %v", out, again, err)
		}
	})
}
