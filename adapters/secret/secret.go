// Package secret holds the cryptographic implementations of the ledger's
// secret ports: an AES-256-GCM Sealer for secrets that must be recoverable
// (supplier bind passwords, webhook signing secrets) and a bcrypt
// PasswordHasher for credentials that only need checking (SMPP passwords,
// API keys). The ledger declares the interfaces (ledger.Sealer,
// ledger.PasswordHasher); the edge (cmd/smsledger) constructs
// these implementations and passes them in through ledger.Options.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ErrUnsealable reports a sealed secret that cannot be opened (sealed under
// another key, or corrupt).
var ErrUnsealable = errors.New("sealed secret cannot be opened")

// sealedPrefix versions the sealed format.
const sealedPrefix = "v1:"

// AESGCM seals with AES-256-GCM. It implements ledger.Sealer.
type AESGCM struct{ aead cipher.AEAD }

// NewAESGCMSealer seals with AES-256-GCM under a 32-byte key. Output is
// "v1:" + base64url(nonce || ciphertext).
func NewAESGCMSealer(key []byte) (*AESGCM, error) {
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
	return &AESGCM{aead: a}, nil
}

// NewRandomSealer is an AES-GCM sealer under a fresh random key: what is
// sealed can be opened only by this process.
func NewRandomSealer() (*AESGCM, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("sealer key: %w", err)
	}
	return NewAESGCMSealer(k)
}

// Seal encrypts p under a fresh random nonce.
func (a *AESGCM) Seal(p []byte) (string, error) {
	ns := a.aead.NonceSize()
	nonce := make([]byte, ns, ns+len(p)+a.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	return sealedPrefix + base64.RawURLEncoding.EncodeToString(a.aead.Seal(nonce, nonce, p, nil)), nil
}

// Open decrypts what Seal made under the same key; anything else is
// ErrUnsealable.
func (a *AESGCM) Open(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, sealedPrefix)
	if !ok {
		return nil, ErrUnsealable
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	ns := a.aead.NonceSize()
	if err != nil || len(b) < ns {
		return nil, ErrUnsealable
	}
	p, err := a.aead.Open(nil, b[:ns], b[ns:], nil)
	if err != nil {
		return nil, ErrUnsealable
	}
	return p, nil
}

// Bcrypt hashes and checks credentials with bcrypt. It implements
// ledger.PasswordHasher.
type Bcrypt struct{ cost int }

// DefaultCost is the bcrypt cost for production credentials.
const DefaultCost = bcrypt.DefaultCost

// MinCost is the cheapest bcrypt cost, for tests.
const MinCost = bcrypt.MinCost

// NewBcryptHasher hashes at cost (DefaultCost when 0). Comparisons take the
// cost recorded in the hash they compare against.
func NewBcryptHasher(cost int) (*Bcrypt, error) {
	if cost == 0 {
		cost = DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt: cost %d outside %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	return &Bcrypt{cost: cost}, nil
}

// Hash returns the bcrypt hash of secret (at most 72 bytes).
func (b *Bcrypt) Hash(secret string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(secret), b.cost)
	if err != nil {
		return "", fmt.Errorf("bcrypt: %w", err)
	}
	return string(h), nil
}

// Compare returns nil if secret matches hash, an error otherwise (a wrong
// secret and a malformed hash alike).
func (b *Bcrypt) Compare(hash, secret string) error {
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(secret)); err != nil {
		return fmt.Errorf("bcrypt: %w", err)
	}
	return nil
}
