package server

import (
	"fmt"
	"testing"

	"github.com/linxGnu/gosmpp/data"

	"github.com/smsledger/smsledger/domain/controls"
)

// Each control's refusal has its own command_status, wrapped or not.
func TestStatusOfControlsRefusals(t *testing.T) {
	for _, tc := range []struct {
		refusal controls.Refusal
		want    data.CommandStatusType
	}{
		{controls.RefusedSenderNotAllowed, data.ESME_RINVSRCADR},
		{controls.RefusedContentBlocked, 0x407},
		{controls.RefusedDestinationRateLimited, 0x408},
		{controls.RefusedDuplicate, 0x409},
	} {
		for _, err := range []error{tc.refusal.Err(), fmt.Errorf("message x refused: %w (tenant keyword: casino)", tc.refusal.Err())} {
			if got := StatusOf(err); got != tc.want {
				t.Errorf("StatusOf(%v) = 0x%x, want 0x%x", err, got, tc.want)
			}
		}
	}
}
