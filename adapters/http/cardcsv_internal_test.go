package httpapi

import (
	"bytes"
	"encoding/csv"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseCardCSV: parsing a rate or cost card as CSV (either header
// form) never panics; an error is a 400 invalid_request naming a line; each
// line it accepts names a prefix or a network, never both; a card it
// accepts, written back as CSV, parses to the same lines.
func FuzzParseCardCSV(f *testing.F) {
	for _, s := range []string{
		"prefix,price\n49,0.05\n4915,0.07\n", "prefix,price\r\n49,0.05\r\n", "\ufeffprefix,price\n49,1\n",
		"PREFIX, Price\n\"49\", \"0.5\"\n", "prefix,price\n", "", "49,0.05\n", "prefix,price\n49\n",
		"prefix,price\n49,0.05,1\n", "prefix,price\n,1\n", "prefix,price\n49,1e3\n", "prefix,price\n49,\"1\n",
		"prefix,price\n49,-0.01\n", "prefix,price\n\n\n49,2\n", "prefix,price\n49,x\"y\n", "prefix,cost\n49,1\n",
		"prefix,mccmnc,price\n49,,0.05\n,26201,0.04\n", "Prefix, MCCMNC, Price\n, \"310410\", 1\n", "prefix,mccmnc,price\n49,26201,1\n",
		"prefix,mccmnc,price\n,,1\n", "prefix,mccmnc,price\n49,1\n", "prefix,mccmnc\n49,1\n", "prefix,mccmnc,price,x\n49,,1,2\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		lines, err := parseCardCSV(strings.NewReader(body), "price")
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != http.StatusBadRequest || !strings.Contains(ae.message, "csv line ") {
				t.Fatalf("error %v is not a 400 naming a line", err)
			}
			return
		}
		networks := false
		for _, l := range lines {
			if (l.Prefix == "") == (l.MCCMNC == "") || l.Prefix != strings.TrimSpace(l.Prefix) || l.MCCMNC != strings.TrimSpace(l.MCCMNC) {
				t.Fatalf("prefix %q, mccmnc %q: want one of them, trimmed", l.Prefix, l.MCCMNC)
			}
			networks = networks || l.MCCMNC != ""
		}
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		if networks {
			_ = w.Write([]string{"prefix", "mccmnc", "price"})
		} else {
			_ = w.Write([]string{"prefix", "price"})
		}
		for _, l := range lines {
			if networks {
				_ = w.Write([]string{l.Prefix, l.MCCMNC, l.Value.String()})
			} else {
				_ = w.Write([]string{l.Prefix, l.Value.String()})
			}
		}
		w.Flush()
		again, err := parseCardCSV(&b, "price")
		if err != nil || len(again) != len(lines) {
			t.Fatalf("written back: %v, %d lines of %d", err, len(again), len(lines))
		}
		for i := range lines {
			if again[i].Prefix != lines[i].Prefix || again[i].MCCMNC != lines[i].MCCMNC || !again[i].Value.Equal(lines[i].Value) {
				t.Fatalf("line %d: %v, then %v", i, lines[i], again[i])
			}
		}
	})
}
