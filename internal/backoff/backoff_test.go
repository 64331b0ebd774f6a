package backoff

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		lo, hi time.Duration
		n      int
		want   time.Duration
	}{
		{100 * ms, time.Second, 0, 100 * ms},
		{100 * ms, time.Second, 1, 100 * ms},
		{100 * ms, time.Second, 2, 200 * ms},
		{100 * ms, time.Second, 4, 800 * ms},
		{100 * ms, time.Second, 5, time.Second},
		{100 * ms, time.Second, math.MaxInt, time.Second},
		{100 * ms, 50 * ms, 3, 100 * ms}, // hi below lo
		{time.Duration(math.MaxInt64/2 + 1), time.Duration(math.MaxInt64), 3, time.Duration(math.MaxInt64)},
		{0, time.Second, 3, 0},
	} {
		if got := Delay(c.lo, c.hi, c.n); got != c.want {
			t.Errorf("Delay(%v, %v, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
		}
	}
}

func TestNextDoublesUpToMaxAndResets(t *testing.T) {
	b := Backoff{Min: 5 * time.Millisecond, Max: 40 * time.Millisecond}
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next())
	}
	want := []time.Duration{5, 10, 20, 40, 40, 40}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("waits %v, want %v ms", got, want)
		}
	}
	if b.Failures() != 6 {
		t.Fatalf("Failures %d", b.Failures())
	}
	b.Reset()
	if d := b.Next(); d != 5*time.Millisecond || b.Failures() != 1 {
		t.Fatalf("after Reset: %v, %d failures", d, b.Failures())
	}
}

func TestJitter(t *testing.T) {
	d := 100 * time.Millisecond
	if Jittered(d, 0) != d || Jittered(d, -1) != d {
		t.Fatal("no jitter changed the wait")
	}
	b := Backoff{Min: d, Max: d, Jitter: 0.5}
	lo, hi := d, time.Duration(0)
	for range 1000 {
		w := b.Next()
		lo, hi = min(lo, w), max(hi, w)
	}
	if lo < d/2 || hi > d {
		t.Fatalf("jittered waits in [%v, %v], want within [%v, %v]", lo, hi, d/2, d)
	}
	if hi-lo < d/4 {
		t.Fatalf("jittered waits in [%v, %v]: hardly spread", lo, hi)
	}
	for range 100 {
		if w := Jittered(d, 7); w < 0 || w > d {
			t.Fatalf("Jittered(%v, 7) = %v", d, w)
		}
	}
}

func TestWait(t *testing.T) {
	if err := Wait(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on a done context: %v", err)
	}
	if err := Wait(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait(0) on a done context: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Wait did not end with its context")
	}
	b := Backoff{Min: time.Hour, Max: time.Hour}
	if err := b.Sleep(ctx); !errors.Is(err, context.Canceled) || b.Failures() != 1 {
		t.Fatalf("Sleep: %v, %d failures", err, b.Failures())
	}
	if err := (&Backoff{}).Sleep(context.Background()); err != nil {
		t.Fatalf("zero Backoff: %v", err)
	}
}
