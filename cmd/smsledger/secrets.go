package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/smsledger/smsledger/adapters/secret"
	"github.com/smsledger/smsledger/domain/ledger"
)

// loadSecrets makes the ledger's secret ports: the AES-GCM sealer of
// supplier bind passwords and webhook secrets (loadSealer) and the bcrypt
// hasher of SMPP passwords and API keys.
func loadSecrets(sealKeyFile, dataDir string, log *slog.Logger) (ledger.Sealer, ledger.PasswordHasher, error) {
	sealer, err := loadSealer(sealKeyFile, dataDir, log)
	if err != nil {
		return nil, nil, err
	}
	hasher, err := secret.NewBcryptHasher(secret.DefaultCost)
	if err != nil {
		return nil, nil, fmt.Errorf("password hasher: %w", err)
	}
	return sealer, hasher, nil
}

// loadSealer reads the 32-byte key that seals supplier bind passwords in the
// log, creating it (0600) on first start. The key stays outside the log and
// the database on purpose: a copy of the log alone does not reveal supplier
// passwords. Default location: <data-dir>/seal.key.
func loadSealer(path, dataDir string, log *slog.Logger) (ledger.Sealer, error) {
	if path == "" {
		path = filepath.Join(dataDir, "seal.key")
	}
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("seal key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("seal key: %w", err)
		}
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("seal key: %w", err)
		}
		log.Info("created the key that seals supplier passwords; back it up with the database", "path", path)
	} else if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	sealer, err := secret.NewAESGCMSealer(key)
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w", path, err)
	}
	return sealer, nil
}
