package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

var (
	msgID = uuid.MustParse("3f0c7e52-2a1b-4c1e-9d0f-6b7a8c9d0e1f")
	at    = time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	amt   = decimal.RequireFromString("0.0125")
)

// samples has one populated value of every event type.
func samples() []Event {
	return []Event{
		TenantCreated{TenantID: "acme", Name: "Acme", Currency: "EUR", Billing: "on_delivery", TPSLimit: 100, CreditLimit: amt, Tier: "premium", MOPrice: amt, At: at},
		TenantChanged{TenantID: "acme", Name: "Acme", Billing: "on_submit", TPSLimit: 50, CreditLimit: amt, Tier: "economy", At: at},
		SmppCredentialsSet{TenantID: "acme", SystemID: "acme1", PasswordHash: "$argon2id$...", At: at},
		ApiKeyIssued{TenantID: "acme", KeyID: "k1", KeyHash: "ab12", At: at},
		TopUpRecorded{TenantID: "acme", Reference: "inv-1", Amount: amt, Currency: "EUR", EntryID: msgID, At: at},
		RateCardChanged{TenantID: "acme", Currency: "EUR", Rates: []Rate{{Prefix: "44", Price: amt}, {MCCMNC: "23415", Price: amt}}, At: at},
		WebhookSet{TenantID: "acme", URL: "https://hooks.example.com/dlr", SecretSealed: "v1:sealed", At: at},
		WebhookRemoved{TenantID: "acme", At: at},
		SupplierCreated{SupplierID: "s1", Name: "S1", Currency: "EUR", Host: "h", Port: 2775, SystemID: "x", PasswordSealed: "sealed", Binds: 2, TPSLimit: 100, Window: 10, At: at},
		SupplierChanged{SupplierID: "s1", Name: "S1", Host: "h", Port: 2775, SystemID: "x", PasswordSealed: "sealed", Binds: 2, TPSLimit: 100, Window: 10, Enabled: true, At: at},
		CostCardChanged{SupplierID: "s1", Currency: "EUR", Costs: []Cost{{Prefix: "44", Cost: amt}, {MCCMNC: "23415", Cost: amt}}, At: at},
		RouteTableChanged{Routes: []Route{{Prefix: "44", Suppliers: []string{"s1", "s2"}}, {MCCMNC: "23415", Suppliers: []string{"s2"}}}, At: at},
		MessageAccepted{MessageID: msgID, TenantID: "acme", Channel: "smpp", From: "Acme", To: "447700900123", Text: "hi €", Encoding: "gsm7", Parts: 1, RatePrefix: "44", MCCMNC: "23415", Country: "GB", Operator: "Vodafone UK", NetworkSource: "plan", PricePerPart: amt, Price: amt, Currency: "EUR", Billing: "on_delivery", RegisteredDelivery: true, ExpiresAt: at, At: at},
		RouteSelected{MessageID: msgID, RoutePrefix: "44", Tier: "standard", Candidates: []RouteCandidate{{SupplierID: "s1", Preference: 1, CostPerPart: amt, Currency: "EUR", CostPrefix: "4", Up: true, HealthScore: 900, Eligible: true}}, Winner: "s1", Reason: "only_candidate", At: at},
		SubmittedToSupplier{MessageID: msgID, SupplierID: "s1", Attempt: 1, At: at},
		SupplierAccepted{MessageID: msgID, SupplierID: "s1", Attempt: 1, SupplierMessageID: "abc", LatencyMs: 12, At: at},
		SupplierRejected{MessageID: msgID, SupplierID: "s1", Attempt: 1, CommandStatus: 0x58, At: at},
		SupplierTimedOut{MessageID: msgID, SupplierID: "s1", Attempt: 1, TimeoutMs: 5000, At: at},
		FailedOver{MessageID: msgID, FromSupplierID: "s1", ToSupplierID: "s2", Attempt: 2, Reason: "timed out", At: at},
		DeliveryReported{MessageID: msgID, SupplierID: "s1", SupplierMessageID: "abc", Status: "DELIVRD", ErrorCode: "000", DoneAt: at, At: at},
		DeliveryForwarded{MessageID: msgID, TenantID: "acme", Status: "DELIVRD", At: at},
		MessageExpired{MessageID: msgID, At: at},
		MessageFailed{MessageID: msgID, Reason: "no supplier", At: at},
		Held{MessageID: msgID, TenantID: "acme", Amount: amt, Currency: "EUR", Node: "node-a", At: at},
		Settled{MessageID: msgID, TenantID: "acme", SupplierID: "s1", Held: amt, Price: amt, Currency: "EUR", Cost: amt, CostCurrency: "EUR", At: at},
		Released{MessageID: msgID, TenantID: "acme", Amount: amt, Currency: "EUR", Reason: "failed", At: at},
		SupplierCostBooked{MessageID: msgID, TenantID: "acme", SupplierID: "s1", Attempt: 1, Cost: amt, CostCurrency: "EUR", At: at},
		ApiKeyRevoked{TenantID: "acme", KeyID: "k1", At: at},
		AdjustmentRecorded{TenantID: "acme", Reference: "adj-1", Amount: amt.Neg(), Currency: "EUR", Reason: "refund", EntryID: msgID, At: at},
		NumberingPlanChanged{Rows: []NumberingRow{{Prefix: "447700", MCCMNC: "23415", Country: "GB", Operator: "Vodafone UK"}}, At: at},
		FXTableChanged{Base: "EUR", Rates: []FXRate{{Currency: "USD", Rate: amt, From: at}}, At: at},
		PortabilityChanged{Numbers: "447700900123=23410 447700900124=23420", Count: 2, At: at},
		TenantNumbersChanged{TenantID: "acme", Numbers: "+4915112345678 12345", Count: 2, At: at},
		MOReceived{MessageID: msgID, SupplierID: "s1", TenantID: "acme", From: "4917600000001", To: "+4915112345678", Text: "STOP", Encoding: "gsm7", Price: amt, Currency: "EUR", At: at},
		MOForwarded{MessageID: msgID, TenantID: "acme", At: at},
		TenantControlsChanged{TenantID: "acme", SenderAllow: []string{"ACME"}, SenderRewrites: []SenderRewrite{{MCCMNC: "23415", From: "*", To: "447700900000"}},
			Keywords: []string{"casino"}, Patterns: []string{`(?i)win\s+\d+`}, URLDomains: []string{"bit.ly"}, DestRateCount: 5, DestRateWindowS: 60, DuplicateWindowS: 300, At: at},
		GlobalControlsChanged{Keywords: []string{"loan"}, URLDomains: []string{"evil.example"}, At: at},
		SubmitRefused{MessageID: msgID, TenantID: "acme", Channel: "http", From: "ACME", To: "447700900123", Code: "content_blocked", Rule: "tenant keyword: casino", At: at},
		NodeJoined{Node: "node-a", Epoch: 3, At: at},
		NodeTakenOver{Node: "node-a", Epoch: 3, By: "node-b", At: at},
		DispatchHandedOver{MessageID: msgID, Node: "node-b", To: "node-a", SupplierID: "sup1", Attempt: 2, At: at},
		SubmitWithdrawn{MessageID: msgID, SupplierID: "sup1", Attempt: 2, Node: "node-b", Reason: "bind share moved", At: at},
		BudgetLeased{TenantID: "acme", Node: "node-a", Amount: amt, Currency: "EUR", At: at},
		BudgetReturned{TenantID: "acme", Node: "node-a", Amount: amt, Currency: "EUR", ID: msgID, At: at},
		JournalEntryRecorded{EntryID: msgID, Kind: "settlement", Currency: "EUR", Postings: []Posting{{"tenant:acme", amt}, {"revenue", amt.Neg()}}, MessageID: msgID, TenantID: "acme", At: at},
	}
}

