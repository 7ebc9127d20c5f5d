package apt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Lock files apt and dpkg take with fcntl write locks.
const (
	lockFrontend = "/var/lib/dpkg/lock-frontend"
	lockDpkg     = "/var/lib/dpkg/lock"
	lockLists    = "/var/lib/apt/lists/lock"
)

// LockProber tells who holds a lock file.
type LockProber interface {
	// Holder returns the PID holding a write lock on path (0 if it cannot
	// be known) and whether the lock is held at all.
	Holder(path string) (pid int, held bool, err error)
}

// FcntlProber asks the kernel with F_GETLK, the call apt itself uses to
// name the holder in "Could not get lock ... held by process N".
type FcntlProber struct{}

func (FcntlProber) Holder(path string) (int, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return 0, false, fmt.Errorf("query lock %s: %w", path, err)
	}
	if lk.Type == unix.F_UNLCK {
		return 0, false, nil
	}
	// A holder in another PID namespace (or an OFD lock) shows as 0 or -1.
	return max(int(lk.Pid), 0), true, nil
}

// ErrLocked means another package manager kept the lock past the deadline.
var ErrLocked = errors.New("package manager lock is held")

// LockError names the lock and its holder.
type LockError struct {
	Path    string
	PID     int
	Command string // from /proc/PID/comm, when readable
	Waited  time.Duration
}

func (e *LockError) Error() string {
	return fmt.Sprintf("%s is held by %s after waiting %s; let it finish (or stop it) and re-run",
		e.Path, describeHolder(e.PID, e.Command), e.Waited.Round(time.Second))
}

func (e *LockError) Unwrap() error { return ErrLocked }

func describeHolder(pid int, command string) string {
	switch {
	case pid <= 0:
		return "another process"
	case command == "":
		return fmt.Sprintf("process %d", pid)
	default:
		return fmt.Sprintf("process %d (%s)", pid, command)
	}
}

// waitForLocks waits until none of the lock files is held, telling the user
// once per holder what it waits for, and returns the time left before the
// deadline so apt can keep waiting through the race between our check and
// its own locking.
func (m *Manager) waitForLocks(ctx context.Context, paths ...string) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(m.lockWait())
	var ticker *time.Ticker
	lastPID := -1
	for {
		var busy *LockError
		for _, p := range paths {
			full := filepath.Join(m.Root, p)
			pid, held, err := m.locks().Holder(full)
			if err != nil {
				return 0, err
			}
			if held {
				busy = &LockError{Path: p, PID: pid, Command: m.processName(pid)}
				break
			}
		}
		if busy == nil {
			return max(time.Until(deadline), time.Second), nil
		}
		if busy.PID != lastPID {
			lastPID = busy.PID
			m.notify(fmt.Sprintf("waiting for %s, held by %s", busy.Path, describeHolder(busy.PID, busy.Command)))
		}
		if !time.Now().Before(deadline) {
			busy.Waited = time.Since(start)
			return 0, busy
		}
		if ticker == nil {
			ticker = time.NewTicker(m.pollInterval())
			defer ticker.Stop()
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %s: %w", busy.Path, ctx.Err())
		case <-ticker.C:
		}
	}
}

func (m *Manager) processName(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(m.Root, "/proc", fmt.Sprint(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
