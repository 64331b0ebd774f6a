package numbering

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrCSV is wrapped by every error of the CSV readers; the message names
// the line.
var ErrCSV = errors.New("invalid CSV")

// PlanHeader and PortedHeader are the header lines the CSV forms need.
const (
	PlanHeader   = "prefix,mcc,mnc,country,operator"
	PortedHeader = "msisdn,mccmnc"
)

// ReadPlanCSV reads a numbering plan: the header line PlanHeader, then one
// "prefix,mcc,mnc,country,operator" line per range, at most maxRows lines.
// A prefix may carry a leading '+'. Errors name the line.
func ReadPlanCSV(r io.Reader, maxRows int) ([]Row, error) {
	var rows []Row
	err := readCSV(r, PlanHeader, maxRows, func(line int, rec []string) error {
		if len(rec) != 5 {
			return fmt.Errorf("%d fields, want 5 (%s)", len(rec), PlanHeader)
		}
		row := Row{Prefix: strings.TrimPrefix(rec[0], "+"), MCC: rec[1], MNC: rec[2], Country: rec[3], Operator: rec[4]}
		if !digits(row.Prefix) || len(row.Prefix) > 15 {
			return fmt.Errorf("prefix %q: 1 to 15 digits", rec[0])
		}
		if _, err := CodeOf(row.MCC, row.MNC); err != nil {
			return err
		}
		if len(row.Country) > MaxNameLen || len(row.Operator) > MaxNameLen {
			return fmt.Errorf("country or operator longer than %d bytes", MaxNameLen)
		}
		rows = append(rows, row)
		return nil
	})
	return rows, err
}

// ReadPortedCSV reads a portability table: the header line PortedHeader,
// then one "msisdn,mccmnc" line per ported number, at most maxRows lines.
// An MSISDN may carry a leading '+'.
func ReadPortedCSV(r io.Reader, maxRows int) ([]PortedNumber, error) {
	var out []PortedNumber
	err := readCSV(r, PortedHeader, maxRows, func(line int, rec []string) error {
		if len(rec) != 2 {
			return fmt.Errorf("%d fields, want 2 (%s)", len(rec), PortedHeader)
		}
		msisdn := strings.TrimPrefix(rec[0], "+")
		if _, ok := key(msisdn); !ok {
			return fmt.Errorf("msisdn %q: 1 to 15 digits, not starting with 0", rec[0])
		}
		code, err := ParseCode(rec[1])
		if err != nil {
			return err
		}
		out = append(out, PortedNumber{MSISDN: msisdn, Code: code})
		return nil
	})
	return out, err
}

// readCSV reads a header line equal to header (case, spaces and a UTF-8
// byte-order mark aside), then hands each record to row with its line in
// the file (blank lines are skipped but counted).
func readCSV(r io.Reader, header string, maxRows int, row func(line int, rec []string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	for n := 0; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			if n == 0 {
				return fmt.Errorf("line 1: the header line %q is required: %w", header, ErrCSV)
			}
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return fmt.Errorf("line %d: %v: %w", pe.Line, pe.Err, ErrCSV)
			}
			return fmt.Errorf("line %d: %w", n+1, err) // the reader's own error (e.g. a size limit)
		}
		line, _ := cr.FieldPos(0)
		if n == 0 {
			got := make([]string, len(rec))
			for i, f := range rec {
				got[i] = strings.ToLower(strings.TrimSpace(f))
			}
			if len(got) > 0 {
				got[0] = strings.TrimPrefix(got[0], "\ufeff")
			}
			if strings.Join(got, ",") != header {
				return fmt.Errorf("line %d: header %q, want %q: %w", line, strings.Join(rec, ","), header, ErrCSV)
			}
			continue
		}
		if n > maxRows {
			return fmt.Errorf("line %d: more than %d rows: %w", line, maxRows, ErrCSV)
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if err := row(line, rec); err != nil {
			return fmt.Errorf("line %d: %v: %w", line, err, ErrCSV)
		}
	}
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
