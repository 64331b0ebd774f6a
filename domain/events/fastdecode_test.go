package events

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/smsledger/smsledger/internal/fastjson"
)

// typeOf maps every registered type name to its Go type.
var typeOf = func() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, e := range samples() {
		m[e.EventType()] = reflect.TypeOf(e)
	}
	return m
}()

// decodeBoth decodes data of type typ with the registry's codec and with
// encoding/json alone.
func decodeBoth(t *testing.T, typ string, data []byte) (got, want Event, gotErr, wantErr error) {
	t.Helper()
	r, ok := registry[typ]
	if !ok {
		t.Fatalf("unknown type %s", typ)
	}
	got, gotErr = r.decode(data)
	p := reflect.New(typeOf[typ])
	if wantErr = json.Unmarshal(data, p.Interface()); wantErr == nil {
		want = p.Elem().Interface().(Event)
	}
	return got, want, gotErr, wantErr
}

// slowConfig are the configuration events encoding/json decodes.
var slowConfig = map[string]bool{TypeRouteTableChanged: true, TypeTenantControlsChanged: true, TypeGlobalControlsChanged: true}

// TestFastDecodeMatchesEncodingJSON holds the codec to encoding/json's
// results: on what Encode writes (where its one-pass decoder must also be
// the path taken, or the follower pays for reflection again) and on
// unusual input, where it must agree (handing it to encoding/json if need
// be).
func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	for _, e := range samples() {
		typ, data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		fast := reflect.New(reflect.TypeOf(e))
		// RouteTableChanged and the controls' configuration events have
		// []string members the one-pass decoder does not decode; they are
		// rare configuration events.
		if !fastjson.NewDecoder(reflect.TypeOf(e)).Decode(data, fast.Interface()) && !slowConfig[typ] {
			t.Errorf("%s: the one-pass decoder gave way on Encode's output %s", typ, data)
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
		// From the projections' former slim decoders' cases.
		{TypeSettled, `{"schema":1,"tenant_id":"caf` + "\xc3\xa9" + `","extra":{"a":[1,2,{"b":null}],"c":"\ud83d\ude00"},"at":` + at + `}`},
		{TypeSettled, `{"schema":1,"cost":""}`},
		{TypeSettled, `{"schema":1,"teNant_id":"x"}`},
		{TypeSettled, `{"schema":1.0}`},
		{TypeSettled, `{"schema":1,"x":01}`},
		{TypeSettled, `{"schema":1,"x":"` + "\x01" + `"}`},
		{TypeSettled, `{"schema":1,}`},
		{TypeSettled, `{"schema":1,"at":"2025-01-31 23:30:00Z"}`},
		{TypeSubmittedToSupplier, `{"schema":1,"attempt":-2,"at":` + at + `}`},
		{TypeSupplierRejected, `{"schema":1,"command_status":-1}`},
		{TypeSupplierRejected, `{"schema":1,"command_status":4294967295}`},
		{TypeJournalEntryRecorded, `{"schema":1,"postings":[]}`},
		{TypeJournalEntryRecorded, `{"schema":1,"postings":[{"ACCOUNT":"a"}]}`},
		// Members out of order, unknown ones (long, upper-case), and an
		// array decoded again: encoding/json reuses the elements.
		{TypeSettled, `{"at":` + at + `,"cost":"0.5","schema":1,"tenant_id":"t","message_id":` + id + `}`},
		{TypeSettled, `{"schema":1,"a_member_name_longer_than_sixty_four_bytes_that_no_event_type_has_at_all":1}`},
		{TypeSettled, `{"schema":1,"UNKNOWN":1,"tenant_id":"t"}`},
		{TypeJournalEntryRecorded, `{"postings":[{"account":"a","amount":"1"},{"account":"b"},{"account":"c"}],"postings":[{"amount":"2"}],"postings":[{"account":"d"},{},{}]}`},
		{TypeJournalEntryRecorded, `{"postings":[{"account":"a"}],"postings":[]}`},
		{TypeJournalEntryRecorded, `{"postings":[{"account":"a"}],"postings":null}`},
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
