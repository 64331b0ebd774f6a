// Package fastjson is the JSON codec of the event catalogue and the event
// store's metadata (Codec): it encodes and decodes the flat structs they
// are made of in one pass, without encoding/json's reflection-driven state
// machines and separate validation pass, and hands anything unusual to
// encoding/json itself, so bytes, results and errors are always
// encoding/json's. docs/JSON-CODEC.md says why it is kept over
// encoding/json and the maintained libraries.
package fastjson

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// The decoding side: one pass over a JSON object that sets the struct
// members it knows directly, with no reflection-driven decoding state
// machine and no separate validation pass. It handles exactly the shapes
// the event catalogue and the store metadata write: an object whose wanted
// members are strings without escapes, integers, booleans, the JSON forms
// of uuid, decimal and time, and arrays of such objects. It gives up
// (ok == false) on anything else — an escape in a wanted string, invalid
// UTF-8 in one, null, a member name that only matches case-insensitively,
// a number that is not an integer where one is wanted, malformed JSON
// anywhere — and Codec then decodes with encoding/json, so results and
// errors are always encoding/json's. Members it does not want are skipped
// but still fully syntax-checked.

type fastField struct {
	name   string
	offset uintptr // of the member in the (outermost) struct
	kind   fastKind
	bits   int          // fastInt, fastUint: the member's size in bits
	ptr    bool         // fastInt: an *int
	typ    reflect.Type // fastStructs: the slice type
	elem   *Decoder     // fastStructs: the element struct
}

type fastKind uint8

const (
	fastUnsupported fastKind = iota
	fastString
	fastInt
	fastUint
	fastBool
	fastUUID
	fastDecimal
	fastTime
	fastStructs // a slice of structs the fast path can decode
)

// Decoder decodes JSON objects into one struct type.
type Decoder struct {
	ptrType reflect.Type // a pointer to the described struct
	// fields in declaration order, which is the order Encode writes them:
	// object expects them in that order and looks a name up in byName
	// only when the next one is not the expected one.
	fields []fastField
	byName map[string]int  // index in fields
	folded map[string]bool // lower-cased names of all fields
}

var (
	uuidType    = reflect.TypeFor[uuid.UUID]()
	decimalType = reflect.TypeFor[decimal.Decimal]()
	timeType    = reflect.TypeFor[time.Time]()
	intPtrType  = reflect.TypeFor[*int]()
)

// NewDecoder describes struct type t (members named by their json tags,
// embedded structs flattened as encoding/json does for untagged anonymous
// struct members).
func NewDecoder(t reflect.Type) *Decoder {
	return newDecoder(t, map[reflect.Type]*Decoder{})
}

func newDecoder(t reflect.Type, seen map[reflect.Type]*Decoder) *Decoder {
	if d, ok := seen[t]; ok {
		return d // a recursive type: its plan is being built
	}
	d := &Decoder{ptrType: reflect.PointerTo(t), byName: map[string]int{}, folded: map[string]bool{}}
	seen[t] = d
	var walk func(t reflect.Type, offset uintptr)
	walk = func(t reflect.Type, offset uintptr) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, offset+f.Offset)
				continue
			}
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			ff := fastField{name: name, offset: offset + f.Offset, bits: int(f.Type.Size()) * 8}
			switch k := f.Type.Kind(); {
			case k == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct &&
				f.Type.Elem() != timeType && f.Type.Elem() != decimalType:
				ff.kind, ff.typ, ff.elem = fastStructs, f.Type, newDecoder(f.Type.Elem(), seen)
			case f.Type == uuidType:
				ff.kind = fastUUID
			case f.Type == decimalType:
				ff.kind = fastDecimal
			case f.Type == timeType:
				ff.kind = fastTime
			case f.Type == intPtrType:
				ff.kind, ff.ptr, ff.bits = fastInt, true, strconv.IntSize // the schema member
			case k == reflect.String:
				ff.kind = fastString
			case k == reflect.Bool:
				ff.kind = fastBool
			case k >= reflect.Int && k <= reflect.Int64:
				ff.kind = fastInt
			case k >= reflect.Uint && k <= reflect.Uint64:
				ff.kind = fastUint
			}
			if j, dup := d.byName[name]; dup {
				d.fields[j] = fastField{name: name, kind: fastUnsupported} // encoding/json's dominance rules: let it decide
				continue
			}
			d.byName[name] = len(d.fields)
			d.fields = append(d.fields, ff)
			d.folded[strings.ToLower(name)] = true
		}
	}
	walk(t, 0)
	return d
}

