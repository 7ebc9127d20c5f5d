package netcfg

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeClientEnv makes the test binary a stand-in DHCP client: it joins the
// network namespace passed as fd 3 and runs, with the argv the test gave
// it, until its stdin closes. No real dhcpcd is needed to prove that the
// one naming eth1 in the right namespace is found and stopped.
const fakeClientEnv = "STACKLAB_FAKE_DHCP_CLIENT"

func init() {
	if os.Getenv(fakeClientEnv) != "1" {
		return
	}
	// init runs on the main thread, whose namespace is the one
	// /proc/PID/ns/net shows.
	runtime.LockOSThread()
	if err := unix.Setns(3, unix.CLONE_NEWNET); err != nil {
		os.Exit(3)
	}
	_, _ = os.Stdout.WriteString("ready\n")
	var b [1]byte
	_, _ = os.Stdin.Read(b[:])
	os.Exit(0)
}

// startFakeClient runs a fake client with argv in nsPath's namespace.
func startFakeClient(t *testing.T, nsPath string, argv ...string) (stop func()) {
	t.Helper()
	ns, err := os.Open(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Args = argv
	cmd.Env = append(os.Environ(), fakeClientEnv+"=1")
	cmd.ExtraFiles = []*os.File{ns}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "ready\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("fake client did not start: %q %v", l, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = stdin.Close()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

// recordingProcs lists the real /proc (of the lab's namespace) and, for
// Run, does what the real command would do to the fake client: stop it.
// It records what the host looked like at that moment.
type recordingProcs struct {
	ProcFS
	t       *testing.T
	h       *Host
	stop    func()
	ran     []string
	fileAt  string
	addrsAt []string
}

func (r *recordingProcs) Run(_ context.Context, argv []string) error {
	r.ran = append(r.ran, strings.Join(argv, " "))
	b, err := os.ReadFile(r.h.path(ifupdownMain))
	if err != nil {
		return err
	}
	r.fileAt = string(b)
	s, err := r.h.Snapshot(context.Background())
	if err != nil {
		return err
	}
	eth1, _ := s.Link("eth1")
	r.addrsAt = prefixes(eth1)
	r.stop()
	return nil
}

// TestKernelStopsDHCPClientFirst is the measured trap: eth1 configured by
// `iface eth1 inet dhcp`, its dhcpcd running, and a file of ours from an
// earlier run. The client is found through /proc (only the one in the
// lab's namespace naming eth1) and stopped before the file is edited and
// before the address goes; the edit keeps a backup; a second run changes
// nothing.
func TestKernelStopsDHCPClientFirst(t *testing.T) {
	ctx := context.Background()
	lab := labVM(t)
	lab.Up("eth1")
	lab.Addr("eth1", "192.168.56.101/24")
	own, _ := Render(SystemIfupdown, "eth1")
	root := writeTree(t, map[string]string{
		"etc/network/interfaces":   debianInterfaces,
		own.Path[1:]:               own.Content,
		"run/network/ifstate.eth1": "eth1\n",
	})
	// VirtualBox's host-only DHCP server, as the kernel saw it on the link.
	eth1, err := lab.NL.LinkByName("eth1")
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.NL.NeighAdd(&netlink.Neigh{LinkIndex: eth1.Attrs().Index, Family: netlink.FAMILY_V4, State: netlink.NUD_PERMANENT,
		IP: net.ParseIP("192.168.56.100"), HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 0x64}}); err != nil {
		t.Fatal(err)
	}
	h := Host{NL: lab.NL, Root: root}
	// Decoys: the same argv in this test's own namespace (a container's
	// eth1, say) and a client for another NIC in the lab's.
	startFakeClient(t, "/proc/self/ns/net", "dhcpcd", "-4", "-b", "eth1")
	startFakeClient(t, lab.NSPath(), "dhcpcd", "-4", "-b", "eth10")
	stop := startFakeClient(t, lab.NSPath(), "dhcpcd", "-4", "-b", "eth1")
	procs := &recordingProcs{ProcFS: ProcFS{Dir: "/proc", NetNS: lab.NSPath()}, t: t, h: &h, stop: stop}
	h.Procs = procs

	p, err := h.Prepare(ctx, "", "", Options{FlushExternal: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Refused() || len(p.Changes) == 0 || p.Changes[0].Action != ActionStopDHCP || len(p.Changes[0].PIDs) != 1 {
		t.Fatalf("plan:\n%s", p)
	}
	res, err := h.Apply(ctx, p)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, res)
	}
	if !slices.Equal(procs.ran, []string{"dhcpcd -k eth1"}) {
		t.Errorf("ran %q, want only dhcpcd -k eth1", procs.ran)
	}
	if procs.fileAt != debianInterfaces || !slices.Contains(procs.addrsAt, "192.168.56.101/24") {
		t.Errorf("the client was stopped after the file (%q) or the address (%v) changed", procs.fileAt, procs.addrsAt)
	}
	want, _ := ifupdownEdit(debianInterfaces, "eth1")
	for p, content := range map[string]string{ifupdownMain: want, ifupdownMain + BackupSuffix: debianInterfaces} {
		if b, err := os.ReadFile(h.path(p)); err != nil || string(b) != content {
			t.Errorf("%s = %q, %v; want %q", p, b, err, content)
		}
	}
	if _, err := os.Stat(h.path(own.Path)); !os.IsNotExist(err) {
		t.Errorf("our own file still there: %v", err)
	}
	rec, ok, err := ReadExternalNetwork(h.path(ExternalNetworkPath))
	if err != nil || !ok || rec.Address.String() != "192.168.56.101/24" || rec.Gateway.IsValid() ||
		len(rec.Neighbours) != 1 || rec.Neighbours[0].String() != "192.168.56.100" {
		t.Errorf("recorded network = %+v, %v, %v", rec, ok, err)
	}
	if !res.Ext.Up || len(res.Ext.BlockingAddrs()) != 0 {
		t.Errorf("eth1 after apply: %s", res.Ext.Evidence())
	}

	// Converged: a fresh plan is empty and the stale one changes nothing
	// (the client is gone, the file already edited, the backup kept).
	again, err := h.Prepare(ctx, "", "", Options{FlushExternal: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != 0 {
		t.Errorf("second plan:\n%s", again)
	}
	if res, err := h.Apply(ctx, p); err != nil || res.Changed {
		t.Errorf("second apply = %+v, %v", res, err)
	}
	if again, _, _ := ReadExternalNetwork(h.path(ExternalNetworkPath)); again.Address != rec.Address {
		t.Errorf("record rewritten by the second run: %+v", again)
	}
	if len(procs.ran) != 1 {
		t.Errorf("ran again: %q", procs.ran)
	}
	if m, _ := filepath.Glob(filepath.Join(root, "etc/network/*.stacklab-bak*")); len(m) != 1 {
		t.Errorf("backups: %v", m)
	}
}
