package httpapi

import (
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeSend: decoding never panics, and any error is a 400
// invalid_request with a message.
func FuzzDecodeSend(f *testing.F) {
	for _, s := range []string{`{"from":"A","to":"+4915112345678","text":"hi"}`, `{"to":1}`, `{}`, `[]`, `{"x":1}`, `{"to":"1"} x`, ``, `{"amount":"1.5"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req SendRequest
		check(t, decodeJSON(strings.NewReader(body), &req))
		var top struct {
			Amount    Amount `json:"amount"`
			Reference string `json:"reference"`
		}
		err := decodeJSON(strings.NewReader(body), &top)
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
