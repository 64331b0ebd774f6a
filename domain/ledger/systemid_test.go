package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// Tenants racing for one system_id: exactly one gets it, every other is
// told ErrConflict, and the holder's password is the one that binds — on
// this process and on a replay of the log.
func TestSystemIDClaimIsAtomic(t *testing.T) {
	ctx := context.Background()
	store := ledgertest.MemStore(t)
	svc := ledgertest.Start(t, store, ledger.Options{})
	const n = 8
	for i := range n {
		ledgertest.Setup(t, svc, fmt.Sprintf("t%d", i))
	}
	for round := range 20 {
		sid := fmt.Sprintf("shared%d", round)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = svc.SetSmppCredentials(ctx, fmt.Sprintf("t%d", i), sid, fmt.Sprintf("pw%d", i))
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: t%d and t%d both got %s", round, winner, i, sid)
			case err == nil:
				winner = i
			case !errors.Is(err, ledger.ErrConflict):
				t.Fatalf("round %d: t%d: %v", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody got %s", round, sid)
		}
		if id, err := svc.AuthenticateSMPP(ctx, sid, fmt.Sprintf("pw%d", winner)); err != nil || id != fmt.Sprintf("t%d", winner) {
			t.Fatalf("round %d: the holder's bind: %q %v", round, id, err)
		}
		replayed := ledgertest.Start(t, store, ledger.Options{})
		if id, err := replayed.AuthenticateSMPP(ctx, sid, fmt.Sprintf("pw%d", winner)); err != nil || id != fmt.Sprintf("t%d", winner) {
			t.Fatalf("round %d: after a replay: %q %v", round, id, err)
		}
	}
}
