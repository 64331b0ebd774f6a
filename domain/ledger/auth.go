package ledger

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

const defaultHashCost = bcrypt.DefaultCost

// API keys look like "sml_<key id: 16 hex>_<secret: 43 base64url>" (64
// bytes, under bcrypt's 72-byte limit). The key id is public and finds the
// hash; the whole key is verified against the bcrypt hash.
const apiKeyPrefix = "sml_"

// dummyHash keeps an unknown system_id as slow as a wrong password.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("smsledger-dummy-password"), bcrypt.MinCost)

// authCache remembers verified secrets by their SHA-256, with the stored
// hash they were verified against (a changed credential invalidates the
// entry). It is bounded: when full it is cleared.
type authCache struct {
	mu  sync.RWMutex
	max int
	m   map[[32]byte]authEntry
}

type authEntry struct {
	tenantID string
	hash     string
}

func (c *authCache) init(max int) { c.max, c.m = max, make(map[[32]byte]authEntry) }

func (c *authCache) get(k [32]byte) (authEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	return e, ok
}

func (c *authCache) put(k [32]byte, e authEntry) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = e
	c.mu.Unlock()
}

func smppCacheKey(systemID, password string) [32]byte {
	return sha256.Sum256([]byte("smpp\x00" + systemID + "\x00" + password))
}

// AuthenticateSMPP checks a bind's system_id and password and returns the
// tenant. An unknown system_id is ErrUnknownSystemID, a wrong password
// ErrBadCredentials; both take bcrypt time (the first check of a
// credential) so timing does not tell which. Verified credentials are
// cached in memory by their SHA-256.
func (s *Service) AuthenticateSMPP(ctx context.Context, systemID, password string) (string, error) {
	st := s.state.Load()
	cred, ok := st.smpp[systemID]
	key := smppCacheKey(systemID, password)
	if ok {
		if e, hit := s.auth.get(key); hit && e.hash == cred.Hash && e.tenantID == cred.TenantID {
			return cred.TenantID, nil
		}
	}
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return "", fmt.Errorf("bind %q: %w", systemID, ErrUnknownSystemID)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(cred.Hash), []byte(password)); err != nil {
		return "", fmt.Errorf("bind %q: %w", systemID, ErrBadCredentials)
	}
	s.auth.put(key, authEntry{tenantID: cred.TenantID, hash: cred.Hash})
	return cred.TenantID, nil
}

// AuthenticateAPIKey returns the tenant of an API key, or ErrBadCredentials.
// The first use of a key costs one bcrypt comparison; later uses are a
// SHA-256 and a map lookup.
func (s *Service) AuthenticateAPIKey(ctx context.Context, key string) (string, error) {
	keyID, ok := parseAPIKey(key)
	if !ok {
		return "", fmt.Errorf("api key: malformed: %w", ErrBadCredentials)
	}
	st := s.state.Load()
	rec, ok := st.apiKeys[keyID]
	ck := sha256.Sum256([]byte("apikey\x00" + key))
	if ok {
		if e, hit := s.auth.get(ck); hit && e.hash == rec.Hash && e.tenantID == rec.TenantID {
			return rec.TenantID, nil
		}
	}
	if !ok {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(key))
		return "", fmt.Errorf("api key %s: unknown: %w", keyID, ErrBadCredentials)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(rec.Hash), []byte(key)); err != nil {
		return "", fmt.Errorf("api key %s: %w", keyID, ErrBadCredentials)
	}
	s.auth.put(ck, authEntry{tenantID: rec.TenantID, hash: rec.Hash})
	return rec.TenantID, nil
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

// Sealer seals secrets that must be recoverable (supplier bind passwords)
// before they enter the immutable log, under a key kept outside it.
type Sealer interface {
	Seal(plaintext []byte) (string, error)
	Open(sealed string) ([]byte, error)
}

type aesSealer struct{ aead cipher.AEAD }

// NewAESGCMSealer seals with AES-256-GCM under a 32-byte key. Output is
// "v1:" + base64url(nonce || ciphertext).
func NewAESGCMSealer(key []byte) (Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealer: key of %d bytes, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return aesSealer{a}, nil
}

// NewRandomSealer is an AES-GCM sealer under a fresh random key: what is
// sealed can be opened only by this process.
func NewRandomSealer() (Sealer, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("sealer key: %w", err)
	}
	return NewAESGCMSealer(k)
}

func (a aesSealer) Seal(p []byte) (string, error) {
	nonce := make([]byte, a.aead.NonceSize(), a.aead.NonceSize()+len(p)+a.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	return "v1:" + base64.RawURLEncoding.EncodeToString(a.aead.Seal(nonce, nonce, p, nil)), nil
}

// ErrUnsealable: a sealed secret cannot be opened (other key, corrupt).
var ErrUnsealable = errors.New("sealed secret cannot be opened")

func (a aesSealer) Open(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, "v1:")
	if !ok {
		return nil, ErrUnsealable
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) < a.aead.NonceSize() {
		return nil, ErrUnsealable
	}
	p, err := a.aead.Open(nil, b[:a.aead.NonceSize()], b[a.aead.NonceSize():], nil)
	if err != nil {
		return nil, ErrUnsealable
	}
	return p, nil
}
