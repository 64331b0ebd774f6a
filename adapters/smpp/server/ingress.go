package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/smsledger/smsledger/adapters/smpp/receipt"
	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/controls"
)

// Ingress is what the server needs from the application side. The ledger
// (or a simulator, or a test fake) implements it; every method may block
// and must honour ctx.
type Ingress interface {
	// AuthenticateSMPP checks an ESME's bind credentials. It returns
	// ErrUnknownSystemID or ErrInvalidPassword (wrapped or not) for the two
	// refusals, both answered ESME_RINVPASWD (the ESME cannot tell whether
	// a system_id exists) and counted against the failure budgets; any
	// other error is answered ESME_RBINDFAIL and counts nothing.
	AuthenticateSMPP(ctx context.Context, systemID, password string) (Principal, error)
	// Submit accepts one (reassembled) message for tenantID. It returns
	// only once the message is durable; an error is a refusal, mapped to a
	// command_status by StatusOf. req.MessageID is a fresh time-ordered
	// UUID (v7) chosen by the server (Submit may keep or replace it: the ESME gets
	// Accepted.MessageID).
	Submit(ctx context.Context, tenantID string, req accept.Request) (Accepted, error)
	// QueryMessage answers query_sm for a message of tenantID; unknown
	// messages (or another tenant's) are ErrMessageNotFound.
	QueryMessage(ctx context.Context, tenantID, messageID string) (MessageStatus, error)
}

// BindAuthorizer may also be implemented by an Ingress: the server then
// asks it, after the credentials are verified, whether this bind of the
// tenant may stand (e.g. its status, its max_binds, its allowed_ips). binds
// counts the tenant's binds on this server, this one included; remote is
// the peer's address. A nil error admits the bind; a *StatusError refuses
// it with its status, any other error with ESME_RBINDFAIL. It must honour
// ctx (the connection's bind deadline).
type BindAuthorizer interface {
	AuthorizeBind(ctx context.Context, p Principal, remote netip.Addr, binds int) error
}

// Principal is an authenticated ESME.
type Principal struct {
	TenantID string
	// TPS is the tenant's submit_sm rate limit enforced by the server
	// (token bucket, burst = max(1, TPS/10)); 0 means no per-tenant limit
	// here. The limit is updated on every bind of the tenant.
	TPS float64
}

// Accepted is the result of a durable Submit.
type Accepted struct {
	MessageID string // returned in submit_sm_resp (at most 64 octets)
	Parts     int
}

// MessageStatus answers query_sm.
type MessageStatus struct {
	State     receipt.MessageState
	FinalDate time.Time // zero while not final
	ErrorCode uint8     // network error code, 0 if none
}

// Errors an Ingress returns (possibly wrapped) to choose the answer.
var (
	ErrUnknownSystemID = errors.New("smpp: unknown system_id")
	ErrInvalidPassword = errors.New("smpp: invalid password")
	ErrMessageNotFound = errors.New("smpp: message not found")
	// ErrThrottled refuses a submit with ESME_RTHROTTLED (e.g. the store's
	// group-commit queue is full).
	ErrThrottled = errors.New("smpp: throttled")
	// ErrNotDurable refuses a submit with ESME_RSYSERR: the store could not
	// make the message durable. (Any unclassified error gives RSYSERR too.)
	ErrNotDurable = errors.New("smpp: not durable")
)

// StatusError makes a refusal carry an exact command_status.
type StatusError struct {
	Status data.CommandStatusType
	Err    error
}

func (e *StatusError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("smpp status 0x%08X", uint32(e.Status))
	}
	return fmt.Sprintf("smpp status 0x%08X: %v", uint32(e.Status), e.Err)
}

func (e *StatusError) Unwrap() error { return e.Err }

