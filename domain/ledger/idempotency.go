package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/smsledger/smsledger/domain/accept"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/eventstore"
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
//
// Across the nodes of a cluster the index alone is not enough: two nodes
// may take the same key at once, each before its follower has seen the
// other's accept. So a keyed submit's message id is not drawn but derived
// from the tenant, the key and a generation (keyedMessageID), and its
// accept is appended with expected version "no stream": of two concurrent
// submits with one key, on any nodes, one append wins and the other finds
// the stream taken, gives its hold back and answers from the winner's
// accept (the same answer for the same request, a conflict for another).
// A key used again after its window takes the next generation; walking
// the generations reads one stream each, and is bounded
// (keyGenerationsMax).

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

// keyGenerationsMax bounds the windows one key may be used in (a key is
// meant for the retries of one request; one used again every day is
// refused after this many days).
const keyGenerationsMax = 64

// keyedNamespace is the namespace of keyed message ids (a random constant).
var keyedNamespace = uuid.MustParse("6f1d2a0e-3c55-4c3b-9a51-1f0b7e8d2c44")

// keyedMessageID is the message id of generation gen of tenantID's
// idempotency key: the same on every node.
func keyedMessageID(tenantID, key string, gen int) uuid.UUID {
	name := make([]byte, 0, len(tenantID)+len(key)+8)
	name = append(name, tenantID...)
	name = append(name, 0)
	name = append(name, key...)
	name = append(name, 0)
	name = strconv.AppendInt(name, int64(gen), 10)
	return uuid.NewSHA1(keyedNamespace, name)
}

// submitKeyed is submit for a keyed request without a message id of its
// own: it takes the key's first generation whose stream is free or whose
// accept is within the window, and answers a taken one from its accept.
func (s *Service) submitKeyed(ctx context.Context, t *tenantSnap, st *state, req accept.Request, k *idemKey) (Accepted, bool, error) {
	tenantID := t.accept.ID
	for gen := 0; gen < keyGenerationsMax; gen++ {
		req.MessageID = keyedMessageID(tenantID, req.IdempotencyKey, gen)
		acc, inDoubt, err := s.submit(ctx, t, st, req, k)
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			return acc, inDoubt, err
		}
		// Taken: by another node's submit with the key (or this node's,
		// before its follower saw it), or in an earlier window.
		prev, err := s.acceptOf(ctx, req.MessageID)
		if err != nil {
			return Accepted{}, false, fmt.Errorf("idempotency key of tenant %q: %w: %w", tenantID, ErrNotDurable, err)
		}
		if prev.TenantID != tenantID || prev.IdempotencyKey != req.IdempotencyKey || s.clock().Sub(prev.At) >= IdempotencyWindow {
			continue
		}
		if prev.RequestHash != req.RequestHash {
			return Accepted{}, false, fmt.Errorf("tenant %q: %w", tenantID, ErrIdempotencyConflict)
		}
		acc = acceptedOf(prev)
		s.idem.answered(*k, acc, prev.At)
		return acc, false, nil
	}
	return Accepted{}, false, invalid("idempotency_key", "used in more than %d windows of %s: use a new key", keyGenerationsMax, IdempotencyWindow)
}

// acceptOf reads the accept of message id from the log.
func (s *Service) acceptOf(ctx context.Context, id uuid.UUID) (events.MessageAccepted, error) {
	rec, err := s.firstEventOf(ctx, id)
	if err != nil {
		return events.MessageAccepted{}, err
	}
	ev, err := events.Decode(rec.Type, rec.Data)
	if err != nil {
		return events.MessageAccepted{}, fmt.Errorf("message %s: %w", id, err)
	}
	acc, ok := ev.(events.MessageAccepted)
	if !ok {
		return events.MessageAccepted{}, fmt.Errorf("message %s starts with %s, not an accept", id, rec.Type)
	}
	return acc, nil
}

// acceptedOf is the answer an accept in the log gave its submit.
func acceptedOf(e events.MessageAccepted) Accepted {
	return Accepted{MessageID: e.MessageID, Parts: e.Parts, Price: e.Price, Currency: e.Currency}
}

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
	if r, ok := x.m[k]; ok && r.at <= ns-int64(IdempotencyWindow) {
		delete(x.m, k) // past its window, not yet reached by expire (answered moved its start back)
	}
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

// answered records the answer another submit with key k gave at first
// (its window starts there) for the submit that reserved k.
func (x *idempotency) answered(k idemKey, acc Accepted, first time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if r, ok := x.m[k]; ok {
		r.pending, r.acc, r.at = false, acc, first.UnixNano()
		x.order = append(x.order, idemArrival{key: k, at: r.at}) // expire finds it by its new time
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
	acc := acceptedOf(e)
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
