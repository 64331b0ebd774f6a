package projections

import (
	"reflect"
	"testing"

	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/projections/workload"
)

// TestSlimDecoders checks that every slim decoder is in use (its type is
// still at the version it was written for) and that it yields exactly the
// catalogue decoding minus the members the projectors do not read.
func TestSlimDecoders(t *testing.T) {
	for typ, d := range slimDecoders {
		if !d.enabled {
			t.Errorf("slim decoder of %s is disabled: the catalogue version changed; update it", typ)
		}
	}
	w, err := workload.Generate(workload.Config{Seed: 5, Messages: 400, Wave: 40})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, round := range w.Rounds {
		for _, a := range round {
			for _, ev := range a.Events {
				typ, data, err := events.Encode(ev)
				if err != nil {
					t.Fatal(err)
				}
				full, err := events.Decode(typ, data)
				if err != nil {
					t.Fatal(err)
				}
				got, err := decodeData(typ, data)
				if err != nil {
					t.Fatal(err)
				}
				if want := withoutUnread(full); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: slim decoding\n%#v\nwant\n%#v", typ, got, want)
				}
				seen[typ]++
			}
		}
	}
	for typ := range slimDecoders {
		if seen[typ] == 0 && typ != events.TypeMessageExpired && typ != events.TypeMessageFailed {
			t.Errorf("workload has no %s", typ)
		}
	}
	// Malformed data, a missing or unknown schema version: the catalogue's
	// errors.
	for _, data := range []string{`{"message_id":"x"`, `{"at":"2025-01-01T00:00:00Z"}`, `{"schema":9}`, `{"schema":1,"message_id":5}`} {
		if _, err := decodeData(events.TypeRouteSelected, []byte(data)); err == nil {
			t.Errorf("%s decoded", data)
		}
	}
}

// withoutUnread clears the members of e the slim decoders skip.
func withoutUnread(e events.Event) events.Event {
	switch v := e.(type) {
	case events.MessageAccepted:
		v.Text, v.RegisteredDelivery, v.TenantReference = "", false, ""
		return v
	case events.RouteSelected:
		v.Tier, v.Candidates, v.Reason = "", nil, ""
		return v
	case events.FailedOver:
		v.Attempt, v.Reason = 0, ""
		return v
	case events.DeliveryForwarded:
		v.TenantID, v.Status = "", ""
		return v
	case events.Held:
		return events.Held{MessageID: v.MessageID, TenantID: v.TenantID, Amount: v.Amount}
	case events.Released:
		v.Currency, v.Reason = "", ""
		return v
	}
	return e
}