func TestEveryTypeRegisteredAndRoundTrips(t *testing.T) {
	all := samples()
	if len(all) != len(registry) {
		t.Fatalf("%d samples for %d registered types", len(all), len(registry))
	}
	for _, e := range all {
		typ, data, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(data), `{"schema":1,`) {
			t.Errorf("%s: data %s does not start with the schema version", typ, data)
		}
		back, err := Decode(typ, data)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		// Compare through JSON: decimals compare by value, not representation.
		a, _ := json.Marshal(e)
		b, _ := json.Marshal(back)
		if string(a) != string(b) || reflect.TypeOf(back) != reflect.TypeOf(e) {
			t.Errorf("%s round trip:\n%s\n%s", typ, a, b)
		}
		if _, ok := StreamOf(e); !ok {
			t.Errorf("%s has no stream", typ)
		}
		if v, err := SchemaVersion(typ); err != nil || v != 1 {
			t.Errorf("%s version %d %v", typ, v, err)
		}
	}
	if len(Types()) != len(registry) {
		t.Fatal("Types incomplete")
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		typ, data string
		want      error
	}{
		{"NoSuchEvent", `{"schema":1}`, ErrUnknownType},
		{TypeHeld, `not json`, ErrMalformed},
		{TypeHeld, `{"amount":"1"}`, ErrMalformed}, // no schema
		{TypeHeld, `{"schema":2}`, ErrUnknownVersion},
		{TypeHeld, `{"schema":0}`, ErrUnknownVersion},
		{TypeHeld, `{"schema":1,"amount":"abc"}`, ErrMalformed},
		{TypeHeld, `{"schema":1,"message_id":"nope"}`, ErrMalformed},
		{TypeHeld, `[]`, ErrMalformed},
		{TypeHeld, ``, ErrMalformed},
	}
	for _, c := range cases {
		if _, err := Decode(c.typ, []byte(c.data)); !errors.Is(err, c.want) {
			t.Errorf("Decode(%s, %s): %v, want %v", c.typ, c.data, err, c.want)
		}
	}
	// Unknown members are ignored (additive changes need no new version).
	if _, err := Decode(TypeMessageExpired, []byte(`{"schema":1,"message_id":"`+msgID.String()+`","new_field":true}`)); err != nil {
		t.Error(err)
	}
}

