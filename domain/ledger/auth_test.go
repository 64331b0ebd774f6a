package ledger_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/domain/ledger/ledgertest"
)

// probeHasher is ledgertest's hasher that records the hashes compared
// against and can hold comparisons (gate) while counting those in flight.
type probeHasher struct {
	ledgertest.Hasher
	mu       sync.Mutex
	compared []string
	gate     chan struct{} // when set, Compare waits for it to close
	in, peak atomic.Int64
}

func (h *probeHasher) Compare(hash, secret string) error {
	h.mu.Lock()
	h.compared = append(h.compared, hash)
	gate := h.gate
	h.mu.Unlock()
	n := h.in.Add(1)
	defer h.in.Add(-1)
	for {
		p := h.peak.Load()
		if n <= p || h.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if gate != nil {
		<-gate
	}
	return h.Hasher.Compare(hash, secret)
}

func (h *probeHasher) lastCompared() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.compared) == 0 {
		return ""
	}
	return h.compared[len(h.compared)-1]
}

// An unknown system_id (or API key id) costs the same comparison as a
// wrong password: against a stored hash of the same kind, not a dummy.
func TestUnknownIdentityCostsAsAWrongSecret(t *testing.T) {
	ctx := context.Background()
	h := &probeHasher{}
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{Hasher: h})
	ledgertest.Setup(t, svc, "acme")
	if err := svc.SetSmppCredentials(ctx, "acme", "acme01", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateSMPP(ctx, "acme01", "wrong"); !errors.Is(err, ledger.ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	wrong := h.lastCompared()
	if _, err := svc.AuthenticateSMPP(ctx, "nobody", "wrong"); !errors.Is(err, ledger.ErrUnknownSystemID) {
		t.Fatalf("unknown system_id: %v", err)
	}
	if got := h.lastCompared(); got != wrong {
		t.Fatalf("unknown system_id compared against %q, a wrong password against %q", got, wrong)
	}
	key, _, err := svc.IssueAPIKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bad := key[:len(key)-1] + "A"
	if bad == key {
		bad = key[:len(key)-1] + "B"
	}
	if _, err := svc.AuthenticateAPIKey(ctx, bad); !errors.Is(err, ledger.ErrBadCredentials) {
		t.Fatal(err)
	}
	wrong = h.lastCompared()
	unknownKey := "sml_0000000000000000_" + key[len(key)-43:]
	if _, err := svc.AuthenticateAPIKey(ctx, unknownKey); !errors.Is(err, ledger.ErrBadCredentials) {
		t.Fatal(err)
	}
	if got := h.lastCompared(); got != wrong {
		t.Fatalf("unknown key id compared against %q, a wrong secret against %q", got, wrong)
	}
}

// Hash comparisons in flight are bounded by the CPUs, SMPP binds and API
// keys together; a caller waits within its context, then is throttled.
func TestPasswordChecksBounded(t *testing.T) {
	ctx := context.Background()
	h := &probeHasher{}
	svc := ledgertest.Start(t, ledgertest.MemStore(t), ledger.Options{Hasher: h})
	ledgertest.Setup(t, svc, "acme")
	if err := svc.SetSmppCredentials(ctx, "acme", "acme01", "s3cret"); err != nil {
		t.Fatal(err)
	}
	key, _, err := svc.IssueAPIKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	bad := key[:len(key)-1] + "A"
	if bad == key {
		bad = key[:len(key)-1] + "B"
	}
	gate := make(chan struct{})
	h.mu.Lock()
	h.gate = gate
	h.mu.Unlock()
	limit := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for i := 0; i < limit+4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, _ = svc.AuthenticateAPIKey(ctx, bad)
			} else {
				_, _ = svc.AuthenticateSMPP(ctx, "acme01", "guess")
			}
		}()
	}
	for i := 0; i < 200 && h.in.Load() < int64(limit); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let any excess arrive
	if n := h.in.Load(); n != int64(limit) {
		t.Fatalf("%d comparisons in flight, want %d", n, limit)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := svc.AuthenticateSMPP(short, "nobody", "x"); !errors.Is(err, ledger.ErrThrottled) {
		t.Fatalf("a wait past the context: %v, want ErrThrottled", err)
	}
	close(gate)
	wg.Wait()
	if p := h.peak.Load(); p > int64(limit) {
		t.Fatalf("peak %d comparisons in flight, bound %d", p, limit)
	}
}
