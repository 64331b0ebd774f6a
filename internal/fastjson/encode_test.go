package fastjson

import (
	"encoding/json"
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// appendBoth encodes v with an Encoder for its type and with json.Marshal.
func appendBoth(t *testing.T, v any) (got []byte, ok bool, want []byte, wantErr error) {
	t.Helper()
	typ := reflect.TypeOf(v)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	got, ok = NewEncoder(typ).Append([]byte("prefix"), v)
	if !ok && string(got) != "prefix" {
		t.Errorf("%T: gave way but left dst %q", v, got)
	}
	got = got[len("prefix"):]
	want, wantErr = json.Marshal(v)
	return got, ok, want, wantErr
}

// mustMatch: the fast path is taken on v and writes json.Marshal's bytes.
func mustMatch(t *testing.T, v any) {
	t.Helper()
	got, ok, want, err := appendBoth(t, v)
	if err != nil {
		t.Fatalf("%T: json.Marshal: %v", v, err)
	}
	if !ok {
		t.Errorf("%T: gave way on %s", v, want)
		return
	}
	if string(got) != string(want) {
		t.Errorf("%T:\n fast %s\n json %s", v, got, want)
	}
}

// mustGiveWay: the fast path is not taken on v.
func mustGiveWay(t *testing.T, v any) {
	t.Helper()
	if got, ok, want, _ := appendBoth(t, v); ok {
		t.Errorf("%T: fast path taken: %s (json %s)", v, got, want)
	}
}

type named string
type namedInt int16

type item struct {
	Name  string          `json:"name"`
	Price decimal.Decimal `json:"price"`
	Tags  []string        `json:"tags,omitempty"`
}

type kinds struct {
	S   string          `json:"s"`
	N   named           `json:"n"`
	B   bool            `json:"b"`
	I   int             `json:"i"`
	I8  int8            `json:"i8"`
	I16 namedInt        `json:"i16"`
	I32 int32           `json:"i32"`
	I64 int64           `json:"i64"`
	U   uint            `json:"u"`
	U8  uint8           `json:"u8"`
	U16 uint16          `json:"u16"`
	U32 uint32          `json:"u32"`
	U64 uint64          `json:"u64"`
	UP  uintptr         `json:"up"`
	ID  uuid.UUID       `json:"id"`
	D   decimal.Decimal `json:"d"`
	T   time.Time       `json:"t"`
	L   []item          `json:"l"`
	SS  []string        `json:"ss"`
	Raw string          // no tag: the Go name
	Odd string          `json:"a-b.c d!"`
	Bad string          `json:"\\x"` // invalid tag name: the Go name
	Dsh string          `json:"-,"`  // the name "-"
	Not string          `json:"-"`
	not string
}

func TestEncoderKinds(t *testing.T) {
	id := uuid.MustParse("01234567-89ab-cdef-0123-456789abcdef")
	at := time.Date(2026, 7, 8, 9, 10, 11, 120000000, time.FixedZone("X", -(3*3600+30*60)))
	full := kinds{
		S: "hé \"<a&b>\"\n\x00\u2028\u2029😀\x7f", N: "n", B: true,
		I: math.MinInt, I8: -128, I16: -7, I32: math.MaxInt32, I64: math.MinInt64,
		U: math.MaxUint, U8: 255, U16: 7, U32: math.MaxUint32, U64: math.MaxUint64, UP: 42,
		ID: id, D: decimal.RequireFromString("-12.3400"), T: at,
		L:  []item{{"a", decimal.New(5, -3), []string{"x", "<y>"}}, {Name: "b", Tags: []string{}}},
		SS: []string{"", "q"}, Raw: "r", Odd: "o", Bad: "b", Dsh: "d", Not: "gone", not: "gone",
	}
	mustMatch(t, full)
	mustMatch(t, &full)
	mustMatch(t, kinds{})                               // zero values, nil slices: null
	mustMatch(t, kinds{L: []item{}, SS: []string{}})    // empty slices: []
	mustMatch(t, struct{}{})                            // {}
	mustMatch(t, struct{ A, B int }{1, 2})              // no tags
	mustMatch(t, struct{ L []struct{ X int } }{nil})    // anonymous element type
	mustMatch(t, struct{ L []item }{[]item{{}, {}}})    // zero elements
	mustMatch(t, struct{ X []named }{[]named{"a", ""}}) // named element strings
}

type omit struct {
	S  string          `json:"s,omitempty"`
	B  bool            `json:"b,omitempty"`
	I  int64           `json:"i,omitempty"`
	U  uint8           `json:"u,omitempty"`
	ID uuid.UUID       `json:"id,omitempty"` // an array of length 16: never omitted
	D  decimal.Decimal `json:"d,omitempty"`  // a struct: never omitted
	T  time.Time       `json:"t,omitempty"`  // a struct: never omitted
	L  []item          `json:"l,omitempty"`  // nil or empty
	SS []string        `json:"ss,omitempty"` // nil or empty
}

type omitZero struct {
	S  string          `json:"s,omitzero"`
	B  bool            `json:"b,omitzero"`
	I  int64           `json:"i,omitzero"`
	U  uint8           `json:"u,omitzero"`
	ID uuid.UUID       `json:"id,omitzero"` // uuid.Nil
	D  decimal.Decimal `json:"d,omitzero"`  // D.IsZero(): any zero, whatever its exponent
	T  time.Time       `json:"t,omitzero"`  // T.IsZero(): whatever the location
	L  []item          `json:"l,omitzero"`  // nil only
	SS []string        `json:"ss,omitzero"` // nil only
}

type omitBoth struct {
	ID uuid.UUID       `json:"id,omitempty,omitzero"`
	D  decimal.Decimal `json:"d,omitzero,omitempty"`
	T  time.Time       `json:"t,omitempty,omitzero"`
	L  []item          `json:"l,omitempty,omitzero"`
	S  string          `json:"s,omitempty,omitzero"`
}

func TestEncoderOmit(t *testing.T) {
	zeroAt := time.Time{}.In(time.FixedZone("Z", 3600)) // IsZero, but not the zero value
	zeroDec := decimal.New(0, -5)                       // IsZero, but not the zero value
	for _, v := range []any{
		omit{}, omitZero{}, omitBoth{},
		omit{L: []item{}, SS: []string{}}, omitZero{L: []item{}, SS: []string{}}, omitBoth{L: []item{}},
		omit{T: zeroAt, D: zeroDec}, omitZero{T: zeroAt, D: zeroDec}, omitBoth{T: zeroAt, D: zeroDec},
		omit{S: "x", B: true, I: -1, U: 1, ID: uuid.New(), D: decimal.New(1, 0), T: time.Unix(0, 0).UTC(), L: []item{{}}, SS: []string{""}},
		omitZero{S: "x", B: true, I: -1, U: 1, ID: uuid.New(), D: decimal.New(1, 0), T: time.Unix(0, 0).UTC(), L: []item{{}}, SS: []string{""}},
		omitBoth{ID: uuid.New(), D: decimal.New(-1, -9), T: time.Unix(1, 0), L: []item{{}}, S: "s"},
	} {
		mustMatch(t, v)
	}
}

type Inner struct {
	A string `json:"a"`
	B int    `json:"b,omitempty"`
}

type inner2 struct {
	C bool `json:"c"`
}

type embeds struct {
	Inner           // flattened
	inner2          // unexported, flattened
	X      string   `json:"x"`
	Deeper struct { // a named member of struct type: not handled
		Y int
	} `json:"-"` // but skipped
}

type embedsTagged struct {
	Inner `json:",omitempty"` // still untagged by name: flattened
	Z     int                 `json:"z"`
}

type hasTime struct {
	time.Time // promotes MarshalJSON: the whole struct is a time to encoding/json
	X         int
}

type marshals struct{ X int }

func (marshals) MarshalJSON() ([]byte, error) { return []byte(`"custom"`), nil }

type textMarshals string

func (*textMarshals) MarshalText() ([]byte, error) { return []byte("custom"), nil }

type zeroer string

func (zeroer) IsZero() bool { return true }

type node struct {
	Name     string `json:"name"`
	Children []node `json:"children,omitempty"`
}

func TestEncoderEmbedded(t *testing.T) {
	mustMatch(t, embeds{Inner: Inner{"a", 2}, inner2: inner2{true}, X: "x"})
	mustMatch(t, embedsTagged{Inner: Inner{A: "a"}, Z: 1})
	mustMatch(t, node{Name: "root", Children: []node{{Name: "a"}, {Name: "b", Children: []node{{Name: "c"}}}}})
}

func TestEncoderGivesWay(t *testing.T) {
	type conflict struct {
		Inner
		A string `json:"a"` // shadows Inner.A: encoding/json's dominance rules
	}
	type twice struct {
		Inner
		Other struct{ Inner }
	}
	type ptrEmbed struct {
		*Inner
		X int
	}
	x := 1
	for _, v := range []any{
		struct{ M map[string]int }{map[string]int{"a": 1}}, // sorted keys: encoding/json's
		struct{ M map[int]string }{},                       // not string keys
		struct{ P *int }{&x},
		struct{ P *int }{},
		struct{ I any }{1},
		struct{ F float64 }{1.5},
		struct{ N Inner }{},                      // a nested struct
		struct{ B []byte }{[]byte("x")},          // base64
		struct{ A [2]int }{},                     // an array
		struct{ L []*Inner }{},                   // a slice of pointers
		struct{ L [][]string }{},                 // a slice of slices
		struct{ L []time.Time }{[]time.Time{{}}}, // elements with marshalers
		struct{ L []marshals }{[]marshals{{}}},   // elements with marshalers
		struct {
			I int `json:"i,string"`
		}{1}, // quoted
		struct {
			S string `json:"s,string"`
		}{"x"}, // quoted
		ptrEmbed{Inner: &Inner{}},
		ptrEmbed{},
		conflict{},
		twice{},
		hasTime{},
		marshals{},
		struct{ T textMarshals }{},
		struct{ L []textMarshals }{},
		struct {
			Z zeroer `json:"z,omitzero"`
		}{}, // omitzero by its own IsZero
		struct {
			A string `json:"a<b"`
		}{}, // the name needs escaping
		struct{ Ä string }{},                                                                  // a non-ASCII name
		struct{ S string }{"a\xffb"},                                                          // invalid UTF-8
		struct{ S []string }{[]string{"\xc0"}},                                                // invalid UTF-8
		struct{ L []item }{[]item{{Name: "\xed\xa0\x80"}}},                                    // invalid UTF-8
		struct{ T time.Time }{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},                   // MarshalJSON fails
		struct{ T time.Time }{time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},                      // MarshalJSON fails
		struct{ T time.Time }{time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))}, // MarshalJSON fails
	} {
		mustGiveWay(t, v)
	}
	// Nil and empty maps.
	mustMatch(t, struct{ M map[string]int }{})
	mustMatch(t, struct{ M map[string]int }{map[string]int{}})
	mustMatch(t, struct {
		M map[string]string `json:"m,omitempty"`
		Z map[string]string `json:"z,omitzero"`
	}{map[string]string{}, map[string]string{}})
	mustMatch(t, struct {
		M map[string]string `json:"m,omitempty"`
		Z map[string]string `json:"z,omitzero"`
	}{})
	// A struct the encoder does not handle is still fine in an empty or nil
	// slice: [] and null do not depend on it.
	mustMatch(t, struct{ L []struct{ F float64 } }{})
	mustMatch(t, struct{ L []struct{ F float64 } }{[]struct{ F float64 }{}})
	mustGiveWay(t, struct{ L []struct{ F float64 } }{[]struct{ F float64 }{{1}}})

	// Not the described type, nil, nil pointer, not a struct.
	e := NewEncoder(reflect.TypeFor[Inner]())
	for _, v := range []any{nil, (*Inner)(nil), inner2{}, &inner2{}, 1, new(*Inner)} {
		if got, ok := e.Append([]byte("x"), v); ok || string(got) != "x" {
			t.Errorf("Append(%#v) = %q, %v", v, got, ok)
		}
	}
	if _, ok := NewEncoder(reflect.TypeFor[int]()).Append(nil, 1); ok {
		t.Error("Append of an int")
	}
	if _, ok := NewEncoder(reflect.TypeFor[*Inner]()).Append(nil, &Inner{}); ok {
		t.Error("Encoder of a pointer type")
	}
	// AppendValue wants an addressable value where it reads addresses.
	v := omit{}
	if _, ok := NewEncoder(reflect.TypeFor[omit]()).AppendValue(nil, reflect.ValueOf(v)); ok {
		t.Error("AppendValue of a non-addressable struct with a time member")
	}
	if _, ok := NewEncoder(reflect.TypeFor[omit]()).AppendValue(nil, reflect.ValueOf(&v).Elem()); !ok {
		t.Error("AppendValue of an addressable struct")
	}
	if _, ok := NewEncoder(reflect.TypeFor[Inner]()).AppendValue(nil, reflect.ValueOf(Inner{})); !ok {
		t.Error("AppendValue of a non-addressable struct without address-read members")
	}

	// Decimals written as JSON numbers: give way.
	decimal.MarshalJSONWithoutQuotes = true
	t.Cleanup(func() { decimal.MarshalJSONWithoutQuotes = false })
	mustGiveWay(t, struct{ D decimal.Decimal }{decimal.New(1, 0)})
	decimal.MarshalJSONWithoutQuotes = false
	mustMatch(t, struct{ D decimal.Decimal }{decimal.New(1, 0)})
}

