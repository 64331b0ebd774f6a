package pgstore

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/eventstore"
)

// FuzzDecodeMetadata checks the fast metadata path against encoding/json:
// whatever the input, both agree (or the fast path defers to encoding/json).
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
		errFast := decodeMetadata(meta, &fast)
		errSlow := json.Unmarshal([]byte(meta), &slow)
		if (errFast == nil) != (errSlow == nil) {
			t.Fatalf("%q: fast err %v, encoding/json err %v", meta, errFast, errSlow)
		}
		if errFast == nil && (fast.CorrelationID != slow.CorrelationID || fast.CausationID != slow.CausationID || len(fast.Extra) != len(slow.Extra)) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", meta, fast, slow)
		}
	})
}

func TestDecodeMetadataRoundTrip(t *testing.T) {
	want := eventstore.Metadata{CorrelationID: uuid.New(), CausationID: uuid.New()}
	b, _ := json.Marshal(want)
	var got eventstore.Metadata
	if err := decodeMetadata(string(b), &got); err != nil || got.CorrelationID != want.CorrelationID || got.CausationID != want.CausationID {
		t.Fatalf("decode %s: %+v %v", b, got, err)
	}
}

// encodeMetadata writes the bytes json.Marshal writes, fast path or not.
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
