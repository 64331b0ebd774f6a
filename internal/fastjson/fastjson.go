// Package fastjson decodes the flat JSON objects the event catalogue writes
// into structs in one pass, without encoding/json's reflection-driven state
// machine and separate validation pass; on anything unusual it gives way
// and the caller decodes with encoding/json, so results and errors are
// always encoding/json's.
package fastjson

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// A fast path for event decoding: one pass over a JSON object that sets
// the struct members it knows directly, with no reflection-driven decoding
// state machine and no separate validation pass. It handles exactly the
// shapes the event catalogue writes (events.Encode): a top-level object
// whose wanted members are strings without escapes, integers, booleans, and
// the JSON forms of uuid, decimal and time. It gives up (ok == false) on
// anything else — an escape in a wanted string, invalid UTF-8 in one, null,
// a member name that only matches case-insensitively, a number that is not
// an integer where one is wanted, malformed JSON anywhere — and the caller
// then decodes with encoding/json, so results and errors are always
// encoding/json's. Members it does not want are skipped but still fully
// syntax-checked.

type fastField struct {
	index []int
	kind  fastKind
	elem  *Decoder // fastStructs: the element struct
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
	fields map[string]fastField
	folded map[string]bool // lower-cased names of all fields
}

var (
	uuidType    = reflect.TypeFor[uuid.UUID]()
	decimalType = reflect.TypeFor[decimal.Decimal]()
	timeType    = reflect.TypeFor[time.Time]()
)

// New describes struct type t (members named by their json tags,
// embedded structs flattened as encoding/json does for untagged anonymous
// struct members).
func New(t reflect.Type) *Decoder {
	d := &Decoder{fields: map[string]fastField{}, folded: map[string]bool{}}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), index...), i)
			tag := f.Tag.Get("json")
			if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
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
			k := fastUnsupported
			var elem *Decoder
			switch {
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct &&
				f.Type.Elem() != timeType && f.Type.Elem() != decimalType:
				k, elem = fastStructs, New(f.Type.Elem())
			case f.Type == uuidType:
				k = fastUUID
			case f.Type == decimalType:
				k = fastDecimal
			case f.Type == timeType:
				k = fastTime
			case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Int:
				k = fastInt // *int (the schema member)
			case f.Type.Kind() == reflect.String:
				k = fastString
			case f.Type.Kind() == reflect.Bool:
				k = fastBool
			case f.Type.Kind() >= reflect.Int && f.Type.Kind() <= reflect.Int64:
				k = fastInt
			case f.Type.Kind() >= reflect.Uint && f.Type.Kind() <= reflect.Uint64:
				k = fastUint
			}
			d.fields[name] = fastField{index: idx, kind: k, elem: elem}
			d.folded[strings.ToLower(name)] = true
		}
	}
	walk(t, nil)
	return d
}

// Decode fills *p (a pointer to the described struct) from data; ok is
// false when the caller must use encoding/json instead (and *p may then be
// partly written: start over from its zero value).
func (d *Decoder) Decode(data []byte, p any) (ok bool) {
	s := fastScanner{b: data}
	s.ws()
	return d.object(&s, reflect.ValueOf(p).Elem()) && s.end()
}

// object reads one object into v.
func (d *Decoder) object(s *fastScanner, v reflect.Value) bool {
	if !s.consume('{') {
		return false
	}
	s.ws()
	if s.consume('}') {
		return true
	}
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
		f, known := d.fields[string(key)]
		if !known {
			for _, c := range key {
				if c >= utf8.RuneSelf {
					return false // encoding/json's Unicode case folding: let it decide
				}
			}
			if d.folded[strings.ToLower(string(key))] {
				return false // encoding/json would match it case-insensitively
			}
			if !s.skip(0) {
				return false
			}
		} else if f.kind == fastStructs {
			if !s.structs(v.FieldByIndex(f.index), f.elem) {
				return false
			}
		} else if !s.set(v.FieldByIndex(f.index), f.kind) {
			return false
		}
		s.ws()
		if s.consume(',') {
			continue
		}
		return s.consume('}')
	}
}

// structs reads an array of objects into slice f (as encoding/json does:
// a new slice, empty but not nil for []).
func (s *fastScanner) structs(f reflect.Value, elem *Decoder) bool {
	if !s.consume('[') {
		return false // null: encoding/json
	}
	out := reflect.MakeSlice(f.Type(), 0, 4)
	s.ws()
	if !s.consume(']') {
		for {
			s.ws()
			e := reflect.New(f.Type().Elem()).Elem()
			if !elem.object(s, e) {
				return false
			}
			out = reflect.Append(out, e)
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
	f.Set(out)
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

// str reads a string and returns its raw content (between the quotes);
// esc reports an escape in it (the content is then not the value).
func (s *fastScanner) str() (raw []byte, esc, ok bool) {
	if !s.consume('"') {
		return nil, false, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, esc, true
		case c == '\\':
			esc = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+5 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return nil, false, false
					}
				}
				s.i += 5
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			s.i++
		}
	}
	return nil, false, false
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

// set reads the value for a member of kind k into f.
func (s *fastScanner) set(f reflect.Value, k fastKind) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch k {
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
			f.SetString(string(raw))
		case fastUUID:
			id, err := uuid.ParseBytes(raw)
			if err != nil {
				return false
			}
			*f.Addr().Interface().(*uuid.UUID) = id
		case fastDecimal:
			d, err := decimal.NewFromString(string(raw))
			if err != nil {
				return false
			}
			*f.Addr().Interface().(*decimal.Decimal) = d
		case fastTime:
			var t time.Time
			if err := t.UnmarshalText(raw); err != nil {
				return false
			}
			*f.Addr().Interface().(*time.Time) = t
		}
		return true
	case fastInt, fastUint:
		raw, ok := s.number()
		if !ok {
			return false
		}
		if k == fastUint {
			n, err := strconv.ParseUint(string(raw), 10, 64)
			if err != nil || f.OverflowUint(n) {
				return false
			}
			f.SetUint(n)
			return true
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return false
		}
		if f.Kind() == reflect.Pointer {
			if n != int64(int(n)) {
				return false
			}
			i := int(n)
			f.Set(reflect.ValueOf(&i))
			return true
		}
		if f.OverflowInt(n) {
			return false
		}
		f.SetInt(n)
		return true
	case fastBool:
		switch {
		case s.literal("true"):
			f.SetBool(true)
		case s.literal("false"):
			f.SetBool(false)
		default:
			return false
		}
		return true
	}
	return false
}
