package server

import (
	"fmt"
	"testing"

	"github.com/linxGnu/gosmpp/data"

	"github.com/smsledger/smsledger/domain/accept"
)

// The ledger's refusals of a submit's times map onto SMPP v3.4's statuses.
func TestStatusOfScheduleRefusals(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want data.CommandStatusType
	}{
		{fmt.Errorf("message x: %w", accept.ErrInvalidSchedule), data.ESME_RINVSCHED},
		{fmt.Errorf("message x: %w", accept.ErrInvalidExpiry), data.ESME_RINVEXPIRY},
	} {
		if got := StatusOf(tc.err); got != tc.want {
			t.Errorf("StatusOf(%v) = 0x%x, want 0x%x", tc.err, got, tc.want)
		}
	}
}
