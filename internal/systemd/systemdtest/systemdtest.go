// Package systemdtest boots a real systemd for a test, isolated from the
// host: its own PID, mount, UTS and IPC namespaces and its own cgroup, so
// several tests (and packages) can each boot one at the same time.
//
// The host is shared in ways systemd would otherwise act on, so Boot
// contains it before systemd starts: private tmpfs on /run, /tmp, /var/tmp,
// /var/lib/systemd, /var/log/journal and /etc/systemd/system (enabling a
// unit never touches the host's /etc), a private tmpfs under
// /sys/fs/cgroup (systemd remounts that tmpfs read-only, which would hit
// the host's superblock), /sys and /proc/sys read-only (no udev, no
// sysctl), $container set (systemd's container mode: no kernel module
// loading, no real shutdown), and every unit the vendor targets pull in is
// masked except journald and D-Bus — systemd-tmpfiles alone would wipe the
// host's /tmp.
package systemdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stacklab/stacklab/internal/systemd"
)

const (
	systemdBinary = "/lib/systemd/systemd"
	// VendorUnitDir is where WriteUnit puts units inside the instance: a
	// private overlay that ranks like /lib/systemd/system (below /etc and
	// /run), so Enable and runtime Mask behave as for a packaged unit.
	VendorUnitDir = "/usr/local/lib/systemd/system"
	bootTimeout   = 90 * time.Second
	stopTimeout   = 30 * time.Second
)

// keep lists the vendor-wanted units the instance still starts: logging
// (journal lines of failed units are part of what is tested) and D-Bus.
func keep() []string {
	return []string{
		"systemd-journald.service", "systemd-journald.socket",
		"systemd-journald-dev-log.socket", "systemd-journal-flush.service",
		"dbus.socket", "dbus.service",
	}
}

// alwaysMask lists units outside the vendor .wants directories that would
// reach the host: gettys on the host's terminals, tmpfiles cleaning, and
// remount-fs (a superblock remount of / is not confined by a mount
// namespace).
func alwaysMask() []string {
	return []string{
		"getty@.service", "serial-getty@.service", "console-getty.service",
		"container-getty@.service", "getty-static.service",
		"systemd-tmpfiles-clean.timer", "systemd-tmpfiles-clean.service",
		"systemd-tmpfiles-setup.service", "systemd-tmpfiles-setup-dev.service",
		"systemd-remount-fs.service",
	}
}

// Instance is one booted systemd.
type Instance struct {
	// PID is systemd's PID as the host sees it.
	PID    int
	t      testing.TB
	cmd    *exec.Cmd
	client *systemd.Client
	cgroup []string
	log    string        // systemd's console output, for boot failures
	done   chan struct{} // closed once unshare has been reaped
}

// Boot starts a systemd and waits until it has finished booting. It skips
// the test when not root or when systemd is not installed. Cleanup stops
// it, reaps every process of it and removes its cgroups.
func Boot(t testing.TB) *Instance {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("systemdtest: booting systemd needs root")
	}
	for _, bin := range []string{systemdBinary} {
		if _, err := os.Stat(bin); err != nil {
			t.Skipf("systemdtest: %s not installed: %v", bin, err)
		}
	}
	for _, bin := range []string{"unshare", "nsenter", "journalctl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("systemdtest: %s not installed: %v", bin, err)
		}
	}

	name := "stacklab-systemdtest-" + randomHex(t)
	cgroups, err := makeCgroups(name)
	if err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	masks, err := unitsToMask()
	if err != nil {
		t.Fatalf("systemdtest: %v", err)
	}

	inst := &Instance{t: t, cgroup: cgroups, log: filepath.Join(t.TempDir(), "systemd.log"), done: make(chan struct{})}
	args := append([]string{
		"--fork", "--pid", "--mount", "--uts", "--ipc", "--mount-proc",
		"--propagation", "private", "--kill-child",
		"/bin/sh", "-c", bootScript, "sh",
	}, masks...)
	inst.cmd = exec.Command("unshare", args...)
	inst.cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"STK_CGROUPS=" + strings.Join(cgroups, " "),
		"STK_SYSTEMD=" + systemdBinary,
		"STK_VENDOR=" + VendorUnitDir,
	}
	logFile, err := os.Create(inst.log)
	if err != nil {
		_ = removeCgroups(cgroups)
		t.Fatalf("systemdtest: %v", err)
	}
	defer logFile.Close()
	inst.cmd.Stdout = logFile
	inst.cmd.Stderr = logFile
	// Own process group: a terminal's ^C must not reach it before cleanup.
	inst.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := inst.cmd.Start(); err != nil {
		_ = removeCgroups(cgroups)
		t.Fatalf("systemdtest: start unshare: %v", err)
	}
	go func() {
		_ = inst.cmd.Wait()
		close(inst.done)
	}()
	t.Cleanup(inst.shutdown)

	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	if err := inst.waitBooted(ctx); err != nil {
		out, _ := os.ReadFile(inst.log)
		t.Fatalf("systemdtest: %v\nsystemd output:\n%s", err, out)
	}
	if err := inst.checkPrivate(); err != nil {
		t.Fatalf("systemdtest: %v", err)
	}
	return inst
}

