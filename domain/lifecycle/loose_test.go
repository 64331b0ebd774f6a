package lifecycle

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

// The race markedToSend guards: an attempt's submit mark was reported
// failed although it committed; the sweep sees the attempt in flight and
// the failure's note, claims and sends it; a dispatcher whose own mark of
// that attempt committed and that reaches markedToSend afterwards must not
// send it again. Without a claim, the dispatcher sends and the note goes.
func TestMarkedToSendAfterTheSweepClaimed(t *testing.T) {
	l := newLoose()
	k := AttemptKey{uuid.New(), 1}
	now := time.Now()
	l.noteUnsent(k, now)
	if !l.claimUnsent(k) {
		t.Fatal("the sweep could not claim a noted attempt")
	}
	if l.claimUnsent(k) {
		t.Fatal("claimed twice")
	}
	if l.markedToSend(k) {
		t.Fatal("the dispatcher may send what the sweep sent")
	}

	k2 := AttemptKey{uuid.New(), 1}
	l.noteUnsent(k2, now)
	if !l.markedToSend(k2) {
		t.Fatal("the dispatcher may not send an unclaimed attempt")
	}
	if l.claimUnsent(k2) {
		t.Fatal("the sweep claimed what the dispatcher is sending")
	}
	// One the supplier side holds is never claimed.
	k3 := AttemptKey{uuid.New(), 2}
	l.noteUnsent(k3, now)
	l.hand(k3)
	if l.claimUnsent(k3) {
		t.Fatal("claimed an attempt the supplier side holds")
	}
	l.forgetUnsent(now.Add(answerRetryFor))
	if l.anyUnsent() {
		t.Fatal("failed marks outlive answerRetryFor")
	}
}

// A forwarded DLR is remembered for at least forwardedFor and at most
// twice that; forgetting swaps generations instead of scanning.
func TestForwardedRememberedForAGeneration(t *testing.T) {
	l := newLoose()
	id := uuid.New()
	t0 := time.Now()
	l.forgetForwarded(t0) // starts the first generation
	if !l.startForward(id) {
		t.Fatal("could not start a first forward")
	}
	if l.startForward(id) {
		t.Fatal("two forwards of one DLR at once")
	}
	l.markForwarded(id)
	l.endForward(id)
	for _, at := range []time.Duration{forwardedFor / 2, forwardedFor, forwardedFor * 3 / 2} {
		l.forgetForwarded(t0.Add(at))
		if l.startForward(id) {
			t.Fatalf("forwarded again %s later", at)
		}
	}
	l.forgetForwarded(t0.Add(2 * forwardedFor))
	if !l.startForward(id) {
		t.Fatal("still remembered after two generations")
	}
}
