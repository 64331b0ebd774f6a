package fastjson

import (
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// The encoding side: an Encoder appends exactly the bytes json.Marshal
// writes for one struct type, from a plan computed once per type, with no
// reflection-driven encoder lookup and no intermediate buffers. It handles
// the shapes of the event catalogue: strings (escaped as encoding/json
// does), booleans, integers, uuid, decimal and time members, slices of such
// structs and []string, nil or empty maps (the store metadata's extras),
// with encoding/json's rules for member names, embedded structs, omitempty
// and omitzero. On anything else (maps with entries, pointers, interfaces, floats, nested structs, custom marshalers, name
// conflicts, a ",string" option, invalid UTF-8, values json.Marshal would
// reject) it gives way and the caller uses json.Marshal, so the output is
// always encoding/json's.

type encKind uint8

const (
	encUnsupported encKind = iota
	encString
	encBool
	encInt
	encUint
	encUUID
	encDecimal
	encTime
	encStructs // a slice of structs
	encStrings // a slice of strings
	encMap     // a map: only nil or empty (anything else gives way)
)

type encField struct {
	index     []int
	key       string // `"name":`
	kind      encKind
	omitEmpty bool
	omitZero  bool
	elem      *Encoder // encStructs: the element struct
}

// Encoder encodes values of one struct type as JSON objects.
type Encoder struct {
	typ    reflect.Type
	fields []encField
	// bad: the type as a whole is not handled (not a struct, a custom
	// marshaler, a member name conflict or one that needs escaping, an
	// embedded pointer); Append always gives way.
	bad bool
	// addr: a member (uuid, decimal, time) is read through its address, so
	// a value passed by value must first be copied.
	addr bool
}

// maxDepth bounds the nesting of slices of structs the encoder follows
// (encoding/json detects cycles; this gives way long before).
const maxDepth = 64

// isZeroerType: omitzero uses such a method where a type has one.
var isZeroerType = reflect.TypeFor[interface{ IsZero() bool }]()

// NewEncoder describes struct type t: members named by their json tags,
// untagged embedded structs flattened and "-" members skipped as
// encoding/json does.
func NewEncoder(t reflect.Type) *Encoder {
	return newEncoder(t, map[reflect.Type]*Encoder{})
}

func newEncoder(t reflect.Type, seen map[reflect.Type]*Encoder) *Encoder {
	if e, ok := seen[t]; ok {
		return e // a recursive type: its plan is being built
	}
	e := &Encoder{typ: t}
	seen[t] = e
	if t.Kind() != reflect.Struct || customMarshaler(t) {
		e.bad = true
		return e
	}
	names := map[string]bool{}
	var walk func(st reflect.Type, index []int) bool
	walk = func(st reflect.Type, index []int) bool {
		for i := 0; i < st.NumField(); i++ {
			sf := st.Field(i)
			if sf.Anonymous {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !sf.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if !isValidTag(name) {
				name = ""
			}
			idx := append(append([]int(nil), index...), i)
			if name == "" && sf.Anonymous {
				ft := sf.Type
				if ft.Kind() == reflect.Pointer {
					if ft.Elem().Kind() == reflect.Struct {
						return false // embedded pointer: may be nil
					}
				} else if ft.Kind() == reflect.Struct {
					if !walk(ft, idx) {
						return false
					}
					continue
				}
			}
			if name == "" {
				name = sf.Name
			}
			if names[name] || !plainName(name) {
				// encoding/json resolves conflicts by depth and tags, and
				// escapes some names: leave both to it.
				return false
			}
			names[name] = true
			f := encField{
				index:     idx,
				key:       `"` + name + `":`,
				omitEmpty: hasOption(opts, "omitempty"),
				omitZero:  hasOption(opts, "omitzero"),
			}
			f.kind, f.elem = encKindOf(sf.Type, opts, seen)
			if f.omitZero && f.kind != encTime && f.kind != encDecimal &&
				(sf.Type.Implements(isZeroerType) || reflect.PointerTo(sf.Type).Implements(isZeroerType)) {
				f.kind = encUnsupported // omitzero by a method of its own
			}
			switch f.kind {
			case encUUID, encDecimal, encTime:
				e.addr = true
			}
			e.fields = append(e.fields, f)
		}
		return true
	}
	if !walk(t, nil) {
		e.bad, e.fields = true, nil
	}
	return e
}

// encKindOf classifies a member of type t with tag options opts.
func encKindOf(t reflect.Type, opts string, seen map[reflect.Type]*Encoder) (encKind, *Encoder) {
	if hasOption(opts, "string") {
		return encUnsupported, nil
	}
	switch t {
	case uuidType:
		if t.Implements(isZeroerType) || reflect.PointerTo(t).Implements(isZeroerType) {
			return encUnsupported, nil // a newer uuid: omitzero would use it
		}
		return encUUID, nil
	case decimalType:
		return encDecimal, nil
	case timeType:
		return encTime, nil
	}
	if customMarshaler(t) {
		return encUnsupported, nil
	}
	switch k := t.Kind(); {
	case k == reflect.String:
		return encString, nil
	case k == reflect.Bool:
		return encBool, nil
	case k >= reflect.Int && k <= reflect.Int64:
		return encInt, nil
	case k >= reflect.Uint && k <= reflect.Uintptr:
		return encUint, nil
	case k == reflect.Slice:
		switch el := t.Elem(); {
		case el.Kind() == reflect.Struct:
			return encStructs, newEncoder(el, seen)
		case el.Kind() == reflect.String && !customMarshaler(el):
			return encStrings, nil
		}
	case k == reflect.Map && t.Key().Kind() == reflect.String:
		return encMap, nil // other keys: encoding/json may reject the type
	}
	return encUnsupported, nil
}

// customMarshaler reports whether t or *t has a method encoding/json (v1,
// or v2 under GOEXPERIMENT=jsonv2) might encode it with: any method of
// one of those names, whatever its signature.
func customMarshaler(t reflect.Type) bool {
	for _, m := range [...]string{"MarshalJSON", "MarshalJSONTo", "MarshalText", "AppendText"} {
		if _, ok := reflect.PointerTo(t).MethodByName(m); ok { // *t's methods include t's
			return true
		}
	}
	return false
}

// isValidTag is encoding/json's test of a tag name (an invalid one is
// ignored and the Go field name used).
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// plainName: the member name is written as it is (encoding/json would
// escape <, > and &; non-ASCII names are left to it too).
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf || !htmlSafe[s[i]] {
			return false
		}
	}
	return true
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// Append appends the JSON encoding of v (a value of, or a non-nil pointer
// to, the described struct type) to dst: exactly the bytes json.Marshal(v)
// would produce. ok is false, and dst is returned at its original length,
// when the caller must use json.Marshal instead. A struct passed by value
// whose members include uuid, decimal or time values is first copied (they
// are read through their addresses); a pointer is read in place.
func (e *Encoder) Append(dst []byte, v any) (_ []byte, ok bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return dst, false
		}
		rv = rv.Elem()
	} else if e.addr && rv.IsValid() && rv.Type() == e.typ {
		p := reflect.New(e.typ)
		p.Elem().Set(rv)
		rv = p.Elem()
	}
	return e.AppendValue(dst, rv)
}

