package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/smsledger/smsledger/internal/fastjson"
)

// encodeJSON is Encode by encoding/json alone: the reference the codec is
// held to (and what Encode wrote before internal/fastjson).
func encodeJSON(eventType string, version int, e Event) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", eventType, err)
	}
	head := fmt.Sprintf(`{"%s":%d`, schemaField, version)
	if bytes.Equal(body, []byte("{}")) {
		return []byte(head + "}"), nil
	}
	return append([]byte(head+","), body[1:]...), nil
}

// onePass reports whether internal/fastjson's one-pass encoder takes e
// (rather than handing it to encoding/json).
func onePass(e Event) bool {
	p := reflect.New(reflect.TypeOf(e))
	p.Elem().Set(reflect.ValueOf(e))
	_, ok := fastjson.NewEncoder(reflect.TypeOf(e)).Append(nil, p.Interface())
	return ok
}

// checkFastEncode: Encode writes encodeJSON's bytes, or fails where it
// fails; the one-pass encoder must be the path taken unless encoding/json
// fails or mayGiveWay (the event has a string of invalid UTF-8).
func checkFastEncode(t testing.TB, e Event, mayGiveWay bool) {
	t.Helper()
	r, known := registry[e.EventType()]
	if !known {
		t.Fatalf("unknown type %s", e.EventType())
	}
	_, got, err := Encode(e)
	want, wantErr := encodeJSON(e.EventType(), r.version, e)
	switch {
	case wantErr != nil:
		if err == nil {
			t.Fatalf("%T: Encode took what encoding/json rejects (%v): %s", e, wantErr, got)
		}
		if onePass(e) {
			t.Fatalf("%T: the one-pass encoder took what encoding/json rejects (%v)", e, wantErr)
		}
	case err != nil:
		t.Fatalf("%T: Encode: %v, want %s", e, err, want)
	case !bytes.Equal(got, want):
		t.Fatalf("%T:\n Encode %s\n json   %s", e, got, want)
	case !mayGiveWay && !onePass(e):
		t.Fatalf("%T: the one-pass encoder gave way on %s", e, want)
	}
}

// emptyEvent encodes as {} and so as {"schema":1} (no catalogue event
// does; the fast path's splice must still match).
type emptyEvent struct {
	Note string `json:"note,omitempty"`
}

func (emptyEvent) EventType() string { return "emptyEvent" }