// The boot script runs as PID 1 of the new namespaces before systemd:
// it moves itself into the instance's cgroups (systemd roots its tree at
// its own cgroup), builds the private mounts, masks, then execs systemd.
const bootScript = `set -eu
for cg in $STK_CGROUPS; do echo $$ > "$cg/cgroup.procs"; done
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /run/.stk/cg /run/.stk/upper /run/.stk/work
if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
	mount --rbind /sys/fs/cgroup /run/.stk/cg
	mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup
	for p in /run/.stk/cg/*; do
		n=${p##*/}
		if [ -L "$p" ]; then ln -s "$(readlink "$p")" "/sys/fs/cgroup/$n"
		else mkdir "/sys/fs/cgroup/$n"; mount --bind "$p" "/sys/fs/cgroup/$n"; fi
	done
	umount -l /run/.stk/cg
fi
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$d"; done
for d in /etc/systemd/system /var/lib/systemd /var/log/journal; do
	if [ -d "$d" ]; then mount -t tmpfs -o mode=0755 tmpfs "$d"; fi
done
mount -t overlay overlay -o lowerdir=/usr/local/lib,upperdir=/run/.stk/upper,workdir=/run/.stk/work /usr/local/lib
mkdir -p "$STK_VENDOR"
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
for u in "$@"; do ln -s /dev/null "/etc/systemd/system/$u"; done
exec env container=stacklab-systemdtest "$STK_SYSTEMD" --system --unit=multi-user.target --log-target=journal
`

// unitsToMask lists every unit the vendor targets want except keep.
func unitsToMask() ([]string, error) {
	dirs, err := filepath.Glob("/lib/systemd/system/*.wants")
	if err != nil {
		return nil, err
	}
	kept := keep()
	seen := map[string]bool{}
	var out []string
	add := func(u string) {
		if !seen[u] && !slices.Contains(kept, u) {
			seen[u] = true
			out = append(out, u)
		}
	}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", d, err)
		}
		for _, e := range entries {
			add(e.Name())
		}
	}
	for _, u := range alwaysMask() {
		add(u)
	}
	return out, nil
}

func randomHex(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("systemdtest: random name: %v", err)
	}
	return hex.EncodeToString(b)
}

// cgroupRoots are the hierarchies systemd tracks processes in: the
// unified one on a cgroup v2 host; name=systemd (plus unified, if mounted)
// on a hybrid or legacy host.
func cgroupRoots() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	var roots []string
	for _, r := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(filepath.Join(r, "cgroup.procs")); err == nil {
			roots = append(roots, r)
		}
	}
	return roots
}

func makeCgroups(name string) ([]string, error) {
	var made []string
	for _, r := range cgroupRoots() {
		d := filepath.Join(r, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			_ = removeCgroups(made)
			return nil, fmt.Errorf("create cgroup: %w", err)
		}
		made = append(made, d)
	}
	if len(made) == 0 {
		return nil, errors.New("no cgroup hierarchy for systemd found under /sys/fs/cgroup")
	}
	return made, nil
}

// removeCgroups removes the instance's cgroup trees, children first, in
// every hierarchy systemd may have mirrored them into (v1 controllers
// too). It retries while the kernel is still releasing exited tasks.
func removeCgroups(dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	name := filepath.Base(dirs[0])
	trees, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	trees = append(trees, dirs...)
	var errs []error
	for _, tree := range trees {
		if err := removeTree(tree); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func removeTree(tree string) error {
	var dirs []string
	err := filepath.WalkDir(tree, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("walk cgroup %s: %w", tree, err)
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := poll(10*time.Second, func() error {
			err := syscall.Rmdir(d)
			if errors.Is(err, syscall.ENOENT) {
				return nil
			}
			return err
		}); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", d, err)
		}
	}
	return nil
}

// poll calls f until it succeeds or the deadline passes, backing off.
func poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 5 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// findChild returns unshare's child, the instance's PID 1.
func findChild(ppid int) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no child of unshare (pid %d) yet", ppid)
}