// AppendValue is Append for a reflect.Value of the described struct type,
// which must be addressable (reflect.ValueOf(&x).Elem()) if the struct has
// uuid, decimal or time members. Unlike Append(dst, &x), it does not make x
// escape to the heap: it never copies.
func (e *Encoder) AppendValue(dst []byte, v reflect.Value) (_ []byte, ok bool) {
	if !v.IsValid() || v.Type() != e.typ || e.bad || e.addr && !v.CanAddr() {
		return dst, false
	}
	n := len(dst)
	out, ok := e.appendStruct(dst, v, 0)
	if !ok {
		return dst[:n], false
	}
	return out, true
}

// appendStruct appends struct v (addressable if e.addr).
func (e *Encoder) appendStruct(dst []byte, v reflect.Value, depth int) ([]byte, bool) {
	if e.bad || depth > maxDepth {
		return dst, false
	}
	dst = append(dst, '{')
	first := true
	for i := range e.fields {
		f := &e.fields[i]
		// fv is addressable where the kind needs it (e.addr); the members
		// read through fv.Addr().UnsafePointer() are of exactly the type
		// converted to, so the conversions are plain typed pointers.
		fv := v.FieldByIndex(f.index)
		omitEmpty := f.omitEmpty || f.omitZero // the same test for these kinds
		var omit bool
		switch f.kind {
		case encString:
			omit = omitEmpty && fv.Len() == 0
		case encBool:
			omit = omitEmpty && !fv.Bool()
		case encInt:
			omit = omitEmpty && fv.Int() == 0
		case encUint:
			omit = omitEmpty && fv.Uint() == 0
		case encStructs, encStrings, encMap:
			// omitempty: empty or nil; omitzero: nil only.
			omit = f.omitEmpty && fv.Len() == 0 || f.omitZero && fv.IsNil()
		case encUUID:
			// omitempty never omits an array of non-zero length.
			omit = f.omitZero && *(*uuid.UUID)(fv.Addr().UnsafePointer()) == uuid.Nil
		case encTime:
			// omitempty never omits a struct; omitzero uses IsZero.
			omit = f.omitZero && (*time.Time)(fv.Addr().UnsafePointer()).IsZero()
		case encDecimal:
			omit = f.omitZero && (*decimal.Decimal)(fv.Addr().UnsafePointer()).IsZero()
		default:
			return dst, false
		}
		if omit {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, f.key...)
		switch f.kind {
		case encString:
			var ok bool
			if dst, ok = appendString(dst, fv.String()); !ok {
				return dst, false
			}
		case encBool:
			dst = strconv.AppendBool(dst, fv.Bool())
		case encInt:
			dst = strconv.AppendInt(dst, fv.Int(), 10)
		case encUint:
			dst = strconv.AppendUint(dst, fv.Uint(), 10)
		case encUUID:
			dst = appendUUID(dst, (*uuid.UUID)(fv.Addr().UnsafePointer()))
		case encTime:
			var ok bool
			if dst, ok = appendTime(dst, (*time.Time)(fv.Addr().UnsafePointer())); !ok {
				return dst, false
			}
		case encDecimal:
			var ok bool
			if dst, ok = appendDecimal(dst, (*decimal.Decimal)(fv.Addr().UnsafePointer())); !ok {
				return dst, false
			}
		case encMap:
			switch {
			case fv.IsNil():
				dst = append(dst, "null"...)
			case fv.Len() == 0:
				dst = append(dst, "{}"...)
			default:
				return dst, false // encoding/json sorts the keys: let it
			}
		case encStructs, encStrings:
			if fv.IsNil() {
				dst = append(dst, "null"...)
				break
			}
			dst = append(dst, '[')
			for j := 0; j < fv.Len(); j++ {
				if j > 0 {
					dst = append(dst, ',')
				}
				var ok bool
				if f.kind == encStrings {
					dst, ok = appendString(dst, fv.Index(j).String())
				} else {
					// Slice elements are addressable.
					dst, ok = f.elem.appendStruct(dst, fv.Index(j), depth+1)
				}
				if !ok {
					return dst, false
				}
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, '}'), true
}

const hexDigits = "0123456789abcdef"

// appendUUID appends id as uuid.UUID.MarshalText writes it, quoted.
func appendUUID(dst []byte, id *uuid.UUID) []byte {
	dst = append(dst, '"')
	for i, b := range id {
		switch i {
		case 4, 6, 8, 10:
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
	}
	return append(dst, '"')
}

// appendTime appends what t.MarshalJSON writes (RFC 3339 with trimmed
// nanoseconds, quoted); false where MarshalJSON fails (a year outside
// 0..9999, a zone offset of 24 hours or more).
func appendTime(dst []byte, t *time.Time) ([]byte, bool) {
	b, err := t.AppendText(append(dst, '"')) // MarshalJSON's text, unquoted
	if err != nil {
		return dst, false
	}
	return append(b, '"'), true
}

// appendDecimal appends what d.MarshalJSON writes: d.String(), quoted.
func appendDecimal(dst []byte, d *decimal.Decimal) ([]byte, bool) {
	if decimal.MarshalJSONWithoutQuotes {
		return dst, false
	}
	dst = append(dst, '"')
	if exp := d.Exponent(); decimal.TrimTrailingZeros && !decimal.UseScientificNotation &&
		exp >= -maxPlainExp && exp <= maxPlainExp && d.NumDigits() <= 18 {
		// The coefficient fits an int64: format it here as Decimal.String
		// does, without its allocations.
		dst = appendDecimalDigits(dst, d.CoefficientInt64(), int(exp))
	} else {
		dst = append(dst, d.String()...)
	}
	return append(dst, '"'), true
}

// maxPlainExp bounds the exponents appendDecimalDigits writes; zeros holds
// enough zeros for them.
const (
	maxPlainExp = 64
	zeros       = "0000000000000000000000000000000000000000000000000000000000000000"
)

// appendDecimalDigits appends c×10^exp as decimal.Decimal.String writes it
// (with TrimTrailingZeros and without UseScientificNotation): no exponent,
// no trailing zeros after the point, no point for an integer.
func appendDecimalDigits(dst []byte, c int64, exp int) []byte {
	var buf [24]byte
	digits := strconv.AppendInt(buf[:0], c, 10)
	if digits[0] == '-' {
		dst = append(dst, '-')
		digits = digits[1:]
	}
	switch {
	case exp == 0:
		return append(dst, digits...)
	case exp > 0:
		if c == 0 {
			return append(dst, '0')
		}
		return append(append(dst, digits...), zeros[:exp]...)
	}
	places := -exp
	intPart, lead, frac := []byte("0"), 0, digits
	if len(digits) > places {
		intPart, frac = digits[:len(digits)-places], digits[len(digits)-places:]
	} else {
		lead = places - len(digits)
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	dst = append(dst, intPart...)
	if len(frac) > 0 {
		dst = append(dst, '.')
		dst = append(dst, zeros[:lead]...)
		dst = append(dst, frac...)
	}
	return dst
}

// htmlSafe: ASCII bytes encoding/json writes as they are in a string (with
// HTML escaping on, as json.Marshal has it): 0x20..0x7f but ", \, <, >, &.
var htmlSafe = func() (s [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		s[b] = !strings.ContainsRune(`"\<>&`, rune(b))
	}
	return s
}()

// appendString appends s as a JSON string exactly as json.Marshal writes
// it: ", \ and control characters escaped (\b \f \n \r \t short, others as
// \u00XX), <, > and & as \u003c \u003e \u0026, U+2028 and U+2029 as
// \u2028 \u2029. It gives way on invalid UTF-8, which encoding/json
// replaces by U+FFFD: escaped as \ufffd by its v1 implementation, written
// as is by the v2-based one (GOEXPERIMENT=jsonv2).
func appendString(dst []byte, s string) ([]byte, bool) {
	n := len(dst)
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if htmlSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			return dst[:n], false
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xf])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), true
}
