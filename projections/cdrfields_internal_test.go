package projections

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The CDR's columns are its JSON keys in the struct's order, and each
// column scans into and writes from its own field.
func TestCDRFieldsFollowTheStruct(t *testing.T) {
	var c CDR
	v := reflect.ValueOf(&c).Elem()
	if v.NumField() != len(cdrFields) {
		t.Fatalf("CDR has %d fields, cdrFields %d", v.NumField(), len(cdrFields))
	}
	for i, f := range cdrFields {
		key, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if f.name != key || CDRColumns[i] != key {
			t.Errorf("column %d is %q (CDRColumns %q), the field's JSON key %q", i, f.name, CDRColumns[i], key)
		}
		if p := reflect.ValueOf(f.dest(&c)); p.Pointer() != v.Field(i).Addr().Pointer() {
			t.Errorf("column %q scans into another field", f.name)
		}
	}
}

func TestCDRStrings(t *testing.T) {
	at := time.Date(2024, 3, 1, 12, 0, 0, 5, time.FixedZone("x", 3600))
	c := CDR{MessageID: uuid.MustParse("00000000-0000-0000-0000-000000000001"), TenantID: "acme", Parts: 2, Attempts: 1,
		Price: "0.14", State: "delivered", AcceptedAt: at, DLRAt: &at}
	got := c.Strings()
	want := map[string]string{"message_id": "00000000-0000-0000-0000-000000000001", "tenant_id": "acme", "parts": "2",
		"attempts": "1", "price": "0.14", "state": "delivered", "accepted_at": "2024-03-01T11:00:00.000000005Z",
		"dlr_at": "2024-03-01T11:00:00.000000005Z", "routed_at": "", "cost": ""}
	for i, name := range CDRColumns {
		if w, ok := want[name]; ok && got[i] != w {
			t.Errorf("%s = %q, want %q", name, got[i], w)
		}
	}
}
