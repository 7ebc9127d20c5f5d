package lock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLockNamesHolderAndDiesWithIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "install.lock")
	l, err := Acquire(path, "stacklab install")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(path, "stacklab install")
	var le *LockedError
	if !errors.As(err, &le) || HolderPID(le.Holder) != os.Getpid() || !strings.Contains(le.Holder, "stacklab install") {
		t.Fatalf("second acquire: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}

	// A real other process holds the lock, then is killed: the kernel
	// releases it and the next run proceeds (an interrupted install must
	// never leave a stale lock).
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed")
	}
	cmd := exec.Command("flock", path, "sleep", "60")
	// Its own process group, so the kill takes flock and the sleep that
	// inherited the locked descriptor, as a killed install would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }
	t.Cleanup(kill)
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := Acquire(path, "probe")
		if errors.As(err, &le) {
			break
		}
		if err == nil {
			_ = l.Release()
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never took the lock")
		}
		time.Sleep(10 * time.Millisecond) // polling an external process
	}
	kill()
	// SIGKILL is delivered at once but the sleep holding the descriptor
	// exits asynchronously: the kernel releases the lock when it does.
	deadline = time.Now().Add(5 * time.Second)
	for {
		l, err = Acquire(path, "after kill")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock not released by the killed holder: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling an exiting process
	}
	_ = l.Release()
}
