package installer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/installer/openstack"
)

func TestUninstallReturnsTheHostToBeforeInstall(t *testing.T) {
	m := installed(t)
	// What the CLI writes besides the phases.
	m.Files["/etc/stacklab/secrets.yaml"] = []byte("admin: x\n")
	m.Files["/var/lib/stacklab/last-run.json"] = []byte("{}")
	m.Files["/root/admin-openrc"] = []byte("export OS_PASSWORD=x\n")
	m.Files["/etc/unrelated.conf"] = []byte("keep me\n")
	m.TakeLog()

	dry, err := Uninstall(context.Background(), m.Host(), m.p, "/var/log/stacklab", true)
	if err != nil {
		t.Fatal(err)
	}
	if log := m.TakeLog(); len(log) != 0 {
		t.Fatalf("dry run acted: %q", log)
	}
	o, err := Uninstall(context.Background(), m.Host(), m.p, "/var/log/stacklab", false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry.Changes, o.Changes) {
		t.Errorf("dry run planned\n%q\nbut the run did\n%q", dry.Changes, o.Changes)
	}
	log := m.TakeLog()
	idx := func(prefix string) int {
		return slices.IndexFunc(log, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}
	// Dependents stop first, the database last; files go before the purge
	// so dpkg can remove the directories they were in.
	if a, db := idx("stop apache2"), idx("stop mariadb"); a < 0 || db < 0 || a > db {
		t.Errorf("stop order: apache2 at %d, mariadb at %d in %q", a, db, log)
	}
	// Our files in package directories go before the purge (so dpkg can
	// remove the directories); stacklab's own state after it (so a failed
	// purge leaves its log).
	if r, p, s := idx("remove /etc/memcached.conf"), idx("purge "), idx("remove /etc/stacklab/secrets.yaml"); r < 0 || p < 0 || s < 0 || r > p || p > s {
		t.Errorf("remove own file at %d, purge at %d, remove state at %d in %q", r, p, s, log)
	}
	for _, u := range openstack.Units(m.p) {
		if st := m.Units[u]; st != "inactive" && st != "" {
			t.Errorf("%s left %s", u, st)
		}
	}
	for f := range m.Files {
		if strings.HasPrefix(f, "/etc/stacklab") || strings.HasPrefix(f, "/var/lib/stacklab") || f == "/root/admin-openrc" {
			t.Errorf("%s left behind", f)
		}
	}
	if _, ok := m.Files["/etc/unrelated.conf"]; !ok {
		t.Error("a file that is not the lab's was removed")
	}
	for _, p := range openstack.Packages(m.p) {
		if _, ok := m.Installed[p]; ok {
			t.Errorf("package %s not purged", p)
		}
	}
	if again, err := Uninstall(context.Background(), m.Host(), m.p, "/var/log/stacklab", false); err != nil || len(again.Changes) != 0 {
		t.Errorf("second uninstall: %q %v", again.Changes, err)
	}
}

// On Open vSwitch (Debian 13's backend) the lab's bridges go after the
// agent that would re-create them has stopped and before the switch stops:
// on the kernel datapath they would otherwise stay in the kernel with the
// external NIC as a port.
func TestUninstallDeletesTheOVSBridges(t *testing.T) {
	p := labParams()
	p.Release, p.OVSDatapath = "13", openstack.DatapathNetdev
	m := NewMemHost(p)
	if _, err := runLab(t, m, false, Selection{}); err != nil {
		t.Fatalf("install: %v", err)
	}
	if _, ok := m.Bridges[openstack.ExternalBridge]; !ok {
		t.Fatalf("install made no %s: %v", openstack.ExternalBridge, m.Bridges)
	}
	// The agent's own bridge.
	m.Bridges[openstack.TunnelBridge] = []string{"patch-int"}
	// The database Debian 13's purge leaves.
	m.Files[openstack.OVSDBFile] = []byte("OVSDB JSON")
	m.TakeLog()

	dry, err := Uninstall(context.Background(), m.Host(), p, "/var/log/stacklab", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Bridges) != 3 {
		t.Fatalf("dry run deleted bridges: %v", m.Bridges)
	}
	o, err := Uninstall(context.Background(), m.Host(), p, "/var/log/stacklab", false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry.Changes, o.Changes) {
		t.Errorf("dry run planned\n%q\nbut the run did\n%q", dry.Changes, o.Changes)
	}
	if len(m.Bridges) != 0 {
		t.Errorf("bridges left: %v", m.Bridges)
	}
	if _, ok := m.Files[openstack.OVSDBFile]; ok {
		t.Errorf("%s left behind", openstack.OVSDBFile)
	}
	log := m.TakeLog()
	idx := func(s string) int { return slices.Index(log, s) }
	agent, br, sw := idx("stop "+openstack.UnitOVSAgent), idx("delete bridge "+openstack.ExternalBridge), idx("stop "+openstack.UnitOVSSwitch)
	if agent < 0 || br < 0 || sw < 0 || agent > br || br > sw {
		t.Errorf("stop agent at %d, delete %s at %d, stop %s at %d in %q", agent, openstack.ExternalBridge, br, openstack.UnitOVSSwitch, sw, log)
	}
	for _, n := range []string{openstack.IntegrationBridge, openstack.TunnelBridge} {
		if idx("delete bridge "+n) < 0 {
			t.Errorf("%s not deleted: %q", n, log)
		}
	}
	// With the switch already stopped there is nothing to ask and
	// nothing fails.
	if again, err := Uninstall(context.Background(), m.Host(), p, "/var/log/stacklab", false); err != nil || len(again.Changes) != 0 {
		t.Errorf("second uninstall: %q %v", again.Changes, err)
	}
}

// On real files: our drop-ins' directories go once empty; one that also
// holds the administrator's drop-in stays, with it.
func TestRemoveDropInDirsOnRealFiles(t *testing.T) {
	root := t.TempDir()
	p := labParams()
	ours := openstack.BootOrderPath("nova-api")
	theirs := filepath.Join(filepath.Dir(openstack.BootOrderPath("keystone")), "admin.conf")
	for _, d := range []string{filepath.Dir(theirs), filepath.Dir(ours)} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, theirs), []byte("[Unit]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := Host{Files: RootFiles{Root: root}}
	if err := removeDropInDirs(h, p, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, filepath.Dir(ours))); !os.IsNotExist(err) {
		t.Errorf("empty drop-in dir left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, theirs)); err != nil {
		t.Errorf("the administrator's drop-in went: %v", err)
	}
}

// A running guest's qemu is in machine.slice, no lab unit: uninstall
// destroys and undefines nova's guests first, and leaves other domains.
func TestUninstallRemovesTheLabsGuests(t *testing.T) {
	m := installed(t)
	m.Guests = []string{"instance-00000001", "instance-00000002", "my-own-vm"}
	m.TakeLog()
	dry, err := Uninstall(context.Background(), m.Host(), m.p, "/var/log/stacklab", true)
	if err != nil {
		t.Fatal(err)
	}
	if log := m.TakeLog(); len(log) != 0 || len(m.Guests) != 3 {
		t.Fatalf("dry run acted: %q, guests %q", log, m.Guests)
	}
	o, err := Uninstall(context.Background(), m.Host(), m.p, "/var/log/stacklab", false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dry.Changes, o.Changes) {
		t.Errorf("dry run planned\n%q\nbut the run did\n%q", dry.Changes, o.Changes)
	}
	if !slices.Equal(m.Guests, []string{"my-own-vm"}) {
		t.Errorf("guests left: %q", m.Guests)
	}
	log := m.TakeLog()
	want := []string{"exec virsh destroy instance-00000001", "exec virsh undefine instance-00000001",
		"exec virsh destroy instance-00000002", "exec virsh undefine instance-00000002"}
	if len(log) < len(want) || !slices.Equal(log[:len(want)], want) {
		t.Errorf("guests go first:\n got %q\nwant %q first", log, want)
	}
	if again, err := Uninstall(context.Background(), m.Host(), m.p, "/var/log/stacklab", false); err != nil || len(again.Changes) != 0 {
		t.Errorf("second uninstall: %q %v", again.Changes, err)
	}
}
