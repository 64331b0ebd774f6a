package main

// The child processes of bench --sustained (serve and smsc-sim, this binary
// re-executed) and what is read about them from /proc: CPU time per role and
// serve's peak RSS.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process bench started, ended by its PID (stop) when bench
// ends; should bench die without stopping it, the kernel sends it SIGTERM
// (Pdeathsig).
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it exited
	err  error         // its exit, once done
	tail *lineTail     // its last lines of output, for errors
}

// childWaitDelay bounds the wait for a child's output after it exited (a
// process it left behind holding the pipe must not hang bench).
const childWaitDelay = 5 * time.Second

// startChild starts exe with args; each line it writes goes to onStdout or
// onStderr (on the copying goroutines) and into its tail.
func startChild(name, exe string, args, env []string, onStdout, onStderr func(line []byte)) (*child, error) {
	c := &child{name: name, done: make(chan struct{}), tail: &lineTail{max: 20}}
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	cmd.Stdout = &lineWriter{fn: c.tail.wrap(onStdout)}
	cmd.Stderr = &lineWriter{fn: c.tail.wrap(onStderr)}
	cmd.WaitDelay = childWaitDelay
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// SIGTERM: serve stops in order (and its PostgreSQL with it).
		Pdeathsig: syscall.SIGTERM,
		// Its own process group: a Ctrl-C on the terminal reaches bench
		// only, which then stops its children by PID, serve last.
		Setpgid: true,
	}
	c.cmd = cmd
	// Pdeathsig fires when the *thread* that forked the child exits: fork
	// from a goroutine locked to its thread that lives until the child
	// exited (the Go runtime ends only threads whose goroutine exits while
	// locked), as pgembed does for PostgreSQL.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	return c, nil
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exited reports whether the child has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the child's PID and waits up to grace for it to
// exit, then kills it (and waits a bounded while more). It is idempotent.
func (c *child) stop(grace time.Duration) error {
	if c == nil || c.exited() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		return nil
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
		return fmt.Errorf("%s (pid %d) did not stop within %v of SIGTERM: killed", c.name, c.pid(), grace)
	case <-time.After(childWaitDelay + 5*time.Second):
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", c.name, c.pid())
	}
}

// exitError describes how the child ended, with its last lines.
func (c *child) exitError() error {
	return fmt.Errorf("%s exited (%v); its last output:\n%s", c.name, c.err, c.tail.String())
}

// lineWriter calls fn with each complete line written to it (without the
// newline); a line longer than lineMax is passed on in pieces. Used by one
// goroutine (exec's copier) at a time.
type lineWriter struct {
	fn  func(line []byte)
	buf []byte
}

const lineMax = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= lineMax {
				w.fn(w.buf)
				w.buf = w.buf[:0]
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.fn(w.buf)
		w.buf = w.buf[:0]
		p = p[i+1:]
	}
	return n, nil
}

// lineTail keeps a child's last max lines.
type lineTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

// wrap returns fn that also keeps each line (fn may be nil).
func (t *lineTail) wrap(fn func([]byte)) func([]byte) {
	return func(line []byte) {
		t.mu.Lock()
		t.lines = append(t.lines, string(line))
		if len(t.lines) > t.max {
			t.lines = t.lines[len(t.lines)-t.max:]
		}
		t.mu.Unlock()
		if fn != nil {
			fn(line)
		}
	}
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat: the kernel's
// USER_HZ, 100 on every Linux architecture Go supports.
const userHZ = 100

// procStat is what bench reads of /proc/<pid>/stat.
type procStat struct {
	ppid int
	cpu  time.Duration // utime + stime
	// reaped is cutime + cstime: the CPU of its children that exited and
	// were waited for (a PostgreSQL backend that ended).
	reaped time.Duration
}

// readProcStat reads /proc/<pid>/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(string(b))
}

// parseProcStat parses a stat line: the command name is in parentheses and
// may hold spaces and parentheses, so the fields are counted after the last
// ')': state, ppid (4th field), … utime, stime, cutime, cstime (14th–17th).
func parseProcStat(s string) (procStat, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, errors.New("bench: /proc stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("bench: /proc stat: %d fields after the name", len(f))
	}
	var n [5]int64
	for k, idx := range []int{1, 11, 12, 13, 14} {
		v, err := strconv.ParseInt(f[idx], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("bench: /proc stat field %d: %w", idx+3, err)
		}
		n[k] = v
	}
	tick := time.Second / userHZ
	return procStat{ppid: int(n[0]), cpu: time.Duration(n[1]+n[2]) * tick, reaped: time.Duration(n[3]+n[4]) * tick}, nil
}

// processCPU is a process's own CPU time (its threads, not its children).
func processCPU(pid int) (time.Duration, error) {
	st, err := readProcStat(pid)
	return st.cpu, err
}

// treeCPU is the CPU time of a server and its children: its own, what its
// exited children used, and what each live child used so far (PostgreSQL:
// the postmaster forks a backend per connection and its workers).
func treeCPU(root int) (time.Duration, error) {
	st, err := readProcStat(root)
	if err != nil {
		return 0, err
	}
	total := st.cpu + st.reaped
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		cs, err := readProcStat(pid)
		if err != nil || cs.ppid != root {
			continue // gone meanwhile, or not a child
		}
		total += cs.cpu
	}
	return total, nil
}

// peakRSS is a process's peak resident set (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: VmHWM %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("bench: no VmHWM in /proc status")
}

// postmasterPID reads the PID of the server running on pgdata.
func postmasterPID(pgdata string) (int, error) {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// loadAverage reads the 1, 5 and 15 minute load averages (zeros if
// unreadable): the figures of a shared machine say how busy it was.
func loadAverage() [3]float64 {
	var la [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return la
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		la[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return la
}
