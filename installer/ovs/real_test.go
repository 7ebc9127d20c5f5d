package ovs

import (
	"context"
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

	"github.com/stacklab/stacklab/installer/openstack"
	"github.com/stacklab/stacklab/netcfg/netcfgtest"
)

// A private ovsdb-server and ovs-vswitchd (userspace datapath, started
// with the lab's own ovs-vswitchd arguments) inside a network namespace of
// the test's own, their database, sockets and logs under t.TempDir(): the
// machine's network and any OVS of its own are never touched.
func TestConvergeRealOVS(t *testing.T) {
	lab := netcfgtest.New(t) // skips unless root
	for _, bin := range []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found: install openvswitch-switch and util-linux (make deps)", bin)
		}
	}
	lab.NIC("eth1")
	lab.Up("eth1")
	dir := t.TempDir()
	sock := filepath.Join(dir, "db.sock")
	db := startOVS(t, lab.NSPath(), dir, sock)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want := []openstack.Bridge{
		{Name: "br-int", Datapath: openstack.DatapathNetdev},
		{Name: "br-ex", Datapath: openstack.DatapathNetdev, Ports: []string{"eth1"}},
	}
	changes, err := Converge(ctx, db, want, false)
	if err != nil {
		t.Fatalf("Converge: %v (changes %q)", err, changes)
	}
	if len(changes) != 3 {
		t.Errorf("first Converge changed %q, want the two bridges and the port", changes)
	}
	have, err := db.Bridges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		b, ok := find(have, w.Name)
		if !ok || b.Datapath != "netdev" || !slices.Equal(b.Ports, w.Ports) {
			t.Errorf("bridge %s = %+v (found %v), want netdev with ports %v", w.Name, b, ok, w.Ports)
		}
	}
	// ovs-vswitchd really made the bridges: on netdev each bridge's
	// internal port is a tap device in the namespace it runs in.
	for _, name := range []string{"br-int", "br-ex"} {
		if _, err := lab.NL.LinkByName(name); err != nil {
			t.Errorf("no %s device in the test namespace: %v", name, err)
		}
	}
	if again, err := Converge(ctx, db, want, false); err != nil || len(again) != 0 {
		t.Fatalf("second Converge = %q, %v; want no change", again, err)
	}
	// A port the agent adds is left alone by the next convergence.
	if _, err := db.Run(ctx, "add-port", "br-int", "probe0", "--", "set", "Interface", "probe0", "type=internal"); err != nil {
		t.Fatal(err)
	}
	if again, err := Converge(ctx, db, want, false); err != nil || len(again) != 0 {
		t.Fatalf("Converge with a foreign port = %q, %v; want no change", again, err)
	}

	removed, err := Remove(ctx, db, []string{"br-int", "br-ex"}, false)
	if err != nil || len(removed) != 2 {
		t.Fatalf("Remove = %q, %v", removed, err)
	}
	if have, err := db.Bridges(ctx); err != nil || len(have) != 0 {
		t.Fatalf("after Remove: %+v, %v", have, err)
	}
	if _, err := lab.NL.LinkByName("eth1"); err != nil {
		t.Errorf("eth1 gone with br-ex: %v", err)
	}
	if again, err := Remove(ctx, db, []string{"br-int", "br-ex"}, false); err != nil || len(again) != 0 {
		t.Fatalf("second Remove = %q, %v", again, err)
	}
}

// startOVS creates a database in dir and starts both daemons in the
// namespace at nsPath; they are stopped (by their pid files) at cleanup.
func startOVS(t *testing.T, nsPath, dir, sock string) VsctlDB {
	t.Helper()
	// A child cannot open the test's /proc/self.
	nsPath = strings.Replace(nsPath, "/proc/self/", fmt.Sprintf("/proc/%d/", os.Getpid()), 1)
	env := append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir, "OVS_SYSCONFDIR="+dir)
	run := func(argv ...string) {
		t.Helper()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	stopAt := func(pidfile string) {
		t.Cleanup(func() {
			b, err := os.ReadFile(pidfile)
			if err != nil {
				return
			}
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGTERM)
				waitGone(pid)
			}
		})
	}
	conf := filepath.Join(dir, "conf.db")
	run("ovsdb-tool", "create", conf, "/usr/share/openvswitch/vswitch.ovsschema")
	stopAt(filepath.Join(dir, "ovsdb-server.pid"))
	run("nsenter", "--net="+nsPath, "ovsdb-server", conf,
		"--remote=punix:"+sock, "--pidfile="+filepath.Join(dir, "ovsdb-server.pid"),
		"--unixctl="+filepath.Join(dir, "ovsdb-server.ctl"),
		"--log-file="+filepath.Join(dir, "ovsdb-server.log"), "--no-chdir", "--detach")
	db := NewVsctl(sock, 20)
	if _, err := db.Run(context.Background(), "--no-wait", "init"); err != nil {
		t.Fatal(err)
	}
	stopAt(filepath.Join(dir, "ovs-vswitchd.pid"))
	args := openstack.VswitchdUserspaceArgs(sock, dir, dir)
	run(append([]string{"nsenter", "--net=" + nsPath}, append(args, "--unixctl="+filepath.Join(dir, "ovs-vswitchd.ctl"))...)...)
	return db
}

// waitGone polls until pid has exited, for at most 10 s.
func waitGone(pid int) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
}
