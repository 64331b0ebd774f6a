package relay

import (
	"testing"

	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/domain/message"
)

// The end-to-end behaviour of the relay is tested through serve
// (cmd/smsledger: TestServeSMPPEndToEnd, TestServeCrashRecovery, the
// scenarios); these are its small pure parts.

func TestStateOf(t *testing.T) {
	for s, want := range map[message.State]receipt.MessageState{
		message.StateDelivered:        receipt.StateDelivered,
		message.StateUndelivered:      receipt.StateUndeliverable,
		message.StateFailed:           receipt.StateUndeliverable,
		message.StateRejected:         receipt.StateRejected,
		message.StateExpired:          receipt.StateExpired,
		message.StateSupplierAccepted: receipt.StateEnroute,
		message.StateRouted:           receipt.StateAccepted,
	} {
		if got := stateOf(s); got != want {
			t.Errorf("stateOf(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestFirstRunes(t *testing.T) {
	for in, want := range map[string]string{"": "", "héllo wörld": "héllo", "abc": "abc"} {
		if got := firstRunes(in, 5); got != want {
			t.Errorf("firstRunes(%q, 5) = %q, want %q", in, got, want)
		}
	}
}
