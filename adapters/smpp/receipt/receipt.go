// Package receipt parses and formats SMPP delivery receipts (DLRs): the
// de-facto standard short_message text of SMPP v3.4 appendix B
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
//
// and the receipted_message_id / message_state / network_error_code TLVs.
//
// Parse is tolerant of the usual vendor variations: keys in any case,
// "submit_date"/"submitdate"/"done_date", "status"/"error", missing fields,
// extra unknown fields, dates with or without seconds or century, and long
// stat words (DELIVERED, UNDELIVERABLE, …) which are folded onto the seven
// standard ones. Everything after "text:" is the text, whatever it holds.
package receipt

import (
	"errors"
	"time"
)

// ErrNotReceipt is returned when a text has neither an id nor a stat field.
var ErrNotReceipt = errors.New("receipt: not a delivery receipt")

// Receipt is one delivery receipt.
type Receipt struct {
	ID         string    // the message id the receipt is about, as written
	Sub        int       // number submitted (-1 when absent)
	Dlvrd      int       // number delivered (-1 when absent)
	SubmitDate time.Time // zero when absent or unparseable
	DoneDate   time.Time // zero when absent or unparseable
	Stat       string    // normalised stat word, "" when absent
	Err        string    // error code as written ("" when absent)
	Text       string    // first characters of the message, as written
	// State is the message_state (from the TLV when present, else from Stat).
	State MessageState
	// NetworkError is the network_error_code TLV (type, code), zero when absent.
	NetworkErrorType uint8
	NetworkErrorCode uint16
}