func (in *Instance) waitBooted(ctx context.Context) error {
	var lastErr error
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 250*time.Millisecond) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("systemd did not finish booting: %w (last: %w)", ctx.Err(), lastErr)
		case <-in.done:
			return fmt.Errorf("unshare exited during boot: %v (last: %w)", in.cmd.ProcessState, lastErr)
		case <-time.After(wait):
		}
		if in.PID == 0 {
			pid, err := findChild(in.cmd.Process.Pid)
			if err != nil {
				lastErr = err
				continue
			}
			in.PID = pid
		}
		if in.client == nil {
			c, err := systemd.ConnectBusPath(ctx, in.BusPath(), systemd.WithJournalRunner(in.runInside))
			if err != nil {
				lastErr = err
				continue
			}
			in.client = c
		}
		state, err := in.client.SystemState(ctx)
		if err != nil {
			lastErr = err
			continue
		}
		// degraded still means booted: some masked vendor unit may be
		// referenced by a Requires= somewhere.
		if state == "running" || state == "degraded" {
			return nil
		}
		lastErr = fmt.Errorf("system state %q", state)
	}
}

// checkPrivate proves the instance's writable system directories are not
// the host's before any test writes into them.
func (in *Instance) checkPrivate() error {
	for _, d := range []string{"/run", "/etc/systemd/system", VendorUnitDir, "/tmp"} {
		var host, inst syscall.Stat_t
		hostPath := d
		if d == VendorUnitDir {
			hostPath = "/usr/local/lib"
		}
		if err := syscall.Stat(hostPath, &host); err != nil {
			return fmt.Errorf("stat %s: %w", hostPath, err)
		}
		if err := syscall.Stat(in.Root()+d, &inst); err != nil {
			return fmt.Errorf("stat %s in instance: %w", d, err)
		}
		if host.Dev == inst.Dev {
			return fmt.Errorf("%s in the instance is on the host's file system", d)
		}
	}
	return nil
}

// Root is the instance's root directory as seen from the host.
func (in *Instance) Root() string { return fmt.Sprintf("/proc/%d/root", in.PID) }

// BusPath is the instance's D-Bus system bus socket as seen from the
// host. (Its /run/systemd/private refuses the host: the peer's PID is not
// visible in systemd's PID namespace.)
func (in *Instance) BusPath() string { return in.Root() + "/run/dbus/system_bus_socket" }

// Client is connected to the instance; its JournalTail reads the
// instance's journal. Do not Close it: cleanup does.
func (in *Instance) Client() *systemd.Client { return in.client }

// WriteUnit writes a unit file into VendorUnitDir inside the instance and
// reloads systemd, failing the test on error.
func (in *Instance) WriteUnit(name, content string) {
	in.t.Helper()
	p := in.Root() + VendorUnitDir + "/" + name
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		in.t.Fatalf("systemdtest: write unit %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := in.client.DaemonReload(ctx); err != nil {
		in.t.Fatalf("systemdtest: %v", err)
	}
}

// Exec runs a command inside the instance (its mount and PID namespaces)
// and returns its combined output.
func (in *Instance) Exec(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", in.nsenterArgs(args...)...)
	return cmd.CombinedOutput()
}

func (in *Instance) nsenterArgs(args ...string) []string {
	return append([]string{"-t", strconv.Itoa(in.PID), "-m", "-p", "-u", "-i", "--"}, args...)
}

// runInside is the Client's journal runner: journalctl must run inside
// the instance to see its journal under the instance's /run.
func (in *Instance) runInside(ctx context.Context, name string, args ...string) ([]byte, error) {
	return systemd.ExecRunner(ctx, "nsenter", in.nsenterArgs(append([]string{name}, args...)...)...)
}

// shutdown kills the instance outright: the test's units are disposable,
// and SIGKILL to a PID namespace's init makes the kernel kill and reap
// every process in it, so nothing is left behind; the namespaces and
// their mounts go with the last process.
func (in *Instance) shutdown() {
	if in.client != nil {
		in.client.Close()
	}
	if in.PID != 0 {
		_ = syscall.Kill(in.PID, syscall.SIGKILL)
	}
	// --kill-child covers a systemd not found yet.
	_ = in.cmd.Process.Kill()
	select {
	case <-in.done:
	case <-time.After(stopTimeout):
		in.t.Errorf("systemdtest: unshare (pid %d) did not exit", in.cmd.Process.Pid)
	}
	if in.PID != 0 {
		if err := poll(stopTimeout, func() error {
			if err := syscall.Kill(in.PID, 0); errors.Is(err, syscall.ESRCH) {
				return nil
			}
			return fmt.Errorf("systemd (pid %d) still exists", in.PID)
		}); err != nil {
			in.t.Errorf("systemdtest: %v", err)
		}
	}
	if err := removeCgroups(in.cgroup); err != nil {
		in.t.Errorf("systemdtest: %v", err)
	}
}
