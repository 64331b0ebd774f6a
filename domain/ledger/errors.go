package ledger

import (
	"errors"
	"fmt"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/controls"
	"github.com/smsledger/smsledger/domain/money"
)

// Errors of the ledger's use cases. Every error a Service method returns
// matches (errors.Is) at most one of these or an error of the domain
// packages; CodeOf maps any of them to a stable code.
var (
	// ErrInvalid: a command's input is invalid (*ValidationError).
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound: no such tenant, supplier or message (or one of another tenant).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a tenant or supplier with that id exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the command contradicts recorded state (e.g. a top-up
	// reference reused with another amount, a system_id of another tenant).
	ErrConflict = errors.New("conflict")
	// ErrBadCredentials: wrong SMPP password or unknown/invalid API key.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrUnknownSystemID: no tenant has this SMPP system_id.
	ErrUnknownSystemID = errors.New("unknown system_id")
	// ErrUnknownTenant: the tenant of a submit does not exist.
	ErrUnknownTenant = errors.New("unknown tenant")
	// ErrTenantSuspended: the tenant is suspended (PATCH status); its
	// submits are refused until it is active again.
	ErrTenantSuspended = errors.New("tenant suspended")
	// ErrThrottled: the tenant's TPS limit is exhausted, or the ledger
	// tracks as many unfinished messages as it may (Options.UnfinishedMax).
	ErrThrottled = errors.New("throttled")
	// ErrNotDurable: the store could not make the message durable; the hold
	// was released and the message does not exist.
	ErrNotDurable = errors.New("message not durable")
	// ErrNotReady: the service has not caught up with the log yet.
	ErrNotReady = errors.New("ledger not caught up with the log")
)

// ValidationError names the invalid field of a command.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Field, e.Message, ErrInvalid)
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Code is a stable, machine-readable error code shared by the HTTP and SMPP
// adapters (HTTP puts it in {"error":{"code"}}, SMPP maps it to a
// command_status).
type Code string

// Codes. The refusals of the hot path are accept's (invalid_destination,
// no_route, no_rate, insufficient_funds, message_too_long, invalid_text,
// unsupported_encoding, system_error).
const (
	CodeOK              Code = "ok"
	CodeInvalid         Code = "invalid_request"
	CodeNotFound        Code = "not_found"
	CodeAlreadyExists   Code = "already_exists"
	CodeConflict        Code = "conflict"
	CodeBadCredentials  Code = "bad_credentials"
	CodeUnknownSystemID Code = "unknown_system_id"
	CodeUnknownTenant   Code = "unknown_tenant"
	CodeThrottled       Code = "throttled"
	CodeTenantSuspended Code = "tenant_suspended"
	CodeNotReady        Code = "not_ready"
	// CodeIdempotencyConflict: an idempotency key reused with another
	// request; CodeIdempotencyInProgress: its first request is undecided.
	CodeIdempotencyConflict   Code = "idempotency_conflict"
	CodeIdempotencyInProgress Code = "idempotency_in_progress"
	CodeInvalidDestination    Code = Code(accept.RefusedInvalidDestination)
	CodeNoRoute               Code = Code(accept.RefusedNoRoute)
	CodeNoRate                Code = Code(accept.RefusedNoRate)
	CodeInsufficientFunds     Code = Code(accept.RefusedInsufficientFunds)
	CodeTooLong               Code = Code(accept.RefusedTooLong)
	CodeInvalidText           Code = Code(accept.RefusedInvalidText)
	CodeUnsupportedEncoding   Code = Code(accept.RefusedUnsupportedEncoding)
	CodeInvalidSchedule       Code = Code(accept.RefusedInvalidSchedule)
	CodeInvalidExpiry         Code = Code(accept.RefusedInvalidExpiry)
	// CodeSystemError: the store failed (ErrNotDurable) or another
	// unexpected error; SMPP answers ESME_RSYSERR.
	CodeSystemError Code = Code(accept.RefusedSystem)
)

// The codes of the controls' refusals (controls.go), each a
// *RefusedError carrying the message id.
const (
	CodeSenderNotAllowed       Code = Code(controls.RefusedSenderNotAllowed)
	CodeContentBlocked         Code = Code(controls.RefusedContentBlocked)
	CodeDestinationRateLimited Code = Code(controls.RefusedDestinationRateLimited)
	CodeDuplicateMessage       Code = Code(controls.RefusedDuplicate)
)

// CodeOf maps an error of this package or of the domain to its stable code
// (nil is CodeOK; anything unknown is CodeSystemError).
func CodeOf(err error) Code {
	switch {
	case err == nil:
		return CodeOK
	case errors.Is(err, ErrInvalid), errors.Is(err, money.ErrNotExact), errors.Is(err, money.ErrOutOfRange):
		return CodeInvalid
	case errors.Is(err, ErrNotFound):
		return CodeNotFound
	case errors.Is(err, ErrAlreadyExists):
		return CodeAlreadyExists
	case errors.Is(err, ErrConflict):
		return CodeConflict
	case errors.Is(err, ErrBadCredentials):
		return CodeBadCredentials
	case errors.Is(err, ErrUnknownSystemID):
		return CodeUnknownSystemID
	case errors.Is(err, ErrUnknownTenant):
		return CodeUnknownTenant
	case errors.Is(err, ErrThrottled):
		return CodeThrottled
	case errors.Is(err, ErrTenantSuspended):
		return CodeTenantSuspended
	case errors.Is(err, ErrNotReady):
		return CodeNotReady
	case errors.Is(err, ErrIdempotencyConflict):
		return CodeIdempotencyConflict
	case errors.Is(err, ErrIdempotencyInProgress):
		return CodeIdempotencyInProgress
	case errors.Is(err, ErrNotDurable):
		return CodeSystemError
	}
	if r := controls.RefusalOf(err); r != "" {
		return Code(r)
	}
	return Code(accept.RefusalOf(err))
}
