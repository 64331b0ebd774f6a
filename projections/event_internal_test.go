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
