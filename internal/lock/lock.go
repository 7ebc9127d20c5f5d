// Package lock is the one lock every stacklab command that changes the lab
// or the cloud takes (install, uninstall, run, doctor --fix, services
// start/stop/restart, net apply): two of them at once would fight over the
// same units, files and resources. The lock file names its holder, so the
// command refused can say who to wait for.
package lock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Path is where the lock is taken. It lives under /run, not the state
// directory: uninstall removes that directory, and a lock needs no
// persistence (the kernel drops an flock with its holder). The name is the
// one install has always used, so a running older stacklab still excludes
// a newer one.
const Path = "/run/stacklab/install.lock"

// Lock is a held lock; Release drops it.
type Lock struct {
	f *os.File
}

// LockedError names the process holding the lock.
type LockedError struct {
	Path   string
	Holder string // "pid N, stacklab COMMAND, since TIME"
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("another stacklab run holds %s (%s); wait for it to finish", e.Path, e.Holder)
}

// Acquire takes an exclusive flock on path without waiting; what names the
// command in the lock file ("stacklab install"). flock is released by the
// kernel when the process dies, so a killed command never leaves a stale
// lock.
func Acquire(path, what string) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			h := strings.TrimSpace(string(holder))
			if h == "" {
				h = "unknown process"
			}
			return nil, &LockedError{Path: path, Holder: h}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	info := fmt.Sprintf("pid %d, %s, since %s", os.Getpid(), what, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}

// HolderPID is the PID a LockedError's Holder names, 0 when it names none.
func HolderPID(holder string) int {
	f := strings.Fields(holder)
	if len(f) < 2 || f[0] != "pid" {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSuffix(f[1], ","))
	return pid
}
