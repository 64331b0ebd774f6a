package egress

import (
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/pdu"
)

// A submit_sm unanswered within SubmitTimeout is reported timed out and
// its pending entry deleted; the answer arriving late is dropped.
func TestTimedOutSubmitLeavesNoPendingEntry(t *testing.T) {
	r := &rec{}
	s := New(Config{SupplierID: "s1", SubmitTimeout: 50 * time.Millisecond, Logger: quiet()}, r)
	b := &bind{s: s, pending: map[int32]chan pdu.PDU{}, closed: make(chan struct{}), sessUp: make(chan struct{})}
	const seq = 77
	ch := make(chan pdu.PDU, 1)
	b.pending[seq] = ch
	s.window <- struct{}{}
	s.inflight.Add(1)
	go s.await(b, msg("late", false), seq, ch, time.Now())
	waitFor(t, func() bool { _, _, to, _ := r.counts(); return to == 1 })
	b.mu.Lock()
	n := len(b.pending)
	b.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d pending entries after the timeout", n)
	}
	late := pdu.NewSubmitSMResp().(*pdu.SubmitSMResp)
	late.SequenceNumber = seq
	late.MessageID = "abc"
	if resp, closeBind := b.onPDU(late); resp != nil || closeBind {
		t.Fatalf("late answer: %v %v", resp, closeBind)
	}
	s.inflight.Wait()
	if a, rj, to, _ := r.counts(); a != 0 || rj != 0 || to != 1 || len(ch) != 0 {
		t.Fatalf("accepted %d rejected %d timed out %d, channel %d", a, rj, to, len(ch))
	}
	if len(s.window) != 0 {
		t.Fatal("the window slot was not given back")
	}
}
