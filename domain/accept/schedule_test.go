package accept

import (
	"errors"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	const day = 24 * time.Hour
	cases := []struct {
		name             string
		sendAt, expires  time.Time
		wantSend, wantEx time.Time
		err              error
	}{
		{name: "nothing given: default from now", wantEx: now.Add(day)},
		{name: "send_at: default from send_at", sendAt: now.Add(time.Hour), wantSend: now.Add(time.Hour), wantEx: now.Add(time.Hour + day)},
		{name: "send_at in the past: at once", sendAt: now.Add(-time.Minute), wantEx: now.Add(day)},
		{name: "send_at now: at once", sendAt: now, wantEx: now.Add(day)},
		{name: "send_at a week ahead", sendAt: now.Add(MaxScheduleAhead), wantSend: now.Add(MaxScheduleAhead), wantEx: now.Add(MaxScheduleAhead + day)},
		{name: "send_at beyond a week", sendAt: now.Add(MaxScheduleAhead + time.Second), err: ErrInvalidSchedule},
		{name: "expiry given", expires: now.Add(time.Minute), wantEx: now.Add(time.Minute)},
		{name: "expiry past", expires: now.Add(-time.Second), err: ErrInvalidExpiry},
		{name: "expiry now", expires: now, err: ErrInvalidExpiry},
		{name: "expiry before send_at", sendAt: now.Add(time.Hour), expires: now.Add(time.Minute), err: ErrInvalidExpiry},
		{name: "expiry after send_at", sendAt: now.Add(time.Hour), expires: now.Add(2 * time.Hour), wantSend: now.Add(time.Hour), wantEx: now.Add(2 * time.Hour)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := Request{SendAt: c.sendAt, ExpiresAt: c.expires}
			err := Schedule(&req, now, day)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err != nil {
				if RefusalOf(err) == RefusedSystem {
					t.Fatalf("refusal of %v not classified", err)
				}
				return
			}
			if !req.SendAt.Equal(c.wantSend) || !req.ExpiresAt.Equal(c.wantEx) {
				t.Fatalf("send_at %s expires %s, want %s %s", req.SendAt, req.ExpiresAt, c.wantSend, c.wantEx)
			}
			if req.ExpiresAt.Location() != time.UTC || (!req.SendAt.IsZero() && req.SendAt.Location() != time.UTC) {
				t.Fatalf("times not in UTC: %s %s", req.SendAt, req.ExpiresAt)
			}
		})
	}
}
