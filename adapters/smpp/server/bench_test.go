package server

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
	"github.com/smsledger/smsledger/domain/accept"
)

type fastIngress struct{ fakeIngress }

func (f *fastIngress) Submit(_ context.Context, _ string, req accept.Request) (Accepted, error) {
	return Accepted{MessageID: req.MessageID.String(), Parts: 1}, nil
}

// BenchmarkSubmit measures submit_sm → submit_sm_resp through a real
// loopback socket: 4 binds, window 64 each, a fast fake Ingress.
func BenchmarkSubmit(b *testing.B) {
	in := &fastIngress{*newFake()}
	srv := startServer(b, in, func(c *Config) { c.WindowMax = 64 })
	const binds, window = 4, 64
	per := b.N/binds + 1
	lat := make([][]time.Duration, binds)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < binds; i++ {
		r := bound(b, srv, pdu.Transceiver)
		wg.Add(1)
		go func(i int, r *rawClient) {
			defer wg.Done()
			sent := make(map[int32]time.Time, window)
			var mu sync.Mutex
			slots := make(chan struct{}, window)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for n := 0; n < per; n++ {
					p, err := r.recvWithin(10 * time.Second)
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					t0 := sent[p.GetSequenceNumber()]
					delete(sent, p.GetSequenceNumber())
					mu.Unlock()
					if p.GetHeader().CommandStatus != 0 {
						b.Errorf("status 0x%x", p.GetHeader().CommandStatus)
					}
					lat[i] = append(lat[i], time.Since(t0))
					<-slots
				}
			}()
			for n := 0; n < per; n++ {
				slots <- struct{}{}
				p := submitText(b, "benchmark message", data.GSM7BIT)
				mu.Lock()
				sent[p.GetSequenceNumber()] = time.Now()
				mu.Unlock()
				r.send(p)
			}
			<-done
		}(i, r)
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/el.Seconds(), "msg/s")
	b.ReportMetric(q(0.5), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(q(0.999), "p999_ms")
}
