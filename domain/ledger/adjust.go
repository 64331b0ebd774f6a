package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/message"
	"github.com/smsledger/smsledger/domain/money"
	"github.com/smsledger/smsledger/eventstore"
)

// MaxReasonLen bounds an adjustment's reason.
const MaxReasonLen = 500

// AdjustmentResult tells what an adjustment did.
type AdjustmentResult struct {
	EntryID  uuid.UUID
	Amount   decimal.Decimal // signed, as recorded
	Currency money.Currency
	// Duplicate is true when the reference was already recorded (with the
	// same amount) and nothing new happened.
	Duplicate bool
}

// adjustmentKey is where an adjustment's reference is remembered: in the
// top-up references (recordTopUp), under a tenant key no tenant id can be
// (ids never hold a NUL), so the two reference spaces stay apart.
func adjustmentKey(tenantID string) string { return "adjustment\x00" + tenantID }

// Adjust corrects a tenant's balance by a signed, non-zero amount,
// recorded as AdjustmentRecorded plus its journal entry (positive: Dr
// adjustments / Cr tenant; negative: Dr tenant / Cr adjustments). It is
// idempotent by reference like TopUp (a repeat is a no-op, Duplicate; a
// repeat with another amount is ErrConflict). A negative adjustment is
// taken from the tenant's Account first (money.Account.Debit), atomically
// against concurrent holds: one that would take available below zero is
// refused with money.ErrInsufficientFunds and nothing is recorded.
func (s *Service) Adjust(ctx context.Context, tenantID string, amount decimal.Decimal, reference, reason string) (AdjustmentResult, error) {
	if !s.Ready() {
		return AdjustmentResult{}, ErrNotReady
	}
	t, err := s.tenant(tenantID)
	if err != nil {
		return AdjustmentResult{}, err
	}
	if reference == "" || len(reference) > MaxReferenceLen {
		return AdjustmentResult{}, invalid("reference", "must be 1-%d bytes", MaxReferenceLen)
	}
	if len(reason) > MaxReasonLen {
		return AdjustmentResult{}, invalid("reason", "must be at most %d bytes", MaxReasonLen)
	}
	u, err := money.FromDecimal(amount)
	if err != nil {
		return AdjustmentResult{}, invalid("amount", "%v", err)
	}
	if u == 0 {
		return AdjustmentResult{}, invalid("amount", "must not be zero")
	}
	amount = u.Decimal()
	entry, err := money.AdjustmentEntry(tenantID, money.Money{Amount: amount, Currency: t.Currency}, reference)
	if err != nil {
		return AdjustmentResult{}, invalid("amount", "%v", err)
	}
	res := AdjustmentResult{EntryID: entry.ID, Amount: amount, Currency: t.Currency}
	key := adjustmentKey(tenantID)
	check := func() (bool, error) {
		prev, ok := s.topUpAmount(key, reference)
		if ok && prev != u {
			return true, fmt.Errorf("adjustment reference %q of tenant %q was recorded with amount %s: %w", reference, tenantID, prev.Decimal(), ErrConflict)
		}
		return ok, nil
	}
	if u < 0 {
		// One adjustment per reference in flight in this process: the
		// pending mark (the entry id) tells the follower the Account was
		// debited already. A second one waits for the first to be decided.
		for {
			if _, busy := s.pending.LoadOrStore(entry.ID, struct{}{}); !busy {
				break
			}
			select {
			case <-ctx.Done():
				return AdjustmentResult{}, fmt.Errorf("adjustment %q of %q: %w", reference, tenantID, ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
	}
	if dup, err := check(); dup || err != nil {
		if u < 0 {
			s.pending.Delete(entry.ID)
		}
		res.Duplicate = dup
		return res, err
	}
	// A debit comes from the tenant's Account; in a cluster from this
	// node's lease (budget.go), leased for it if short.
	acct, node := t.accept.Account, ""
	if u < 0 && s.inCluster() {
		tl, lease, err := s.leaseAccount(tenantID)
		if err == nil && lease.State().Available < -u {
			err = s.leaseMore(ctx, tenantID, -u)
		}
		if err != nil {
			s.pending.Delete(entry.ID)
			return AdjustmentResult{}, fmt.Errorf("adjustment %q of %q: %w", reference, tenantID, err)
		}
		tl.lastHold.Store(s.clock().UnixNano())
		acct, node = lease, s.opts.Node
	}
	if u < 0 {
		if err := acct.Debit(-u); err != nil {
			s.pending.Delete(entry.ID)
			return AdjustmentResult{}, fmt.Errorf("adjustment %q of %q: %w", reference, tenantID, err)
		}
	}
	at := s.clock().UTC()
	ids := []uuid.UUID{uuid.NewSHA1(eventNamespace, []byte("adjustment\x00"+tenantID+"\x00"+reference)), entry.ID}
	_, err = s.appendConfig(ctx, events.TenantStream(tenantID), eventstore.StreamExists, ids,
		events.AdjustmentRecorded{TenantID: tenantID, Reference: reference, Amount: amount, Currency: string(t.Currency),
			Reason: reason, EntryID: entry.ID, Node: node, At: at},
		message.JournalEvent(entry, tenantID, at))
	if err != nil {
		if u < 0 {
			// Not applied yet: undo the debit. If the append was written
			// after all, the follower finds no mark and debits then.
			if _, mine := s.pending.LoadAndDelete(entry.ID); mine {
				if uerr := acct.Adjust(-u); uerr != nil {
					s.log.Error("ledger: adjustment debit not undone", "tenant", tenantID, "reference", reference, "err", uerr)
				}
			}
		}
		return AdjustmentResult{}, fmt.Errorf("adjust %q: %w", tenantID, err)
	}
	// The follower has applied the append by now. A mark it left means
	// our events came after the same reference's (another process's): not
	// counted, so the debit is undone.
	if u < 0 {
		if _, left := s.pending.LoadAndDelete(entry.ID); left {
			if uerr := acct.Adjust(-u); uerr != nil {
				s.log.Error("ledger: adjustment debit not undone", "tenant", tenantID, "reference", reference, "err", uerr)
			}
			res.Duplicate = true
		}
	}
	// A concurrent adjustment with the same reference (another process)
	// may have won.
	if _, err := check(); err != nil {
		return res, err
	}
	return res, nil
}
