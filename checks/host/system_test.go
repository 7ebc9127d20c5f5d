package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stacklab/stacklab/checks"
	"golang.org/x/sys/unix"
)

// These tests read the machine they run on and compare with sources the
// implementation does not use.

func TestSystemCPU(t *testing.T) {
	c, err := NewSystem().CPU()
	if err != nil {
		t.Fatal(err)
	}
	if c.Count != runtime.NumCPU() {
		t.Errorf("CPU count %d, runtime.NumCPU() %d", c.Count, runtime.NumCPU())
	}
	if len(c.Flags) == 0 {
		t.Error("no CPU flags read")
	}
	if got, want := c.VirtFlags(), cpuinfoVirtFlags(t); !slices.Equal(got, want) {
		t.Errorf("virt flags %v, /proc/cpuinfo says %v", got, want)
	}
	t.Logf("%d CPUs, model %q, platform %q, virt flags %v", c.Count, c.Model, c.Platform, c.VirtFlags())
}

func cpuinfoVirtFlags(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			for _, f := range []string{"vmx", "svm"} {
				if slices.Contains(strings.Fields(v), f) {
					out = append(out, f)
				}
			}
			return out
		}
	}
	return out
}

func TestSystemMemory(t *testing.T) {
	m, err := NewSystem().Memory()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := parseMeminfoKB(f, "MemTotal")
	if err != nil {
		t.Fatal(err)
	}
	diff := float64(m.Total) - float64(want)
	if diff < 0 {
		diff = -diff
	}
	if diff > float64(want)/100 {
		t.Errorf("RAM %d bytes, /proc/meminfo MemTotal %d bytes: more than 1%% apart", m.Total, want)
	}
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	if swap := si.Totalswap * uint64(si.Unit); swap != m.SwapTotal {
		t.Errorf("swap %d, sysinfo(2) says %d", m.SwapTotal, swap)
	}
	t.Logf("RAM %s, swap %s", fmtGiB(m.Total), fmtGiB(m.SwapTotal))
}

func TestSystemDisk(t *testing.T) {
	s := NewSystem()
	d, err := s.Disk(DataPath)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(DataPath, &st); err != nil {
		t.Fatal(err)
	}
	if want := st.Blocks * uint64(st.Bsize); d.Total != want {
		t.Errorf("total %d, statfs says %d", d.Total, want)
	}
	if d.Free == 0 || d.Free > d.Total {
		t.Errorf("free %d of %d", d.Free, d.Total)
	}
	// A path not created yet is measured on its nearest existing ancestor.
	dir := t.TempDir()
	d2, err := s.Disk(filepath.Join(dir, "not", "yet"))
	if err != nil {
		t.Fatal(err)
	}
	if d2.Path != dir {
		t.Errorf("measured %q, want nearest existing ancestor %q", d2.Path, dir)
	}
}

func TestSystemOS(t *testing.T) {
	o, err := NewSystem().OS()
	if err != nil {
		t.Fatal(err)
	}
	// The machines stacklab is built and tested on are Debian 12.
	if o.ID != "debian" || o.VersionID != "12" || !strings.Contains(o.PrettyName, "bookworm") {
		t.Errorf("os-release = %+v, want Debian 12 (bookworm)", o)
	}
	assertResult(t, checkOS(o, nil), checks.OK, "")
}

func TestSystemHostname(t *testing.T) {
	s := NewSystem()
	h, err := s.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != want {
		t.Errorf("hostname %q, os.Hostname %q", h.Name, want)
	}
	if got, want := len(h.Entries), countHostsLines(t, "/etc/hosts", h.Name); got != want {
		t.Errorf("%d /etc/hosts entries for %q, a plain scan finds %d", got, h.Name, want)
	}
	t.Logf("hostname %q resolves (per /etc/hosts) to %v", h.Name, h.Addrs())

	// The same reading from a hosts file we wrote.
	etc := t.TempDir()
	content := fmt.Sprintf("127.0.0.1 localhost\n127.0.1.1 %s\n192.0.2.7 %s.example %s\n", h.Name, h.Name, h.Name)
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	s.etcDir = etc
	h2, err := s.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	got := h2.Addrs()
	if len(got) != 2 || got[0] != netip.MustParseAddr("127.0.1.1") || got[1] != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("addresses %v, want [127.0.1.1 192.0.2.7]", got)
	}
	r := checkHostname(h2, nil, netip.MustParseAddr("192.0.2.7"))
	assertResult(t, r, checks.Fail, "127.0.1.1")
	if !strings.Contains(r.Fix, "delete the line: 127.0.1.1 "+h.Name) {
		t.Errorf("fix %q", r.Fix)
	}
}

func countHostsLines(t *testing.T, path, name string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if f := strings.Fields(line); len(f) > 1 && slices.Contains(f[1:], name) {
			n++
		}
	}
	return n
}

