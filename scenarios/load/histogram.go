package load

import (
	"fmt"
	"math"
	"math/bits"
	"sort"
	"strings"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of
// two, so a bucket spans at most 1/128 (< 0.8 %) of its values. Values below
// 2^(subBits+1) ns are counted exactly.
const subBits = 7

// bucketsMax covers every non-negative int64 nanosecond value.
const bucketsMax = (64 - subBits) << subBits

// Histogram records durations in log-linear buckets (the HdrHistogram
// layout): bounded memory (about 58 KiB) whatever the number of samples,
// relative error below 0.8 % on every percentile, exact count, min, max and
// mean. The zero value is ready to use. A Histogram is not safe for
// concurrent use: give each goroutine its own and Merge them.
type Histogram struct {
	counts   [bucketsMax]uint64
	n        uint64
	sum      float64 // nanoseconds
	min, max time.Duration
}

// bucketOf returns the bucket index of a non-negative value v (ns).
func bucketOf(v uint64) int {
	shift := bits.Len64(v) - subBits - 1
	if shift < 0 {
		shift = 0
	}
	return shift<<subBits + int(v>>uint(shift))
}

// bucketRange returns the smallest and largest value (ns) of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2<<subBits {
		return uint64(i), uint64(i)
	}
	shift := uint(i>>subBits) - 1
	m := uint64(i - int(shift)<<subBits)
	return m << shift, (m+1)<<shift - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Merge adds every sample of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are the exact extremes (0 without samples).
func (h *Histogram) Min() time.Duration { return h.min }

// Max is the largest sample.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the exact arithmetic mean.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by the nearest-rank method:
// the sample of rank ⌈q·n⌉ (at least 1), reported as the midpoint of its
// bucket and clamped to [Min, Max]. Quantile(1) is Max exactly; without
// samples it is 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	switch {
	case q <= 0:
		return h.min
	case q >= 1:
		return h.max
	}
	return h.Rank(uint64(math.Ceil(q * float64(h.n))))
}

// Rank returns the sample of rank r (1 = the smallest) as its bucket's
// midpoint clamped to [Min, Max]: Quantile's nearest rank, for quantiles
// over more samples than were recorded (those not recorded being larger,
// e.g. DLRs still missing). Ranks past Count give Max; without samples, 0.
func (h *Histogram) Rank(rank uint64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := time.Duration(lo + (hi-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// Summary is a histogram's percentiles, for reports.
type Summary struct {
	Count uint64        `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	P50   time.Duration `json:"p50_ns"`
	P90   time.Duration `json:"p90_ns"`
	P99   time.Duration `json:"p99_ns"`
	P999  time.Duration `json:"p999_ns"`
	Max   time.Duration `json:"max_ns"`
}

// Summary returns count, mean, p50, p90, p99, p99.9 and max.
func (h *Histogram) Summary() Summary {
	return Summary{Count: h.n, Mean: h.Mean(), P50: h.Quantile(0.50), P90: h.Quantile(0.90),
		P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.max}
}

// FormatCounts prints a count map as "k=v" pairs sorted by key ("none" when
// empty), as the bench and scenario reports show statuses and errors.
func FormatCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}
