package receipt

import (
	"strings"

	"github.com/smsledger/smsledger/domain/message"
)

// MessageState is the SMPP v3.4 message_state value (TLV 0x0427, and
// query_sm_resp).
type MessageState uint8

// SMPP v3.4 message states (section 5.2.28).
const (
	StateNone          MessageState = 0
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
)

// stats is the standard stat word of each message_state; StateNone has
// none.
var stats = [...]string{
	StateEnroute:       message.DLREnroute,
	StateDelivered:     message.DLRDelivered,
	StateExpired:       message.DLRExpired,
	StateDeleted:       message.DLRDeleted,
	StateUndeliverable: message.DLRUndeliverable,
	StateAccepted:      message.DLRAccepted,
	StateUnknown:       message.DLRUnknown,
	StateRejected:      message.DLRRejected,
}

// StateOf maps a stat word (standard or vendor) to its message_state;
// an empty or unrecognised word gives StateUnknown.
func StateOf(stat string) MessageState {
	if st := NormalizeStat(stat); st != "" {
		for s, w := range stats {
			if w == st {
				return MessageState(s)
			}
		}
	}
	return StateUnknown
}

// Stat is the standard stat word of a message_state (UNKNOWN for
// StateNone and values SMPP does not define).
func (s MessageState) Stat() string {
	if int(s) < len(stats) && stats[s] != "" {
		return stats[s]
	}
	return message.DLRUnknown
}

// NormalizeStat folds vendor stat words onto the seven standard ones
// (upper case). Unrecognised words give UNKNOWN; an empty word stays empty.
func NormalizeStat(s string) string {
	u := strings.ToUpper(strings.TrimSpace(s))
	switch u {
	case "":
		return ""
	case message.DLRDelivered, "DELIVERED", "DELIVER", "DELIVRED", "DELIVR", "SUCCESS", "DELIVERD":
		return message.DLRDelivered
	case message.DLRExpired, "EXPIRE", "EXPIRD":
		return message.DLRExpired
	case message.DLRDeleted, "DELETE":
		return message.DLRDeleted
	case message.DLRUndeliverable, "UNDELIVERABLE", "UNDELIVERED", "UNDELIVRD", "FAILED", "FAIL", "FAILD":
		return message.DLRUndeliverable
	case message.DLRAccepted, "ACCEPTED", "ACCEPT":
		return message.DLRAccepted
	case message.DLRRejected, "REJECTED", "REJECT", "REJECTED_", "REJECT_":
		return message.DLRRejected
	case message.DLREnroute, "EN_ROUTE", "ENROUTED", "BUFFERED", "SENT":
		return message.DLREnroute
	}
	return message.DLRUnknown
}
