package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"runtime"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Sealer seals secrets that must be recoverable (supplier bind passwords,
// webhook signing secrets) before they enter the immutable log, under a key
// kept outside it. Open fails for what it cannot open (another key, a
// corrupt value). The implementation lives at the edge (adapters/secret).
type Sealer interface {
	Seal(plaintext []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

// PasswordHasher makes the one-way hashes of credentials that are recorded
// in the log (SMPP passwords, API keys) and checks a presented secret
// against one: Compare returns nil on a match, an error otherwise. The
// implementation lives at the edge (adapters/secret).
type PasswordHasher interface {
	Hash(secret string) (string, error)
	Compare(hash, secret string) error
}

// API keys look like "sml_<key id: 16 hex>_<secret: 43 base64url>" (64
// bytes, under bcrypt's 72-byte limit). The key id is public and finds the
// hash; the whole key is verified against the hash.
const apiKeyPrefix = "sml_"

// authCache remembers verified secrets by their SHA-256, with the stored
// hash they were verified against (a changed credential invalidates the
// entry). It is bounded, least recently used first out. It also holds the
// hasher, the semaphore that bounds hash comparisons in flight, and the
// dummy hash for an unknown identity when no credential is stored yet.
type authCache struct {
	hasher PasswordHasher
	dummy  func() string
	lru    *lru.Cache[[32]byte, authEntry]
	// sem bounds the hash comparisons in flight (one per CPU: bcrypt is
	// CPU-bound, more at once only queue in the scheduler and starve the
	// hot path). A caller waits for a place within its context, then gets
	// ErrThrottled: floods of wrong secrets (a known API key id with a
	// wrong secret costs a full comparison) cost at most the CPUs.
	sem chan struct{}
}

type authEntry struct {
	tenantID string
	hash     string
}

func (c *authCache) init(max int, hasher PasswordHasher) error {
	l, err := lru.New[[32]byte, authEntry](max)
	if err != nil {
		return fmt.Errorf("auth cache: %w", err)
	}
	c.hasher, c.lru = hasher, l
	c.sem = make(chan struct{}, runtime.GOMAXPROCS(0))
	c.dummy = sync.OnceValue(func() string {
		// A failed hash leaves "": Compare then fails fast, which only
		// costs the timing cover, not correctness.
		h, _ := hasher.Hash("smsledger-dummy-password")
		return h
	})
	return nil
}

// cached reports whether k was verified against hash for tenantID.
func (c *authCache) cached(k [32]byte, tenantID, hash string) bool {
	e, ok := c.lru.Get(k)
	return ok && e.hash == hash && e.tenantID == tenantID
}

// forget drops every cached verification against hash of tenantID (a
// revoked credential). It walks the cache: revocations are rare.
func (c *authCache) forget(tenantID, hash string) {
	if c.lru == nil {
		return
	}
	for _, k := range c.lru.Keys() {
		if e, ok := c.lru.Peek(k); ok && e.hash == hash && e.tenantID == tenantID {
			c.lru.Remove(k)
		}
	}
}

// compare runs one hash comparison once the semaphore has a place; a
// wait ended by ctx is ErrThrottled.
func (c *authCache) compare(ctx context.Context, hash, secret string) (bool, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("waiting for a password check: %w (%w)", ErrThrottled, ctx.Err())
	}
	defer func() { <-c.sem }()
	return c.hasher.Compare(hash, secret) == nil, nil
}

// verify checks secret against hash (tenantID's stored credential) and
// caches a match under k.
func (c *authCache) verify(ctx context.Context, k [32]byte, tenantID, hash, secret string) (bool, error) {
	ok, err := c.compare(ctx, hash, secret)
	if ok {
		c.lru.Add(k, authEntry{tenantID: tenantID, hash: hash})
	}
	return ok, err
}

// unknown spends on an identity that does not exist what a wrong secret
// costs: one comparison against like, a stored hash of the same kind (the
// same algorithm and cost as the real ones), else the dummy. Its result is
// thrown away.
func (c *authCache) unknown(ctx context.Context, like, secret string) error {
	if like == "" {
		like = c.dummy()
	}
	_, err := c.compare(ctx, like, secret)
	return err
}

// anyHash is the hash of one credential of m (any: map order), "" if none.
func anyHash[K comparable, V any](m map[K]V, hash func(V) string) string {
	for _, v := range m {
		return hash(v)
	}
	return ""
}

func smppCacheKey(systemID, password string) [32]byte {
	return sha256.Sum256([]byte("smpp\x00" + systemID + "\x00" + password))
}

// AuthenticateSMPP checks a bind's system_id and password and returns the
// tenant. An unknown system_id is ErrUnknownSystemID, a wrong password
// ErrBadCredentials; both cost one hash comparison against a stored hash
// (the same cost: an unknown system_id is compared against another
// credential's hash, the result thrown away), so timing does not tell
// which. Verified credentials are cached in memory by their SHA-256.
// Comparisons in flight are bounded (authCache.sem): a wait ended by ctx
// is ErrThrottled.
func (s *Service) AuthenticateSMPP(ctx context.Context, systemID, password string) (string, error) {
	st := s.state.Load()
	cred, ok := st.smpp[systemID]
	if !ok {
		if err := s.auth.unknown(ctx, anyHash(st.smpp, func(c smppCred) string { return c.Hash }), password); err != nil {
			return "", fmt.Errorf("bind %q: %w", systemID, err)
		}
		return "", fmt.Errorf("bind %q: %w", systemID, ErrUnknownSystemID)
	}
	key := smppCacheKey(systemID, password)
	if s.auth.cached(key, cred.TenantID, cred.Hash) {
		return cred.TenantID, nil
	}
	ok, err := s.auth.verify(ctx, key, cred.TenantID, cred.Hash, password)
	switch {
	case err != nil:
		return "", fmt.Errorf("bind %q: %w", systemID, err)
	case ok:
		return cred.TenantID, nil
	}
	return "", fmt.Errorf("bind %q: %w", systemID, ErrBadCredentials)
}

// AuthenticateAPIKey returns the tenant of an API key, or ErrBadCredentials.
// The first use of a key costs one hash comparison (PasswordHasher), as
// does an unknown key id (against another key's hash) or a wrong secret;
// later uses are a SHA-256 and a cache lookup. Comparisons in flight are
// bounded: a wait ended by ctx is ErrThrottled.
func (s *Service) AuthenticateAPIKey(ctx context.Context, key string) (string, error) {
	keyID, ok := parseAPIKey(key)
	if !ok {
		return "", fmt.Errorf("api key: malformed: %w", ErrBadCredentials)
	}
	st := s.state.Load()
	rec, ok := st.apiKeys[keyID]
	if !ok {
		if err := s.auth.unknown(ctx, anyHash(st.apiKeys, func(r apiKeyRec) string { return r.Hash }), key); err != nil {
			return "", fmt.Errorf("api key %s: %w", keyID, err)
		}
		return "", fmt.Errorf("api key %s: unknown: %w", keyID, ErrBadCredentials)
	}
	ck := sha256.Sum256([]byte("apikey\x00" + key))
	if s.auth.cached(ck, rec.TenantID, rec.Hash) {
		return rec.TenantID, nil
	}
	ok, err := s.auth.verify(ctx, ck, rec.TenantID, rec.Hash, key)
	switch {
	case err != nil:
		return "", fmt.Errorf("api key %s: %w", keyID, err)
	case ok:
		return rec.TenantID, nil
	}
	// A known key id with a wrong secret: the same error as ever.
	return "", fmt.Errorf("api key %s: %w", keyID, ErrBadCredentials)
}

func parseAPIKey(key string) (keyID string, ok bool) {
	rest, ok := strings.CutPrefix(key, apiKeyPrefix)
	if !ok || len(key) != 64 {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 43 {
		return "", false
	}
	if _, err := hex.DecodeString(id); err != nil {
		return "", false
	}
	return id, true
}

func newAPIKey() (key, keyID string, err error) {
	var idb [8]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", "", err
	}
	keyID = hex.EncodeToString(idb[:])
	return apiKeyPrefix + keyID + "_" + base64.RawURLEncoding.EncodeToString(sec[:]), keyID, nil
}
