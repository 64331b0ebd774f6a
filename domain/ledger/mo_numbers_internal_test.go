package ledger

import (
	"runtime"
	"strconv"
	"testing"
)

// The number index at its bound: what a number costs in memory (the
// figure the package comment states), and a lookup's cost.
func BenchmarkNumberIndex(b *testing.B) {
	keys := make([]uint64, MaxNumbers)
	short := make([]bool, MaxNumbers)
	for i := range keys {
		keys[i], _ = numberKey(strconv.Itoa(4915100000000 + i*7))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := (*numberIndex)(nil).with("acme", nil, keys, short)
	runtime.GC()
	runtime.ReadMemStats(&after)
	perNumber := float64(after.HeapAlloc-before.HeapAlloc) / float64(x.size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := x.owner(keys[i%len(keys)]); !ok {
			b.Fatal("lost")
		}
	}
	b.ReportMetric(perNumber, "bytes/number")
}
