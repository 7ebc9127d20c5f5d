package apt

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedLocks reports the lock as held for the first n probes.
type scriptedLocks struct {
	mu    sync.Mutex
	n     int
	pid   int
	paths []string
}

func (s *scriptedLocks) Holder(path string) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = append(s.paths, path)
	if s.n > 0 {
		s.n--
		return s.pid, true, nil
	}
	return 0, false, nil
}

func TestInstallWaitsForTheLock(t *testing.T) {
	root := t.TempDir()
	comm := filepath.Join(root, "/proc/4321/comm")
	_ = os.MkdirAll(filepath.Dir(comm), 0o755)
	if err := os.WriteFile(comm, []byte("unattended-upgr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	locks := &scriptedLocks{n: 3, pid: 4321}
	f := &fakeRunner{}
	var notes []string
	m := &Manager{Root: root, Runner: f, Locks: locks, LockWait: time.Minute, PollInterval: time.Millisecond,
		Notify: func(s string) { notes = append(notes, s) }}
	if err := m.Install(context.Background(), []string{"hostname"}, InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 1 {
		t.Errorf("apt-get ran %d times", len(f.calls))
	}
	if want := []string{"waiting for /var/lib/dpkg/lock-frontend, held by process 4321 (unattended-upgr)"}; !reflect.DeepEqual(notes, want) {
		t.Errorf("notes = %q, want %q", notes, want)
	}
	if locks.paths[0] != filepath.Join(root, lockFrontend) {
		t.Errorf("probed %s, want under root", locks.paths[0])
	}
}

func TestInstallGivesUpOnAHeldLock(t *testing.T) {
	f := &fakeRunner{}
	m := &Manager{Root: t.TempDir(), Runner: f, Locks: &scriptedLocks{n: 1 << 30, pid: 77},
		LockWait: 20 * time.Millisecond, PollInterval: time.Millisecond}
	err := m.Install(context.Background(), []string{"hostname"}, InstallOptions{})
	var le *LockError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != 77 {
		t.Fatalf("err = %v, want a LockError naming PID 77", err)
	}
	if !strings.Contains(err.Error(), "held by process 77") {
		t.Errorf("message: %v", err)
	}
	if len(f.calls) != 0 {
		t.Error("apt-get ran despite the lock")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m.LockWait = time.Hour
	if err := m.Install(ctx, []string{"hostname"}, InstallOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestFcntlProber holds a real fcntl lock in a child process (a process's
// own locks never conflict with itself) and checks that the holder's PID is
// reported.
func TestFcntlProber(t *testing.T) {
	if os.Getenv("STACKLAB_HOLD_LOCK") != "" {
		holdLockChild(os.Getenv("STACKLAB_HOLD_LOCK"))
		return
	}
	path := filepath.Join(t.TempDir(), "lock-frontend")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, held, err := (FcntlProber{}).Holder(path); err != nil || held {
		t.Fatalf("free lock: held=%v err=%v", held, err)
	}
	if _, held, err := (FcntlProber{}).Holder(path + ".absent"); err != nil || held {
		t.Fatalf("absent lock: held=%v err=%v", held, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := execCommand(ctx, os.Args[0], "-test.run=^TestFcntlProber$")
	cmd.Env = append(os.Environ(), "STACKLAB_HOLD_LOCK="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	pid, held, err := (FcntlProber{}).Holder(path)
	if err != nil || !held || pid != cmd.Process.Pid {
		t.Errorf("Holder = %d, %v, %v; want %d, true", pid, held, err, cmd.Process.Pid)
	}
}