// Vendor-specific command_status values (SMPP v3.4 reserves
// 0x00000400–0x000004FF for the SMSC vendor) for refusals v3.4 has no code
// for.
const (
	StatusNoRoute             data.CommandStatusType = 0x00000400 // no route / no eligible supplier
	StatusNoRate              data.CommandStatusType = 0x00000401 // tenant has no price for the destination
	StatusInsufficientFunds   data.CommandStatusType = 0x00000402 // balance too low
	StatusInvalidText         data.CommandStatusType = 0x00000403 // text not decodable / representable
	StatusUnsupportedEncoding data.CommandStatusType = 0x00000404 // data_coding not supported
	StatusTenantMisconfigured data.CommandStatusType = 0x00000405 // tenant has no usable rate card
	StatusTenantSuspended     data.CommandStatusType = 0x00000406 // tenant suspended by an operator
	// The controls before a message is accepted (domain/controls); a
	// sender not allowed is StatusInvalidSource.
	StatusContentBlocked         data.CommandStatusType = 0x00000407 // a keyword, pattern or URL domain blocklist matched
	StatusDestinationRateLimited data.CommandStatusType = 0x00000408 // over the tenant's per-destination rate limit
	StatusDuplicateMessage       data.CommandStatusType = 0x00000409 // the same destination and text within the duplicate window
)

// Standard statuses used by the server (names as in SMPP v3.4).
const (
	StatusOK           = data.ESME_ROK
	StatusThrottled    = data.ESME_RTHROTTLED  // 0x58
	StatusInvalidDest  = data.ESME_RINVDSTADR  // 0x0B
	StatusTooLong      = data.ESME_RINVMSGLEN  // 0x01
	StatusSystemError  = data.ESME_RSYSERR     // 0x08
	StatusBindFail     = data.ESME_RBINDFAIL   // 0x0D
	StatusBadPassword  = data.ESME_RINVPASWD   // 0x0E: wrong password, unknown system_id, or a spent failure budget
	StatusBadBindState = data.ESME_RINVBNDSTS  // 0x04
	StatusAlreadyBound = data.ESME_RALYBND     // 0x05
	StatusQueueFull    = data.ESME_RMSGQFUL    // 0x14
	StatusSubmitFail   = data.ESME_RSUBMITFAIL // 0x45
	StatusBadEsmClass  = data.ESME_RINVESMCLASS
	StatusBadOptParam  = data.ESME_RINVOPTPARAMVAL
	StatusQueryFail    = data.ESME_RQUERYFAIL
)

// StatusInvalidSource (ESME_RINVSRCADR, 0x0A) refuses a sender the
// tenant's allow-list does not hold.
const StatusInvalidSource = data.ESME_RINVSRCADR

// StatusOf maps a Submit error to the submit_sm_resp command_status:
// a *StatusError gives its own status; ErrThrottled → ESME_RTHROTTLED;
// ErrNotDurable → ESME_RSYSERR; the controls' refusals
// (controls.RefusalOf) → ESME_RINVSRCADR and the vendor statuses
// 0x407-0x409; the domain's refusals (accept.RefusalOf) map as documented
// in docs/ARCHITECTURE.md; anything else → ESME_RSYSERR.
func StatusOf(err error) data.CommandStatusType {
	if err == nil {
		return StatusOK
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	switch {
	case errors.Is(err, ErrThrottled):
		return StatusThrottled
	case errors.Is(err, ErrNotDurable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return StatusSystemError
	case errors.Is(err, accept.ErrTenantMisconfigured):
		return StatusTenantMisconfigured
	}
	switch controls.RefusalOf(err) {
	case controls.RefusedSenderNotAllowed:
		return StatusInvalidSource
	case controls.RefusedContentBlocked:
		return StatusContentBlocked
	case controls.RefusedDestinationRateLimited:
		return StatusDestinationRateLimited
	case controls.RefusedDuplicate:
		return StatusDuplicateMessage
	}
	switch accept.RefusalOf(err) {
	case accept.RefusedInvalidDestination:
		return StatusInvalidDest
	case accept.RefusedNoRoute:
		return StatusNoRoute
	case accept.RefusedNoRate:
		return StatusNoRate
	case accept.RefusedInsufficientFunds:
		return StatusInsufficientFunds
	case accept.RefusedTooLong:
		return StatusTooLong
	case accept.RefusedInvalidText:
		return StatusInvalidText
	case accept.RefusedUnsupportedEncoding:
		return StatusUnsupportedEncoding
	case accept.RefusedInvalidSchedule:
		return StatusBadSchedule
	case accept.RefusedInvalidExpiry:
		return StatusBadExpiry
	}
	return StatusSystemError
}
