package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stacklab/stacklab/checks/host"
	"github.com/stacklab/stacklab/netcfg/netcfgtest"
)

// unreadHost is hardware preflight cannot read (each such check warns) on
// the lab's release, so the NIC checks alone decide whether up passes
// preflight. The real readings of the machine running the tests (its RAM,
// its disk) are no part of this test.
type unreadHost struct{}

var errUnread = errors.New("not read in this test")

func (unreadHost) CPU() (host.CPU, error)                      { return host.CPU{}, errUnread }
func (unreadHost) KVM() host.KVMProbe                          { return host.KVMProbe{} }
func (unreadHost) Memory() (host.Memory, error)                { return host.Memory{}, errUnread }
func (unreadHost) Disk(string) (host.Disk, error)              { return host.Disk{}, errUnread }
func (unreadHost) OS() (host.OSRelease, error)                 { return host.SupportedOS()[0], nil }
func (unreadHost) Hostname() (host.Hostname, error)            { return host.Hostname{}, errUnread }
func (unreadHost) Clock() (host.Clock, error)                  { return host.Clock{}, errUnread }
func (unreadHost) Listeners([]uint16) ([]host.Listener, error) { return nil, errUnread }

// On a host with three NICs, preflight cannot tell which of the two
// non-management ones is external; the configuration file says so. up
// --dry-run must read that file in its very first step (it once passed
// --config to install only, and stopped at preflight), plan net on the
// NIC it names, and change nothing: no link, no address, no file.
func TestUpDryRunThreeNICsConfigNamesTheExternal(t *testing.T) {
	e, nl, root := labEnv(t, func(l *netcfgtest.Lab) {
		// eth1 is a second, addressed NIC (a host-only network); eth2 is
		// the provider NIC, up and unaddressed as neutron wants it.
		l.Up("eth1")
		l.Addr("eth1", "192.168.56.10/24")
		l.NIC("eth2")
		l.Up("eth2")
	})
	nl.WaitOperUp("eth2")
	e.readings = func() host.Readings { return unreadHost{} }
	// Debian's installer maps the hostname to 127.0.1.1: up skips
	// preflight's hostname check because its net phase plans the repair.
	name, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(root, "etc/hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1\tlocalhost\n127.0.1.1\t"+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newUpLab(t)
	l.inst.root = root
	cfg := l.writeConfig(t, "network:\n  external_interface: eth2\n")

	d := l.deps()
	// The real facts and the real preflight and net phases, over the
	// namespace: only the OpenStack host (packages, files, units) and
	// doctor and the playbook stay fakes.
	d.install.facts = e.hostFacts
	d.install.hooks = e.installHooks
	links := func() []string {
		ls, err := nl.NL.LinkList()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range ls {
			a := k.Attrs()
			addrs, _ := nl.NL.AddrList(k, 2 /* AF_INET */)
			out = append(out, a.Name+" "+a.Flags.String()+" "+strings.Repeat("+", len(addrs)))
		}
		return out
	}
	beforeLinks, beforeFiles := links(), listTree(t, root)

	r := runUpWith(t, e, d, "up", "--dry-run", "--config", cfg)
	if r.code != exitOK {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, s := range []string{"✓ preflight", "external NIC eth2", "/etc/hosts", "dry run: nothing was changed"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	if after := links(); !slices.Equal(beforeLinks, after) {
		t.Errorf("links changed: %v → %v", beforeLinks, after)
	}
	if after := listTree(t, root); !slices.Equal(beforeFiles, after) {
		t.Errorf("files changed under the root: %v → %v", beforeFiles, after)
	}
	if b, err := os.ReadFile(hosts); err != nil || !strings.Contains(string(b), "127.0.1.1\t"+name) {
		t.Errorf("a dry run rewrote /etc/hosts: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/network/interfaces.d/stacklab-external")); err == nil {
		t.Error("a dry run persisted the external NIC")
	}

	// Without the configuration the same host is ambiguous: up stops
	// before any step, naming the choice to make.
	d = l.deps()
	d.install.facts, d.install.hooks = e.hostFacts, e.installHooks
	r = runUpWith(t, e, d, "up", "--dry-run")
	if r.code != exitFailed || !strings.Contains(r.stderr, "up stopped before its first step") || !strings.Contains(r.stderr, "--ext-if") {
		t.Errorf("three NICs and no choice: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}
