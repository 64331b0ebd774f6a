package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// NodeIDFileName is the file in a node's data directory that keeps its id.
const NodeIDFileName = "node-id"

// NewNodeID returns a fresh random node id: "node-" and 8 lower-case hex
// digits.
func NewNodeID() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail
	return "node-" + hex.EncodeToString(b[:])
}

// NodeIDFile returns the node id kept in dir/node-id, so that a node keeps
// its id across restarts. If the file does not exist it creates it (and dir,
// 0700, if needed) with NewNodeID(): written to a temporary file (0600),
// synced and renamed into place. A file whose content (surrounding white
// space aside) is not a valid node id is an error, not replaced.
func NodeIDFile(dir string) (string, error) {
	path := filepath.Join(dir, NodeIDFileName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if !ValidNodeID(id) {
			return "", fmt.Errorf("cluster: node id file %s: %w: %q", path, ErrInvalidNodeID, id)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("cluster: read node id file: %w", err)
	}
	id := NewNodeID()
	if err := writeFileAtomic(dir, path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("cluster: create node id file %s: %w", path, err)
	}
	return id, nil
}

// writeFileAtomic writes data to path (0600) through a temporary file in
// dir renamed into place, then syncs dir so the rename survives a crash.
func writeFileAtomic(dir, path string, data []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+NodeIDFileName+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename: a no-op
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
