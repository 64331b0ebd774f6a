package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsRoundTrip(t *testing.T) {
	prevHi := int64(-1)
	for i := 0; i < bucketsMax; i++ {
		lo, hi := bucketRange(i)
		if int64(lo) != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d = [%d,%d], previous ended at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: bucketOf(%d)=%d bucketOf(%d)=%d", i, lo, bucketOf(lo), hi, bucketOf(hi))
		}
		if lo >= 1<<(subBits+1) && float64(hi-lo+1)/float64(lo) > 1.0/(1<<subBits)+1e-12 {
			t.Fatalf("bucket %d [%d,%d] wider than 1/%d of its values", i, lo, hi, 1<<subBits)
		}
		prevHi = int64(hi)
	}
	if uint64(prevHi) != 1<<63-1 {
		t.Fatalf("buckets end at %d, not at the largest duration", prevHi)
	}
}

func TestHistogramEmptyAndExact(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Count() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram: %+v", h.Summary())
	}
	for _, d := range []time.Duration{5, 1, 3, 2, 4} { // small values are exact
		h.Record(d)
	}
	h.Record(-7) // counted as 0
	s := h.Summary()
	if s.Count != 6 || h.Min() != 0 || s.Max != 5 || s.P50 != 2 || s.P99 != 5 || h.Quantile(0) != 0 || h.Quantile(1) != 5 {
		t.Fatalf("summary %+v min %v", s, h.Min())
	}
	if s.Mean != time.Duration(15/6) {
		t.Fatalf("mean %v", s.Mean)
	}
}

// TestHistogramQuantilesAgainstSorted compares every reported percentile
// with the exact nearest-rank value of the same samples.
func TestHistogramQuantilesAgainstSorted(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 10, 999, 100_000} {
		var h Histogram
		all := make([]time.Duration, n)
		for i := range all {
			// log-uniform from 10 µs to 10 s, the range latencies live in
			d := time.Duration(10_000 * math.Pow(10, rng.Float64()*6))
			all[i] = d
			h.Record(d)
		}
		slices.Sort(all)
		for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := int(math.Ceil(q * float64(n)))
			want := all[max(rank, 1)-1]
			got := h.Quantile(q)
			if rel := math.Abs(float64(got-want)) / float64(want); rel > 1.0/(1<<subBits) {
				t.Errorf("n=%d q=%v: got %v, exact %v (%.2f%% off)", n, q, got, want, 100*rel)
			}
		}
		if h.Max() != all[n-1] || h.Min() != all[0] {
			t.Errorf("n=%d: min/max %v/%v, want %v/%v", n, h.Min(), h.Max(), all[0], all[n-1])
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, both Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		both.Record(d)
	}
	var m Histogram
	m.Merge(&Histogram{}) // merging an empty one changes nothing
	m.Merge(&a)
	m.Merge(&b)
	if m.Summary() != both.Summary() {
		t.Fatalf("merged %+v, recorded together %+v", m.Summary(), both.Summary())
	}
	if p50 := m.Quantile(0.5); p50 < 496*time.Millisecond || p50 > 504*time.Millisecond {
		t.Fatalf("p50 of 1..1000 ms = %v", p50)
	}
}

// TestHistogramRank: Rank is Quantile's nearest rank, and ranks past the
// samples recorded (samples known to be larger, not recorded) give Max.
func TestHistogramRank(t *testing.T) {
	var h Histogram
	if h.Rank(1) != 0 {
		t.Fatal("empty histogram: rank 1 not 0")
	}
	for i := 1; i <= 100; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, q := range []float64{0.01, 0.5, 0.99} {
		if got, want := h.Rank(uint64(math.Ceil(q*100))), h.Quantile(q); got != want {
			t.Errorf("q=%v: rank %v, quantile %v", q, got, want)
		}
	}
	if h.Rank(0) != h.Rank(1) || h.Rank(101) != h.Max() || h.Rank(1000) != 100*time.Millisecond {
		t.Fatalf("clamping: rank 0 %v, rank 101 %v, rank 1000 %v", h.Rank(0), h.Rank(101), h.Rank(1000))
	}
}
