package events

import (
	"reflect"
	"testing"

	"github.com/smsledger/smsledger/internal/fastjson"
)

// decodeBoth decodes data of type typ with the registry (fast path first)
// and with encoding/json alone.
func decodeBoth(t *testing.T, typ string, data []byte) (got, want Event, gotErr, wantErr error) {
	t.Helper()
	r, ok := registry[typ]
	if !ok {
		t.Fatalf("unknown type %s", typ)
	}
	got, gotErr = r.decode(data)
	want, wantErr = r.plain(data)
	return got, want, gotErr, wantErr
}

// TestFastDecodeMatchesEncodingJSON holds the fast path to encoding/json's
// results: on what Encode writes (where it must also be the path taken, or
// the follower pays for reflection again) and on unusual input, where it
// must agree or give way.
func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	for _, e := range samples() {
		typ, data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		fast := reflect.New(reflect.TypeOf(e))
		// RouteTableChanged has a []string member the fast path does not
		// decode; it is a rare configuration event.
		if !fastjson.New(reflect.TypeOf(e)).Decode(data, fast.Interface()) && typ != TypeRouteTableChanged {
			t.Errorf("%s: the fast path gave way on Encode's output %s", typ, data)
		}
		got, want, gotErr, wantErr := decodeBoth(t, typ, data)
		if gotErr != nil || wantErr != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(got, e) {
			t.Errorf("%s: fast %#v (%v), encoding/json %#v (%v)", typ, got, gotErr, want, wantErr)
		}
	}
	const (
		id = `"0190a0b0-c0d0-7e0f-8a0b-0c0d0e0f1011"`
		at = `"2025-01-31T23:30:00.123Z"`
	)
	cases := []struct{ typ, data string }{
		{TypeSettled, ` { "schema" : 1 , "message_id" : ` + id + ` , "cost" : 0.01 , "at" : ` + at + ` } `},
		{TypeSettled, `{"schema":1,"TENANT_ID":"x","at":` + at + `}`},
		{TypeSettled, `{"schema":1,"tenant_id":"a\"b\u00e9\n","at":` + at + `}`},
		{TypeSettled, `{"schema":1,"tenant_id":"bad` + "\xff" + `","at":` + at + `}`},
		{TypeSettled, `{"schema":1,"tenant_id":null,"cost":null,"at":null}`},
		{TypeSettled, `{"schema":1,"tenant_id":"a","tenant_id":"b"}`},
		{TypeSettled, `{"schema":1,"cost":"1e-3"}`},
		{TypeSettled, `{"schema":1,"tenant_` + "\u212a" + `d":"x"}`},
		{TypeSettled, `{"schema":1,"x":[1,]}`},
		{TypeSettled, `{"schema":1} x`},
		{TypeSettled, `{"schema":1,"message_id":"not-a-uuid"}`},
		{TypeSubmittedToSupplier, `{"schema":1,"attempt":99999999999999999999}`},
		{TypeSupplierRejected, `{"schema":1,"command_status":4294967296}`},
		{TypeMessageAccepted, `{"schema":1,"registered_delivery":true,"parts":2,"text":"x\u20ac","expires_at":` + at + `}`},
		{TypeJournalEntryRecorded, `{"schema":1,"postings":null}`},
		{TypeJournalEntryRecorded, `{"schema":1,"postings":[{"account":"a","amount":"1.5"},{"amount":"-1.5","account":"b","x":1}]}`},
		{TypeRouteTableChanged, `{"schema":1,"routes":[{"prefix":"44","suppliers":["a","b"]}]}`},
		{TypeRouteSelected, `{"schema":1,"candidates":[{"supplier_id":"s","cost_per_part":"0.1","up":true}],"winner":"s","tier":"x"}`},
	}
	for _, c := range cases {
		got, want, gotErr, wantErr := decodeBoth(t, c.typ, []byte(c.data))
		if (gotErr != nil) != (wantErr != nil) || (wantErr == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%s %s:\n fast %#v (%v)\n json %#v (%v)", c.typ, c.data, got, gotErr, want, wantErr)
		}
	}
}

func FuzzFastDecodeMatchesEncodingJSON(f *testing.F) {
	for _, e := range samples() {
		typ, data, _ := Encode(e)
		f.Add(typ, data)
	}
	f.Add(TypeSettled, []byte(`{"schema":1,"tenant_id":"a\"b","cost":"1e-3"}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		if _, ok := registry[typ]; !ok {
			return
		}
		got, want, gotErr, wantErr := decodeBoth(t, typ, data)
		if (gotErr != nil) != (wantErr != nil) || (wantErr == nil && !reflect.DeepEqual(got, want)) {
			t.Fatalf("%s %q:\n fast %#v (%v)\n json %#v (%v)", typ, data, got, gotErr, want, wantErr)
		}
	})
}
