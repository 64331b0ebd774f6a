package runner

import (
	"encoding/json"
	"testing"
	"time"
)

func TestGauge(t *testing.T) {
	raw := []byte("# HELP smsledger_unfinished_messages x\n# TYPE smsledger_unfinished_messages gauge\nsmsledger_unfinished_messages_total 9\nsmsledger_unfinished_messages 42\n")
	if v, err := gauge(raw, "smsledger_unfinished_messages"); err != nil || v != 42 {
		t.Fatalf("gauge = %v, %v; want 42", v, err)
	}
	if _, err := gauge(raw, "smsledger_ledger_ready"); err == nil {
		t.Fatal("a missing metric read")
	}
}

func TestFactsOf(t *testing.T) {
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	evs := []event{
		{Type: "MessageAccepted", RecordedAt: at, Data: json.RawMessage(`{"expires_at":"2026-12-06T10:00:06Z","send_at":"2026-12-06T10:00:02Z"}`)},
		{Type: "SubmittedToSupplier", RecordedAt: at.Add(2 * time.Second)},
		{Type: "SupplierAccepted", RecordedAt: at.Add(2 * time.Second)},
		{Type: "MessageExpired", RecordedAt: at.Add(9 * time.Second)},
		{Type: "DeliveryReported", RecordedAt: at.Add(10 * time.Second)},
	}
	f := factsOf(evs)
	if !f.expiresAt.Equal(at.Add(6*time.Second)) || !f.sendAt.Equal(at.Add(2*time.Second)) || len(f.submitted) != 1 ||
		!f.supplierAccepted || f.finalType != "MessageExpired" || !f.final.Equal(at.Add(9*time.Second)) {
		t.Fatalf("%+v", f)
	}
}