// TestFastDecodeMatchesEncodingJSON checks the fast path against
// encoding/json: on what events.Encode writes it must be taken (and agree),
// and on unusual input it must either agree or give way.
func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	w, err := workload.Generate(workload.Config{Seed: 9, Messages: 200, Wave: 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, round := range w.Rounds {
		for _, a := range round {
			for _, ev := range a.Events {
				typ, data, err := events.Encode(ev)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := slimDecoders[typ]; !ok {
					continue
				}
				if !fastDecodes(typ, data) {
					t.Fatalf("%s: the fast path gave way on catalogue output %s", typ, data)
				}
			}
		}
	}
	const (
		id = `"0190a0b0-c0d0-7e0f-8a0b-0c0d0e0f1011"`
		at = `"2025-01-31T23:30:00.123Z"`
	)
	cases := []struct{ typ, data string }{
		{events.TypeSettled, `{"schema":1,"message_id":` + id + `,"tenant_id":"t1","supplier_id":"s1","held":"0.05","price":"0.05","currency":"EUR","cost":"0.01","cost_currency":"USD","at":` + at + `}`},
		{events.TypeSettled, ` { "schema" : 1 , "message_id" : ` + id + ` , "cost" : 0.01 , "at" : ` + at + ` } `},
		{events.TypeSettled, `{"schema":1,"TENANT_ID":"x","at":` + at + `}`},
		{events.TypeSettled, `{"schema":1,"tenant_id":"a\"b\u00e9\n","at":` + at + `}`},
		{events.TypeSettled, `{"schema":1,"tenant_id":"caf` + "\xc3\xa9" + `","extra":{"a":[1,2,{"b":null}],"c":"\ud83d\ude00"},"at":` + at + `}`},
		{events.TypeSettled, `{"schema":1,"tenant_id":"bad` + "\xff" + `","at":` + at + `}`},
		{events.TypeSettled, `{"schema":1,"tenant_id":null,"cost":null,"at":null}`},
		{events.TypeSettled, `{"schema":1,"tenant_id":"a","tenant_id":"b"}`},
		{events.TypeSettled, `{"schema":1,"cost":"1e-3"}`},
		{events.TypeSettled, `{"schema":1,"cost":""}`},
		{events.TypeSettled, `{"schema":1,"teNant_id":"x"}`},
		{events.TypeSettled, `{"schema":1,"tenant_` + "\u212a" + `d":"x"}`},
		{events.TypeSettled, `{"schema":1.0}`},
		{events.TypeSettled, `{"schema":1,"x":01}`},
		{events.TypeSettled, `{"schema":1,"x":[1,]}`},
		{events.TypeSettled, `{"schema":1,"x":"` + "\x01" + `"}`},
		{events.TypeSettled, `{"schema":1,}`},
		{events.TypeSettled, `{"schema":1} x`},
		{events.TypeSettled, `{"schema":1,"at":"2025-01-31 23:30:00Z"}`},
		{events.TypeSettled, `{"schema":1,"message_id":"not-a-uuid"}`},
		{events.TypeSubmittedToSupplier, `{"schema":1,"attempt":99999999999999999999}`},
		{events.TypeSubmittedToSupplier, `{"schema":1,"attempt":-2,"at":` + at + `}`},
		{events.TypeSupplierRejected, `{"schema":1,"command_status":4294967296}`},
		{events.TypeSupplierRejected, `{"schema":1,"command_status":-1}`},
		{events.TypeSupplierRejected, `{"schema":1,"command_status":4294967295}`},
		{events.TypeMessageAccepted, `{"schema":1,"registered_delivery":true,"parts":2,"text":"x","expires_at":` + at + `}`},
		{events.TypeJournalEntryRecorded, `{"schema":1,"postings":[]}`},
		{events.TypeJournalEntryRecorded, `{"schema":1,"postings":null}`},
		{events.TypeJournalEntryRecorded, `{"schema":1,"postings":[{"account":"a","amount":"1.5"},{"amount":"-1.5","account":"b","x":1}]}`},
		{events.TypeJournalEntryRecorded, `{"schema":1,"postings":[{"ACCOUNT":"a"}]}`},
		{events.TypeRouteSelected, `{"schema":1,"candidates":[{"supplier_id":"s","cost_per_part":"0.1","up":true}],"winner":"s","tier":"x"}`},
	}
	for _, c := range cases {
		want, wantErr := events.Decode(c.typ, []byte(c.data))
		got, gotErr := decodeData(c.typ, []byte(c.data))
		if (wantErr != nil) != (gotErr != nil) {
			t.Errorf("%s %s: error %v, want %v", c.typ, c.data, gotErr, wantErr)
			continue
		}
		if wantErr == nil && !reflect.DeepEqual(got, withoutUnread(want)) {
			t.Errorf("%s %s:\n got %#v\nwant %#v", c.typ, c.data, got, withoutUnread(want))
		}
	}
}

// fastDecodes reports whether the fast path decodes data of type typ.
func fastDecodes(typ string, data []byte) bool {
	ok := false
	fastHook = func() { ok = true }
	defer func() { fastHook = nil }()
	if _, err := decodeData(typ, data); err != nil {
		return false
	}
	return ok
}