// Decode fills *p (a pointer to the described struct) from data; ok is
// false when the caller must use encoding/json instead (and *p may then be
// partly written: start over from its zero value).
func (d *Decoder) Decode(data []byte, p any) (ok bool) {
	v := reflect.ValueOf(p)
	if !v.IsValid() || v.Type() != d.ptrType || v.IsNil() {
		return false
	}
	s := fastScanner{b: data}
	s.ws()
	return d.object(&s, v.UnsafePointer(), 0) && s.end()
}

// object reads one object into the struct at v, at depth nested arrays of
// objects. Members are written through their offsets from v, as the
// types NewDecoder found them to be.
func (d *Decoder) object(s *fastScanner, v unsafe.Pointer, depth int) bool {
	if depth > 100 || !s.consume('{') {
		return false
	}
	s.ws()
	if s.consume('}') {
		return true
	}
	next := 0 // the member expected next
	for {
		s.ws()
		key, esc, ok := s.str()
		if !ok || esc {
			return false
		}
		s.ws()
		if !s.consume(':') {
			return false
		}
		s.ws()
		var f *fastField
		if next < len(d.fields) && d.fields[next].name == string(key) {
			f = &d.fields[next]
			next++
		} else if i, known := d.byName[string(key)]; known {
			f = &d.fields[i]
			next = i + 1
		}
		switch {
		case f == nil:
			if !d.unknown(key) || !s.skip(0) {
				return false
			}
		case f.kind == fastStructs:
			if !s.structs(reflect.NewAt(f.typ, unsafe.Add(v, f.offset)).Elem(), f.elem, depth+1) {
				return false
			}
		default:
			if !s.set(unsafe.Add(v, f.offset), f) {
				return false
			}
		}
		s.ws()
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// unknown reports whether key can be skipped as encoding/json skips it:
// it matches no member, even case-insensitively.
func (d *Decoder) unknown(key []byte) bool {
	var buf [64]byte
	if len(key) > len(buf) {
		return false
	}
	for i, c := range key {
		if c >= utf8.RuneSelf {
			return false // encoding/json's Unicode case folding: let it decide
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return !d.folded[string(buf[:len(key)])] // else encoding/json would match it case-insensitively
}

// structs reads an array of objects into slice f as encoding/json does: it
// decodes into the elements already there (up to the slice's capacity),
// sets the length to the number of elements read, and makes [] an empty
// slice, not nil.
func (s *fastScanner) structs(f reflect.Value, elem *Decoder, depth int) bool {
	if !s.consume('[') {
		return false // null: encoding/json
	}
	s.ws()
	i := 0
	if !s.consume(']') {
		for {
			s.ws()
			if i >= f.Cap() {
				f.Grow(max(4, i)) // append's growth, from 4 elements
			}
			if i >= f.Len() {
				f.SetLen(i + 1)
			}
			if !elem.object(s, f.Index(i).Addr().UnsafePointer(), depth) {
				return false
			}
			i++
			s.ws()
			if s.consume(',') {
				continue
			}
			if !s.consume(']') {
				return false
			}
			break
		}
	}
	if i < f.Len() {
		f.SetLen(i)
	}
	if i == 0 {
		// encoding/json sets a new empty slice. Value.Set would make v
		// escape to the heap (for every type): the same, without it.
		if f.Cap() == 0 {
			f.Grow(1)
		} else {
			f.SetLen(f.Cap())
			for j := range f.Len() {
				f.Index(j).SetZero()
			}
			f.SetLen(0)
		}
	}
	return true
}

type fastScanner struct {
	b []byte
	i int
}

func (s *fastScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *fastScanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *fastScanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// strSpecial: the bytes str must look at (the end quote, an escape, a
// control character); it skips the others in a tight loop.
var strSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// hasSpecial reports whether one of the 8 bytes in x may be one of
// strSpecial's (a byte below 0x20, '"' or '\\'), by the classic
// "has a zero byte" test, which gives no false negatives.
func hasSpecial(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, e := x^(lo*'"'), x^(lo*'\\')
	return ((x-lo*0x20)&^x|(q-lo)&^q|(e-lo)&^e)&hi != 0
}

// str reads a string and returns its raw content (between the quotes);
// esc reports an escape in it (the content is then not the value).
func (s *fastScanner) str() (raw []byte, esc, ok bool) {
	if !s.consume('"') {
		return nil, false, false
	}
	start := s.i
	b := s.b
	for i := s.i; ; {
		for i+8 <= len(b) && !hasSpecial(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && !strSpecial[b[i]] {
			i++
		}
		if i >= len(b) {
			return nil, false, false
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return b[start:i], esc, true
		case '\\':
			esc = true
			i++
			if i >= len(b) {
				return nil, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 > len(b) {
					return nil, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, false
					}
				}
				i += 5
			default:
				return nil, false, false
			}
		default: // a control character
			return nil, false, false
		}
	}
}

// number reads a JSON number and returns its text.
func (s *fastScanner) number() ([]byte, bool) {
	start := s.i
	s.consume('-')
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.consume('0') {
		// no more integer digits
	} else if s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9' {
		digits()
	} else {
		return nil, false
	}
	if s.consume('.') && digits() == 0 {
		return nil, false
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if !s.consume('+') {
			s.consume('-')
		}
		if digits() == 0 {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

func (s *fastScanner) literal(lit string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		s.i += len(lit)
		return true
	}
	return false
}

// skip checks and skips one value of any kind.
func (s *fastScanner) skip(depth int) bool {
	if depth > 100 || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		s.ws()
		if s.consume(closer) {
			return true
		}
		for {
			s.ws()
			if c == '{' {
				if _, _, ok := s.str(); !ok {
					return false
				}
				s.ws()
				if !s.consume(':') {
					return false
				}
				s.ws()
			}
			if !s.skip(depth + 1) {
				return false
			}
			s.ws()
			if s.consume(',') {
				continue
			}
			return s.consume(closer)
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	default:
		_, ok := s.number()
		return ok
	}
}

// set reads the value of member f into p, its address.
func (s *fastScanner) set(p unsafe.Pointer, f *fastField) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch k := f.kind; k {
	case fastString, fastUUID, fastDecimal, fastTime:
		if s.b[s.i] != '"' {
			return false // null, or a decimal written as a number: encoding/json
		}
		raw, esc, ok := s.str()
		if !ok || esc {
			return false
		}
		switch k {
		case fastString:
			if !utf8.Valid(raw) {
				return false
			}
			*(*string)(p) = string(raw)
		case fastUUID:
			id, err := uuid.ParseBytes(raw)
			if err != nil {
				return false
			}
			*(*uuid.UUID)(p) = id
		case fastDecimal:
			// NewFromString keeps nothing of its argument (an error
			// message copies it): no copy of raw needed.
			d, err := decimal.NewFromString(unsafe.String(unsafe.SliceData(raw), len(raw)))
			if err != nil {
				return false
			}
			*(*decimal.Decimal)(p) = d
		case fastTime:
			var t time.Time
			if err := t.UnmarshalText(raw); err != nil {
				return false
			}
			*(*time.Time)(p) = t
		}
		return true
	case fastInt, fastUint:
		raw, ok := s.number()
		if !ok {
			return false
		}
		if k == fastUint {
			n, err := strconv.ParseUint(unsafe.String(unsafe.SliceData(raw), len(raw)), 10, f.bits)
			if err != nil {
				return false
			}
			switch f.bits {
			case 8:
				*(*uint8)(p) = uint8(n)
			case 16:
				*(*uint16)(p) = uint16(n)
			case 32:
				*(*uint32)(p) = uint32(n)
			default:
				*(*uint64)(p) = n
			}
			return true
		}
		n, err := strconv.ParseInt(unsafe.String(unsafe.SliceData(raw), len(raw)), 10, f.bits)
		if err != nil {
			return false
		}
		switch {
		case f.ptr:
			i := int(n)
			*(**int)(p) = &i
		case f.bits == 8:
			*(*int8)(p) = int8(n)
		case f.bits == 16:
			*(*int16)(p) = int16(n)
		case f.bits == 32:
			*(*int32)(p) = int32(n)
		default:
			*(*int64)(p) = n
		}
		return true
	case fastBool:
		switch {
		case s.literal("true"):
			*(*bool)(p) = true
		case s.literal("false"):
			*(*bool)(p) = false
		default:
			return false
		}
		return true
	}
	return false
}
