package fastjson

import "encoding/json"

// Valid reports whether data is valid JSON, as json.Valid does: one pass
// of the fast scanner, which decides the plain documents the event
// catalogue writes; anything it does not accept (nesting beyond 100, or
// invalid JSON) is decided by json.Valid.
func Valid(data []byte) bool {
	s := fastScanner{b: data}
	s.ws()
	if s.skip(0) && s.end() {
		return true
	}
	return json.Valid(data)
}