// A cycle through slices: encoding/json reports it; the encoder gives way
// instead of recursing forever.
func TestEncoderCycle(t *testing.T) {
	s := []node{{Name: "a"}}
	s[0].Children = s
	if _, ok := NewEncoder(reflect.TypeFor[node]()).Append(nil, s[0]); ok {
		t.Error("fast path taken on a cycle")
	}
	if _, err := json.Marshal(s[0]); err == nil {
		t.Error("json.Marshal accepted a cycle")
	}
	deep := node{Name: "0"}
	for i := 0; i < maxDepth-1; i++ {
		deep = node{Name: "x", Children: []node{deep}}
	}
	mustMatch(t, deep)
}

var stringCases = []string{
	"", "plain", `"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x7f", "\b\f\n\r\t", "\x0b",
	"é", "€", "hi €", "😀", "\u2028", "\u2029", "a\u2028b\u2029c", "\u2027\u202a",
	"\xff", "a\xffb", "\xe2\x82", "\xe2\x82x", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
	"</script>", "ok\"\\<>&\u2028\xff€",
}

func TestAppendStringMatchesJSON(t *testing.T) {
	for _, s := range stringCases {
		checkString(t, s)
	}
	for b := 0; b < 256; b++ {
		checkString(t, string([]byte{byte(b)}))
		checkString(t, "a"+string([]byte{byte(b)})+"z")
	}
}

// checkString: appendString writes json.Marshal's bytes for valid UTF-8
// and gives way on invalid UTF-8.
func checkString(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	got, ok := appendString([]byte("x"), s)
	switch {
	case ok != utf8.ValidString(s):
		t.Errorf("%q: ok %v", s, ok)
	case !ok && string(got) != "x":
		t.Errorf("%q: gave way but left dst %q", s, got)
	case ok && string(got[1:]) != string(want):
		t.Errorf("%q:\n fast %s\n json %s", s, got[1:], want)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(checkString)
}

func TestDecimalMatchesJSON(t *testing.T) {
	var ds []decimal.Decimal
	for _, s := range []string{
		"0", "0.0", "-0", "0.000", "1", "-1", "10", "100.00", "0.0125", "-0.0125", "12.3400",
		"1e3", "1.5e3", "-2e-20", "1e-64", "1e-65", "7e64", "7e65", "123456789012345678",
		"1234567890123456789", "-9223372036854775808", "9223372036854775807", "-9223372036854775809",
		"0.000000000000000001", "99999999999999999999.99999999999999", "1e-200", "3e100",
	} {
		ds = append(ds, decimal.RequireFromString(s))
	}
	for _, c := range []int64{0, 1, -1, 9, 10, -100, 123456, math.MaxInt64, math.MinInt64, 999999999999999999, 1000000000000000000} {
		for _, exp := range []int32{-70, -65, -64, -63, -20, -19, -18, -5, -3, -1, 0, 1, 2, 20, 63, 64, 65, 70} {
			ds = append(ds, decimal.New(c, exp))
		}
	}
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	ds = append(ds, decimal.NewFromBigInt(huge, -7), decimal.NewFromBigInt(huge, 3), decimal.Decimal{}, decimal.Zero)
	check := func() {
		for _, d := range ds {
			mustMatch(t, struct {
				D decimal.Decimal `json:"d"`
			}{d})
		}
	}
	check()
	// The package's other formatting settings: String is used as it is.
	t.Cleanup(func() { decimal.TrimTrailingZeros, decimal.UseScientificNotation = true, false })
	decimal.TrimTrailingZeros = false
	check()
	decimal.TrimTrailingZeros = true
	decimal.UseScientificNotation = true
	check()
	decimal.UseScientificNotation = false
}

func TestTimeMatchesJSON(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	for _, at := range []time.Time{
		{}, time.Unix(0, 0), time.Unix(0, 0).UTC(), time.Now(), time.Now().Round(0),
		time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 100000000, ny),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60+59)),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", -(23*3600+30))),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.FixedZone("", 0)),
	} {
		mustMatch(t, struct{ T time.Time }{at})
	}
}

// The encoder itself allocates nothing: it only appends to dst.
func TestEncoderAllocs(t *testing.T) {
	v := kinds{
		S: "hé \"<a&b>\"\n", B: true, I: -5, ID: uuid.New(), D: decimal.RequireFromString("-12.3400"),
		T: time.Now(), L: []item{{"a", decimal.New(5, -3), []string{"x"}}}, SS: []string{"q"},
	}
	e := NewEncoder(reflect.TypeFor[kinds]())
	dst := make([]byte, 0, 4096)
	rv := reflect.ValueOf(&v).Elem()
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := e.AppendValue(dst[:0], rv); !ok {
			t.Fatal("gave way")
		}
	}); n != 0 {
		t.Errorf("AppendValue: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := e.Append(dst[:0], &v); !ok {
			t.Fatal("gave way")
		}
	}); n != 0 {
		t.Errorf("Append of a pointer: %v allocations", n)
	}
}

func TestHasOption(t *testing.T) {
	for _, c := range []struct {
		opts, want string
		has        bool
	}{
		{"omitempty", "omitempty", true},
		{"string,omitempty", "omitempty", true},
		{"omitemptyx", "omitempty", false},
		{"", "omitempty", false},
		{"omitzero,", "omitzero", true},
	} {
		if hasOption(c.opts, c.want) != c.has {
			t.Errorf("hasOption(%q, %q) != %v", c.opts, c.want, c.has)
		}
	}
}
