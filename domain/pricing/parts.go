// Package pricing decides what a message costs the tenant: how many SMS
// parts its text takes in its encoding (GSM 03.38, Latin-1, UCS-2), and the
// tenant's price per part from a rate card by longest destination prefix.
package pricing

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Encoding is how the text travels on the air interface; it decides the
// part sizes.
type Encoding uint8

// Encodings.
const (
	GSM7   Encoding = iota + 1 // GSM 03.38 default alphabet, 7-bit septets
	Latin1                     // ISO-8859-1, one octet per character
	UCS2                       // UTF-16 code units, two octets each
)

func (e Encoding) String() string {
	switch e {
	case GSM7:
		return "gsm7"
	case Latin1:
		return "latin1"
	case UCS2:
		return "ucs2"
	}
	return fmt.Sprintf("encoding(%d)", uint8(e))
}

// SMPP data_coding values understood here.
const (
	DataCodingDefault uint8 = 0x00 // SMSC default alphabet: GSM 03.38
	DataCodingIA5     uint8 = 0x01 // IA5/ASCII: counted as GSM 7-bit
	DataCodingLatin1  uint8 = 0x03
	DataCodingUCS2    uint8 = 0x08
)

// Part sizes, in the encoding's units (septets, octets, UTF-16 code units).
// A concatenated part loses room to the 6-octet UDH.
const (
	GSM7SingleMax    = 160
	GSM7PartMax      = 153
	Latin1SingleMax  = 140
	Latin1PartMax    = 134
	UCS2SingleMax    = 70
	UCS2PartMax      = 67
	MaxParts         = 255 // the UDH part counter is one octet
	MaxTextBytesUTF8 = MaxParts * Latin1SingleMax * 4
)

// Errors for errors.Is.
var (
	ErrUnsupportedDataCoding = errors.New("unsupported data_coding")
	ErrNotRepresentable      = errors.New("text not representable in encoding")
	ErrTooLong               = errors.New("message too long")
	ErrInvalidUTF8           = errors.New("text is not valid UTF-8")
)

// EncodingForDataCoding maps an SMPP data_coding to an Encoding.
func EncodingForDataCoding(dc uint8) (Encoding, error) {
	switch dc {
	case DataCodingDefault, DataCodingIA5:
		return GSM7, nil
	case DataCodingLatin1:
		return Latin1, nil
	case DataCodingUCS2:
		return UCS2, nil
	}
	return 0, fmt.Errorf("data_coding 0x%02x: %w", dc, ErrUnsupportedDataCoding)
}

// DataCoding is the SMPP data_coding for e.
func (e Encoding) DataCoding() uint8 {
	switch e {
	case Latin1:
		return DataCodingLatin1
	case UCS2:
		return DataCodingUCS2
	}
	return DataCodingDefault
}

// gsmASCII[c] is the septet count of ASCII rune c in GSM 03.38: 1 in the
// basic table, 2 in the extension table (escape + char), 0 if absent.
var gsmASCII = func() (t [128]uint8) {
	const basic = "@$\n\r_ !\"#%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for i := 0; i < len(basic); i++ {
		t[basic[i]] = 1
	}
	for _, c := range "\f^{}\\[~]|" {
		t[c] = 2
	}
	return t
}()

// gsmSeptets returns the septets rune r takes in GSM 03.38 (0 if absent).
func gsmSeptets(r rune) int {
	if r < 128 {
		return int(gsmASCII[r])
	}
	switch r {
	case '£', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', 'Ø', 'ø', 'Å', 'å',
		'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 'Æ', 'æ', 'ß', 'É',
		'¤', '¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§', '¿', 'ä', 'ö', 'ñ', 'ü', 'à':
		return 1
	case '€':
		return 2
	}
	return 0
}

// IsGSM7 reports whether every character of text is in the GSM 03.38
// default alphabet or its extension table.
func IsGSM7(text string) bool {
	for _, r := range text {
		if gsmSeptets(r) == 0 {
			return false
		}
	}
	return true
}

// AutoEncoding picks GSM 03.38 when every character is representable in it
// and UCS-2 otherwise (the choice made for HTTP submissions without an
// explicit data_coding). Latin-1 is never chosen automatically: handsets
// display GSM more reliably, and anything outside GSM needs UCS-2 anyway on
// most routes.
func AutoEncoding(text string) Encoding {
	if IsGSM7(text) {
		return GSM7
	}
	return UCS2
}

// Segments is the outcome of counting a text.
type Segments struct {
	Encoding Encoding
	Parts    int
	// Units is the length in the encoding's units (septets, octets, UTF-16
	// code units).
	Units int
}

