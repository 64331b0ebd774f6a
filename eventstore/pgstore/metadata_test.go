package pgstore

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
)

// FuzzDecodeMetadata checks the metadata codec against encoding/json:
// whatever the input, both agree.
func FuzzDecodeMetadata(f *testing.F) {
	for _, m := range []eventstore.Metadata{
		{CorrelationID: uuid.New(), CausationID: uuid.New()},
		{},
		{CorrelationID: uuid.New(), Extra: map[string]string{"k": "v"}},
	} {
		b, _ := json.Marshal(m)
		f.Add(string(b))
	}
	f.Add(`{"correlation_id":"not-a-uuid-not-a-uuid-not-a-uuid-xx","causation_id":"00000000-0000-0000-0000-000000000000"}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, meta string) {
		var fast, slow eventstore.Metadata
		errFast := decodeMetadata([]byte(meta), &fast)
		errSlow := json.Unmarshal([]byte(meta), &slow)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("%q: fast err %v, encoding/json err %v", meta, errFast, errSlow)
		}
		if errFast == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", meta, fast, slow)
		}
	})
}

func TestDecodeMetadataRoundTrip(t *testing.T) {
	want := eventstore.Metadata{CorrelationID: uuid.New(), CausationID: uuid.New()}
	b, _ := json.Marshal(want)
	var got eventstore.Metadata
	if err := decodeMetadata(b, &got); err != nil || got.CorrelationID != want.CorrelationID || got.CausationID != want.CausationID {
		t.Fatalf("decode %s: %+v %v", b, got, err)
	}
}

// encodeMetadata writes the bytes json.Marshal writes.
func TestEncodeMetadataMatchesEncodingJSON(t *testing.T) {
	for _, m := range []eventstore.Metadata{
		{CorrelationID: uuid.New(), CausationID: uuid.New()},
		{},
		{CorrelationID: uuid.New(), Extra: map[string]string{}},
		{CorrelationID: uuid.New(), Extra: map[string]string{"k": "v\"", "a": "é"}},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeMetadata(&m)
		if err != nil || got != string(want) {
			t.Errorf("%+v: %s (%v), want %s", m, got, err, want)
		}
	}
}

var benchSink any

// BenchmarkMetadata: the encoding of one event's metadata on append and its
// decoding on every read.
func BenchmarkMetadata(b *testing.B) {
	m := eventstore.Metadata{CorrelationID: uuid.MustParse("3f0c7e52-2a1b-4c1e-9d0f-6b7a8c9d0e1f"), CausationID: uuid.MustParse("0190a0b0-c0d0-7e0f-8a0b-0c0d0e0f1011")}
	s, _ := encodeMetadata(&m)
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, _ := encodeMetadata(&m)
			benchSink = s
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		meta := []byte(s)
		for b.Loop() {
			var got eventstore.Metadata
			if err := decodeMetadata(meta, &got); err != nil {
				b.Fatal(err)
			}
			benchSink = got
		}
	})
}
