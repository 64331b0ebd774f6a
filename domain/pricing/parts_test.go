package pricing

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCount(t *testing.T) {
	r := strings.Repeat
	cases := []struct {
		name  string
		text  string
		enc   Encoding
		parts int
		units int
		err   error
	}{
		{"empty gsm", "", GSM7, 1, 0, nil},
		{"empty ucs2", "", UCS2, 1, 0, nil},
		{"one char", "a", GSM7, 1, 1, nil},
		{"gsm 160", r("a", 160), GSM7, 1, 160, nil},
		{"gsm 161", r("a", 161), GSM7, 2, 161, nil},
		{"gsm 306 = 2x153", r("a", 306), GSM7, 2, 306, nil},
		{"gsm 307", r("a", 307), GSM7, 3, 307, nil},
		{"gsm 459 = 3x153", r("a", 459), GSM7, 3, 459, nil},
		{"gsm ext counts 2: 80 euro = 160", r("€", 80), GSM7, 1, 160, nil},
		{"gsm ext 81 euro = 162", r("€", 81), GSM7, 2, 162, nil},
		{"gsm ext 159+1 ext = 161", r("a", 159) + "{", GSM7, 2, 161, nil},
		// 152 septets then an extension char: it may not straddle parts 1 and 2.
		{"gsm ext not split", r("a", 152) + "^" + r("a", 152), GSM7, 3, 306, nil},
		{"gsm ext fits exactly", r("a", 151) + "^" + r("a", 153), GSM7, 2, 306, nil},
		{"gsm basic non-ascii", "Ça coûte 5£", GSM7, 0, 0, ErrNotRepresentable}, // û is not GSM
		{"gsm basic latin", "Çà é £ ¥ Δ Ω ß", GSM7, 1, 14, nil},
		{"latin1 140", r("é", 140), Latin1, 1, 140, nil},
		{"latin1 141", r("é", 141), Latin1, 2, 141, nil},
		{"latin1 268 = 2x134", r("é", 268), Latin1, 2, 268, nil},
		{"latin1 269", r("é", 269), Latin1, 3, 269, nil},
		{"latin1 not representable", "€", Latin1, 0, 0, ErrNotRepresentable},
		{"ucs2 70", r("ж", 70), UCS2, 1, 70, nil},
		{"ucs2 71", r("ж", 71), UCS2, 2, 71, nil},
		{"ucs2 134 = 2x67", r("ж", 134), UCS2, 2, 134, nil},
		{"ucs2 135", r("ж", 135), UCS2, 3, 135, nil},
		{"ucs2 surrogate pairs 35 = 70 units", r("😀", 35), UCS2, 1, 70, nil},
		{"ucs2 surrogate pairs 36 = 72 units", r("😀", 36), UCS2, 2, 72, nil},
		// 66 units then a pair: the pair may not straddle parts.
		{"ucs2 pair not split", r("ж", 66) + "😀" + r("ж", 66), UCS2, 3, 134, nil},
		{"ucs2 pair fits exactly", r("ж", 65) + "😀" + r("ж", 67), UCS2, 2, 134, nil},
		{"invalid utf8", "a\xffb", GSM7, 0, 0, ErrInvalidUTF8},
		{"too long", r("a", 153*MaxParts+1), GSM7, 0, 0, ErrTooLong},
		{"max parts", r("a", 153*MaxParts), GSM7, MaxParts, 153 * MaxParts, nil},
		{"bad encoding", "a", Encoding(9), 0, 0, ErrUnsupportedDataCoding},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Count(c.text, c.enc)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Parts != c.parts || got.Units != c.units || got.Encoding != c.enc {
				t.Fatalf("got %+v, want parts %d units %d", got, c.parts, c.units)
			}
		})
	}
}

