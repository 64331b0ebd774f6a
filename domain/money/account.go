package money

import (
	"errors"
	"fmt"
	"sync"

	"github.com/shopspring/decimal"
)

// ErrInsufficientFunds reports a hold larger than the available balance.
// Test with errors.Is; errors.As gives *InsufficientFundsError.
var ErrInsufficientFunds = errors.New("insufficient funds")

// ErrHoldUnderflow reports a settle or release of more than is held: the
// caller released or settled a hold twice, which the message state machine
// must prevent.
var ErrHoldUnderflow = errors.New("settle or release exceeds held amount")

// InsufficientFundsError carries the figures behind a refused hold.
type InsufficientFundsError struct {
	Currency  Currency
	Available Units
	Requested Units
}

func (e *InsufficientFundsError) Error() string {
	return fmt.Sprintf("hold of %s %s refused: available %s: %s",
		e.Requested, e.Currency, e.Available, ErrInsufficientFunds)
}

// Is makes errors.Is(err, ErrInsufficientFunds) true.
func (e *InsufficientFundsError) Is(target error) bool { return target == ErrInsufficientFunds }

// Account is one tenant's spendable balance in memory, the thing the hot
// path holds funds against:
//
//	available = balance + credit_limit − held  (never below zero)
//
// balance is the settled funds (top-ups minus settled charges); held is the
// sum of open holds. Every operation is a few integer operations under one
// uncontended mutex (tens of nanoseconds), so thousands of accepts per second
// on one tenant never wait on a database: durability comes from the Held
// event appended to the message stream, and on restart the Account is
// rebuilt by the ledger from the money events in the log (top-ups,
// settlements, open holds).
//
// Scale-out note: an Account is authoritative only within the one process
// that owns the tenant; several nodes must not each hold against their own
// copy of the same tenant (see docs/ARCHITECTURE.md).
type Account struct {
	mu          sync.Mutex
	currency    Currency
	balance     Units
	creditLimit Units
	held        Units
}

// AccountState is a consistent copy of an Account's figures.
type AccountState struct {
	Currency    Currency
	Balance     Units
	CreditLimit Units
	Held        Units
	Available   Units
}

// NewAccount returns an account with the given settled balance, credit
// limit (>= 0) and already-open holds (>= 0), e.g. as rebuilt from the log.
func NewAccount(currency Currency, balance, creditLimit, held Units) (*Account, error) {
	if !currency.Valid() {
		return nil, fmt.Errorf("new account: currency %q: %w", currency, ErrInvalidCurrency)
	}
	if creditLimit < 0 || held < 0 {
		return nil, fmt.Errorf("new account: credit limit %s held %s: %w", creditLimit, held, ErrNegative)
	}
	if _, err := balance.Add(creditLimit); err != nil {
		return nil, fmt.Errorf("new account: %w", err)
	}
	return &Account{currency: currency, balance: balance, creditLimit: creditLimit, held: held}, nil
}

// Currency is the account's currency (fixed for its life).
func (a *Account) Currency() Currency { return a.currency }

// Hold reserves amount if the available balance covers it. It is the hot
// path's only money operation and does not allocate on success.
func (a *Account) Hold(amount Units) error {
	if amount < 0 {
		return fmt.Errorf("hold %s: %w", amount, ErrNegative)
	}
	a.mu.Lock()
	avail := a.balance + a.creditLimit - a.held
	if amount > avail {
		a.mu.Unlock()
		return &InsufficientFundsError{Currency: a.currency, Available: avail, Requested: amount}
	}
	a.held += amount
	a.mu.Unlock()
	return nil
}

// HoldFromLog takes a hold the log already decided (another node's, or one
// recorded before this process knew of it): no available check, only a
// negative amount is refused. Available may then read zero until funds
// return, as after a lowered credit limit.
func (a *Account) HoldFromLog(amount Units) error {
	if amount < 0 {
		return fmt.Errorf("hold %s: %w", amount, ErrNegative)
	}
	a.mu.Lock()
	a.held += amount
	a.mu.Unlock()
	return nil
}