// Count returns how many parts text takes in enc. It fails when a character
// is not representable in enc, when text is not valid UTF-8, and with
// ErrTooLong beyond MaxParts. The empty text is one part. It does not
// allocate.
//
// Splitting rules: a concatenated message is cut into parts of at most
// GSM7PartMax/Latin1PartMax/UCS2PartMax units, and a character never
// straddles two parts: a GSM extension character (2 septets) or a UCS-2
// surrogate pair (2 code units) that does not fit in what is left of a part
// starts the next one. That is why a text can need one part more than
// ceil(units / part size).
func Count(text string, enc Encoding) (Segments, error) {
	if enc == GSM7 {
		if seg, ok := countGSMASCII(text); ok {
			return seg, nil
		}
	}
	return countIn(text, enc)
}

// countIn is Count without the ASCII fast path (for a text it declined).
func countIn(text string, enc Encoding) (Segments, error) {
	if len(text) > MaxTextBytesUTF8 {
		return Segments{}, fmt.Errorf("%d bytes: %w", len(text), ErrTooLong)
	}
	var single, per int
	switch enc {
	case GSM7:
		single, per = GSM7SingleMax, GSM7PartMax
	case Latin1:
		single, per = Latin1SingleMax, Latin1PartMax
	case UCS2:
		single, per = UCS2SingleMax, UCS2PartMax
	default:
		return Segments{}, fmt.Errorf("%s: %w", enc, ErrUnsupportedDataCoding)
	}
	return countRunes(text, enc, single, per)
}

// countGSMASCII is Count in GSM7 of a text of ASCII characters that are
// all in the GSM 03.38 alphabet (nearly every message: codes, alerts,
// notices), reading bytes through a table instead of decoding runes, and
// packing parts only when the text needs more than one (BenchmarkCount).
// ok is false for any other text, which countRunes then counts (and
// names its error).
func countGSMASCII(text string) (seg Segments, ok bool) {
	total, narrowest := 0, uint8(2)
	for i := 0; i < len(text); i++ {
		w := gsmByte[text[i]]
		total += int(w)
		narrowest = min(narrowest, w)
	}
	if narrowest == 0 {
		return Segments{}, false // a byte outside the table: not ASCII GSM
	}
	if total <= GSM7SingleMax {
		return Segments{Encoding: GSM7, Parts: 1, Units: total}, true
	}
	parts, used := 1, 0
	for i := 0; i < len(text); i++ {
		w := int(gsmByte[text[i]])
		if used+w > GSM7PartMax {
			parts++
			used = 0
		}
		used += w
	}
	if parts > MaxParts {
		return Segments{}, false
	}
	return Segments{Encoding: GSM7, Parts: parts, Units: total}, true
}

// gsmByte is gsmASCII over every byte value: 0 for bytes from 0x80.
var gsmByte = func() (t [256]uint8) {
	copy(t[:], gsmASCII[:])
	return t
}()

// countRunes is Count of any text, rune by rune.
func countRunes(text string, enc Encoding, single, per int) (Segments, error) {
	// One pass: total units, and the parts the text would need if
	// concatenated (packing greedily without splitting a character).
	total, parts, used := 0, 1, 0
	for i, r := range text {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(text[i:]); size == 1 {
				return Segments{}, fmt.Errorf("byte %d: %w", i, ErrInvalidUTF8)
			}
		}
		w := unitWidth(r, enc)
		if w == 0 {
			return Segments{}, fmt.Errorf("character %U at byte %d in %s: %w", r, i, enc, ErrNotRepresentable)
		}
		total += w
		if used+w > per {
			parts++
			used = 0
		}
		used += w
	}
	if total <= single {
		parts = 1
	}
	if parts > MaxParts {
		return Segments{}, fmt.Errorf("%d parts in %s (max %d): %w", parts, enc, MaxParts, ErrTooLong)
	}
	return Segments{Encoding: enc, Parts: parts, Units: total}, nil
}

// unitWidth is the width of r in enc's units, 0 when not representable.
func unitWidth(r rune, enc Encoding) int {
	switch enc {
	case GSM7:
		return gsmSeptets(r)
	case Latin1:
		if r <= 0xFF {
			return 1
		}
		return 0
	case UCS2:
		if r > 0xFFFF {
			return 2 // surrogate pair
		}
		return 1
	}
	return 0
}

// CountAuto counts text in AutoEncoding(text).
func CountAuto(text string) (Segments, error) {
	if seg, ok := countGSMASCII(text); ok {
		return seg, nil // GSM7: one pass instead of IsGSM7's and Count's
	}
	return countIn(text, AutoEncoding(text))
}

// CountDataCoding counts text as it would travel with SMPP data_coding dc.
func CountDataCoding(text string, dc uint8) (Segments, error) {
	enc, err := EncodingForDataCoding(dc)
	if err != nil {
		return Segments{}, err
	}
	return Count(text, enc)
}