func TestAutoEncoding(t *testing.T) {
	cases := []struct {
		text string
		want Encoding
	}{
		{"", GSM7},
		{"Hello {world} €5", GSM7},
		{"Привет", UCS2},
		{"naïve", UCS2}, // ï is Latin-1 but not GSM: auto never picks Latin-1
		{"😀", UCS2},
	}
	for _, c := range cases {
		if got := AutoEncoding(c.text); got != c.want {
			t.Errorf("AutoEncoding(%q) = %s, want %s", c.text, got, c.want)
		}
	}
}

func TestCountDataCoding(t *testing.T) {
	cases := []struct {
		dc    uint8
		text  string
		parts int
		err   error
	}{
		{DataCodingDefault, strings.Repeat("a", 161), 2, nil},
		{DataCodingIA5, strings.Repeat("a", 160), 1, nil},
		{DataCodingLatin1, strings.Repeat("a", 141), 2, nil},
		{DataCodingUCS2, strings.Repeat("a", 71), 2, nil},
		{0x04, "a", 0, ErrUnsupportedDataCoding},
	}
	for _, c := range cases {
		got, err := CountDataCoding(c.text, c.dc)
		if !errors.Is(err, c.err) || (err == nil && got.Parts != c.parts) {
			t.Errorf("dc 0x%02x: %+v %v", c.dc, got, err)
		}
	}
	for _, e := range []Encoding{GSM7, Latin1, UCS2} {
		back, err := EncodingForDataCoding(e.DataCoding())
		if err != nil || back != e {
			t.Errorf("%s round trip: %s %v", e, back, err)
		}
	}
}

func TestCountDoesNotAllocate(t *testing.T) {
	text := strings.Repeat("Hello €", 40)
	if n := testing.AllocsPerRun(100, func() { _, _ = CountAuto(text) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

// TestCountGSMASCIIMatchesRunes: the byte fast path counts exactly as the
// rune path on random texts of ASCII, extension characters (two septets,
// which may not straddle parts) and a few others, of every length up to
// past MaxParts; and it declines every text the rune path refuses or
// needs a non-ASCII character for.
func TestCountGSMASCIIMatchesRunes(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 71))
	alphabet := []rune("abcXYZ0129 .,@\n{}[]~^|\\€é\x00\x7f\u0394")
	for range 5_000 {
		n := r.IntN(400)
		if r.IntN(50) == 0 {
			n = MaxParts*GSM7PartMax + r.IntN(400) // around the part limit
		}
		b := make([]rune, n)
		for i := range b {
			if r.IntN(20) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = rune('a' + r.IntN(26))
			}
		}
		checkFastPath(t, string(b))
	}
}

func FuzzCountGSMASCII(f *testing.F) {
	for _, s := range []string{"", "hello", "{}{}{}", "é", "\xff", strings.Repeat("[", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkFastPath(t, s) })
}

func checkFastPath(t *testing.T, text string) {
	t.Helper()
	want, werr := countRunes(text, GSM7, GSM7SingleMax, GSM7PartMax)
	got, ok := countGSMASCII(text)
	if !ok {
		for i := 0; i < len(text); i++ {
			if text[i] >= utf8.RuneSelf || gsmASCII[text[i]] == 0 {
				return // declined for a character the fast path does not read
			}
		}
		if werr == nil {
			t.Fatalf("fast path declined %q, which counts as %+v", text, want)
		}
		return
	}
	if werr != nil || got != want {
		t.Fatalf("%q: fast path %+v, rune path %+v (%v)", text, got, want, werr)
	}
}

func BenchmarkCount(b *testing.B) {
	const text = "Your verification code is 123456. It expires in 10 minutes."
	b.Run("auto", func(b *testing.B) {
		for b.Loop() {
			if _, err := CountAuto(text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("runes", func(b *testing.B) {
		for b.Loop() {
			if _, err := countRunes(text, GSM7, GSM7SingleMax, GSM7PartMax); err != nil {
				b.Fatal(err)
			}
		}
	})
}