// TestFastEncodeMatchesEncodingJSON holds Encode to encoding/json's bytes,
// and requires the one-pass encoder to be the path taken for every event
// of the catalogue (or the log writer pays for reflection again).
func TestFastEncodeMatchesEncodingJSON(t *testing.T) {
	for _, e := range samples() {
		checkFastEncode(t, e, false)
		// Zero values: null slices, zero times, uuids and decimals, and the
		// omitempty/omitzero members left out.
		checkFastEncode(t, reflect.Zero(reflect.TypeOf(e)).Interface().(Event), false)
	}
	for _, e := range []Event{
		RateCardChanged{Rates: []Rate{}},
		RouteTableChanged{Routes: []Route{{Prefix: "4", Suppliers: []string{}}, {Prefix: "<&>"}}},
		JournalEntryRecorded{Postings: []Posting{}, Reference: "r\u2028\"\\\x01\x7f", At: time.Now()},
		MessageAccepted{Text: "héllo <b>&amp;</b>\n\t😀", ExpiresAt: time.Time{}.In(time.FixedZone("", 3600)), At: time.Now().In(time.FixedZone("", -5*3600))},
		DeliveryReported{ErrorCode: "", DoneAt: time.Time{}},
		RouteSelected{Candidates: []RouteCandidate{{}, {CostPerPart: decimal.New(-7, 30), Excluded: "down"}}},
	} {
		checkFastEncode(t, e, false)
	}
	// Invalid UTF-8: encoding/json's business (v1 writes \ufffd, the
	// v2-based one U+FFFD itself).
	for _, e := range []Event{
		MessageAccepted{Text: "a\xffb"},
		RouteTableChanged{Routes: []Route{{Suppliers: []string{"\xc0"}}}},
	} {
		if onePass(e) {
			t.Errorf("%#v: the one-pass encoder took invalid UTF-8", e)
		}
		checkFastEncode(t, e, true)
	}
	// A pointer to an event encodes as the event.
	for _, e := range samples() {
		p := reflect.New(reflect.TypeOf(e))
		p.Elem().Set(reflect.ValueOf(e))
		_, want, _ := Encode(e)
		typ, got, err := Encode(p.Interface().(Event))
		if err != nil || typ != e.EventType() || !bytes.Equal(got, want) {
			t.Errorf("%T by pointer: %s %s (%v), want %s", e, typ, got, err, want)
		}
	}
	// The splice of an empty object.
	r := reg[emptyEvent](1)
	for _, e := range []emptyEvent{{}, {Note: "n"}} {
		got, gotErr := r.encodeData(e)
		want, err := encodeJSON(e.EventType(), 1, e)
		if err != nil || gotErr != nil || !bytes.Equal(got, want) {
			t.Errorf("%#v: Encode %s (%v), json %s (%v)", e, got, gotErr, want, err)
		}
	}
	// What encoding/json rejects, the one-pass encoder gives way on, and
	// Encode reports encoding/json's error.
	bad := MessageExpired{MessageID: msgID, At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	checkFastEncode(t, bad, false)
	if _, _, err := Encode(bad); err == nil {
		t.Error("Encode of a time past year 9999 succeeded")
	}
}

// FuzzFastEncodeMatchesEncodingJSON builds events from fuzzed strings
// (any bytes: non-ASCII, invalid UTF-8, control and HTML characters),
// integers, times in fuzzed zones and decimals, and holds Encode to
// encoding/json's bytes. It must give way when encoding/json fails, and be
// taken whenever encoding/json succeeds unless a string is invalid UTF-8.
func FuzzFastEncodeMatchesEncodingJSON(f *testing.F) {
	f.Add("acme", "hi €", "<a href=\"x\">&</a>\u2028\x00\xff", int64(12), uint32(0x58), uint8(0), int64(1767322800), int64(600), int32(3600), int64(125), int8(-4), []byte{1, 2})
	f.Add("", "", "", int64(0), uint32(0), uint8(0xff), int64(0), int64(0), int32(0), int64(0), int8(0), []byte(nil))
	f.Add("\t\n\r\b\f\x1f\x7f", "\\\"", "😀\xed\xa0\x80", int64(-1<<63), uint32(1<<32-1), uint8(0x55), int64(253402300800), int64(-1), int32(86400), int64(-1<<63), int8(-128), bytes.Repeat([]byte{0xff}, 40))
	f.Add("x", "y", "z", int64(1<<62), uint32(1), uint8(0xaa), int64(-62167219200), int64(999999999), int32(-86399), int64(1000000000000000000), int8(127), []byte{0x80})
	f.Fuzz(func(t *testing.T, s1, s2, s3 string, n int64, u uint32, flags uint8, sec, nsec int64, off int32, coef int64, exp int8, mag []byte) {
		invalid := !utf8.ValidString(s1) || !utf8.ValidString(s2) || !utf8.ValidString(s3)
		if len(mag) > 64 {
			mag = mag[:64]
		}
		// Offsets of a day or more: MarshalJSON fails, as for years
		// outside 0..9999.
		loc := time.FixedZone(s3, int(off%(26*3600)))
		at := time.Unix(sec, nsec).In(loc)
		var zeroAt time.Time
		if flags&1 != 0 {
			zeroAt = at
		}
		d1 := decimal.New(coef, int32(exp))
		c := new(big.Int).SetBytes(mag)
		if flags&2 != 0 {
			c.Neg(c)
		}
		d2 := decimal.NewFromBigInt(c, int32(exp)/2)
		id := uuid.UUID{}
		if flags&4 != 0 {
			id = uuid.NewSHA1(uuid.NameSpaceURL, []byte(s1))
		}
		var postings []Posting
		var cands []RouteCandidate
		var suppliers []string
		if flags&8 != 0 {
			postings, cands, suppliers = []Posting{}, []RouteCandidate{}, []string{}
		}
		if flags&16 != 0 {
			postings = append(postings, Posting{s1, d1}, Posting{s2, d2}, Posting{})
			cands = append(cands,
				RouteCandidate{SupplierID: s1, Preference: int(n), CostPerPart: d2, Currency: s2, CostPrefix: s3, Up: flags&32 != 0, HealthScore: int(u), Eligible: flags&64 != 0, Excluded: s3},
				RouteCandidate{})
			suppliers = append(suppliers, s1, "", s2, s3)
		}
		for _, e := range []Event{
			MessageAccepted{MessageID: id, TenantID: s1, Channel: s2, From: s3, To: s1 + s2, Text: s3 + s1, Encoding: s2,
				Parts: int(n), RatePrefix: s3, PricePerPart: d1, Price: d2, Currency: s1, Billing: s2,
				RegisteredDelivery: flags&32 != 0, TenantReference: s3, ExpiresAt: zeroAt, At: at},
			DeliveryReported{MessageID: id, SupplierID: s1, SupplierMessageID: s2, Status: s3, ErrorCode: s2, DoneAt: zeroAt, At: at},
			JournalEntryRecorded{EntryID: id, Kind: s1, Currency: s2, Postings: postings, MessageID: id, TenantID: s3, Reference: s1, At: at},
			RouteSelected{MessageID: id, RoutePrefix: s1, Tier: s2, Candidates: cands, Winner: s3, Reason: s1, At: at},
			RouteTableChanged{Routes: []Route{{Prefix: s1, Suppliers: suppliers}, {Prefix: s2}}, At: at},
			SupplierRejected{MessageID: id, SupplierID: s1, Attempt: int(n), CommandStatus: u, At: zeroAt},
			SupplierAccepted{MessageID: id, SupplierID: s1, Attempt: int(int32(n)), SupplierMessageID: s2, LatencyMs: n, At: at},
			SupplierChanged{SupplierID: s1, Name: s2, Host: s3, Port: int(u), Enabled: flags&64 != 0, At: at},
			Settled{MessageID: id, TenantID: s1, SupplierID: s2, Held: d1, Price: d2, Currency: s3, Cost: d1.Add(d2), CostCurrency: s1, At: at},
		} {
			checkFastEncode(t, e, invalid)
		}
	})
}
