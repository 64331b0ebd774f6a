package fastjson

import (
	"encoding/binary"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

type meta struct {
	A     uuid.UUID         `json:"a"`
	B     uuid.UUID         `json:"b"`
	Extra map[string]string `json:"extra,omitempty"`
}

type row struct {
	N    string          `json:"n"`
	D    decimal.Decimal `json:"d"`
	T    time.Time       `json:"t,omitzero"`
	Rows []row           `json:"rows,omitempty"`
}

// The Codec writes and reads what encoding/json does, whether its one-pass
// encoder and decoder take the value or hand it to encoding/json.
func TestCodecMatchesEncodingJSON(t *testing.T) {
	mc := For[meta]()
	for _, m := range []meta{
		{A: uuid.New(), B: uuid.New()},
		{},
		{A: uuid.New(), Extra: map[string]string{}},
		{A: uuid.New(), Extra: map[string]string{"k": "v\"", "a": "é<"}},
	} {
		want, _ := json.Marshal(m)
		got, err := mc.Append([]byte("x"), &m)
		if err != nil || string(got) != "x"+string(want) {
			t.Errorf("%+v: %s (%v), want %s", m, got, err, want)
		}
		var back, wantBack meta
		err = mc.Unmarshal(want, &back)
		_ = json.Unmarshal(want, &wantBack)
		if err != nil || !reflect.DeepEqual(back, wantBack) {
			t.Errorf("%s: %+v (%v), want %+v", want, back, err, wantBack)
		}
	}
	rc := For[row]()
	r := row{N: "a", D: decimal.New(-125, -4), Rows: []row{{N: "b", T: time.Unix(5, 0).UTC()}, {D: decimal.New(7, 2)}}}
	want, _ := json.Marshal(r)
	if got, err := rc.Append(nil, &r); err != nil || string(got) != string(want) {
		t.Errorf("%s (%v), want %s", got, err, want)
	}
	for _, data := range []string{
		string(want),
		`{"n":"a\u00e9","rows":[{"n":"x"}],"rows":[]}`, // escaped: encoding/json
		`{"rows":[{"n":"x","d":"1"},{"n":"y"}],"rows":[{"d":"2"}]}`,
		`{"d":1.5}`,
		`{"t":null,"n":"z"}`,
		`[]`,
		`{"n":`,
		strings.Repeat(`{"rows":[`, 150) + `{}` + strings.Repeat(`]}`, 150), // deeper than the one-pass decoder goes
	} {
		got, wantV := row{N: "stale"}, row{}
		err := rc.Unmarshal([]byte(data), &got)
		wantErr := json.Unmarshal([]byte(data), &wantV)
		if (err != nil) != (wantErr != nil) || wantErr == nil && !reflect.DeepEqual(got, wantV) {
			t.Errorf("%s: %+v (%v), want %+v (%v)", data, got, err, wantV, wantErr)
		}
	}
	// A value encoding/json rejects: its error.
	bad := row{T: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if got, err := rc.Append([]byte("x"), &bad); err == nil || string(got) != "x" {
		t.Errorf("year 10000: %s, %v", got, err)
	}
}

// hasSpecial has no false negatives: any word with a byte str must look
// at is flagged, wherever the byte is and whatever surrounds it.
func TestHasSpecial(t *testing.T) {
	for _, fill := range []byte{'a', 0x7f, 0x80, 0xff, ' '} {
		for pos := 0; pos < 8; pos++ {
			for c := 0; c < 256; c++ {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				if strSpecial[c] && !hasSpecial(binary.LittleEndian.Uint64(w[:])) {
					t.Fatalf("%q: special byte %#x not flagged", w, c)
				}
			}
		}
	}
	if hasSpecial(binary.LittleEndian.Uint64([]byte("abcdefgh"))) {
		t.Error("plain word flagged")
	}
}
