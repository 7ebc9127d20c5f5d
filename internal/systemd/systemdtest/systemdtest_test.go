package systemdtest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Two instances booted at once must be distinct systemds with distinct
// private /run, and cleanup must leave no cgroup behind.
func TestBootConcurrent(t *testing.T) {
	var (
		mu    sync.Mutex
		pids  []int
		names []string
	)
	t.Run("group", func(t *testing.T) {
		for _, n := range []string{"a", "b"} {
			t.Run(n, func(t *testing.T) {
				t.Parallel()
				in := Boot(t)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				st, err := in.Client().States(ctx, "systemd-journald.service")
				if err != nil {
					t.Fatal(err)
				}
				if !st[0].Active() {
					t.Errorf("journald in instance: %v, want active", st[0])
				}
				out, err := in.Exec("cat", "/proc/1/comm")
				if err != nil {
					t.Fatalf("exec: %v: %s", err, out)
				}
				if got := strings.TrimSpace(string(out)); got != "systemd" {
					t.Errorf("PID 1 inside = %q, want systemd", got)
				}
				// A file in the instance's /run must not appear on the host.
				marker := "/run/stacklab-systemdtest-marker-" + n
				if out, err := in.Exec("touch", marker); err != nil {
					t.Fatalf("touch: %v: %s", err, out)
				}
				if _, err := os.Stat(marker); !os.IsNotExist(err) {
					t.Errorf("%s visible on host (err=%v)", marker, err)
				}
				mu.Lock()
				pids = append(pids, in.PID)
				names = append(names, in.cgroup...)
				mu.Unlock()
			})
		}
	})
	if t.Skipped() || len(pids) < 2 {
		return
	}
	if pids[0] == pids[1] {
		t.Errorf("both instances have PID %d", pids[0])
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !os.IsNotExist(err) {
			t.Errorf("systemd pid %d still exists after cleanup", pid)
		}
	}
	for _, cg := range names {
		if _, err := os.Stat(cg); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left behind", cg)
		}
	}
}
