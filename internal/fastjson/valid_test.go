package fastjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func FuzzValidMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"schema":1,"message_id":"0190a0b0-c0d0-7e0f-8a0b-0c0d0e0f1011","price":"0.07","n":-1.5e3,"ok":true,"x":null,"a":[1,{"b":[]}]}`,
		`{}`, `[]`, `""`, `0`, `-0`, `01`, `1.`, `.1`, `1e`, `-`, `"\u00e9\n"`, `"\x"`, "\"\xff\"", "\"a\x01\"",
		`{"a":1,}`, `[1,]`, `{"a" 1}`, ` {"a":1} `, `{"a":1} x`, `tru`, `nul`, strings.Repeat("[", 200) + strings.Repeat("]", 200),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Valid(data), json.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid = %v", data, got, want)
		}
	})
}
