package accept

import (
	"errors"
	"fmt"
	"time"
)

// MaxScheduleAhead bounds how far ahead a message may be scheduled
// (send_at, schedule_delivery_time): a week, the longest validity.
const MaxScheduleAhead = 7 * 24 * time.Hour

// Errors of Schedule, for errors.Is.
var (
	// ErrInvalidSchedule: send_at is more than MaxScheduleAhead away.
	ErrInvalidSchedule = errors.New("invalid scheduled delivery time")
	// ErrInvalidExpiry: the message would expire before it may be sent.
	ErrInvalidExpiry = errors.New("invalid validity period")
)

// Schedule settles the times of req at now: a send_at not after now is
// dropped (the message goes at once) and one further than
// MaxScheduleAhead is refused; a message without an expiry gets
// defaultValidity from when it may first be sent (send_at, or now); an
// expiry not after now, or not after send_at, is refused. Both times are
// kept in UTC, as the accept event carries them.
func Schedule(req *Request, now time.Time, defaultValidity time.Duration) error {
	if !req.SendAt.IsZero() {
		switch {
		case req.SendAt.After(now.Add(MaxScheduleAhead)):
			return fmt.Errorf("send_at %s is more than %s ahead: %w", req.SendAt.UTC().Format(time.RFC3339), MaxScheduleAhead, ErrInvalidSchedule)
		case !req.SendAt.After(now):
			req.SendAt = time.Time{}
		default:
			req.SendAt = req.SendAt.UTC()
		}
	}
	start := now
	if !req.SendAt.IsZero() {
		start = req.SendAt
	}
	if req.ExpiresAt.IsZero() {
		req.ExpiresAt = start.Add(defaultValidity).UTC()
		return nil
	}
	if !req.ExpiresAt.After(start) {
		return fmt.Errorf("expires at %s, not after %s: %w", req.ExpiresAt.UTC().Format(time.RFC3339), start.UTC().Format(time.RFC3339), ErrInvalidExpiry)
	}
	req.ExpiresAt = req.ExpiresAt.UTC()
	return nil
}
