package message

import "testing"

func TestDLROutcome(t *testing.T) {
	for _, c := range []struct {
		status string
		state  State
		final  bool
	}{
		{DLRDelivered, StateDelivered, true},
		{DLRExpired, StateExpired, true},
		{DLRRejected, StateRejected, true},
		{DLRUndeliverable, StateUndelivered, true},
		{DLRDeleted, StateUndelivered, true},
		{DLRUnknown, StateUndelivered, true},
		{"SOMETHING", StateUndelivered, true},
		{"", StateUndelivered, true},
		{DLRAccepted, "", false},
		{DLREnroute, "", false},
	} {
		state, final := DLROutcome(c.status)
		if state != c.state || final != c.final {
			t.Errorf("DLROutcome(%q) = %q, %v; want %q, %v", c.status, state, final, c.state, c.final)
		}
		if DLRFinal(c.status) != c.final {
			t.Errorf("DLRFinal(%q) = %v", c.status, !c.final)
		}
	}
}
