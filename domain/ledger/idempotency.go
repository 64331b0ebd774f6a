package ledger

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/smsledger/smsledger/domain/events"
)

// Idempotent submits (HTTP Idempotency-Key).
//
// A submit that carries an idempotency key and the hash of its request is
// remembered for IdempotencyWindow: a repeat with the same key and the
// same request is answered with the first submit's Accepted (same message,
// nothing held again); the same key with another request is
// ErrIdempotencyConflict; a repeat while the first is still being decided
// (or its outcome is in doubt, indoubt.go) is ErrIdempotencyInProgress.
//
// The truth is the log: the key and the hash are in MessageAccepted, and
// the follower indexes every accept that carries a key, so a restart
// rebuilds the index (accepts older than the window are not indexed).
// Memory is bounded by Options.IdempotencyMax entries of fixed size (keys
// are kept as SHA-256 prefixes, not as the caller's strings); while the
// index is full, keyed submits are refused (ErrThrottled) rather than
// forgetting a key early. Expired entries leave in arrival order.

// IdempotencyWindow is how long an idempotency key is kept.
const IdempotencyWindow = 24 * time.Hour

// IdempotencyMaxDefault bounds the keys kept (Options.IdempotencyMax):
// ~120 bytes each, ~60 MB at the bound.
const IdempotencyMaxDefault = 500_000

// MaxIdempotencyKeyLen bounds an idempotency key (the contract's 128).
const MaxIdempotencyKeyLen = 128

// Errors of keyed submits, for errors.Is.
var (
	// ErrIdempotencyConflict: the key was used with another request.
	ErrIdempotencyConflict = errors.New("idempotency key reused with another request")
	// ErrIdempotencyInProgress: the first request with the key is not
	// decided yet.
	ErrIdempotencyInProgress = errors.New("a request with this idempotency key is in progress")
)

type idemKey [16]byte

type idemRec struct {
	hash    [16]byte
	at      int64 // unix ns of the first submit (the window starts there)
	pending bool
	acc     Accepted
}

type idemArrival struct {
	key idemKey
	at  int64
}

type idempotency struct {
	mu    sync.Mutex
	m     map[idemKey]*idemRec
	order []idemArrival // by arrival; the front expires first
	head  int
	max   int
}

func newIdempotency(max int) *idempotency {
	return &idempotency{m: make(map[idemKey]*idemRec), max: max}
}

func keyOf(tenantID, key string) idemKey {
	h := sha256.New()
	h.Write([]byte(tenantID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var k idemKey
	copy(k[:], h.Sum(nil))
	return k
}

func hashOf(requestHash string) [16]byte {
	s := sha256.Sum256([]byte(requestHash))
	var h [16]byte
	copy(h[:], s[:])
	return h
}

// expire drops entries older than the window at now. Locked.
func (x *idempotency) expire(now int64) {
	cut := now - int64(IdempotencyWindow)
	for x.head < len(x.order) && x.order[x.head].at <= cut {
		a := x.order[x.head]
		if r, ok := x.m[a.key]; ok && r.at == a.at {
			delete(x.m, a.key)
		}
		x.head++
	}
	if x.head > 1024 && x.head*2 > len(x.order) {
		x.order = append(x.order[:0:0], x.order[x.head:]...)
		x.head = 0
	}
}

// begin looks key up for a new submit at now: a known request's answer
// (found), or a refusal, or — neither — the key reserved as pending.
func (x *idempotency) begin(k idemKey, hash [16]byte, now time.Time) (Accepted, bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ns := now.UnixNano()
	x.expire(ns)
	if r, ok := x.m[k]; ok {
		switch {
		case r.hash != hash:
			return Accepted{}, false, ErrIdempotencyConflict
		case r.pending:
			return Accepted{}, false, ErrIdempotencyInProgress
		}
		return r.acc, true, nil
	}
	if len(x.m) >= x.max {
		return Accepted{}, false, ErrThrottled
	}
	x.put(k, &idemRec{hash: hash, at: ns, pending: true})
	return Accepted{}, false, nil
}

// put adds a key. Locked.
func (x *idempotency) put(k idemKey, r *idemRec) {
	x.m[k] = r
	x.order = append(x.order, idemArrival{key: k, at: r.at})
}

// done records the answer of the submit that reserved k.
func (x *idempotency) done(k idemKey, acc Accepted) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if r, ok := x.m[k]; ok {
		r.pending, r.acc = false, acc
	}
}

// forget drops the reservation of a submit that was not accepted.
func (x *idempotency) forget(k idemKey) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if r, ok := x.m[k]; ok && r.pending {
		delete(x.m, k)
	}
}

// indexAccept is the follower's part: an accept with a key in the log is
// the answer to that key, within the window of now.
func (x *idempotency) indexAccept(e events.MessageAccepted, now time.Time) {
	if e.IdempotencyKey == "" || now.Sub(e.At) >= IdempotencyWindow {
		return
	}
	k := keyOf(e.TenantID, e.IdempotencyKey)
	acc := Accepted{MessageID: e.MessageID, Parts: e.Parts, Price: e.Price, Currency: e.Currency}
	x.mu.Lock()
	defer x.mu.Unlock()
	if r, ok := x.m[k]; ok {
		if r.pending && r.hash == hashOf(e.RequestHash) {
			r.pending, r.acc = false, acc // our own submit, or one in doubt that was written
		}
		return
	}
	if len(x.m) >= x.max {
		return // full: Submit refuses keyed submits until keys expire
	}
	x.put(k, &idemRec{hash: hashOf(e.RequestHash), at: e.At.UnixNano(), acc: acc})
}
