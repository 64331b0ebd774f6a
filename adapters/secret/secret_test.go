package secret_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/smsledger/smsledger/adapters/secret"
	"github.com/smsledger/smsledger/domain/ledger"
)

// The adapters implement the ledger's ports.
var (
	_ ledger.Sealer         = (*secret.AESGCM)(nil)
	_ ledger.PasswordHasher = (*secret.Bcrypt)(nil)
)

func TestAESGCMSealer(t *testing.T) {
	s, err := secret.NewAESGCMSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, "v1:") {
		t.Fatalf("sealed %q: want the v1: prefix", sealed)
	}
	again, _ := s.Seal([]byte("pw"))
	if again == sealed {
		t.Fatal("two seals of one secret are equal: nonce reused")
	}
	if p, err := s.Open(sealed); err != nil || !bytes.Equal(p, []byte("pw")) {
		t.Fatalf("open: %q %v", p, err)
	}
	other, _ := secret.NewAESGCMSealer([]byte(strings.Repeat("x", 32)))
	for _, bad := range []string{"", "pw", "v1:", "v1:!!", sealed[:len(sealed)-2]} {
		if _, err := s.Open(bad); !errors.Is(err, secret.ErrUnsealable) {
			t.Errorf("open %q: %v, want ErrUnsealable", bad, err)
		}
	}
	if _, err := other.Open(sealed); !errors.Is(err, secret.ErrUnsealable) {
		t.Errorf("open under another key: %v, want ErrUnsealable", err)
	}
	if _, err := secret.NewAESGCMSealer(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
	r, err := secret.NewRandomSealer()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Open(sealed); err == nil {
		t.Error("a random key opened another key's seal")
	}
}

func TestBcryptHasher(t *testing.T) {
	h, err := secret.NewBcryptHasher(secret.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := h.Hash("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(hash, "s3cret"); err != nil {
		t.Fatalf("compare the right secret: %v", err)
	}
	if err := h.Compare(hash, "wrong"); err == nil {
		t.Fatal("a wrong secret matched")
	}
	if err := h.Compare("", "s3cret"); err == nil {
		t.Fatal("an empty hash matched")
	}
	if _, err := secret.NewBcryptHasher(99); err == nil {
		t.Fatal("cost 99 was accepted")
	}
	if _, err := h.Hash(strings.Repeat("x", 73)); err == nil {
		t.Fatal("a 73-byte secret was hashed (bcrypt would truncate it)")
	}
}
