package pgembed

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// debianBinGlob is where Debian/Ubuntu packages install the server binaries
// (they are not on PATH there).
const debianBinGlob = "/usr/lib/postgresql/*/bin"

type binaries struct {
	initdb, postgres string
}

// findBinaries looks for initdb and postgres side by side: in dirs if given,
// else on PATH, then under /usr/lib/postgresql/<version>/bin, highest version
// first.
func findBinaries(dirs []string) (binaries, error) {
	if len(dirs) == 0 {
		if p, err := exec.LookPath("postgres"); err == nil {
			if d := filepath.Dir(p); isExec(filepath.Join(d, "initdb")) {
				return binaries{initdb: filepath.Join(d, "initdb"), postgres: p}, nil
			}
			if i, err := exec.LookPath("initdb"); err == nil {
				return binaries{initdb: i, postgres: p}, nil
			}
		}
		dirs = versionedDirs(debianBinGlob)
	}
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExec(i) && isExec(p) {
			return binaries{initdb: i, postgres: p}, nil
		}
	}
	return binaries{}, ErrBinariesNotFound
}

// versionedDirs expands a glob like /usr/lib/postgresql/*/bin and orders the
// matches by the numeric version in the wildcard, highest first.
func versionedDirs(glob string) []string {
	matches, _ := filepath.Glob(glob)
	version := func(dir string) float64 {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil {
			return -1
		}
		return v
	}
	sort.SliceStable(matches, func(a, b int) bool { return version(matches[a]) > version(matches[b]) })
	return matches
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// runAs is the unprivileged user the server runs as when we are root.
type runAs struct {
	name     string
	uid, gid int
}

func lookupRunAs(name string) (*runAs, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root, so PostgreSQL must run as the unprivileged user %q, but it does not exist (%v); `apt-get install -y postgresql` creates it, or run smsledger as a non-root user, or pass --database-url", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user %q has a non-numeric uid/gid %q/%q", name, u.Uid, u.Gid)
	}
	return &runAs{name: name, uid: uid, gid: gid}, nil
}

func (r *runAs) credential() *syscall.Credential {
	return &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), Groups: []uint32{}}
}

// makeTraversable adds o+x to dir and each of its ancestors that lacks it, so
// an unprivileged user can reach dir. It returns the directories it changed.
func makeTraversable(dir string) ([]string, error) {
	var changed []string
	for d := dir; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return changed, err
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o001); err != nil {
				return changed, err
			}
			changed = append(changed, d)
		}
		if parent := filepath.Dir(d); parent == d {
			return changed, nil
		}
	}
}

// chownTreeIfNeeded gives dir and everything under it to the server's user
// when dir itself is not already owned by that user.
func chownTreeIfNeeded(dir string, owner *runAs) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok && int(s.Uid) == owner.uid {
		return nil
	}
	return chownTree(dir, owner)
}

// chownTree gives every entry under dir to the server's user.
func chownTree(dir string, owner *runAs) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) == owner.uid && int(st.Gid) == owner.gid {
			return nil
		}
		return os.Lchown(path, owner.uid, owner.gid)
	})
}
