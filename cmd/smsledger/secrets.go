package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/smsledger/smsledger/adapters/secret"
	"github.com/smsledger/smsledger/domain/events"
	"github.com/smsledger/smsledger/domain/ledger"
	"github.com/smsledger/smsledger/eventstore"
)

// loadSecrets makes the ledger's secret ports: the AES-GCM sealer of
// supplier bind passwords and webhook secrets (loadSealer) and the bcrypt
// hasher of SMPP passwords and API keys.
func loadSecrets(ctx context.Context, sealKeyFile, dataDir string, log *slog.Logger, holdsSealed func(context.Context) (bool, error)) (ledger.Sealer, ledger.PasswordHasher, error) {
	sealer, err := loadSealer(ctx, sealKeyFile, dataDir, log, holdsSealed)
	if err != nil {
		return nil, nil, err
	}
	hasher, err := secret.NewBcryptHasher(secret.DefaultCost)
	if err != nil {
		return nil, nil, fmt.Errorf("password hasher: %w", err)
	}
	return sealer, hasher, nil
}

// errSealedWithoutKey: the key file is missing but the log holds secrets
// sealed with a key.
var errSealedWithoutKey = errors.New("the event log holds sealed secrets but the seal key file does not exist")

// loadSealer reads the 32-byte key that seals supplier bind passwords and
// webhook secrets in the log, creating it (0600) on first start. The key
// stays outside the log and the database on purpose: a copy of the log
// alone does not reveal them. Default location: <data-dir>/seal.key.
//
// A new key is made only while the log holds no sealed secret
// (holdsSealed): otherwise a missing key file is a mistake (a new data
// dir with --database-url, a lost file), and a new key would orphan every
// supplier password and webhook secret already sealed. A key file readable
// by group or others is refused: it opens every sealed secret.
func loadSealer(ctx context.Context, path, dataDir string, log *slog.Logger, holdsSealed func(context.Context) (bool, error)) (ledger.Sealer, error) {
	if path == "" {
		path = filepath.Join(dataDir, "seal.key")
	}
	key, err := readSecretFile(path, "seal key")
	if errors.Is(err, fs.ErrNotExist) {
		if holdsSealed != nil {
			sealed, err := holdsSealed(ctx)
			if err != nil {
				return nil, fmt.Errorf("seal key %s does not exist; checking the log for sealed secrets: %w", path, err)
			}
			if sealed {
				return nil, fmt.Errorf("%w (%s): restore the key those secrets were sealed with (back it up with the database) or point --seal-key-file at it; a new key would make every supplier password and webhook secret unreadable", errSealedWithoutKey, path)
			}
		}
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
		log.Info("created the key that seals supplier passwords and webhook secrets; back it up with the database", "path", path)
	} else if err != nil {
		return nil, err
	}
	sealer, err := secret.NewAESGCMSealer(key)
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w", path, err)
	}
	return sealer, nil
}

// readSecretFile reads a file holding a secret, refusing one that group or
// others may read (on Unix): the secret would not be one.
func readSecretFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s %s is readable or writable by group or others (mode %04o): chmod 600 it (for a mounted secret, mode 0400 or 0600)", what, path, st.Mode().Perm())
	}
	b := make([]byte, 0, 64)
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		b = append(b, buf[:n]...)
		if len(b) > 64<<10 {
			return nil, fmt.Errorf("%s %s: larger than 64 KiB", what, path)
		}
		if err != nil {
			break
		}
	}
	return b, nil
}

// sealedTypes are the events that carry a sealed secret.
var sealedTypes = []string{events.TypeSupplierCreated, events.TypeSupplierChanged, events.TypeWebhookSet}

// logHoldsSealed reports whether the log holds a sealed secret: on the
// postgres backend one indexed-free query that stops at the first match
// (suppliers come early in a log); on another backend a read of the log
// (done only when the key file is missing).
func (d *daemon) logHoldsSealed(ctx context.Context) (bool, error) {
	if d.cfg.eventstore == "postgres" {
		var found bool
		err := d.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM es_events WHERE event_type = ANY($1))`, sealedTypes).Scan(&found)
		return found, err
	}
	return storeHoldsSealed(ctx, d.store)
}

// storeHoldsSealed reads the whole log looking for a sealed secret.
func storeHoldsSealed(ctx context.Context, store eventstore.Store) (bool, error) {
	var after eventstore.Position
	for {
		recs, err := store.ReadAll(ctx, after, 1000)
		if err != nil {
			return false, err
		}
		if len(recs) == 0 {
			return false, nil
		}
		for _, r := range recs {
			for _, t := range sealedTypes {
				if r.Type == t {
					return true, nil
				}
			}
		}
		after = recs[len(recs)-1].Position
	}
}

// adminTokenMinLen is the shortest admin token serve takes (a generated
// one has 43 characters).
const adminTokenMinLen = 16

// adminTokenOf returns the admin token from --admin-token or
// --admin-token-file ("" when neither: serve generates one), refusing one
// shorter than adminTokenMinLen or a file readable by group or others.
func adminTokenOf(cfg serveConfig) (string, error) {
	tok := cfg.adminToken
	if cfg.adminTokenFile != "" {
		b, err := readSecretFile(cfg.adminTokenFile, "admin token file")
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w: --admin-token-file %s does not exist", errUsage, cfg.adminTokenFile)
		}
		if err != nil {
			return "", fmt.Errorf("%w: %v", errUsage, err)
		}
		tok = strings.TrimSpace(string(b))
		if tok == "" {
			return "", fmt.Errorf("%w: --admin-token-file %s is empty", errUsage, cfg.adminTokenFile)
		}
	}
	if tok != "" && len(tok) < adminTokenMinLen {
		return "", fmt.Errorf("%w: the admin token must have at least %d characters (it has %d); leave it unset to have one generated", errUsage, adminTokenMinLen, len(tok))
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%w: the admin token must not contain whitespace", errUsage)
	}
	return tok, nil
}