func TestStreams(t *testing.T) {
	if s := MessageStream(msgID); s != "message-"+msgID.String() {
		t.Fatal(s)
	}
	if id, ok := MessageIDFromStream(MessageStream(msgID)); !ok || id != msgID {
		t.Fatal("MessageIDFromStream")
	}
	if _, ok := MessageIDFromStream("tenant-acme"); ok {
		t.Fatal("tenant stream parsed as message")
	}
	want := map[string]string{
		TypeTopUpRecorded:        "tenant-acme",
		TypeCostCardChanged:      "supplier-s1",
		TypeRouteTableChanged:    "routes",
		TypeNumberingPlanChanged: "numbering",
		TypePortabilityChanged:   "numbering",
		TypeSettled:              MessageStream(msgID),
		TypeTenantNumbersChanged: "tenant-acme",
		TypeMOReceived:           MessageStream(msgID),
		TypeMOForwarded:          MessageStream(msgID),

		TypeGlobalControlsChanged: "controls",
		TypeTenantControlsChanged: "tenant-acme",
		TypeSubmitRefused:         MessageStream(msgID),
	}
	for _, e := range samples() {
		if w, ok := want[e.EventType()]; ok {
			if got, _ := StreamOf(e); got != w {
				t.Errorf("%s in %s, want %s", e.EventType(), got, w)
			}
		}
	}
	topupEntry := JournalEntryRecorded{EntryID: msgID, TenantID: "acme"}
	if s, _ := StreamOf(topupEntry); s != "tenant-acme" {
		t.Errorf("top-up journal entry in %s", s)
	}
	if _, ok := StreamOf(JournalEntryRecorded{}); ok {
		t.Error("orphan journal entry placed")
	}
}

// FuzzDecode: any (type, data) either decodes to an event that re-encodes
// and decodes again to the same JSON, or fails with one of the package's
// errors; it never panics.
func FuzzDecode(f *testing.F) {
	for _, e := range samples() {
		typ, data, _ := Encode(e)
		f.Add(typ, data)
	}
	f.Add(TypeHeld, []byte(`{"schema":1,"amount":"1e99999"}`))
	f.Add(TypeHeld, []byte(`{"schema":99}`))
	f.Add("Nope", []byte(`{}`))
	f.Add(TypeRouteSelected, []byte(`{"schema":1,"candidates":null}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e, err := Decode(typ, data)
		if err != nil {
			if !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if e.EventType() != typ {
			t.Fatalf("decoded %s as %s", typ, e.EventType())
		}
		typ2, data2, err := Encode(e)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		e2, err := Decode(typ2, data2)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", data2, err)
		}
		_, data3, _ := Encode(e2)
		if string(data2) != string(data3) {
			t.Fatalf("not stable:\n%s\n%s", data2, data3)
		}
	})
}

func TestSchemaPrefix(t *testing.T) {
	for _, c := range []struct {
		in   string
		v    int
		fast bool
	}{
		{`{"schema":1,"a":2}`, 1, true},
		{`{"schema":12}`, 12, true},
		{`{"schema":01,"a":2}`, 0, false}, // not JSON: left to encoding/json
		{`{"schema":,"a":2}`, 0, false},
		{`{"schema":1`, 0, false},
		{` {"schema":1,"a":2}`, 0, false},
		{`{"a":2,"schema":1}`, 0, false},
		{`{"schema":"1"}`, 0, false},
		{`{"schema":123456}`, 0, false},
	} {
		v, ok := schemaPrefix([]byte(c.in))
		if ok != c.fast || (ok && v != c.v) {
			t.Errorf("schemaPrefix(%s) = %d, %v; want %d, %v", c.in, v, ok, c.v, c.fast)
		}
	}
}
