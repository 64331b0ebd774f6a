package projections_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smsledger/smsledger/projections"
)

func TestParseInvoiceCSV(t *testing.T) {
	lines, err := projections.ParseInvoiceCSV(strings.NewReader("date,cost,parts,destination,supplier_message_id,extra\n2025-02-01,0.0120,2,+447700900123,abc,x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].SupplierMessageID != "abc" || lines[0].Parts != 2 || lines[0].Cost.String() != "0.012" || lines[0].Destination != "447700900123" {
		t.Fatalf("lines %+v", lines)
	}
	if _, err := projections.ParseInvoiceCSV(strings.NewReader("abc,4477,1,0.1e,2025-02-01\n")); !errors.Is(err, projections.ErrInvoice) {
		t.Fatalf("bad cost: %v", err)
	}
}

func FuzzParseInvoiceCSV(f *testing.F) {
	f.Add("supplier_message_id,destination,parts,cost,date\nabc,447700900123,1,0.004,2025-02-01T10:00:00Z\n")
	f.Add("abc,4477,1,1e2000000000,2025-02-01\n")
	f.Add("x,1,255,0,2025-02-01 10:00:00\n")
	f.Add("\ufeffsupplier_message_id,destination\n")
	f.Fuzz(func(t *testing.T, in string) {
		lines, err := projections.ParseInvoiceCSV(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, projections.ErrInvoice) {
				t.Fatalf("error not ErrInvoice: %v", err)
			}
			return
		}
		for _, l := range lines {
			if l.SupplierMessageID == "" || l.Parts < 1 || l.Parts > 255 || l.Cost.IsNegative() || l.Date.IsZero() && l.Date.Location() == nil {
				t.Fatalf("invalid line accepted: %+v", l)
			}
		}
	})
}

// A cost in exponent form is refused at once: "1e2000000000" used to pass
// and hang the reconciliation that compared it.
func TestParseInvoiceCSVRefusesExponents(t *testing.T) {
	for _, cost := range []string{"1e2000000000", "1E3", "0.5e-2", "-1e9"} {
		done := make(chan error, 1)
		go func() {
			_, err := projections.ParseInvoiceCSV(strings.NewReader("supplier_message_id,destination,parts,cost,date\nabc,4477,1," + cost + ",2025-02-01\n"))
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, projections.ErrInvoice) {
				t.Errorf("cost %s: %v, want ErrInvoice", cost, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("cost %s: still parsing after 5 s", cost)
		}
	}
}
