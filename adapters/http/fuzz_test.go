package httpapi

import (
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeSend: decoding never panics, and any error is a 400
// invalid_request with a message.
func FuzzDecodeSend(f *testing.F) {
	for _, s := range []string{`{"from":"A","to":"+4915112345678","text":"hi"}`, `{"to":1}`, `{}`, `[]`, `{"x":1}`, `{"to":"1"} x`, ``, `{"amount":"1.5"}`,
		`{"to":"+4915112345678","text":"hi","validity_s":3600}`, `{"to":"1","validity_s":0}`, `{"validity_s":1.5}`, `{"validity_s":"60"}`, `{"validity_s":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req SendRequest
		err := decodeJSON(strings.NewReader(body), &req)
		check(t, err)
		if err == nil && req.ValidityS.Set() && (req.ValidityS.Seconds < MinValiditySeconds || req.ValidityS.Seconds > MaxValiditySeconds) {
			t.Fatalf("validity_s %d out of range decoded from %q", req.ValidityS.Seconds, body)
		}
		var top struct {
			Amount    Amount `json:"amount"`
			Reference string `json:"reference"`
		}
		err = decodeJSON(strings.NewReader(body), &top)
		check(t, err)
		if err == nil && top.Amount.set && top.Amount.Decimal.String() == "" {
			t.Fatalf("amount decoded to nothing from %q", body)
		}
	})
}

func check(t *testing.T, err error) {
	if err == nil {
		return
	}
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != 400 || ae.code != "invalid_request" || ae.message == "" {
		t.Fatalf("decode error %v is not a clear 400", err)
	}
}
