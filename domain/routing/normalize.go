// Package routing decides which supplier carries a message: it normalises
// the destination to E.164 digits, finds the route by longest prefix, looks
// up each candidate supplier's cost by longest prefix in its cost card,
// drops unhealthy candidates and orders the rest by the tenant tier's
// trade-off between the route's preference, cost and health.
//
// All inputs are immutable snapshots (Snapshot for routes and cost cards,
// Health for supplier health) that the hot path reads without locks; the
// owner swaps whole snapshots atomically when configuration or health
// changes. The same inputs always give the same Decision, and the Decision
// records every candidate and why the winner won, for the RouteSelected
// event and audits.
package routing

import (
	"errors"
	"fmt"
)

// E.164 bounds on the digits of a normalised destination. The shortest real
// international numbers (country code + subscriber) have 7 digits.
const (
	MinDigits = 7
	MaxDigits = 15
)

// ErrInvalidDestination is the sentinel of every normalisation failure;
// errors.As gives *DestinationError with the reason.
var ErrInvalidDestination = errors.New("invalid destination")

// DestinationError says why a destination was refused.
type DestinationError struct {
	Input  string
	Reason string
}

func (e *DestinationError) Error() string {
	return fmt.Sprintf("destination %q: %s: %s", e.Input, e.Reason, ErrInvalidDestination)
}

// Is makes errors.Is(err, ErrInvalidDestination) true.
func (e *DestinationError) Is(target error) bool { return target == ErrInvalidDestination }

// maxInputLen bounds the raw input we are willing to scan.
const maxInputLen = 64

// Normalize returns the E.164 digits of a destination written
// internationally: a leading "+" or "00" international prefix is removed,
// and spaces, dashes, dots and parentheses are ignored. Anything else, a
// leading 0 after that (a national number, whose country we cannot know),
// or a length outside MinDigits..MaxDigits is refused with a
// *DestinationError. When raw is already plain digits (the usual SMPP
// case), the result shares its memory and nothing is allocated.
func Normalize(raw string) (string, error) {
	if len(raw) > maxInputLen {
		return "", &DestinationError{Input: raw[:maxInputLen], Reason: "too long"}
	}
	s := raw
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	} else if len(s) > 1 && s[0] == '0' && s[1] == '0' {
		s = s[2:]
	}
	// Fast path: only digits left.
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			plain = false
			break
		}
	}
	if !plain {
		var buf [maxInputLen]byte
		n := 0
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c >= '0' && c <= '9':
				buf[n] = c
				n++
			case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
			default:
				return "", &DestinationError{Input: raw, Reason: fmt.Sprintf("invalid character %q", c)}
			}
		}
		s = string(buf[:n])
	}
	switch {
	case len(s) == 0:
		return "", &DestinationError{Input: raw, Reason: "no digits"}
	case s[0] == '0':
		return "", &DestinationError{Input: raw, Reason: "not in international format"}
	case len(s) < MinDigits:
		return "", &DestinationError{Input: raw, Reason: fmt.Sprintf("fewer than %d digits", MinDigits)}
	case len(s) > MaxDigits:
		return "", &DestinationError{Input: raw, Reason: fmt.Sprintf("more than %d digits", MaxDigits)}
	}
	return s, nil
}
