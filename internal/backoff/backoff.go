// Package backoff paces retries: a bounded exponential backoff whose waits
// double from Min up to Max after each consecutive failure, optionally
// spread by jitter, and waits that end early when their context is done.
//
// A retry loop keeps a Backoff, calls Next (or Sleep) after each failure
// and Reset after a success. Code that counts its failures itself uses
// Delay, the same schedule without state.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the state of one retry loop. The zero value waits nothing; set
// Min and Max. A Backoff is not safe for concurrent use.
type Backoff struct {
	// Min is the first wait, Max the longest (Max below Min is taken as
	// Min).
	Min, Max time.Duration
	// Jitter, from 0 (none) to 1, spreads each wait: it is drawn uniformly
	// from [d·(1−Jitter), d], d being the wait without jitter.
	Jitter float64

	failures int
}

// Next counts one more failure and returns the wait before the next
// attempt: Min after the first failure, doubling after each further one, at
// most Max, then spread by Jitter.
func (b *Backoff) Next() time.Duration {
	b.failures++
	return Jittered(Delay(b.Min, b.Max, b.failures), b.Jitter)
}

// Reset starts the schedule again from Min, after a success.
func (b *Backoff) Reset() { b.failures = 0 }

// Failures is the number of failures counted since the last Reset.
func (b *Backoff) Failures() int { return b.failures }

// Sleep waits Next(), or until ctx is done; then it returns ctx's error.
func (b *Backoff) Sleep(ctx context.Context) error { return Wait(ctx, b.Next()) }

// Delay is the wait after the n-th consecutive failure (n ≥ 1; less counts
// as 1): lo·2^(n−1), at most hi (hi below lo is taken as lo). It does not
// overflow, however large n is.
func Delay(lo, hi time.Duration, n int) time.Duration {
	if lo <= 0 {
		return 0
	}
	hi = max(hi, lo)
	d := lo
	for i := 1; i < n && d < hi; i++ {
		if d > hi/2 {
			return hi
		}
		d *= 2
	}
	return d
}

// Jittered draws a wait uniformly from [d·(1−fraction), d]; fraction is
// clamped to [0, 1], and 0 gives d itself.
func Jittered(d time.Duration, fraction float64) time.Duration {
	fraction = min(max(fraction, 0), 1)
	spread := time.Duration(fraction * float64(d))
	if spread <= 0 {
		return d
	}
	return d - rand.N(spread+1)
}

// Wait waits d, or until ctx is done; then it returns ctx's error. A wait
// of zero or less returns at once (with ctx's error, if it is done).
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