// Release cancels a hold of amount (message failed, or billing refunded
// before settlement).
func (a *Account) Release(amount Units) error {
	if amount < 0 {
		return fmt.Errorf("release %s: %w", amount, ErrNegative)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if amount > a.held {
		return fmt.Errorf("release %s with %s held: %w", amount, a.held, ErrHoldUnderflow)
	}
	a.held -= amount
	return nil
}

// Settle closes a hold of held and charges charged (charged <= held: the
// charge can only be what was reserved or less), moving it from held to the
// settled balance.
func (a *Account) Settle(held, charged Units) error {
	if held < 0 || charged < 0 {
		return fmt.Errorf("settle held %s charged %s: %w", held, charged, ErrNegative)
	}
	if charged > held {
		return fmt.Errorf("settle: charge %s above hold %s: %w", charged, held, ErrHoldUnderflow)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if held > a.held {
		return fmt.Errorf("settle %s with %s held: %w", held, a.held, ErrHoldUnderflow)
	}
	a.held -= held
	a.balance -= charged
	return nil
}

// TopUp adds settled funds.
func (a *Account) TopUp(amount Units) error {
	if amount <= 0 {
		return fmt.Errorf("top up %s: %w", amount, ErrNegative)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	nb, err := a.balance.Add(amount)
	if err != nil {
		return fmt.Errorf("top up: %w", err)
	}
	if _, err := nb.Add(a.creditLimit); err != nil {
		return fmt.Errorf("top up: %w", err)
	}
	a.balance = nb
	return nil
}

// Debit takes amount (> 0) from the settled balance if the available
// balance covers it, atomically against concurrent holds: a debit never
// takes available below zero (a negative adjustment). A refusal is an
// *InsufficientFundsError and changes nothing.
func (a *Account) Debit(amount Units) error {
	if amount <= 0 {
		return fmt.Errorf("debit %s: %w", amount, ErrNegative)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	avail := a.balance + a.creditLimit - a.held
	if amount > avail {
		return &InsufficientFundsError{Currency: a.currency, Available: avail, Requested: amount}
	}
	a.balance -= amount
	return nil
}

// Adjust changes the settled balance by the signed delta without the
// available check: it is for movements the log already decided (an
// adjustment another process recorded, or undoing a Debit). Only an
// overflow is refused.
func (a *Account) Adjust(delta Units) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	nb, err := a.balance.Add(delta)
	if err != nil {
		return fmt.Errorf("adjust: %w", err)
	}
	if _, err := nb.Add(a.creditLimit); err != nil {
		return fmt.Errorf("adjust: %w", err)
	}
	a.balance = nb
	return nil
}

// SetCreditLimit changes the credit limit (>= 0). Lowering it below what is
// already held is allowed (holds already granted stay granted) but then no
// new hold succeeds until funds return: available is reported as zero.
func (a *Account) SetCreditLimit(limit Units) error {
	if limit < 0 {
		return fmt.Errorf("credit limit %s: %w", limit, ErrNegative)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.balance.Add(limit); err != nil {
		return fmt.Errorf("credit limit: %w", err)
	}
	a.creditLimit = limit
	return nil
}

// State returns a consistent copy of the figures.
func (a *Account) State() AccountState {
	a.mu.Lock()
	defer a.mu.Unlock()
	avail := a.balance + a.creditLimit - a.held
	if avail < 0 {
		avail = 0
	}
	return AccountState{Currency: a.currency, Balance: a.balance, CreditLimit: a.creditLimit, Held: a.held, Available: avail}
}

// HoldDecimal is Hold for a decimal amount at an API boundary.
func (a *Account) HoldDecimal(amount decimal.Decimal) error {
	u, err := FromDecimal(amount)
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	return a.Hold(u)
}
