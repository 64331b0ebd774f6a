package receipt

import (
	"strconv"
	"strings"
)

// IDFormat says how a supplier writes message ids.
type IDFormat uint8

// ID formats.
const (
	IDAsIs IDFormat = iota // compare as strings (after trimming)
	IDDec                  // decimal digits
	IDHex                  // hexadecimal digits
)

// ConvertID converts an id written in format from into format to (hex is
// written in lower case without leading zeros). An id that does not parse
// in from, or does not fit 64 bits, is returned trimmed and unchanged.
func ConvertID(id string, from, to IDFormat) string {
	id = strings.TrimSpace(id)
	if from == to || from == IDAsIs || to == IDAsIs {
		return id
	}
	base := 10
	if from == IDHex {
		base = 16
	}
	v, err := strconv.ParseUint(id, base, 64)
	if err != nil {
		return id
	}
	if to == IDHex {
		return strconv.FormatUint(v, 16)
	}
	return strconv.FormatUint(v, 10)
}