func TestSystemClock(t *testing.T) {
	c, err := NewSystem().Clock()
	if err != nil {
		t.Fatal(err)
	}
	if c.State < 0 || c.State > timeError {
		t.Errorf("adjtimex state %d out of range", c.State)
	}
	if c.MaxErrorMicros < 0 {
		t.Errorf("max error %d", c.MaxErrorMicros)
	}
	t.Logf("clock state %s status %#x synced=%v", clockStateName(c.State), c.Status, c.Synced())
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: opening /dev/kvm and reading other processes' fds")
	}
}

func TestSystemKVMProbe(t *testing.T) {
	requireRoot(t)
	s := NewSystem()
	p := s.KVM()
	_, statErr := os.Stat("/dev/kvm")
	if p.DevicePresent != (statErr == nil) {
		t.Errorf("DevicePresent %v, stat /dev/kvm: %v", p.DevicePresent, statErr)
	}
	virt, reason := VirtType(s)
	t.Logf("%s; VirtType = %s (%s)", p, virt, reason)
	flags := cpuinfoVirtFlags(t)
	if len(flags) == 0 && virt != VirtQEMU {
		t.Errorf("no vmx/svm in /proc/cpuinfo but VirtType = %s", virt)
	}
	if virt == VirtKVM && !p.OK() {
		t.Errorf("kvm chosen although the probe failed: %v", p.Err)
	}
	if len(flags) > 0 && p.OK() && virt != VirtKVM {
		t.Errorf("flags %v and a guest ran, but VirtType = %s", flags, virt)
	}
}

func TestSystemKVMProbeRefusesOtherDevices(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the guest probe exists for amd64 only")
	}
	// /dev/null opens but answers no KVM ioctl: a device node alone is not KVM.
	p := probeKVM("/dev/null", time.Second)
	if !p.DevicePresent || !errors.Is(p.Err, unix.ENOTTY) {
		t.Errorf("probe of /dev/null = %+v, want present with ENOTTY", p)
	}
	p = probeKVM(filepath.Join(t.TempDir(), "kvm"), time.Second)
	if p.DevicePresent || p.OK() {
		t.Errorf("probe of a missing node = %+v", p)
	}
}

func ownComm(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func listenLoopback(t *testing.T, network, addr string) uint16 {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func TestSystemListenersOwnProcess(t *testing.T) {
	for _, tc := range []struct{ network, addr, want string }{
		{"tcp4", "127.0.0.1:0", "127.0.0.1"},
		{"tcp6", "[::1]:0", "::1"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			port := listenLoopback(t, tc.network, tc.addr)
			ls, err := NewSystem().Listeners([]uint16{port})
			if err != nil {
				t.Fatal(err)
			}
			if len(ls) != 1 {
				t.Fatalf("listeners on %d: %+v, want exactly ours", port, ls)
			}
			l := ls[0]
			if l.PID != os.Getpid() || l.Comm != ownComm(t) || l.Addr.String() != tc.want || l.Port != port {
				t.Errorf("listener %+v, want PID %d comm %q on %s:%d", l, os.Getpid(), ownComm(t), tc.want, port)
			}
			if len(l.Cmdline) == 0 || l.Cmdline[0] != os.Args[0] {
				t.Errorf("cmdline %q, want argv[0] %q", l.Cmdline, os.Args[0])
			}
		})
	}
}

// The whole path: a real socket, the real /proc walk, the check's verdict.
func TestPortsCheckAgainstRealSocket(t *testing.T) {
	port := listenLoopback(t, "tcp4", "127.0.0.1:0")
	ports := []ServicePort{{port, "test service"}}
	s := NewSystem()

	foreign := runCheck(t, s, Options{Ports: ports, LabProcesses: []string{"mariadbd"}}, IDPorts)
	assertResult(t, foreign, checks.Fail, fmt.Sprintf("port %d (test service) is held by %s (PID %d)", port, ownComm(t), os.Getpid()))

	own := runCheck(t, s, Options{Ports: ports, LabProcesses: []string{ownComm(t)}}, IDPorts)
	assertResult(t, own, checks.OK, "held by the lab's own services")
}

// Preflight must feel instant: log how long every host check takes together
// on this machine (not asserted: CI machines vary).
func TestAllHostChecksDuration(t *testing.T) {
	list := Checks(NewSystem(), Options{ManagementIP: netip.MustParseAddr("192.0.2.10")})
	start := time.Now()
	rep, err := checks.Run(context.Background(), list, checks.Options{})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.Entries {
		if e.Status == "" || e.Summary == "" {
			t.Errorf("%s: empty result %+v", e.ID, e.Result)
		}
		if strings.HasPrefix(e.Summary, "no answer within") {
			t.Errorf("%s timed out", e.ID)
		}
		t.Logf("%-10s %-4s %8s  %s", e.ID, e.Status, e.Duration.Round(time.Microsecond), e.Summary)
	}
	t.Logf("all %d host checks took %s", len(rep.Entries), elapsed)
}

func BenchmarkAllHostChecks(b *testing.B) {
	list := Checks(NewSystem(), Options{ManagementIP: netip.MustParseAddr("192.0.2.10")})
	for b.Loop() {
		if _, err := checks.Run(context.Background(), list, checks.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
